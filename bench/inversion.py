"""Inversion's speed on 2 CPU cores: the time to bring one image into z to within 1.5x of the model's
self-inversion error (its reference: G's own images inverted with the default settings), for the shipped
28 px MNIST model (target 3 s) and the 64 px faces model (target 20 s); and the default search on real
held-out images, its time and error beside both references.

    python bench/inversion.py [--models mnist,faces] [--images 3] [--threads 2] [--pngs /tmp/inversion]

Computes (or reads) each shipped model's inversion_references.json. Figures: docs/inversion.md.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from dcgan.analysis.inversion import held_out_image, invert, references
from dcgan.imaging import make_grid, png_bytes, upscale
from dcgan.runs.checkpoint import resolve_generator
from dcgan.runs.rundir import RunDir
from dcgan.sampling import generate, z_from_seed

ROOT = Path(__file__).resolve().parents[1]


def bench_model(name: str, images: int, pngs: Path | None) -> dict:
    run = RunDir(ROOT / "checkpoints" / name)
    G = resolve_generator(run.path)
    began = time.perf_counter()
    refs = references(G, run, None)
    refs_s = time.perf_counter() - began
    target_error = 1.5 * refs.own
    fresh = generate(G, z_from_seed(1000, G.z_dim, images))  # not among the reference's own images
    reach = [invert(G, t, target_error=target_error) for t in fresh]
    real = []
    for k in range(images):
        try:
            real.append((held_out_image(run, k, G.image_size, G.channels), invert(G, held_out_image(
                run, k, G.image_size, G.channels))))
        except Exception as e:  # noqa: BLE001  (the data is not on this machine)
            print(f"{name}: no real held-out images ({str(e).splitlines()[0]})")
            break
    if pngs is not None and real:
        pngs.mkdir(parents=True, exist_ok=True)
        pairs = np.stack([im for target, found in real for im in (target, found.image)])
        (pngs / f"{name}_real.png").write_bytes(png_bytes(upscale(make_grid(pairs, nrow=2), 4)))
    out = {"model": name, "own_reference": refs.own, "real_reference": refs.real, "references_s": refs_s,
           "target_error": target_error,
           "reach_s": [round(f.seconds, 2) for f in reach], "reach_steps": [f.steps for f in reach],
           "reach_errors": [round(f.error, 4) for f in reach],
           "real_s": [round(f.seconds, 2) for _, f in real], "real_errors": [round(f.error, 4) for _, f in real]}
    print(f"{name} ({G.image_size} px): references own {refs.own:.4f}, real {refs.real} ({refs_s:.0f} s, cached after); "
          f"to within 1.5x own ({target_error:.4f}): median {statistics.median(out['reach_s']):.2f} s "
          f"(runs {out['reach_s']}, steps {out['reach_steps']}); default search on real images: median "
          f"{statistics.median(out['real_s'] or [0]):.2f} s, errors {out['real_errors']}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mnist,faces")
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pngs", default=None, help="also write real targets beside G(z) here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.models.split(","):
        bench_model(name, args.images, Path(args.pngs) if args.pngs else None)


if __name__ == "__main__":
    main()
