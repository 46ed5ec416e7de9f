"""One call per explorer view: each takes plain arguments and returns images or bytes to show.

The app's pages collect arguments, call one of these, and render the result; the CLI and tests
call the same functions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..imaging import gif_bytes, label_grid, make_grid, png_bytes, upscale
from ..sampling import check_z, generate, interpolate, sweep
from ..runs.files import npy_bytes
from ..runs.rundir import RunDir

Progress = Callable[[int, int], None]


def render_z(G: torch.nn.Module, z: torch.Tensor | np.ndarray, scale: int = 8) -> np.ndarray:
    """The single image G(z), upscaled (nearest) for display."""
    return upscale(generate(G, check_z(z, G.z_dim).view(1, -1))[0], scale)


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


GIF_MAX_MEGAPIXELS = 200  # frames x upscaled pixels: beyond this a GIF is too big to make or to show


@dataclass
class Interpolation:
    frame_count: int  # images from z0 to z1
    gif: bytes
    grid_png: bytes
    gif_frames: int  # frames in the GIF: ping-pong plays them back too


def interpolation(G: torch.nn.Module, z0, z1, frames: int = 64, method: str = "slerp", frame_ms: int = 80,
                  loop: bool = True, pingpong: bool = False, scale: int = 4,
                  progress: Progress | None = None) -> Interpolation:
    """Frames from z0 to z1 (endpoints included), as a GIF and as a frame-grid PNG."""
    megapixels = frames * (G.image_size * scale) ** 2 / 1e6
    if megapixels > GIF_MAX_MEGAPIXELS:
        raise ValueError(f"{frames} frames at {G.image_size * scale} px are {megapixels:.0f} megapixels; "
                         f"keep frames x size^2 under {GIF_MAX_MEGAPIXELS} (fewer frames or a smaller scale)")
    z0, z1 = check_z(z0, G.z_dim), check_z(z1, G.z_dim)
    images = generate(G, interpolate(z0, z1, frames, method), batch_size=32, progress=progress)
    gif = gif_bytes([upscale(im, scale) for im in images], frame_ms, loop=loop, pingpong=pingpong)
    grid = make_grid(images, nrow=int(np.ceil(np.sqrt(frames))))
    gif_frames = 2 * len(images) - 2 if pingpong and len(images) > 2 else len(images)
    return Interpolation(len(images), gif, png_bytes(upscale(grid, max(1, scale // 2))), gif_frames)


def progression_gif(run: RunDir, frame_ms: int = 200, scale: int = 1, progress: Progress | None = None) -> bytes:
    """Every snapshot grid of a run in step order as one GIF."""
    from PIL import Image

    steps = run.snapshot_steps()
    if not steps:
        raise ValueError(f"run {run.name} has no snapshots yet")
    frames = []
    for i, step in enumerate(steps):
        with Image.open(run.grid_path(step)) as im:
            arr = np.asarray(im.convert("RGB" if im.mode not in ("L",) else "L"))
        frames.append(upscale(arr[..., None] if arr.ndim == 2 else arr, scale))
        if progress:
            progress(i + 1, len(steps))
    return gif_bytes(frames, frame_ms, loop=True)


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
