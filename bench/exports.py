"""Animation exports, end to end from the z's: 64 frames at 256 px (the shipped faces model, 64 px x 4) through
G and into each format (GIF, MP4, WebP, APNG, ZIP of PNGs), and a session's render beside the export it
reproduces (the render loads G and hashes its weights too, as `python -m dcgan render` does).

    python bench/exports.py [--model checkpoints/faces] [--scale 4] [--frames 64] [--repeats 3] [--threads N]

Prints G's time alone, then one row per format: the export's median seconds (generation, encoding, frame
grid), the encoding's alone (frames to bytes), the file's size, the render's median seconds, and whether the render made the same bytes. The
target for MP4 is 1 s on 2 CPU cores."""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

from dcgan.analysis.animation import model_ref, render_file
from dcgan.analysis.views import interpolation
from dcgan.media import ANIMATION_FORMATS, animation_bytes
from dcgan.runs.checkpoint import resolve_generator
from dcgan.sampling import generate, interpolate, z_from_seed

ROOT = Path(__file__).resolve().parents[1]
MP4_TARGET_S = 1.0


def median_s(call, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "checkpoints" / "faces"))
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default torch's: one per core; on a shared, loaded machine 1 is faster)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    G = resolve_generator(args.model)
    ref = model_ref(args.model)
    zs = [z_from_seed(s, G.z_dim)[0] for s in (1, 7)]
    side = G.image_size * args.scale
    print(f"{args.frames} frames at {side} px ({Path(args.model).name}, {G.image_size} px x {args.scale}); "
          f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs; median of {args.repeats}")
    interpolation(G, *zs, frames=4, scale=1)  # warm-up: torchvision's import, G's first batch
    g_s, images = median_s(lambda: generate(G, interpolate(*zs, args.frames), batch_size=32), args.repeats)
    print(f"G alone (z's -> uint8 frames): {g_s:.3f} s; load average {os.getloadavg()[0]:.1f}")
    print(f"{'format':6s} {'export s':>9s} {'encode s':>9s} {'bytes':>10s} {'render s':>9s}  same bytes")
    for fmt in ANIMATION_FORMATS:
        export_s, result = median_s(lambda: interpolation(G, *zs, frames=args.frames, scale=args.scale, fmt=fmt,
                                                          seeds=[1, 7], model=ref), args.repeats)
        encode_s, _ = median_s(lambda: animation_bytes(images, fmt, scale=args.scale), args.repeats)
        text = result.session.to_json()
        render_s, again = median_s(lambda: render_file(text), args.repeats)
        note = f"  (target <= {MP4_TARGET_S:g} s: {'met' if export_s <= MP4_TARGET_S else 'missed'})" \
            if fmt == "MP4" else ""
        print(f"{fmt:6s} {export_s:9.3f} {encode_s:9.3f} {len(result.data):10,d} {render_s:9.3f}  "
              f"{again.data == result.data}{note}")


if __name__ == "__main__":
    main()
