"""Inversion on 2 CPU cores, in three parts that print figures (docs/inversion.md):

- speed: the time to bring one image into z to within 1.5x of the model's self-inversion error (its
  reference: G's own images inverted with the default settings), for the shipped 28 px MNIST model
  (target 3 s) and the 64 px faces model (target 20 s); and the default search on real held-out images,
  its time and error beside both references;
- reframe: real test digits (garments) drawn as a user draws them, small and off-centre on a 280 px
  canvas, inverted as drawn and re-framed as the data set was made (imaging.reframe), and the share whose
  G(z) the evaluator's classifier puts in the image's own class, beside the same images as the data set
  holds them;
- search: where the error of a search goes with its settings (learning rate, starts, steps): G's own images
  (whose exact z exists) and real held-out ones, each image's error, not a median of four.

    python bench/inversion.py [--parts speed,reframe,search] [--models mnist,faces] [--images 3]
                              [--threads 2] [--pngs /tmp/inversion]

Computes (or reads) each shipped model's inversion_references.json. Real data is read from
../shared/datasets (--data-root); a part that needs it says so and is skipped when it is not there.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from dcgan.analysis.inversion import held_out_image, invert, invert_batch, prepare_target, references, target_framing
from dcgan.imaging import make_grid, png_bytes, upscale
from dcgan.runs.checkpoint import resolve_generator
from dcgan.runs.rundir import RunDir
from dcgan.sampling import generate, generate_tensor, z_from_seed

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
CANVAS_PX = 280  # the Invert page's canvas (explorer/invert_target.py)


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
           "reach_errors": [f.error for f in reach],
           "real_s": [round(f.seconds, 2) for _, f in real], "real_errors": [round(f.error, 4) for _, f in real]}
    print(f"{name} ({G.image_size} px): references own {refs.own:.4f}, real {refs.real} ({refs_s:.0f} s, cached after); "
          f"to within 1.5x own ({target_error:.4f}): median {statistics.median(out['reach_s']):.2f} s "
          f"(runs {out['reach_s']}, steps {out['reach_steps']}; reached by {sum(e <= target_error for e in out['reach_errors'])}"
          f" of {images}); default search on real images: median "
          f"{statistics.median(out['real_s'] or [0]):.2f} s, errors {out['real_errors']}", flush=True)
    return out


# --- reframe: a user's drawing, small and off-centre, framed as the data set was ---------------------------

def off_centre_drawing(image: np.ndarray, rng: np.random.Generator, canvas: int = CANVAS_PX) -> bytes:
    """A real 28 px test image as a user draws one on the canvas: scaled to a random 90 to 150 px (the data set's
    images fill 280 px there, their ink box 200) and put in a random corner, as a PNG, white on black."""
    from PIL import Image
    side = int(rng.integers(90, 151))
    room = canvas - side
    x, y = (int(rng.integers(0, room // 4 + 1)) if rng.random() < 0.5 else int(rng.integers(3 * room // 4, room + 1))
            for _ in range(2))
    drawing = Image.new("L", (canvas, canvas), 0)
    drawing.paste(Image.fromarray(image[..., 0]).resize((side, side), Image.BICUBIC), (x, y))
    return png_bytes(np.asarray(drawing)[..., None])


def bench_reframe(name: str, count: int, data_root: Path, pngs: Path | None) -> dict | None:
    """The same-class share of count real test images inverted as the data set holds them, drawn off-centre,
    and drawn off-centre then re-framed; the classifier's share on the targets themselves beside it."""
    from dcgan.data import DataError, load_dataset
    from dcgan.evaluation.classifier import classifier_path, load_classifier
    from dcgan.evaluation.embedding import embed
    run = RunDir(ROOT / "checkpoints" / name)
    G = resolve_generator(run.path)
    framing = target_framing(G, run)
    if framing is None:
        print(f"reframe {name}: skipped: re-framing is for 28 px grey models that draw on black")
        return None
    try:
        data = load_dataset(name, 28, 1, str(data_root), split="test")
    except DataError as e:
        print(f"reframe {name}: skipped: no real test images ({str(e).splitlines()[0]})")
        return None
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:count]
    images, labels = data.images[pick], data.labels[pick].numpy()
    rng = np.random.default_rng(0)
    drawings = [off_centre_drawing(im.permute(1, 2, 0).numpy(), rng) for im in images]

    def prepared(framed: bool) -> torch.Tensor:
        return torch.stack([torch.from_numpy(prepare_target(G, d, framing if framed else None).image).permute(2, 0, 1)
                            for d in drawings])
    classifier = load_classifier(classifier_path(name))
    out = {"model": name, "count": count, "framing": framing.name}
    shown = []
    for label, targets in (("as the data set holds them", images), ("drawn small, off-centre", prepared(False)),
                           (f"drawn off-centre, re-framed as {framing.name}", prepared(True))):
        target_share = float((embed(classifier, targets, name).labels == labels).mean())
        began = time.perf_counter()
        found = invert_batch(G, targets, seed=0)
        seconds = time.perf_counter() - began
        made = torch.from_numpy(np.stack([f.image for f in found])).permute(0, 3, 1, 2)
        same = embed(classifier, made, name).labels == labels
        out[label] = {"target_share": target_share, "same_class": int(same.sum()),
                      "median_error": float(np.median([f.error for f in found])), "seconds": round(seconds, 1)}
        print(f"reframe {name}, {label}: G(z) of the same class {int(same.sum())} of {count} "
              f"({same.mean():.0%}); the targets themselves {target_share:.0%}; median pixel error "
              f"{out[label]['median_error']:.4f}; {count} searched in one batch in {seconds:.0f} s", flush=True)
        shown.append((targets[:8].permute(0, 2, 3, 1).numpy(), np.stack([f.image for f in found[:8]])))
    if pngs is not None:  # rows: each condition's targets, then their G(z)
        pngs.mkdir(parents=True, exist_ok=True)
        rows = np.concatenate([np.concatenate(pair) for pair in shown])
        (pngs / f"{name}_reframe.png").write_bytes(png_bytes(upscale(make_grid(rows, nrow=8), 3)))
    return out


