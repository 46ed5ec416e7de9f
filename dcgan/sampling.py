"""Latent-space tools: seeds to z, lerp/slerp paths, analogies, one-component sweeps, and G(z) as images."""
from __future__ import annotations

import numpy as np
import torch

from .imaging import to_uint8

MAX_FRAMES = 1000  # an interpolation's frame count is bounded: each frame is an image in memory
MAX_SWEEP_IMAGES = 4096
SWEEP_LIMIT = 100.0  # |value| of a swept component: far past any z a Gaussian draws, short of overflow
# |component| no z reaches: a standard normal one is past ±6 once in 10^9 draws, a sweep stops at
# ±SWEEP_LIMIT and a direction moves z by at most 20, so a value past this is a mistake (a file of
# pixel values, a unit slip), not a z; G would only saturate on it, or float32 overflow to inf
Z_LIMIT = 1e3
# what numpy makes of values that are not real numbers, for the message that refuses them
NOT_NUMBERS = {"b": "true/false values", "c": "complex numbers", "U": "text", "S": "bytes", "V": "records",
               "M": "dates", "m": "time spans",
               "O": "values that are not plain numbers (text, null, lists of uneven length, huge integers)"}


def check_z(z, z_dim: int | None = None) -> torch.Tensor:
    """z as a flat float32 tensor (a copy). ValueError, one line, for whatever would only pass for a
    z: an array of another shape than (z_dim,) or (1, z_dim) (no flattening of a 10 x 10 grid),
    true/false, complex, text or object values, no values, the wrong length, NaN or infinite values,
    and components past ±Z_LIMIT."""
    if isinstance(z, torch.Tensor):
        z = z.detach().cpu()
        z = z.float() if z.dtype == torch.bfloat16 else z  # numpy has no bfloat16
    try:
        array = np.asarray(z)
    except (ValueError, TypeError):  # a ragged nested list
        array = np.asarray(None)
    if array.dtype.kind not in "iuf":
        raise ValueError(f"z must hold real numbers, not {NOT_NUMBERS.get(array.dtype.kind, array.dtype)}")
    if array.ndim > 2 or array.ndim == 2 and array.shape[0] != 1 or array.ndim == 0:
        raise ValueError(f"z must be one row of {z_dim or 'z_dim'} numbers, not "
                         + ("a single number" if array.ndim == 0 else f"an array of shape {array.shape}"
                            if array.ndim == 2 else f"an array of {array.ndim} dimensions"))
    # numpy reads True as 1.0 in a list that also holds numbers: look at the elements themselves
    if isinstance(z, (list, tuple)) and _holds_bool(z):
        raise ValueError(f"z must hold real numbers, not {NOT_NUMBERS['b']}")
    array = array.reshape(-1)
    if array.size == 0:
        raise ValueError("z has no values")
    if z_dim is not None and array.size != z_dim:
        raise ValueError(f"z has {array.size} values; this generator takes {z_dim}")
    finite = np.isfinite(array)
    if not finite.all():
        raise ValueError(f"z has {int((~finite).sum())} NaN or infinite value(s)")
    size = np.abs(array.astype(np.float64))
    if (size > Z_LIMIT).any():
        raise ValueError(f"z has {int((size > Z_LIMIT).sum())} component(s) beyond ±{Z_LIMIT:g} (largest "
                         f"{size.max():.3g}); its components are standard normal, "
                         "so ±3 holds 99.7 % of them")
    return torch.from_numpy(np.array(array, dtype=np.float32))


def _holds_bool(values) -> bool:
    return any(isinstance(v, (bool, np.bool_)) or isinstance(v, (list, tuple)) and _holds_bool(v) for v in values)


def z_from_seed(seed: int, z_dim: int, n: int = 1) -> torch.Tensor:
    """n standard-normal z vectors; the same seed gives the same z everywhere (CPU generator)."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(n, z_dim, generator=g)


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    t = t.view(-1, 1)
    return a.view(1, -1) * (1 - t) + b.view(1, -1) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation: keeps |z| near the norm Gaussian samples have, unlike lerp's dip."""
    a, b, t = a.view(1, -1).double(), b.view(1, -1).double(), t.view(-1, 1).double()
    if min(a.norm().item(), b.norm().item()) < 1e-8:  # no direction to rotate from or to
        return lerp(a, b, t).float()
    cos = (a / a.norm()) @ (b / b.norm()).T
    omega = torch.arccos(cos.clamp(-1, 1))
    so = torch.sin(omega)
    if so.abs().item() < 1e-6:  # (anti)parallel endpoints: the great circle is undefined
        return lerp(a, b, t).float()
    return (torch.sin((1 - t) * omega) / so * a + torch.sin(t * omega) / so * b).float()


