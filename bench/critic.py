"""What each shipped discriminator believes (docs/directions.md, "What D believes"): D's mean "real"
score for G's images, for real training and held-out images, and for uniform noise.

    python bench/critic.py                            # every shipped model in checkpoints/
    python bench/critic.py --models faces --samples 1000

D is loaded as the Directions page loads it (the newest training checkpoint's D, else the run's fp16
discriminator.safetensors), in eval mode. The real images come from the run's own data (config.json's
dataset, or its image folder), a seeded random draw from each split: MNIST-style sets' train and test
splits, a folder's training share and its hashed held-out share. Without the data those rows are left out
with the reason. A D with the minibatch std-dev feature scores each image in a batch with 63 of G's, as
the page does. The figures are D's mean sigmoid(logit): under the relativistic and hinge losses only their
order means something (docs/directions.md says why). No timing here; the machine need not be quiet.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from dcgan.data import DataError, load_dataset
from dcgan.analysis.critic import generated_realness, realness
from dcgan.imaging import as_float_images
from dcgan.sampling import z_from_seed
from dcgan.runs.checkpoint import CheckpointError, load_run_discriminator, resolve_generator
from dcgan.runs.files import read_json
from dcgan.runs.rundir import RunDir

ROOT = Path(__file__).resolve().parent.parent

SHIPPED = ("mnist", "fashion-mnist", "faces")
SPLITS = {"train": "real, training images", "test": "real, held out"}


def real_images(cfg: dict, split: str, samples: int, data_root: str, seed: int) -> torch.Tensor:
    """A seeded random draw of `samples` of the run's real images of one split, as D's input in [-1, 1].
    A relative image folder is read from the repository root, as the shipped configs name it."""
    folder = cfg.get("image_folder") or ""
    if folder and not Path(folder).is_absolute():
        folder = str(ROOT / folder)
    data = load_dataset(cfg["dataset"], cfg["image_size"], cfg["channels"], data_root, folder,
                        seed=cfg.get("seed", 0), split=split, holdout=cfg.get("holdout", 0.1))
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:samples]
    return as_float_images(data.images[pick])


def beliefs(run: RunDir, samples: int, data_root: str, seed: int = 0) -> tuple[int | None, dict[str, float]]:
    """D's step and its mean "real" probability per kind of image, in the order they are printed."""
    D, step = load_run_discriminator(run)
    G = resolve_generator(run.path)
    fakes, fake = generated_realness(D, G, z_from_seed(seed, G.z_dim, samples))
    context = as_float_images(torch.from_numpy(fakes).permute(0, 3, 1, 2))  # G's own batch, for a mbstd D
    out = {"G's images": float(fake.probabilities.mean())}
    cfg = read_json(run.config_path) or {}
    for split, label in SPLITS.items():
        try:
            images = real_images(cfg, split, samples, data_root, seed)
        except (DataError, KeyError, OSError) as e:
            print(f"NOTICE: {run.name}: no {split!r} row: {str(e).splitlines()[0]}", file=sys.stderr)
            continue
        out[label] = float(realness(D, images, context=context).probabilities.mean())
    noise = torch.rand(samples, G.channels, G.image_size, G.image_size,
                       generator=torch.Generator().manual_seed(seed)) * 2 - 1
    out["uniform noise"] = float(realness(D, noise, context=context).probabilities.mean())
    return step, out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoints", default=str(ROOT / "checkpoints"))
    p.add_argument("--models", nargs="+", default=list(SHIPPED), help="run names under --checkpoints")
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "datasets"))
    p.add_argument("--samples", type=int, default=500, help="images of each kind")
    p.add_argument("--seed", type=int, default=0, help="G's z, the real images drawn and the noise")
    args = p.parse_args(argv)
    if args.samples < 1:
        p.error("--samples must be at least 1")
    print(f"{'model':<16}{'D step':>8}  {'kind of image':<26}{'mean P(real)':>13}")
    for name in args.models:
        try:
            step, scores = beliefs(RunDir.of(args.checkpoints, name), args.samples, args.data_root, args.seed)
        except CheckpointError as e:
            print(f"NOTICE: {name}: {e}", file=sys.stderr)
            continue
        for kind, score in scores.items():
            print(f"{name:<16}{step if step is not None else '?':>8}  {kind:<26}{score:>13.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
