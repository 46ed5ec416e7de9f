"""Bring your own generator: a plain DCGAN generator state_dict trained elsewhere becomes a run.

pytorch/examples' `netG_epoch_N.pth` is the model case: `main` is an nn.Sequential of
ConvTranspose2d (no bias), BatchNorm2d, ReLU, ... ConvTranspose2d, Tanh, which is exactly the layout
of dcgan.nets.models.Generator. The shape (z_dim, width, channels, kernel, image size) is read off the
tensors, checked key by key against the Generator it implies, and written as a finished run with
one snapshot, so every page of the app opens it.

Nothing is unpickled: .pth files go through torch.load(weights_only=True), and .safetensors files
hold tensors only.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint import CheckpointError, export_generator, state_dict_problem, weights_only_load
from ..config import IMAGE_SIZES, RUN_NAME_RE, ConfigError, ModelConfig, TrainConfig
from ..imaging import make_grid, png_bytes, to_uint8
from ..nets.models import Generator, base_size
from .files import atomic_write_bytes, atomic_write_json, npy_bytes
from .rundir import RunDir, validate_run_name

# wrappers that prefix every key: DataParallel / DistributedDataParallel, and torch.compile
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# where training scripts commonly keep G's state_dict inside a bigger checkpoint dict, most specific first
NESTED_KEYS = ("netG", "G", "generator", "gen", "netG_state_dict", "generator_state_dict", "state_dict_G",
               "model_state_dict", "state_dict", "model", "params")
LAYER_KEY_RE = re.compile(r"^(?P<prefix>.*?)(?P<index>\d+)\.(?P<param>weight|bias|running_mean|running_var|"
                          r"num_batches_tracked)$")
KERNEL_SIZES = (4, 5)


class ImportFitError(CheckpointError):
    """A file that is not a generator state_dict this project's Generator can take, and why."""


@dataclass
class ImportResult:
    """The run an import wrote and the generator shape it found."""

    run: RunDir
    model: ModelConfig

    def summary(self) -> str:
        m = self.model
        return (f"{m.image_size} px, {m.channels} channel{'s' if m.channels > 1 else ''}, z_dim {m.z_dim}, "
                f"width {m.g_width}, kernel {m.kernel_size}")


# --- reading ----------------------------------------------------------------------------------------
def read_tensors(data: bytes, name: str = "file") -> dict:
    """The tensors in a torch.save file (weights only, never a pickled object) or a safetensors file."""
    damaged = f"{name} is neither a torch.save file nor a safetensors file, or it is damaged or truncated"
    if not data:
        raise ImportFitError(f"{name} is empty (0 bytes)")
    if _looks_like_safetensors(data):
        from safetensors.torch import load as st_load
        try:
            return st_load(data)
        except Exception:  # the library's messages ("MetadataIncompleteBuffer", ...) are its own
            raise ImportFitError(damaged) from None
    obj, refused = weights_only_load(io.BytesIO(data))
    if refused:
        raise ImportFitError(f"{name} holds a pickled {refused}, not just tensors, and is not unpickled (that "
                             "could run code); save G.state_dict() instead")
    if refused is not None:
        raise ImportFitError(damaged)
    return _find_state_dict(obj, name)


def _looks_like_safetensors(data: bytes) -> bool:
    # 8-byte little-endian header length, then the JSON header itself
    if len(data) < 10:
        return False
    n = int.from_bytes(data[:8], "little")
    return 2 <= n <= len(data) - 8 and data[8:9] == b"{"


def _is_tensor_dict(obj) -> bool:
    # string keys too: torch.save({0: t}) loads as well, and every key is read as a layer name
    return isinstance(obj, dict) and bool(obj) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                       for k, v in obj.items())


def _find_state_dict(obj, name: str) -> dict:
    """The state_dict itself, or the one a checkpoint dict keeps under a usual key (netG, G, state_dict, ...)."""
    if _is_tensor_dict(obj):
        return obj
    if isinstance(obj, dict):
        for key in NESTED_KEYS:
            if _is_tensor_dict(obj.get(key)):
                return obj[key]
        nested = [k for k, v in obj.items() if _is_tensor_dict(v)]
        if len(nested) == 1:
            return obj[nested[0]]
        if nested:
            raise ImportFitError(f"{name} holds several state_dicts ({', '.join(map(str, nested))}); "
                                 "save the generator's alone")
        if not obj:
            raise ImportFitError(f"{name} holds an empty dict, not a state_dict")
        raise ImportFitError(f"{name} is a dict without tensors or a state_dict (keys: "
                             f"{', '.join(map(str, list(obj)[:8]))})")
    raise ImportFitError(f"{name} holds a {type(obj).__name__}, not a state_dict")


