"""How long the Learn page's slow-motion training and Inside G take on the shipped models (docs/learn.md).

    python bench/slow_motion.py                      # mnist (28 px) and faces (64 px) from checkpoints/
    python bench/slow_motion.py --models mnist --repeats 20

Rows, each the median of --repeats after one warm-up:
- "step, every view": the three sub-steps of one training step with every view the page shows (D's scores
  of both batches before and after D's update, G's images before and after G's update, the gradient map
  of each fake), as the page's "Next sub-step" button takes them; the issue's target is 300 ms at 28 px
  on 2 cores.
- "step, no views": one whole step as the "10 steps" and "100 steps" buttons take all but the last.
- "Inside G, layer ranked": a layer's feature maps and every unit switched off once to rank them.
The real batches come from the run's own data when it is on this machine, else synthetic shapes (said).
The figures depend on the machine and its load: the header prints both (the load average of the last
minute, the cores torch uses); no figure is asserted anywhere.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from dcgan.analysis.units import inside_view, layers
from dcgan.runs.checkpoint import load_run_generator
from dcgan.runs.rundir import RunDir
from dcgan.sampling import z_from_seed
from dcgan.training.slow_motion import SUB_STEPS, SlowMotion

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("mnist", "faces")


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up: first-call allocations and kernel choices
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def bench_run(run: RunDir, repeats: int) -> list[tuple[str, float]]:
    copy = SlowMotion.from_run(run)
    if copy.images_info.note:
        print(f"NOTICE: {run.name}: {copy.images_info.note}")

    def one_step_with_views():
        for _ in SUB_STEPS:
            copy.sub_step()

    rows = [("step, every view", median_ms(one_step_with_views, repeats)),
            ("step, no views", median_ms(lambda: copy.run_steps(1, views=False), repeats))]
    G = load_run_generator(run)
    z = z_from_seed(0, G.z_dim)[0]
    layer = layers(G)[len(layers(G)) // 2]
    rows.append((f"Inside G, layer {layer.index} ranked ({layer.channels} units)",
                 median_ms(lambda: inside_view(G, z, layer.index), repeats)))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoints", default=str(ROOT / "checkpoints"))
    p.add_argument("--models", nargs="+", default=list(SHIPPED), help="run names under --checkpoints")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=None,
                   help="torch's threads (default: torch's own, one per core); on a loaded machine 1 is steadier")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    if args.threads is not None:
        if args.threads < 1:
            p.error("--threads must be at least 1")
        torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
          f"on {torch.get_num_threads()} threads, load average (1 min) {load:.2f}")
    print(f"{'model':<10}{'px':>4}  {'what':<40}{'median ms':>10}")
    for name in args.models:
        run = RunDir(Path(args.checkpoints) / name)
        if not run.generator_path.is_file():
            print(f"NOTICE: no model {name!r} in {args.checkpoints}")
            continue
        size = (run.config_values() or {}).get("image_size", "?")
        for what, ms in bench_run(run, args.repeats):
            print(f"{name:<10}{size:>4}  {what:<40}{ms:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
