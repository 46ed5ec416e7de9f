"""How much a run's folder grows per 10,000 steps, per kind of file, with each preset's own settings.

    python bench/disk.py                                   # mnist28-rpgan, faces64-rpgan, the bare defaults
    python bench/disk.py --presets faces64 mnist28 --steps 200

Each config trains --steps steps (synthetic images of its size and channels, on the CPU) into a
temporary folder, with a grid and weights every --steps/4 steps so every kind of file is written once
or more; the sizes are then scaled to 10,000 steps at the config's own snapshot_every,
snapshot_weights_every and log_every. A trained G's grid compresses differently from that of a G 100
steps old: where checkpoints/ holds a trained run of the same preset (the shipped mnist and faces), its
grids' mean size is used instead (both are printed). docs/run-directory.md has the figures. Files that are replaced rather than
added (checkpoint.pt, generator.*, status.json, config.json, fixed_z.npy) do not grow: printed once.
"""
from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from dcgan.config import PROJECT_ROOT, TrainConfig
from dcgan.presets import PRESETS, preset_config
from dcgan.runs.rundir import RunDir, list_runs
from dcgan.training.loop import train

PER = 10_000  # steps the figures are for
MB = 1e6
# the bare TrainConfig (the Train form's "none" preset), at 28 px and as an image folder run at 64 px
BARE = {"defaults": {}, "defaults64": {"image_size": 64}}


def config_of(name: str) -> TrainConfig:
    if name in BARE:
        return TrainConfig(**BARE[name])
    return preset_config(name, dataset="synthetic", image_folder="")  # the preset's sizes; the data is measure()'s


def trained_grid_bytes(name: str) -> tuple[float, str] | None:
    """The mean grid PNG size of a trained run of this preset in checkpoints/, and its name."""
    for run in list_runs(PROJECT_ROOT / "checkpoints"):
        if run.config_values().get("preset") == name and run.snapshot_steps():
            sizes = [run.grid_path(s).stat().st_size for s in run.snapshot_steps()[1:] or run.snapshot_steps()]
            return statistics.mean(sizes), run.name
    return None


def measure(name: str, steps: int, root: Path) -> dict:
    cfg = config_of(name)
    every = max(1, steps // 4)
    probe = dataclasses.replace(cfg, run_name=name, dataset="synthetic", image_folder="", steps=steps, eval_every=0,
                                snapshot_every=every, snapshot_weights_every=1, checkpoint_every=steps, device="cpu")
    lines: list[str] = []
    t0 = time.perf_counter()
    train(probe, root, progress=False, log=lines.append)
    seconds = time.perf_counter() - t0
    run = RunDir(root / name)
    grids = [run.grid_path(s).stat().st_size for s in run.snapshot_steps() if s > 0]
    weights = [run.snapshot_weights_path(s).stat().st_size for s in run.weight_steps()]
    step_lines = [line for line in lines if line.startswith("step ")]
    fixed = {p.name: p.stat().st_size for p in (run.checkpoint_path, run.generator_path, run.generator_config_path,
                                                run.status_path, run.config_path, run.fixed_z_path)}
    return {"cfg": cfg, "seconds": seconds, "metrics_per_step": run.metrics_path.stat().st_size / steps,
            "grid": statistics.mean(grids), "weights": statistics.mean(weights),
            "log_line": statistics.mean(len(line) + 1 for line in step_lines) if step_lines else 150.0,
            "fixed": fixed}


def report(name: str, m: dict, steps: int) -> float:
    cfg: TrainConfig = m["cfg"]
    trained = trained_grid_bytes(name)
    grid = trained[0] if trained else m["grid"]
    grids = PER / cfg.snapshot_every
    k = cfg.snapshot_weights_every
    weights = grids / k if k else 0.0
    rows = [
        ("metrics.jsonl", f"{m['metrics_per_step']:.0f} B a step", PER, m["metrics_per_step"] * PER),
        ("snapshots/grid_*.png", f"{grid / 1e3:.1f} kB" + (f" (trained: {trained[1]}; {m['grid'] / 1e3:.1f} kB "
                                                             f"after {steps} steps)" if trained else ""),
         grids, grids * grid),
        ("snapshots/G_*.safetensors", f"{m['weights'] / MB:.2f} MB", weights, weights * m["weights"]),
        ("train.log", f"{m['log_line']:.0f} B a line", PER / cfg.log_every, PER / cfg.log_every * m["log_line"]),
    ]
    total = sum(r[3] for r in rows)
    print(f"\n{name}: {cfg.image_size} px, {cfg.channels} channel(s), G widths {cfg.g_width} depth {cfg.depth}; "
          f"snapshot_every {cfg.snapshot_every}, snapshot_weights_every {k}, log_every {cfg.log_every} "
          f"({steps} steps trained in {m['seconds']:.0f} s)")
    print(f"  {'file':28} {'each':>36} {'per 10k steps':>14} {'MB per 10k':>11}")
    for kind, each, count, size in rows:
        print(f"  {kind:28} {each:>36} {count:>14,.1f} {size / MB:>11.2f}")
    print(f"  {'grows by':28} {'':>36} {'':>14} {total / MB:>11.2f}")
    fixed = sum(m["fixed"].values())
    print(f"  does not grow: {fixed / MB:.1f} MB (" + ", ".join(f"{n} {s / MB:.2f} MB" for n, s in m["fixed"].items()
                                                           if s > 1e5) + ")")
    if k:  # the newest N weight files kept: once N are there, the weights stop growing
        for keep in (4, 8):
            print(f"  with keep_snapshot_weights={keep}: grows by {(total - rows[2][3]) / MB:.2f} MB per 10k steps "
                  f"once {keep} weight files are there (step {keep * cfg.snapshot_every * k:,}); they stay at "
                  f"{keep * m['weights'] / MB:.1f} MB")
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["mnist28-rpgan", "faces64-rpgan", "defaults", "defaults64"],
                    choices=[*PRESETS, *BARE])
    ap.add_argument("--steps", type=int, default=100, help="steps trained per config (4 snapshots)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load = open("/proc/loadavg").read().split()[:3] if Path("/proc/loadavg").exists() else ["?"]
    print(f"{time.strftime('%Y-%m-%d')} {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
          f"threads, load {' '.join(load)}; figures are per {PER:,} steps", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.presets:
            report(name, measure(name, args.steps, Path(tmp)), args.steps)


if __name__ == "__main__":
    main()
