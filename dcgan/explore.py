"""One call per explorer view: each takes plain arguments and returns images or bytes to show.

The app's pages collect arguments, call one of these, and render the result; the CLI and tests
call the same functions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .imaging import gif_bytes, make_grid, png_bytes, upscale
from .latent import generate, interpolate, sweep
from .rundir import RunDir, npy_bytes

Progress = Callable[[int, int], None]


def render_z(G: torch.nn.Module, z: torch.Tensor | np.ndarray, scale: int = 8) -> np.ndarray:
    """The single image G(z), upscaled (nearest) for display."""
    z = torch.as_tensor(np.asarray(z, dtype=np.float32)).view(1, -1)
    return upscale(generate(G, z)[0], scale)


def sweep_grid(G: torch.nn.Module, z: torch.Tensor | np.ndarray, components: list[int], low: float = -3.0,
               high: float = 3.0, columns: int = 9, scale: int = 2, progress: Progress | None = None) -> np.ndarray:
    """Rows = z components, columns = values from low to high, all other components held at z."""
    z = torch.as_tensor(np.asarray(z, dtype=np.float32))
    values = np.linspace(low, high, columns)
    images = generate(G, sweep(z, components, values), batch_size=64, progress=progress)
    return upscale(make_grid(images, nrow=columns), scale)


GIF_MAX_MEGAPIXELS = 200  # frames x upscaled pixels: beyond this a GIF is too big to make or to show


@dataclass
class Interpolation:
    frame_count: int
    gif: bytes
    grid_png: bytes


def interpolation(G: torch.nn.Module, z0, z1, frames: int = 64, method: str = "slerp", frame_ms: int = 80,
                  loop: bool = True, pingpong: bool = False, scale: int = 4,
                  progress: Progress | None = None) -> Interpolation:
    """Frames from z0 to z1 (endpoints included), as a GIF and as a frame-grid PNG."""
    megapixels = frames * (G.image_size * scale) ** 2 / 1e6
    if megapixels > GIF_MAX_MEGAPIXELS:
        raise ValueError(f"{frames} frames at {G.image_size * scale} px are {megapixels:.0f} megapixels; "
                         f"keep frames x size^2 under {GIF_MAX_MEGAPIXELS} (fewer frames or a smaller scale)")
    z0 = torch.as_tensor(np.asarray(z0, dtype=np.float32))
    z1 = torch.as_tensor(np.asarray(z1, dtype=np.float32))
    images = generate(G, interpolate(z0, z1, frames, method), batch_size=32, progress=progress)
    gif = gif_bytes([upscale(im, scale) for im in images], frame_ms, loop=loop, pingpong=pingpong)
    grid = make_grid(images, nrow=int(np.ceil(np.sqrt(frames))))
    return Interpolation(len(images), gif, png_bytes(upscale(grid, max(1, scale // 2))))


def progression_gif(run: RunDir, frame_ms: int = 200, scale: int = 1, progress: Progress | None = None) -> bytes:
    """Every snapshot grid of a run in step order as one GIF (seed 004's gifs/)."""
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


def z_json(z: np.ndarray | torch.Tensor) -> str:
    import json
    return json.dumps({"z": [round(float(v), 6) for v in np.asarray(z).ravel()]})


def z_npy(z: np.ndarray | torch.Tensor) -> bytes:
    return npy_bytes(np.asarray(z).ravel())


def image_png(image: np.ndarray) -> bytes:
    return png_bytes(image)