def interpolate(z0: torch.Tensor, z1: torch.Tensor, frames: int, method: str = "slerp") -> torch.Tensor:
    """frames z vectors from z0 to z1, both endpoints included."""
    if not 2 <= frames <= MAX_FRAMES:
        raise ValueError(f"an interpolation needs 2 to {MAX_FRAMES} frames, not {frames}")
    if method not in ("lerp", "slerp"):
        raise ValueError(f"method must be 'lerp' or 'slerp', not {method!r}")
    t = torch.linspace(0, 1, frames)
    return (slerp if method == "slerp" else lerp)(check_z(z0), check_z(z1, z0.numel()), t)


MIN_LOOP_Z = 3  # a closed path through two z would only retrace its one arc: that is ping-pong


def loop_path(zs, frames: int, method: str = "slerp") -> torch.Tensor:
    """frames z vectors along the closed path zs[0] -> zs[1] -> ... -> zs[-1] -> zs[0], its start not
    repeated at its end: the last frame is one step before frame 0, so played in a loop there is no
    seam (no frame shown twice, no jump). Each leg gets the same share of the frames (frame i lies at
    i * n / frames legs along), so every z of zs is a frame when frames is a multiple of n."""
    n = len(zs)
    if n < MIN_LOOP_Z:
        raise ValueError(f"a seamless loop goes through {MIN_LOOP_Z} or more z, not {n} (for two, use ping-pong)")
    if not n <= frames <= MAX_FRAMES:
        raise ValueError(f"a loop through {n} z needs {n} to {MAX_FRAMES} frames, not {frames}")
    if method not in ("lerp", "slerp"):
        raise ValueError(f"method must be 'lerp' or 'slerp', not {method!r}")
    first = check_z(zs[0])
    zs = [first] + [check_z(z, first.numel()) for z in zs[1:]]
    along = np.arange(frames) * n  # integer arithmetic: leg and fraction are exact, the seam step no different
    leg, t = along // frames, torch.from_numpy((along % frames) / frames)
    out = torch.empty(frames, zs[0].numel())
    step = slerp if method == "slerp" else lerp
    for j in range(n):
        at = torch.from_numpy(leg == j)
        if at.any():
            out[at] = step(zs[j], zs[(j + 1) % n], t[at]).float()
    return out


def analogy(z_a, z_b, z_c) -> torch.Tensor:
    """A : B :: C : ?, answered in z (ryanbloom/gan-explorer; the DCGAN paper's vector arithmetic):
    z_C + (z_B - z_A), C moved the way A moves to B. Any three z of one length (seeds, inverted images,
    a direction's ends), each checked by check_z, and so is the answer (it may be longer than a
    typical z: three independent ones give about sqrt(3) times their norm)."""
    a = check_z(z_a)
    b, c = check_z(z_b, a.numel()), check_z(z_c, a.numel())
    return check_z(c + (b - a))


def sweep(z: torch.Tensor, components: list[int], values: list[float] | np.ndarray) -> torch.Tensor:
    """The z-component sweep figure: row i sets component components[i] to each value in turn,
    all other components held at z. Returns (len(components) * len(values), z_dim), row-major."""
    z = check_z(z)
    for c in components:
        if not 0 <= c < z.numel():
            raise ValueError(f"component {c} is outside 0..{z.numel() - 1}")
    values = torch.as_tensor(np.asarray(values, dtype=np.float32))
    if not torch.isfinite(values).all():
        raise ValueError("sweep values must be finite numbers")
    if values.numel() and values.abs().max() > SWEEP_LIMIT:
        raise ValueError(f"sweep values must lie within ±{SWEEP_LIMIT:g} (z components are standard normal: "
                         f"±3 holds 99.7 % of them), not {float(values.min()):g} to {float(values.max()):g}")
    if len(components) * len(values) > MAX_SWEEP_IMAGES:
        raise ValueError(f"{len(components)} components x {len(values)} values is over {MAX_SWEEP_IMAGES} images")
    out = z.repeat(len(components) * len(values), 1)
    for row, c in enumerate(components):
        out[row * len(values):(row + 1) * len(values), c] = values
    return out


@torch.inference_mode()
def generate_tensor(G: torch.nn.Module, z: torch.Tensor, batch_size: int = 256, progress=None,
                    convert=lambda x: x.float().cpu()) -> list:
    """G(z) batch by batch on G's device, each batch passed through convert (default: float
    [-1, 1] on the CPU); progress(done, total) is called after each batch."""
    device = next(G.parameters()).device
    out = []
    for i in range(0, z.shape[0], batch_size):
        out.append(convert(G(z[i:i + batch_size].to(device))))
        if progress:
            progress(min(i + batch_size, z.shape[0]), z.shape[0])
    return out


def generate(G: torch.nn.Module, z: torch.Tensor, batch_size: int = 256, progress=None) -> np.ndarray:
    """G(z) as uint8 images (N, H, W, C); progress(done, total) is called after each batch."""
    out = generate_tensor(G, z, batch_size, progress, convert=to_uint8)
    return np.concatenate(out) if out else np.zeros((0, G.image_size, G.image_size, G.channels), np.uint8)