# --- search: where a search's error goes with its settings -------------------------------------------------

# (learning rate, starts, steps): the defaults, then one change at a time, then a long search
SEARCH_SETTINGS = [(0.1, 8, 200), (0.05, 8, 200), (0.2, 8, 200), (0.1, 32, 200), (0.1, 8, 2000)]


def bench_search(name: str, count: int, settings: list[tuple]) -> dict:
    """For each setting, every error of inverting count of G's own images (seeds 1000..: not the reference's)
    and count real held-out images, how many of G's own come within 1.5x of the stored reference, and how
    near the found z lies to the true one (cosine) when the image came back."""
    run = RunDir(ROOT / "checkpoints" / name)
    G = resolve_generator(run.path)
    refs = references(G, run, None)
    z_true = z_from_seed(1000, G.z_dim, count)
    own = torch.cat(generate_tensor(G, z_true))
    try:
        real = torch.stack([torch.from_numpy(held_out_image(run, k, G.image_size, G.channels)).permute(2, 0, 1)
                            for k in range(count)])
    except Exception as e:  # noqa: BLE001  (the data is not on this machine)
        print(f"search {name}: no real held-out images ({str(e).splitlines()[0]})")
        real = None
    print(f"search {name}: stored references: G's own {refs.own:.4f}, real {refs.real}; 1.5x own = {1.5 * refs.own:.4f}")
    out = {"model": name, "own_reference": refs.own, "real_reference": refs.real, "rows": []}
    for lr, starts, steps, *more in settings:
        candidates = more[0] if more else 0
        row = {"lr": lr, "starts": starts, "steps": steps, "candidates": candidates}
        for kind, targets in (("own", own), ("real", real)):
            if targets is None:
                continue
            began = time.perf_counter()
            found = invert_batch(G, targets, starts=starts, steps=steps, lr=lr, seed=0, candidates=candidates)
            seconds = time.perf_counter() - began
            errors = [f.error for f in found]
            row[kind] = {"errors": [round(e, 4) for e in errors], "median": float(np.median(errors)),
                         "seconds": round(seconds, 1), "ms_per_step_per_image": round(1000 * seconds / steps / count, 2)}
            picked = f" (best of {candidates})" if candidates else ""
            line = (f"search {name} lr {lr:g}, {starts} starts{picked}, {steps} steps, {kind}: median {np.median(errors):.4f} "
                    f"(quartiles {np.percentile(errors, 25):.4f}-{np.percentile(errors, 75):.4f}, max {max(errors):.4f})")
            if kind == "own":
                within = sum(e <= 1.5 * refs.own for e in errors)
                cosine = [float(np.dot(f.z, z.numpy()) / G.z_dim) for f, z in zip(found, z_true)]  # both of norm sqrt(z_dim)
                row[kind].update(within=within, cosine=[round(c, 3) for c in cosine])
                line += (f"; within 1.5x of the reference: {within} of {count}; found z . true z / z_dim: median "
                         f"{np.median(cosine):.2f} (min {min(cosine):.2f})")
            print(f"{line}; {seconds:.0f} s for {count}", flush=True)
        # what one image costs alone (the app's case): the best of 3, the least disturbed by other jobs
        row["one_image_s"] = min(invert(G, own[0], starts=starts, steps=steps, lr=lr, seed=0,
                                        candidates=candidates).seconds for _ in range(3))
        print(f"search {name} lr {lr:g}, {starts} starts{picked}, {steps} steps: one image alone "
              f"{row['one_image_s']:.2f} s (best of 3)", flush=True)
        out["rows"].append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="speed,reframe,search", help="speed, reframe, search (comma-separated)")
    parser.add_argument("--models", default=None,
                        help="shipped models [speed: mnist,faces; reframe: mnist,fashion-mnist; search: "
                             "fashion-mnist,mnist]")
    parser.add_argument("--images", type=int, default=3, help="speed: images per model [3]")
    parser.add_argument("--reframe-images", type=int, default=50, help="reframe: real test images [50]")
    parser.add_argument("--search-images", type=int, default=12, help="search: images of each kind [12]")
    parser.add_argument("--search-settings", default=None,
                        help="search: settings to try, 'lr/starts/steps[/candidates]' separated by commas "
                             "[see SEARCH_SETTINGS]")
    parser.add_argument("--data-root", default=str(DATASETS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pngs", default=None, help="also write real targets beside G(z) here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pngs = Path(args.pngs) if args.pngs else None
    parts = args.parts.split(",")
    print(f"torch threads {torch.get_num_threads()}; load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}",
          flush=True)
    if "speed" in parts:
        for name in (args.models or "mnist,faces").split(","):
            bench_model(name, args.images, pngs)
    if "reframe" in parts:
        for name in (args.models or "mnist,fashion-mnist").split(","):
            bench_reframe(name, args.reframe_images, Path(args.data_root), pngs)
    if "search" in parts:
        settings = SEARCH_SETTINGS if args.search_settings is None else \
            [tuple(float(v) if i == 0 else int(v) for i, v in enumerate(s.split("/"))) for s in args.search_settings.split(",")]
        for name in (args.models or "fashion-mnist,mnist").split(","):
            bench_search(name, args.search_images, settings)


if __name__ == "__main__":
    main()