def normalise_keys(sd: dict) -> dict:
    """Keys as dcgan.nets.models.Generator names them: wrapper prefixes dropped, the Sequential under 'main.'."""
    sd = dict(sd)
    for prefix in WRAPPER_PREFIXES:
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    matches = {k: LAYER_KEY_RE.match(k) for k in sd}
    odd = [k for k, m in matches.items() if m is None]
    if odd:
        raise ImportFitError(f"key {odd[0]!r} does not fit a Sequential DCGAN generator "
                             "(expected keys like main.0.weight, main.1.running_mean)")
    prefixes = sorted({m["prefix"] for m in matches.values()})
    if len(prefixes) > 1:
        raise ImportFitError(f"keys under several modules ({', '.join(p.rstrip('.') or '(top level)' for p in prefixes)}); "
                             "expected one nn.Sequential such as main")
    # pytorch/examples calls it `main`; a bare Sequential has no prefix, others name it differently
    return {"main." + k[len(prefixes[0]):]: v for k, v in sd.items()}


# --- fitting ----------------------------------------------------------------------------------------
def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(map(str, t.shape)) + ")"


def infer_model_config(sd: dict) -> ModelConfig:
    """z_dim, width, channels, kernel and image size from the transposed-convolution weights' shapes."""
    convs = sorted((k for k, v in sd.items() if k.endswith(".weight") and v.dim() == 4),
                   key=lambda k: int(k.split(".")[1]))
    if not convs:
        raise ImportFitError("no ConvTranspose2d weights found (no 4-D weight tensors)")
    if len(convs) < 2:
        raise ImportFitError(f"only one ConvTranspose2d weight found ({convs[0]}); a DCGAN generator has at least 2")
    empty = [k for k in convs if 0 in sd[k].shape]
    if empty:
        raise ImportFitError(f"{empty[0]} has shape {_shape(sd[empty[0]])}; expected no empty dimension")
    first, last = sd[convs[0]], sd[convs[-1]]
    # a ConvTranspose2d weight is (in, out, kH, kW); from a 1x1 z the first map is kernel-sized
    z_dim, base = first.shape[0], first.shape[2]
    channels, kernel_size, width = last.shape[1], last.shape[2], last.shape[0]
    for key in (convs[0], convs[-1]):
        if sd[key].shape[2] != sd[key].shape[3]:
            raise ImportFitError(f"{key} has shape {_shape(sd[key])}; expected square kernels")
    image_size = base * 2 ** (len(convs) - 1)
    if image_size not in IMAGE_SIZES or base != base_size(image_size):
        raise ImportFitError(f"image size {image_size} is not supported ({base}x{base} first map and "
                             f"{len(convs) - 1} stride-2 layers; supported: "
                             f"{', '.join(map(str, IMAGE_SIZES))} px)")
    if kernel_size not in KERNEL_SIZES:
        raise ImportFitError(f"{convs[-1]} has {kernel_size}x{kernel_size} kernels; supported: 4x4 or 5x5")
    if channels not in (1, 3):
        raise ImportFitError(f"{convs[-1]} makes {channels}-channel images; supported: 1 (grey) or 3 (RGB)")
    return ModelConfig(image_size=image_size, channels=channels, z_dim=z_dim, g_width=width, kernel_size=kernel_size)


def fit_generator(sd: dict) -> tuple[Generator, ModelConfig]:
    """Our Generator with sd's weights (strict), in eval mode, after a forward pass that checks it."""
    sd = normalise_keys(sd)
    cfg = infer_model_config(sd)
    # on the meta device until the shapes match: widths read off one tensor could otherwise ask
    # for a huge G that the file's own tensors do not back
    with torch.device("meta"):
        G = Generator.from_config(cfg)
    expected = G.state_dict()
    for key, ref in expected.items():
        # files saved before PyTorch 0.4.1 lack it, and eval mode never reads it
        if key.endswith("num_batches_tracked") and key not in sd:
            sd[key] = torch.zeros(ref.shape, dtype=ref.dtype)
        if key not in sd:
            raise ImportFitError(f"{key} is missing; expected shape {_shape(ref)} for a "
                                 f"{cfg.image_size} px generator of width {cfg.g_width}")
        if sd[key].shape != ref.shape:
            raise ImportFitError(f"{key} has shape {_shape(sd[key])}; expected {_shape(ref)} (widths "
                                 f"{_width_plan(G)} from z_dim {cfg.z_dim} at {cfg.image_size} px)")
    extra = [k for k in sd if k not in expected]
    if extra:
        why = " (this Generator's transposed convolutions have no bias)" if extra[0].endswith(".bias") else ""
        raise ImportFitError(f"{extra[0]} is not expected{why}")
    for key, t in sd.items():
        # what a weights-only file may still hold: sparse or meta tensors (no values), complex or
        # integer weights; each would fail deep inside PyTorch with a message about its kernels
        if t.layout != torch.strided or t.is_meta or t.is_quantized:
            raise ImportFitError(f"{key} is not a plain tensor of values ({t.layout}, {t.device.type}); "
                                 "save the state_dict of a trained model")
        if not key.endswith("num_batches_tracked") and not t.is_floating_point():
            raise ImportFitError(f"{key} holds {t.dtype} values; expected floating-point weights")
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise ImportFitError(f"{key} contains NaN or infinite values")
    sd = {k: (v.float() if v.is_floating_point() else v.long()) for k, v in sd.items()}
    try:
        G.load_state_dict(sd, strict=True, assign=True)
        G.eval()
        with torch.no_grad():
            out = G(torch.zeros(2, cfg.z_dim))
    except RuntimeError as e:
        raise ImportFitError(f"the weights do not load into the Generator: {state_dict_problem(e)}") from None
    want = (2, cfg.channels, cfg.image_size, cfg.image_size)
    if tuple(out.shape) != want or not torch.isfinite(out).all():
        raise ImportFitError(f"a forward pass gives {tuple(out.shape)}; expected {want} with finite values")
    return G, cfg


