"""Two trainings side by side on this CPU: each one's img/s against one training alone, with the trainers
sharing torch's threads (dcgan/training/threads.py, the default) and without (each trainer started with
OMP_NUM_THREADS = the CPU's thread count, as every trainer ran before the sharing).

    python bench/side_by_side.py                 # about 4 minutes
    python bench/side_by_side.py --window-s 20   # a short check

Each case uses its own temporary checkpoints folder and trains the 28 px MNIST run a new user gets (the
mnist default preset; MNIST from ../shared/datasets, else the synthetic set with the same nets), started as
the app's Start starts it. Training A runs alone for a window ("alone"); then B starts beside it and, once
B has logged steps and A has had time to see it (the trainers count each other every few seconds), both
are measured over a second window. img/s are read off each run's status.json (bench/longrun.py).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from bench.longrun import (DATA_ROOT, choose_dataset, images_per_s, start_trainer, status_sample, stop_trainers,
                           training_config)
from bench.report import machine, machine_text, progress
from dcgan.training.threads import CHECK_EVERY_S


def sample(runs, seconds: float, batch_size: int) -> dict:
    """Each run's img/s over the next `seconds`, from status.json read every half second."""
    samples = {r.name: [] for r in runs}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for r in runs:
            s = status_sample(r)
            if s is not None:
                samples[r.name].append(s)
        time.sleep(0.5)
    return {name: images_per_s(s, batch_size) for name, s in samples.items()}


def case(label: str, dataset: str, data_root: Path, window_s: float, env: dict) -> dict:
    saved = dict(os.environ)
    os.environ.update(env)  # the trainers' environment (start_training passes os.environ on)
    try:
        with tempfile.TemporaryDirectory(prefix="side-by-side-") as tmp:
            checkpoints = Path(tmp)
            cfg = training_config("train-a", dataset, data_root, seed=0)
            a = start_trainer(cfg, checkpoints)
            runs = [a]
            try:
                time.sleep(CHECK_EVERY_S)  # past the step-0 snapshot and the first thread count
                alone = sample([a], window_s, cfg.batch_size)["train-a"]
                b = start_trainer(training_config("train-b", dataset, data_root, seed=1), checkpoints)
                runs.append(b)
                time.sleep(2 * CHECK_EVERY_S)  # both have counted each other
                two = sample([a, b], window_s, cfg.batch_size)
                log_a = a.log_tail(2048)
            finally:
                stop_trainers(checkpoints, runs)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    shares = [line for line in log_a.splitlines() if "torch threads" in line]
    result = {"case": label, "alone": alone, "train-a": two.get("train-a"), "train-b": two.get("train-b"),
              "train-a log": shares}
    ratio = " / ".join(f"{v / alone:.2f}x" if v and alone else "-" for v in (result["train-a"], result["train-b"]))
    progress(f"{label}: alone {alone or 0:.0f} img/s; side by side A {result['train-a'] or 0:.0f}, "
             f"B {result['train-b'] or 0:.0f} img/s ({ratio} alone; together "
             f"{((result['train-a'] or 0) + (result['train-b'] or 0)) / alone if alone else 0:.2f}x one alone)"
             + (f"; A's log: {shares[-1]}" if shares else ""))
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--window-s", type=float, default=40.0, help="each measuring window (default 40 s)")
    ap.add_argument("--dataset", choices=("auto", "mnist", "synthetic"), default="auto")
    ap.add_argument("--data-root", type=Path, default=DATA_ROOT)
    ap.add_argument("--out", type=Path, help="write the figures as JSON here too")
    args = ap.parse_args(argv)
    info = machine()
    progress(machine_text(info))
    dataset = choose_dataset(args.dataset, args.data_root)
    threads = str(info["torch_threads"])
    results = [case("sharing (default)", dataset, args.data_root, args.window_s, {}),
               case(f"not sharing (OMP_NUM_THREADS={threads}, as before)", dataset, args.data_root, args.window_s,
                    {"OMP_NUM_THREADS": threads})]
    if args.out:
        args.out.write_text(json.dumps({"machine": info, "dataset": dataset, "window_s": args.window_s,
                                        "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
