"""Checkpoints: full training state for exact resume, and generator weights as safetensors."""
from __future__ import annotations

import io
import json
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .config import ConfigError, ModelConfig
from .models import Generator
from .rundir import RunDir, atomic_write_bytes, atomic_write_json


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt or does not fit the model."""


def save_training_state(path: Path, state: dict) -> None:
    """Write a dict of tensors/plain values with torch.save, atomically."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_training_state(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except Exception as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e}") from None


def generator_bytes(G: Generator, half: bool) -> bytes:
    """G's state dict as safetensors; fp16 halves snapshot size at no visible cost."""
    sd = {}
    for k, v in G.state_dict().items():
        v = v.detach().cpu()
        if half and v.is_floating_point():
            v = v.half()
        sd[k] = v.contiguous()
    return st_save(sd)


def export_generator(weights_path: Path, config_path: Path | None, G: Generator, model_cfg: ModelConfig,
                     half: bool = False, extra: dict | None = None) -> None:
    atomic_write_bytes(weights_path, generator_bytes(G, half))
    if config_path is not None:
        atomic_write_json(config_path, {**model_cfg.to_dict(), **(extra or {})})


def load_generator(weights_path: str | Path, model_cfg: ModelConfig, device: str | torch.device = "cpu") -> Generator:
    """Rebuild G from safetensors weights (fp16 or fp32) in eval mode, as float32."""
    try:
        data = Path(weights_path).read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"no generator weights at {weights_path}") from None
    try:
        sd = st_load(data)
    except Exception as e:
        raise CheckpointError(f"{weights_path} is not a readable safetensors file: {e}") from None
    G = Generator(model_cfg.z_dim, model_cfg.image_size, model_cfg.channels, model_cfg.g_width,
                  model_cfg.kernel_size)
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}
    try:
        G.load_state_dict(sd)
    except RuntimeError as e:
        raise CheckpointError(f"{weights_path} does not match its config: {str(e).splitlines()[0]}") from None
    return G.to(device).eval()


def run_model_config(run: RunDir) -> ModelConfig:
    """The generator shape of a run, from generator.json or else config.json."""
    data = json.loads(run.generator_config_path.read_text()) if run.generator_config_path.is_file() else run.config()
    if data is None:
        raise CheckpointError(f"{run.path} has no config.json")
    try:
        return ModelConfig.from_dict(data)
    except (ConfigError, ValueError, TypeError) as e:
        raise CheckpointError(f"{run.path}: {e}") from None


def load_run_generator(run: RunDir, step: int | None = None, device: str | torch.device = "cpu") -> Generator:
    """G of a run at a snapshot step, or the latest exported generator when step is None."""
    path = run.generator_path if step is None else run.snapshot_weights_path(step)
    return load_generator(path, run_model_config(run), device)


def resolve_generator(path: str | Path, step: int | None = None) -> Generator:
    """Accept a run directory or a .safetensors file (with its .json beside it) and load G."""
    p = Path(path)
    if p.is_dir():
        return load_run_generator(RunDir(p), step)
    if p.suffix == ".safetensors":
        cfg_path = p.with_suffix(".json")
        if not cfg_path.is_file():
            # snapshot weights live in <run>/snapshots/: take the run's config
            run = RunDir(p.parent.parent)
            return load_generator(p, run_model_config(run))
        try:
            cfg = ModelConfig.from_dict(json.loads(cfg_path.read_text()))
        except (json.JSONDecodeError, ConfigError, ValueError) as e:
            raise CheckpointError(f"{cfg_path}: {e}") from None
        return load_generator(p, cfg)
    raise CheckpointError(f"{path}: expected a run directory or a .safetensors file")
