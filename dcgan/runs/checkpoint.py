"""Checkpoints: full training state for exact resume, and generator weights as safetensors."""
from __future__ import annotations

import io
import pickle
import re
import warnings
import zipfile
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..config import ConfigError, ModelConfig, TrainConfig
from ..nets.models import Discriminator, Generator
from .files import atomic_write_bytes, atomic_write_json, read_json
from .rundir import RunDir


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt or does not fit the model."""


def save_training_state(path: Path, state: dict, make_parents: bool = True) -> None:
    """Write a dict of tensors/plain values with torch.save, atomically (make_parents: atomic_write_bytes')."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue(), make_parents)


TRAINING_STATE_KEYS = ("G", "D", "opt_g", "opt_d", "step", "config", "torch_rng", "z_rng")


# weights_only's refusal of a class or function names it ("unsupported GLOBAL posix.system",
# "Unsupported global: GLOBAL __main__.Net"); any other failure is a damaged or foreign file
REFUSED_GLOBAL_RE = re.compile(r"GLOBAL ([A-Za-z_][\w.]*)")


def weights_only_load(source, mmap: bool = False):
    """torch.load(weights_only=True) of a path or file object. Returns (object, None); or (None, what
    was refused, to follow "a pickled ": a class or function's name) for a file that holds pickled
    Python objects; or (None, "") for one that is damaged or no PyTorch file at all. PyTorch's own
    messages never reach the user: they are paragraphs about internals, and one advises
    weights_only=False, which would run the file's code."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Detected pickle protocol 5 ...": about the file, not for users
            return torch.load(source, map_location="cpu", weights_only=True, mmap=mmap), None
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as e:  # EOFError, IndexError ("pop from empty list"), struct.error, miniz, ...
        refused = REFUSED_GLOBAL_RE.search(str(e)) if isinstance(e, pickle.UnpicklingError) else None
        if refused:
            return None, refused[1]
        # a plain pickle.dump (protocol 4+, which torch.save never writes): weights_only cannot even
        # read its framing, and what it holds is Python objects, not torch's tensor records
        protocol = _pickle_protocol(source)
        return None, f"object of pickle protocol {protocol}" if protocol and protocol >= 4 else ""


def _pickle_protocol(source) -> int | None:
    """The protocol a pickle's first two bytes announce (PROTO opcode), or None."""
    try:
        if hasattr(source, "seek"):
            source.seek(0)
            head = source.read(2)
        else:
            with open(source, "rb") as f:
                head = f.read(2)
    except OSError:
        return None
    return head[1] if len(head) == 2 and head[0] == 0x80 else None


def _torch_load(path: Path, mmap: bool = False):
    """torch.load of tensors and plain values only; every failure is one CheckpointError line."""
    try:
        # mmap needs torch's zip format; anything else (an old or forged file) is read, not mapped
        mmap = mmap and zipfile.is_zipfile(path)
        if Path(path).stat().st_size == 0:
            raise CheckpointError(f"cannot read checkpoint {path}: it is empty (0 bytes)")
        state, refused = weights_only_load(path, mmap)
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e.strerror or e}") from None
    if refused:
        # unpickling a class or function could run any code
        raise CheckpointError(f"refused checkpoint {path}: it holds Python objects (a pickled {refused}), not just "
                              "tensors, and loading it could run code; only resume from checkpoints this trainer wrote")
    if refused is not None:
        raise CheckpointError(f"cannot read checkpoint {path}: it is not a PyTorch file, or it is damaged or "
                              "truncated")
    return state


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
    return state_dict_bytes(G.state_dict(), half)


def export_discriminator(run: RunDir) -> Path:
    """D of a run's training checkpoint as fp16 discriminator.safetensors, its step in the metadata:
    what is left of D once a finished run ships without checkpoint.pt (D's shape is config.json's)."""
    state = load_training_state(run.checkpoint_path)
    atomic_write_bytes(run.discriminator_path, state_dict_bytes(state["D"], True, {"step": str(state["step"])}))
    return run.discriminator_path


def state_dict_bytes(state: dict, half: bool, metadata: dict[str, str] | None = None) -> bytes:
    sd = {}
    for k, v in state.items():
        v = v.detach().cpu()
        if half and v.is_floating_point():
            v = v.half()
        sd[k] = v.contiguous()
    return st_save(sd, metadata=metadata)


def export_generator(weights_path: Path, config_path: Path | None, G: Generator, model_cfg: ModelConfig,
                     half: bool = False, extra: dict | None = None, make_parents: bool = True) -> None:
    atomic_write_bytes(weights_path, generator_bytes(G, half), make_parents)
    if config_path is not None:
        atomic_write_json(config_path, {**model_cfg.to_dict(), **(extra or {})}, make_parents)


