"""Checkpoints: full training state for exact resume, and generator weights as safetensors."""
from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .config import ConfigError, ModelConfig
from .models import Generator
from .rundir import RunDir, atomic_write_bytes, atomic_write_json, read_json


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt or does not fit the model."""


def save_training_state(path: Path, state: dict) -> None:
    """Write a dict of tensors/plain values with torch.save, atomically."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


TRAINING_STATE_KEYS = ("G", "D", "opt_g", "opt_d", "step", "config", "torch_rng", "z_rng")


def _torch_load(path: Path, mmap: bool = False):
    """torch.load of tensors and plain values only; every failure is one CheckpointError line."""
    try:
        # mmap needs torch's zip format; anything else (an old or forged file) is read, not mapped
        mmap = mmap and zipfile.is_zipfile(path)
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except pickle.UnpicklingError:
        # weights_only refused a class or function: unpickling it could run any code
        raise CheckpointError(f"refused checkpoint {path}: it holds Python objects, not just tensors, and "
                              "loading it could run code; only resume from checkpoints this trainer wrote") from None
    except Exception as e:
        first = next((line.strip() for line in str(e).splitlines() if line.strip()), type(e).__name__)
        raise CheckpointError(f"cannot read checkpoint {path} (truncated or not a checkpoint): {first[:200]}") from None


def load_training_state(path: Path) -> dict:
    """The dict save_training_state wrote; refuses anything else with a CheckpointError."""
    state = _torch_load(path)
    missing = [k for k in TRAINING_STATE_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(f"{path} is not a training checkpoint of this project (no {', '.join(missing)})")
    return state


def checkpoint_step(path: Path) -> int:
    """The step a training checkpoint was saved at, without reading its tensors (memory-mapped)."""
    state = _torch_load(path, mmap=True)
    step = state.get("step") if isinstance(state, dict) else None
    if not isinstance(step, int) or step < 0:
        raise CheckpointError(f"{path} is not a training checkpoint of this project (no step)")
    return step


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
    try:
        # on the meta device: no memory until the file's own tensors are assigned, whatever the
        # config says (a hostile generator.json asking for a huge G costs nothing)
        with torch.device("meta"):
            G = Generator(model_cfg.z_dim, model_cfg.image_size, model_cfg.channels, model_cfg.g_width,
                          model_cfg.kernel_size, init_weights=False)
    except (ValueError, RuntimeError, TypeError) as e:
        raise CheckpointError(f"the generator config of {weights_path} is not usable: {e}") from None
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}
    try:
        G.load_state_dict(sd, assign=True)
    except RuntimeError as e:
        raise CheckpointError(f"{weights_path} does not match its config (another architecture or image "
                              f"size?): {state_dict_problem(e)}") from None
    return G.to(device).eval()


def state_dict_problem(error: RuntimeError) -> str:
    """The first specific line of a load_state_dict error (its first line only names the module)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[1] if len(lines) > 1 else lines[0] if lines else "")[:200]


def run_model_config(run: RunDir) -> ModelConfig:
    """The generator shape of a run, from generator.json or else config.json."""
    source = run.generator_config_path if run.generator_config_path.is_file() else run.config_path
    data = read_json(source)
    if data is None:
        raise CheckpointError(f"{source} is missing or not a JSON object")
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
        except (OSError, ConfigError, ValueError, TypeError) as e:
            raise CheckpointError(f"{cfg_path}: {e}") from None
        return load_generator(p, cfg)
    raise CheckpointError(f"{path}: expected a run directory or a .safetensors file")
