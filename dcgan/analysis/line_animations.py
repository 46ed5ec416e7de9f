"""A straight walk through z as an animation in any format: a direction's strip (z − a·d to z + a·d, the
Directions page's and `python -m dcgan directions --animate`'s) and one component's sweep (its value from
low to high, every other component held: the Latent page's and `python -m dcgan sweep --animate`'s).

Both are a lerp between two end z's, so both go through animate(): every format, fps, loop, ping-pong
(forward to +a, then back) and scale come with them, and so does the session file, which keeps the two
ends as numbers (float32 exact). A session names no direction: the numbers reproduce the file byte for
byte whatever made them (a local direction never saved, a labelled one found again since with other
vectors under the same name), where a name would point at a file that can change.
"""
from __future__ import annotations

import numpy as np
import torch

from ..sampling import MAX_FRAMES, check_z, sweep
from .animation import Animation, ModelRef, Progress, animate
from .semantics import direction_endpoints

DEFAULT_FRAMES = 32


def _check_frames(frames) -> None:
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or not 2 <= frames <= MAX_FRAMES:
        raise ValueError(f"an animation has 2 to {MAX_FRAMES} frames, not {frames!r}")


def component_endpoints(z, component: int, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """z with one component set to low, and to high: the ends of that component's sweep (sampling.sweep
    checks the component and the values, so a sweep grid and its animation refuse alike)."""
    if isinstance(component, bool) or not isinstance(component, (int, np.integer)):
        raise ValueError(f"a component is a whole number, not {component!r}")
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"a sweep needs finite From < To, not {low} and {high}")
    ends = sweep(check_z(z), [int(component)], [low, high])
    return ends[0].numpy(), ends[1].numpy()


def direction_animation(G: torch.nn.Module, z, direction, reach: float, frames: int = DEFAULT_FRAMES,
                        fmt: str = "GIF", frame_ms: int = 80, loop: bool = True, pingpong: bool = False,
                        scale: int = 4, model: ModelRef | None = None,
                        progress: Progress | None = None) -> Animation:
    """G along a direction through z, from z − reach·d to z + reach·d (d the unit direction, both ends
    included), as one animation file in fmt; with model, also its session file."""
    _check_frames(frames)
    z0, z1 = direction_endpoints(check_z(z, G.z_dim), direction, reach)
    return animate(G, [z0, z1], "lerp", frames, fmt, frame_ms, loop, pingpong, scale, model=model,
                   progress=progress)


def sweep_animation(G: torch.nn.Module, z, component: int, low: float = -3.0, high: float = 3.0,
                    frames: int = DEFAULT_FRAMES, fmt: str = "GIF", frame_ms: int = 80, loop: bool = True,
                    pingpong: bool = False, scale: int = 4, model: ModelRef | None = None,
                    progress: Progress | None = None) -> Animation:
    """G as one component of z goes from low to high (the others held at z) in frames steps, as one
    animation file in fmt; with model, also its session file."""
    _check_frames(frames)
    z0, z1 = component_endpoints(check_z(z, G.z_dim), component, low, high)
    return animate(G, [z0, z1], "lerp", frames, fmt, frame_ms, loop, pingpong, scale, model=model,
                   progress=progress)


__all__ = ["DEFAULT_FRAMES", "component_endpoints", "direction_animation", "sweep_animation"]
