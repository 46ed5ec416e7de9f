"""What a new user sees a minute after pressing Start: the Train page's defaults on MNIST, launched as the
page launches them, and the newest snapshot grid the page shows at 60 s, scored digit by digit.

    python bench/first_minute.py                     # MNIST from ../shared/datasets, 60 s
    python bench/first_minute.py --seconds 90 --out first-minute.png

Prints the step reached, the snapshot shown, and how many of its 64 fixed-z images the evaluator's MNIST
classifier reads as a digit with p >= 0.9 (98 % of real test digits are), with the classes they cover;
--out keeps the grid. The machine should be otherwise quiet: the figure is wall time.
"""
from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dcgan.config import TrainConfig
from dcgan.evaluation.classifier import classifier_path, load_classifier
from dcgan.evaluation.embedding import CONFIDENT, embed
from dcgan.presets import RECIPES, preset_values
from dcgan.training.launch import start_training, stop_training, wait_for_state

ROOT = Path(__file__).resolve().parent.parent

PADDING = 2  # dcgan.imaging.make_grid's


def tiles(grid: np.ndarray, size: int, count: int) -> np.ndarray:
    """The count (size x size) images of a make_grid PNG, row-major: (count, 1, size, size) uint8."""
    per_row = (grid.shape[1] - PADDING) // (size + PADDING)
    out = []
    for i in range(count):
        r, c = divmod(i, per_row)
        y, x = PADDING + r * (size + PADDING), PADDING + c * (size + PADDING)
        out.append(grid[y:y + size, x:x + size])
    return np.stack(out)[:, None]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "datasets"))
    p.add_argument("--out", default=None, help="save the grid shown at the end here")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="dcgan-first-minute-"))
    try:
        # what the Train page submits when nothing is edited but where MNIST is
        cfg = TrainConfig.from_dict({**TrainConfig().to_dict(), **preset_values(RECIPES["mnist"]),
                                     "run_name": "first-minute", "data_root": args.data_root})
        t0 = time.time()
        run = start_training(cfg, work)
        time.sleep(max(0.0, t0 + args.seconds - time.time()))
        steps = run.snapshot_steps()  # what the page's "newest snapshot" shows at this moment
        status = run.status()
        stop_training(work, cfg.run_name)
        wait_for_state(run, timeout_s=120)
        if not steps:
            print(f"after {args.seconds:g} s: no snapshot yet (step {status.get('step')})")
            return 1
        newest = max(steps)
        grid = np.asarray(Image.open(io.BytesIO(run.grid_path(newest).read_bytes())).convert("L"))
        if args.out:
            Image.fromarray(grid).save(args.out)
        images = torch.from_numpy(tiles(grid, cfg.image_size, cfg.grid_size))
        emb = embed(load_classifier(classifier_path("mnist")), images, "mnist")
        confident = emb.probs.max(1) >= CONFIDENT
        digits = sorted(set(emb.labels[confident].tolist()))
        print(f"after {args.seconds:g} s: trainer at step {status.get('step')}, the page shows the snapshot of "
              f"step {newest}: {int(confident.sum())} of {len(confident)} images read as a digit with p >= "
              f"{CONFIDENT} (digits {', '.join(map(str, digits))}); preset {cfg.preset}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
