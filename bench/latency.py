"""Interactive latency: the core calls behind the app's Latent and Interpolate pages, on the shipped
models, with the generator loaded as the app loads it (explorer.common._cached_generator wraps
load_run_generator in st.cache_resource, so every call after the first reuses one G)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from dcgan.runs.checkpoint import load_run_generator
from dcgan.analysis.views import image_png, interpolation, render_z, sweep_grid
from dcgan.sampling import z_from_seed
from dcgan.runs.rundir import RunDir

from .report import Row, Target, progress

ONE_IMAGE_P95 = Target("<=", 30.0)  # ms
GIF_P95 = Target("<=", 1000.0)  # ms
# the Latent page's IMAGE_SCALE and its sweep's scale (explorer/latent.py)
LATENT_IMAGE_SCALE = 10
LATENT_SWEEP_SCALE = 3
SWEEP_SIDE = 12  # components x values
GIF_FRAMES = 64
GIF_SIDE_PX = 256
SHIPPED_MODELS = {28: "mnist", 64: "faces"}


@dataclass(frozen=True)
class Calls:
    most: int
    budget_s: float
    least: int
    warmup: int  # a model's first calls build its kernels: not what a slider move costs


def timed_calls(call: Callable[[int], object], calls: Calls) -> list[float]:
    """Milliseconds per call(i) after calls.warmup untimed ones; a slow call stops early, after at
    least calls.least, once calls.budget_s is spent."""
    for i in range(calls.warmup):
        call(i)
    times: list[float] = []
    spent = 0.0
    while len(times) < calls.most and (len(times) < calls.least or spent < calls.budget_s):
        start = time.perf_counter()
        call(calls.warmup + len(times))
        elapsed = time.perf_counter() - start
        times.append(elapsed * 1000)
        spent += elapsed
    return times


def latency_row(part: str, name: str, times: list[float], target: Target | None, what: str) -> Row:
    median, p95 = float(np.median(times)), float(np.percentile(times, 95))
    return Row(part, f"{name}, p95", p95, "ms", target=target,
               detail=f"median {median:.1f} ms, {len(times)} calls; {what}",
               extra={"median_ms": median, "p95_ms": p95, "calls_ms": times})


def measure(checkpoints: Path, calls: Calls) -> list[Row]:
    rows: list[Row] = []
    for size, run_name in SHIPPED_MODELS.items():
        run = RunDir(checkpoints / run_name)
        if not run.generator_path.is_file():
            progress(f"NOTICE: no shipped model at {run.path}; its latency rows are left out")
            continue
        start = time.perf_counter()
        G = load_run_generator(run)
        load_ms = (time.perf_counter() - start) * 1000
        part = f"latency {size} px ({run_name})"
        zs = z_from_seed(0, G.z_dim, calls.warmup + calls.most + 1).numpy()
        rows.append(Row(part, "generator load (first view, then cached)", load_ms, "ms",
                        detail=f"load_run_generator({run.path.name}), once"))

        def one_image(i: int) -> bytes:
            return image_png(render_z(G, zs[i], scale=LATENT_IMAGE_SCALE))

        rows.append(latency_row(part, "one z -> one image", timed_calls(one_image, calls),
                                ONE_IMAGE_P95, f"render_z at scale {LATENT_IMAGE_SCALE} + PNG, as a slider move"))

        def sweep(i: int) -> bytes:
            grid = sweep_grid(G, zs[i], list(range(SWEEP_SIDE)), -3.0, 3.0, SWEEP_SIDE, scale=LATENT_SWEEP_SCALE)
            return image_png(grid)

        rows.append(latency_row(part, f"{SWEEP_SIDE}x{SWEEP_SIDE} sweep grid",
                                timed_calls(sweep, calls), None,
                                f"sweep_grid at scale {LATENT_SWEEP_SCALE} + PNG"))
        scale = max(1, round(GIF_SIDE_PX / G.image_size))

        def gif(i: int) -> bytes:
            return interpolation(G, zs[i], zs[i + 1], frames=GIF_FRAMES, scale=scale).gif

        rows.append(latency_row(part, f"{GIF_FRAMES}-frame interpolation GIF",
                                timed_calls(gif, calls), GIF_P95,
                                f"interpolation() slerp at {G.image_size * scale} px: frames, GIF and grid PNG bytes"))
        progress(f"{part}: " + "; ".join(f"{r.name} {r.value:.1f} ms" for r in rows if r.part == part))
    return rows