def _width_plan(G: Generator) -> str:
    return " -> ".join(str(m.out_channels) for m in G.main if isinstance(m, torch.nn.ConvTranspose2d))


# --- writing the run --------------------------------------------------------------------------------
def default_run_name(source_name: str) -> str:
    """A valid run name from the file's name: netG_epoch_24.pth -> netG_epoch_24."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(source_name).stem).strip("-._")[:64]
    return stem if stem and RUN_NAME_RE.match(stem) else "imported"


def import_generator(data: bytes, source_name: str, checkpoints: str | Path, run_name: str | None = None,
                     seed: int = 0) -> ImportResult:
    """Write a finished run from generator weights (a .pth state_dict or .safetensors) and return it.

    The run has config.json (marked by imported_from), status.json, generator.safetensors/.json
    (no step: it was not trained here), fixed_z.npy and one snapshot grid at step 0; it appears in
    the checkpoints folder complete or not at all.
    """
    source_name = Path(source_name).name or "generator"
    run = RunDir.of(checkpoints, validate_run_name(run_name) if run_name else default_run_name(source_name))
    if run.path.exists():
        raise ConfigError(f"run {run.name!r} already exists in {checkpoints}; pick another name (--run-name)")
    G, model = fit_generator(read_tensors(data, source_name))
    cfg = TrainConfig(run_name=run.name, imported_from=source_name, dataset="synthetic",
                      image_size=model.image_size, channels=model.channels, z_dim=model.z_dim,
                      g_width=model.g_width, d_width=model.g_width, kernel_size=model.kernel_size,
                      steps=1, seed=seed)
    root = Path(checkpoints)
    root.mkdir(parents=True, exist_ok=True)
    # built under a name list_runs ignores, then renamed: readers never see half a run
    tmp = RunDir(Path(tempfile.mkdtemp(dir=root, prefix=".import-")))
    try:
        _write_run(tmp, G, model, cfg, source_name, hashlib.sha256(data).hexdigest())
        os.chmod(tmp.path, 0o755)  # mkdtemp makes 0700
        try:
            tmp.path.rename(run.path)
        except OSError:
            raise ConfigError(f"run {run.name!r} already exists in {checkpoints}; pick another name") from None
    finally:
        if tmp.path.exists():
            shutil.rmtree(tmp.path, ignore_errors=True)
    return ImportResult(run, model)


def _write_run(run: RunDir, G: Generator, model: ModelConfig, cfg: TrainConfig, source_name: str,
               sha256: str) -> None:
    atomic_write_json(run.config_path, cfg.to_dict())
    # the trainer's fixed-z convention, so the grid means the same as a trained run's
    fixed_z = torch.randn(cfg.grid_size, cfg.z_dim, generator=torch.Generator().manual_seed(cfg.seed + 2))
    atomic_write_bytes(run.fixed_z_path, npy_bytes(fixed_z.numpy()))
    with torch.no_grad():
        atomic_write_bytes(run.grid_path(0), png_bytes(make_grid(to_uint8(G(fixed_z)))))
    atomic_write_bytes(run.metrics_path, b"")
    export_generator(run.generator_path, run.generator_config_path, G, model,
                     extra={"run_name": cfg.run_name, "dataset": cfg.dataset,
                            "imported_from": source_name, "source_sha256": sha256})
    # no trainer will ever own it: finished at step 0 of 0, nothing to resume (no checkpoint.pt)
    run.write_status("finished", 0, 0, own=False)


def import_generator_file(path: str | Path, checkpoints: str | Path, run_name: str | None = None) -> ImportResult:
    """import_generator for a file on disk."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ImportFitError(f"no file at {path}") from None
    except IsADirectoryError:
        raise ImportFitError(f"{path} is a folder; give the generator's .pth or .safetensors file") from None
    return import_generator(data, p.name, checkpoints, run_name)


__all__ = ["ImportFitError", "ImportResult", "fit_generator", "import_generator", "import_generator_file",
           "infer_model_config", "normalise_keys", "read_tensors"]