def load_generator(weights_path: str | Path, model_cfg: ModelConfig, device: str | torch.device = "cpu") -> Generator:
    """Rebuild G from safetensors weights (fp16 or fp32) in eval mode, as float32."""
    try:
        data = Path(weights_path).read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"no generator weights at {weights_path}") from None
    try:
        sd = st_load(data)
    except Exception:  # the library's messages ("HeaderTooLarge", ...) say nothing to a user
        raise CheckpointError(f"{weights_path} is not a readable safetensors file (damaged, truncated or "
                              "another format)") from None
    try:
        # on the meta device: no memory until the file's own tensors are assigned, whatever the
        # config says (a hostile generator.json asking for a huge G costs nothing)
        with torch.device("meta"):
            G = Generator.from_config(model_cfg, init_weights=False)
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
    except (ConfigError, ValueError, TypeError, OverflowError) as e:  # OverflowError: int(1e999)
        raise CheckpointError(f"{source}: {e}") from None


def load_run_generator(run: RunDir, step: int | None = None, device: str | torch.device = "cpu") -> Generator:
    """G of a run at a snapshot step, or the latest exported generator when step is None; a step
    without weights is refused naming the steps that have them."""
    if step is not None and not run.snapshot_weights_path(step).is_file():
        raise CheckpointError(f"run {run.name!r} has no generator weights for step {step}; "
                              f"{_steps_with_weights(run)}")
    return load_generator(run.weights_path(step), run_model_config(run), device)


def discriminator_source(run: RunDir) -> Path | None:
    """The file a run's D is read from: the training checkpoint (the newest D there is), else the
    discriminator.safetensors a shipped run keeps; None when there is neither."""
    for path in (run.checkpoint_path, run.discriminator_path):
        if path.is_file():
            return path
    return None


def load_run_discriminator(run: RunDir) -> tuple[Discriminator, int | None]:
    """D of a run in eval mode and the step it is from (None if its file does not say), from
    discriminator_source. CheckpointError, saying why, for a run that keeps no D (an imported generator,
    a run stopped before its first checkpoint, a model shipped without it) or a damaged one."""
    source = discriminator_source(run)
    if source is None:
        raise CheckpointError(f"run {run.name!r} keeps no discriminator: neither a training checkpoint nor "
                              "discriminator.safetensors (an imported generator, a run stopped before its "
                              "first checkpoint, or a model shipped without its D)")
    if source == run.checkpoint_path:
        state = load_training_state(source)
        sd, step, cfg_data = state["D"], state["step"], state["config"]  # the config D was built from
    else:
        try:
            from safetensors import safe_open
            with safe_open(str(source), "pt") as f:  # one read: the tensors and the step in the metadata
                sd = {k: f.get_tensor(k) for k in f.keys()}
                step = (f.metadata() or {}).get("step")
            step = int(step) if step is not None and str(step).isdigit() else None
        except Exception:  # the library's own messages ("header too large") say nothing to a user
            raise CheckpointError(f"{source} is not a readable discriminator file (damaged, truncated or "
                                  "another format)") from None
        cfg_data = read_json(run.config_path)
        if cfg_data is None:
            raise CheckpointError(f"{run.config_path} is missing or not a JSON object: D's shape is unknown")
    try:
        cfg = TrainConfig.from_dict(cfg_data if isinstance(cfg_data, dict) else {})
    except ConfigError as e:
        raise CheckpointError(f"the config of {run.name!r}'s discriminator: {e}") from None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"{source} does not hold a discriminator's weights")
    with torch.device("meta"):
        D = Discriminator.from_config(cfg)
    try:
        D.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}, assign=True)
    except RuntimeError as e:
        raise CheckpointError(f"the discriminator of {run.name!r} does not match its config: "
                              f"{state_dict_problem(e)}") from None
    return D.eval(), step


def _steps_with_weights(run: RunDir, shown: int = 8) -> str:
    """The steps a run has weights for, the middle left out of a long list."""
    steps = run.weight_steps()
    final = "; without a step, the final generator" if run.generator_path.is_file() else ""
    if not steps:
        return "it keeps no snapshot weights" + final
    text = lambda part: ", ".join(map(str, part))  # noqa: E731
    listed = text(steps) if len(steps) <= shown else \
        f"{text(steps[:shown // 2])}, ..., {text(steps[-(shown // 2):])} ({len(steps)} in all)"
    return f"steps with weights: {listed}{final}"


def resolve_generator(path: str | Path, step: int | None = None) -> Generator:
    """Accept a run directory or a .safetensors file (with its .json beside it) and load G; step
    picks a snapshot of a run directory, and is refused for a single weights file."""
    p = Path(path)
    if p.is_dir():
        return load_run_generator(RunDir(p), step)
    if step is not None:
        raise CheckpointError(f"{path} is one weights file: a step picks a snapshot of a run directory "
                              f"(give the run's folder, or this file without a step)")
    if p.suffix == ".safetensors":
        cfg_path = p.with_suffix(".json")
        if not cfg_path.is_file():
            # snapshot weights live in <run>/snapshots/: take the run's config
            run = RunDir(p.parent.parent)
            return load_generator(p, run_model_config(run))
        data = read_json(cfg_path)
        if data is None:
            raise CheckpointError(f"{cfg_path} is not a JSON object file")
        try:
            cfg = ModelConfig.from_dict(data)
        except (ConfigError, ValueError, TypeError, OverflowError) as e:
            raise CheckpointError(f"{cfg_path}: {e}") from None
        return load_generator(p, cfg)
    raise CheckpointError(f"{path}: expected a run directory or a .safetensors file")
