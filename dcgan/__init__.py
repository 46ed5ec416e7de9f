"""DCGAN core: networks, training, run directories, evaluation and latent-space tools.

Importable without Streamlit; the app in explorer/ builds on it, never the other way round. The
rooms: nets/ (networks, losses, stabilisers), training/ (step, loop, launcher), runs/ (run
directory, checkpoints, import), evaluation/ (classifier, metrics, reports), explore/ (latent
maths, views, images, directions). The names below are the public API, imported on first use so
that `import dcgan` (and `python -m dcgan --help`) does not load torch.
"""
from .config import ConfigError, ModelConfig, TrainConfig

_LAZY = {
    "train": "training.loop", "resume_config": "training.resume", "start_training": "training.launch",
    "resolve_generator": "runs.checkpoint", "RunDir": "runs.rundir", "z_from_seed": "explore.latent",
    "interpolate": "explore.latent", "generate": "explore.latent", "interpolation": "explore.views",
    "sweep_grid": "explore.views", "evaluate_model": "evaluation.evaluate",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'dcgan' has no attribute {name!r}")


__all__ = ["ConfigError", "ModelConfig", "TrainConfig", *_LAZY]
