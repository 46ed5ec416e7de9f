"""One call per explorer view: each takes plain arguments and returns images or bytes to show.

The app's pages collect arguments, call one of these, and render the result; the CLI and tests
call the same functions.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..imaging import label_grid, make_grid, png_bytes, upscale
from ..media import animation_bytes
from ..sampling import check_z, generate, sweep
from .animation import MAX_MEGAPIXELS, Animation, ModelRef, animate
from ..runs.files import npy_bytes
from ..runs.rundir import RunDir

Progress = Callable[[int, int], None]


def render_z(G: torch.nn.Module, z: torch.Tensor | np.ndarray, scale: int = 8) -> np.ndarray:
    """The single image G(z), upscaled (nearest) for display."""
    return upscale(generate(G, check_z(z, G.z_dim).view(1, -1))[0], scale)


def analogy_view(G: torch.nn.Module, z_a, z_b, z_c, scale: int = 4) -> tuple[np.ndarray, list[np.ndarray]]:
    """A : B :: C : ? (sampling.analogy): the answer's z and the four images A, B, C and ?, upscaled."""
    from ..sampling import analogy
    z_d = analogy(z_a, z_b, z_c)
    zs = torch.stack([check_z(z, G.z_dim) for z in (z_a, z_b, z_c)] + [z_d.view(-1)])
    return z_d.numpy(), [upscale(image, scale) for image in generate(G, zs)]


LABEL_PX = 14  # a sweep's row and column labels as they read on screen


def sweep_grid(G: torch.nn.Module, z: torch.Tensor | np.ndarray, components: list[int], low: float = -3.0,
               high: float = 3.0, columns: int = 9, scale: int = 2, progress: Progress | None = None,
               labels: bool = True, shown_px: int | None = None) -> np.ndarray:
    """Rows = z components, columns = values from low to high, all other components held at z;
    labels names each row's component and each column's value in a margin, drawn to read LABEL_PX tall
    when the grid is shown shown_px wide (at its own size when None: the CLI's file)."""
    z = check_z(z, G.z_dim)
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"a sweep needs finite From < To, not {low} and {high}")
    values = np.linspace(low, high, columns)
    images = generate(G, sweep(z, components, values), batch_size=64, progress=progress)
    padding = 2
    grid = upscale(make_grid(images, nrow=columns, padding=padding), scale)
    if not labels:
        return grid
    # a wide grid (64 px faces) is scaled down to its column: its labels grow with it, or they end 5 px tall
    font_px = LABEL_PX if not shown_px else max(LABEL_PX, round(LABEL_PX * grid.shape[1] / shown_px))
    return label_grid(grid, [f"z[{c}]" for c in components], [f"{round(float(v), 2):g}" for v in values],
                      pitch=(G.image_size + padding) * scale, offset=padding * scale, font_px=font_px)


GIF_MAX_MEGAPIXELS = MAX_MEGAPIXELS  # frames x upscaled pixels: beyond this an animation is too big to make or to show
Interpolation = Animation  # the file's bytes (.data, .gif for a GIF), its frame grid PNG, its session


def interpolation(G: torch.nn.Module, z0, z1, frames: int = 64, method: str = "slerp", frame_ms: int = 80,
                  loop: bool = True, pingpong: bool = False, scale: int = 4, progress: Progress | None = None,
                  fmt: str = "GIF", through: list | None = None, seeds: list[int] | None = None,
                  model: ModelRef | None = None) -> Animation:
    """Frames from z0 to z1 (endpoints included), or with through (more z's) the seamless loop
    z0 -> z1 -> through... -> z0, as an animation file in fmt (GIF, MP4, WEBP, APNG, ZIP) and a
    frame-grid PNG; with model, also its session file (seeds: the seeds of z0, z1, through...)."""
    if through and method != "slerp":
        raise ValueError(f"a seamless loop follows the sphere (slerp), not {method}")
    zs = [z0, z1, *(through or [])]
    return animate(G, zs, "loop" if through else method, frames, fmt, frame_ms, loop, pingpong, scale,
                   seeds=seeds, model=model, progress=progress)


def progression_animation(run: RunDir, fmt: str = "GIF", frame_ms: int = 200, scale: int = 1, loop: bool = True,
                          pingpong: bool = False, progress: Progress | None = None) -> bytes:
    """Every snapshot grid of a run in step order as one animation file in fmt (media.ANIMATION_FORMATS)."""
    from PIL import Image

    steps = run.snapshot_steps()
    if not steps:
        raise ValueError(f"run {run.name} has no snapshots yet")
    frames = []
    for i, step in enumerate(steps):
        with Image.open(run.grid_path(step)) as im:
            arr = np.asarray(im.convert("RGB" if im.mode not in ("L",) else "L"))
        frames.append(arr[..., None] if arr.ndim == 2 else arr)
        if progress:
            progress(i + 1, len(steps))
    return animation_bytes(frames, fmt, frame_ms, loop=loop, pingpong=pingpong, scale=scale)


def progression_gif(run: RunDir, frame_ms: int = 200, scale: int = 1, progress: Progress | None = None) -> bytes:
    """Every snapshot grid of a run in step order as one looping GIF."""
    return progression_animation(run, "GIF", frame_ms, scale, progress=progress)


Z_UPLOAD_MAX_BYTES = 1_000_000


def z_from_upload(data: bytes, z_dim: int) -> np.ndarray:
    """A z read back from a download of z_json or z_npy (or a bare JSON list); ValueError with a
    message for anything else: too big, not a JSON or NPY file, and whatever check_z refuses (its
    message, so a z is refused alike wherever it comes from)."""
    import io
    import json
    if len(data) > Z_UPLOAD_MAX_BYTES:
        raise ValueError(f"a z file is at most {Z_UPLOAD_MAX_BYTES:,} bytes; this one has {len(data):,}")
    what = "not a z file (JSON {\"z\": [...]} or .npy of numbers)"
    try:
        if data[:6] == b"\x93NUMPY":
            values = np.load(io.BytesIO(data), allow_pickle=False)  # never unpickles an object array
        else:
            values = json.loads(data)
            values = values.get("z") if isinstance(values, dict) else values
    except (ValueError, TypeError, EOFError, OSError, RecursionError) as e:
        raise ValueError(f"{what}: {str(e).splitlines()[0][:120]}") from None
    # the values as read, not converted first: a conversion would read "1.5" or true as numbers
    try:
        return check_z(values, z_dim).numpy()
    except RecursionError:  # a list nested thousands deep
        raise ValueError(f"{what}: nested too deep") from None
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None


def z_json(z: np.ndarray | torch.Tensor) -> str:
    import json
    return json.dumps({"z": [round(float(v), 6) for v in np.asarray(z).ravel()]})


def z_npy(z: np.ndarray | torch.Tensor) -> bytes:
    return npy_bytes(np.asarray(z).ravel())


def image_png(image: np.ndarray) -> bytes:
    return png_bytes(image)
