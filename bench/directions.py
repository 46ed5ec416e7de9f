"""The explain tools' speed (issue 16): directions and sensitivity on the shipped models, loaded as the
app and `python -m dcgan directions` / `sensitivity` load them.

    python bench/directions.py                     # every shipped model in checkpoints/
    python -m bench.directions --models mnist --samples 2000

For each of checkpoints/mnist, fashion-mnist and faces that is present:

- SeFa: find_directions(G, run, "sefa", k=10), median of 20 warm calls (ms). Target <= 50 ms.
- sensitivity: sensitivity(G, z), the bar chart's |dG/dz_i| for one z (a batch of z_dim + 1 images),
  median of 10 warm calls, one seed each (ms). Targets <= 150 ms at 28 px, <= 1 s at 64 px.
- heat map: heatmap_image(heatmap(G, z, i), G(z)), where one component acts, coloured over the
  image, median of 10 warm calls (ms). No target of its own.
- labelled: for mnist and faces, one find_directions(G, run, "labels", samples=5000) from cold (the
  classifier loaded, 5,000 images generated and labelled, one boundary per class fitted), seconds.
  Target <= 20 s. Faces needs its image folder (../shared/datasets/faces/SMILEs) for its class names;
  without it the row is left out with the reason.

Figures are wall time on the CPU: run it on an otherwise quiet machine (the load average at the start
is printed with the machine). On a machine busy elsewhere, torch's threads wait for each other and
even SeFa's milliseconds can read as hundreds: --threads 1 shows what one free core does.
Progress goes to stderr, the table to stdout.
"""
from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from bench.report import Row, Target, machine, machine_text, progress, table
from dcgan.analysis.labelled import NoClassifierError
from dcgan.sampling import generate, z_from_seed
from dcgan.analysis.semantics import DEFAULT_K, find_directions
from dcgan.analysis.sensitivity import heatmap, heatmap_image, sensitivity
from dcgan.runs.checkpoint import resolve_generator

ROOT = Path(__file__).resolve().parent.parent

SHIPPED = ("mnist", "fashion-mnist", "faces")
LABELLED = ("mnist", "faces")
SEFA_MS = Target("<=", 50.0)
SENSITIVITY_MS = {28: Target("<=", 150.0), 64: Target("<=", 1000.0)}
LABELLED_S = Target("<=", 20.0)
SEFA_CALLS, SENSITIVITY_CALLS, HEATMAP_CALLS, WARMUP = 20, 10, 10, 2


def median_ms(call: Callable[[int], object], calls: int, warmup: int = WARMUP) -> tuple[float, list[float]]:
    """Median milliseconds of call(i) over `calls` timed calls after `warmup` untimed ones."""
    for i in range(warmup):
        call(i)
    times = []
    for i in range(warmup, warmup + calls):
        start = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times)), times


def spread(times: list[float]) -> str:
    return f"min {min(times):.1f} ms, max {max(times):.1f} ms"


def measure(run: Path, samples: int, labelled: bool) -> list[Row]:
    G = resolve_generator(run)
    size, part = G.image_size, f"{run.name} ({G.image_size} px, z {G.z_dim})"
    rows = []

    progress(f"{run.name}: SeFa")
    ms, times = median_ms(lambda i: find_directions(G, run, "sefa", k=DEFAULT_K), SEFA_CALLS)
    rows.append(Row(part, f"SeFa, k={DEFAULT_K}", ms, "ms", target=SEFA_MS,
                    detail=f"median of {len(times)} warm calls, {spread(times)}",
                    extra={"calls_ms": times}))

    progress(f"{run.name}: sensitivity")
    zs = z_from_seed(0, G.z_dim, WARMUP + max(SENSITIVITY_CALLS, HEATMAP_CALLS))
    ms, times = median_ms(lambda i: sensitivity(G, zs[i]), SENSITIVITY_CALLS)
    rows.append(Row(part, "sensitivity bar chart, one z", ms, "ms", target=SENSITIVITY_MS.get(size),
                    detail=f"median of {len(times)} warm calls (z_dim + 1 = {G.z_dim + 1} images), "
                           f"{spread(times)}", extra={"calls_ms": times}))

    progress(f"{run.name}: heat map")
    images = generate(G, zs)
    ms, times = median_ms(lambda i: heatmap_image(heatmap(G, zs[i], i % G.z_dim), images[i]), HEATMAP_CALLS)
    rows.append(Row(part, "heat map of one component, over G(z)", ms, "ms",
                    detail=f"median of {len(times)} warm calls, {spread(times)}; no target of its own",
                    extra={"calls_ms": times}))

    if labelled:
        progress(f"{run.name}: labelled directions, {samples:,} samples")
        start = time.perf_counter()
        try:
            d = find_directions(G, run, "labels", samples=samples)
        except NoClassifierError as e:
            progress(f"NOTICE: {run.name}: no labelled row: {e}")
        else:
            s = time.perf_counter() - start
            rows.append(Row(part, f"labelled directions, N={samples:,}", s, "s",
                            target=LABELLED_S if samples == 5000 else None,
                            detail=f"one run from cold; {len(d)} direction(s), held-out balanced accuracy "
                                   f"{min(d.scores):.2f}-{max(d.scores):.2f}"))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoints", default=str(ROOT / "checkpoints"))
    p.add_argument("--models", nargs="+", choices=SHIPPED, default=list(SHIPPED))
    p.add_argument("--samples", type=int, default=5000, help="labelled directions' N (the target is for 5,000)")
    p.add_argument("--no-labels", action="store_true", help="leave out the labelled-directions rows")
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads first (default: torch's own; 1 on a machine busy elsewhere)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    info = machine()
    print(machine_text(info))
    print(f"os.cpu_count() {info['cores']}, torch.get_num_threads() {info['torch_threads']}, "
          f"torch {info['torch']}, {datetime.datetime.now().astimezone().isoformat(timespec='minutes')}")
    rows: list[Row] = []
    for name in args.models:
        run = Path(args.checkpoints) / name
        if not (run / "generator.safetensors").is_file():
            progress(f"NOTICE: no shipped model at {run}; its rows are left out")
            continue
        rows += measure(run, args.samples, labelled=name in LABELLED and not args.no_labels)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
