"""DCGAN core: networks, training, run directories, evaluation and latent-space tools.

Importable without Streamlit; the app in explorer/ builds on it, never the other way round. The
rooms, lowest first (each imports only rooms below it; tests/test_rooms.py holds the order): nets/
(networks, losses, stabilisers); imaging, sampling, faults (images and GIFs, seeds to z and G(z),
fault-injection hooks); config, presets; runs/ (run directory, checkpoints, import); data;
evaluation/ (classifier, metrics, reports, model card); analysis/ (directions, sensitivity, D's view,
the views the CLI and app show); training/ (step, loop, launcher); cli. The names below are the public API, imported on first use so
that `import dcgan` (and `python -m dcgan --help`) does not load torch.
"""
from .config import ConfigError, ModelConfig, TrainConfig

_LAZY = {
    "train": "training.loop", "resume_config": "training.resume", "start_training": "training.launch",
    "resolve_generator": "runs.checkpoint", "RunDir": "runs.rundir", "z_from_seed": "sampling",
    "interpolate": "sampling", "generate": "sampling", "interpolation": "analysis.views",
    "sweep_grid": "analysis.views", "evaluate_model": "evaluation.evaluate",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'dcgan' has no attribute {name!r}")


__all__ = ["ConfigError", "ModelConfig", "TrainConfig", *_LAZY]
