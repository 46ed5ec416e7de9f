"""The project's evaluator: how good is a generator, is it collapsing, is it copying its data?

Inception-based FID needs weights this project cannot download, and Inception features suit 28 px
grey digits poorly, so a small CNN classifier per dataset (MNIST, Fashion-MNIST; Stacked MNIST
reuses MNIST's per channel), trained here on the real training split, supplies the features:

- FID (domain classifier): Frechet distance of penultimate-layer features, generated vs real test;
- class coverage: predicted-class histogram, classes covered, KL to the real class distribution
  (Stacked MNIST: modes covered of 1000 and KL to uniform, as in VEEGAN / PacGAN);
- improved precision and recall (Kynkaanniemi et al. 2019) in the same feature space;
- memorisation: each generated image's nearest training image, in features and in pixels, against
  what unseen test images show (folder datasets: pixels only, against their held-out share).

Every figure comes with its real-data floor: the same figure for real training images in place of
generated ones. The metric functions themselves live in dcgan/metrics.py.
"""
from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpoint import CheckpointError, resolve_generator, state_dict_problem
from .data import DataError, load_dataset
from .metrics import (COVERED, MEMORISED_SHARE, class_coverage, class_shares, frechet_distance, memorisation,
                      nearest, precision_recall, stacked_mnist_modes)
from .rundir import RunDir, atomic_write_bytes, atomic_write_json, is_number, is_step, read_json

EVALUATOR_DIR = Path(__file__).resolve().parent.parent / "checkpoints" / "evaluators"
CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Boot"],
}
# the classifier each dataset is judged by: Stacked MNIST classifies each channel as an MNIST digit
CLASSIFIER_OF = {"mnist": "mnist", "fashion-mnist": "fashion-mnist", "stacked-mnist": "mnist"}
CONFIDENT = 0.9  # max softmax above this counts as 'clearly one class'
KNN_K = 3  # Kynkaanniemi et al.'s recommended k
KNN_MAX = 5000  # precision / recall on at most this many images per side (N^2 distances)
MEMORISATION_MAX = 2000  # generated and test images checked against the whole training set
DEFAULT_SAMPLES = {"stacked-mnist": 26_000}  # VEEGAN / PacGAN count modes over 26,000 samples
STACKED_REFERENCE = 5000  # Stacked MNIST test images for FID / precision / recall: three classifier passes each
REPORT_NAME = "eval.json"
LEGACY_REPORT_NAME = "evaluation.json"  # written before eval.json; still read
# a live evaluation whose coverage falls below this share of the run's best so far warns of collapse
COLLAPSE_DROP = 0.9


class Classifier(nn.Module):
    """28x28 grey -> 10 logits; the 128-d penultimate features feed the Frechet distance and the
    k-NN metrics. Two conv blocks and a dense layer: a global average pool (the first version)
    threw away where strokes are, which is what tells a 4 from a 9 (98.5 % -> 99+ %)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.BatchNorm2d(32), nn.ReLU(True), nn.MaxPool2d(2),
            # state size. 32 x 14 x 14
            nn.Conv2d(32, 64, 5, padding=2), nn.BatchNorm2d(64), nn.ReLU(True), nn.MaxPool2d(2),
            # state size. 64 x 7 x 7
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.BatchNorm1d(128), nn.ReLU(True),
            # state size. 128
        )
        self.head = nn.Sequential(nn.Dropout(0.25), nn.Linear(128, 10))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return self.head(f), f


def _split(dataset: str, root: str, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Images in [-1, 1] (N, 1, 28, 28) and labels of a torchvision split (no download here)."""
    from torchvision import datasets

    from .data import DataError
    cls = datasets.MNIST if dataset == "mnist" else datasets.FashionMNIST
    try:
        ds = cls(root, train=train, download=False)
    except RuntimeError:
        raise DataError(f"{dataset} is not in {root}; the evaluator needs the real data (--data-root)") from None
    return ds.data.unsqueeze(1).float() / 127.5 - 1, ds.targets.clone()


# light augmentation per dataset: digits tolerate small rotations, clothes are photographed upright
# but face either way
AUGMENT = {"mnist": dict(degrees=10.0, scale=0.1, flip=False), "fashion-mnist": dict(degrees=0.0, scale=0.05, flip=True)}
SHIFT_PX = 2  # generated images are rarely centred as exactly as the real ones
EVALUATOR_EPOCHS = {"mnist": 2, "fashion-mnist": 3}  # the shipped classifiers' (about 8 and 12 CPU minutes)


def augment(x: torch.Tensor, g: torch.Generator, degrees: float = 0.0, scale: float = 0.0,
            flip: bool = False) -> torch.Tensor:
    """Random per-image shift (+-SHIFT_PX), rotation, scale and horizontal flip of [-1, 1] images."""
    n, size = x.shape[0], x.shape[-1]
    u = lambda *shape: torch.rand(*shape, generator=g) * 2 - 1  # noqa: E731
    angle = u(n) * math.radians(degrees)
    s = 1 + u(n) * scale
    sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = torch.cos(angle) / s * sign
    theta[:, 0, 1] = -torch.sin(angle) / s
    theta[:, 1, 0] = torch.sin(angle) / s * sign
    theta[:, 1, 1] = torch.cos(angle) / s
    theta[:, :, 2] = u(n, 2) * SHIFT_PX * 2 / size
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # sample x + 1 so the zero padding grid_sample adds is the black background (-1), not grey
    return F.grid_sample(x + 1, grid, align_corners=False) - 1


def train_classifier(dataset: str, data_root: str, epochs: int = 2, batch_size: int = 128, seed: int = 0,
                     out_dir: Path = EVALUATOR_DIR, log=print) -> dict:
    """Train the evaluator's classifier and save it as out_dir/<dataset>.safetensors + .json."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x, y = _split(dataset, data_root, train=True)
    xt, yt = _split(dataset, data_root, train=False)
    model = Classifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=epochs * (len(x) // batch_size))
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        for i in range(len(x) // batch_size):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            loss = F.cross_entropy(model(augment(x[idx], g, **AUGMENT[dataset]))[0], y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        acc = _accuracy(model, xt, yt)
        log(f"epoch {epoch + 1}/{epochs}: test accuracy {acc:.4f} ({time.time() - t0:.0f} s)")
    info = {"dataset": dataset, "test_accuracy": round(acc, 4), "epochs": epochs, "seed": seed,
            "augment": {**AUGMENT[dataset], "shift_px": SHIFT_PX}, "train_seconds": round(time.time() - t0, 1)}
    out_dir.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save
    atomic_write_bytes(out_dir / f"{dataset}.safetensors",
                       save({k: v.contiguous() for k, v in model.state_dict().items()}))
    atomic_write_json(out_dir / f"{dataset}.json", info)
    return info


@torch.no_grad()
def _predict(model: Classifier, x: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax probabilities and penultimate features (on the CPU) of [-1, 1] images, in batches."""
    model.eval()
    device = next(model.parameters()).device
    probs, feats = [], []
    for i in range(0, len(x), batch_size):
        logits, f = model(x[i:i + batch_size].to(device))
        probs.append(logits.softmax(1).cpu())
        feats.append(f.cpu())
    return torch.cat(probs), torch.cat(feats)


def _accuracy(model: Classifier, x: torch.Tensor, y: torch.Tensor) -> float:
    return (_predict(model, x)[0].argmax(1) == y).float().mean().item()


def classifier_path(dataset: str) -> Path:
    if dataset not in CLASSIFIER_OF:
        raise CheckpointError(f"the evaluator has classifiers for {', '.join(CLASSIFIER_OF)}, not {dataset!r}")
    return EVALUATOR_DIR / f"{CLASSIFIER_OF[dataset]}.safetensors"


def load_classifier(path: str | Path) -> Classifier:
    from safetensors.torch import load_file
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"no evaluator at {p}; train one with `python -m dcgan train-evaluator`")
    model = Classifier()
    try:
        weights = load_file(str(p))
    except Exception:  # safetensors' own messages ("HeaderTooLarge", ...) say nothing to a user
        raise CheckpointError(f"{p} is not a readable safetensors file (damaged or truncated); retrain it with "
                              "`python -m dcgan train-evaluator`") from None
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise CheckpointError(f"{p} does not fit this evaluator's classifier (made by an older version? "
                              f"retrain it with `python -m dcgan train-evaluator`): {state_dict_problem(e)}") from None
    return model.eval()


# --- embedding images with the classifier --------------------------------------------------------

@dataclass
class Embedding:
    """What the classifier makes of a set of images."""

    labels: np.ndarray  # (N,) predicted class (Stacked MNIST: mode 100 r + 10 g + b)
    features: np.ndarray  # (N, F) penultimate features (Stacked MNIST: the three channels' side by side)
    probs: np.ndarray  # (N, 10) softmax (Stacked MNIST: (N, 3, 10))
    digits: np.ndarray | None = None  # (N, 3) per-channel digits, Stacked MNIST only

    def __len__(self) -> int:
        return len(self.labels)


def as_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] or float [-1, 1] images as float [-1, 1]."""
    return images.float() / 127.5 - 1 if images.dtype == torch.uint8 else images.float()


def to_uint8_nchw(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float images as uint8 (N, C, H, W), the layout datasets are held in."""
    return ((images.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def _to_classifier_input(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) grey 28x28 in [-1, 1], as the classifier was trained on."""
    if images.shape[-1] != 28:
        images = F.interpolate(images, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
    return images


def embed(classifier: Classifier, images: torch.Tensor, dataset: str) -> Embedding:
    """Classify images (uint8 or [-1, 1], any size) the way `dataset` is judged."""
    x = as_float_images(images)
    if dataset == "stacked-mnist":
        n = x.shape[0]
        probs, feats = _predict(classifier, _to_classifier_input(x.reshape(n * 3, 1, *x.shape[-2:])))
        probs = probs.reshape(n, 3, -1)
        digits = probs.argmax(-1).numpy()
        return Embedding(digits @ np.array([100, 10, 1]), feats.reshape(n, -1).numpy(), probs.numpy(), digits)
    if x.shape[1] == 3:
        x = x.mean(1, keepdim=True)
    probs, feats = _predict(classifier, _to_classifier_input(x))
    return Embedding(probs.argmax(1).numpy(), feats.numpy(), probs.numpy())


def compare(gen: Embedding, ref: Embedding, dataset: str, ref_shares: np.ndarray) -> dict:
    """Every classifier-based figure of one image set (generated, or real for the floor) against the
    real reference set."""
    out = {"images": len(gen), "fid": round(frechet_distance(gen.features, ref.features), 4)}
    n = min(len(gen), len(ref), KNN_MAX)
    out.update(precision_recall(ref.features[:n], gen.features[:n], KNN_K))
    if dataset == "stacked-mnist":
        out.update(stacked_mnist_modes(gen.digits))
        out["confident_fraction"] = round(float((gen.probs.max(-1).min(1) >= CONFIDENT).mean()), 4)
        return out
    out.update(class_coverage(gen.labels, 10, ref_shares))
    p = torch.from_numpy(gen.probs).double()
    marginal = p.mean(0)
    kl = (p * (p.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(1).mean()
    out["confident_fraction"] = round((p.max(1).values >= CONFIDENT).double().mean().item(), 4)
    out["classifier_score"] = round(math.exp(kl.item()), 3)  # Inception-Score-like, at most 10
    return out


# --- real data -------------------------------------------------------------------------------------

def real_images(cfg: dict, split: str, image_size: int | None = None, channels: int | None = None):
    """A run's real images (ImageSet, uint8) from its own config: train split or test / held-out."""
    try:
        return load_dataset(cfg["dataset"], image_size or cfg.get("image_size", 28),
                            channels or cfg.get("channels", 1), cfg.get("data_root", "data"),
                            cfg.get("image_folder", ""), cfg.get("seed", 0), split=split,
                            holdout=cfg.get("holdout", 0.1))
    except DataError as e:
        raise DataError(f"the evaluator needs the run's real data: {e}") from None


def _subset(n_total: int, n: int, g: torch.Generator) -> torch.Tensor:
    return torch.randperm(n_total, generator=g)[:n]


@torch.no_grad()
def generate_images(G: nn.Module, n: int, seed: int, batch_size: int = 500, z: torch.Tensor | None = None) -> torch.Tensor:
    """n images of G in [-1, 1] on the CPU, from z ~ N(0, 1) drawn with its own generator (or given z)."""
    if z is None:
        z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    device = next(G.parameters()).device
    return torch.cat([G(z[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(z), batch_size)])


# --- the full evaluation ---------------------------------------------------------------------------

def evaluate_model(model: str | Path, step: int | None = None, samples: int | None = None,
                   evaluator: str | None = None, data_root: str | None = None, dataset: str | None = None,
                   seed: int = 0, check_memorisation: bool = True, log: Callable[[str], None] = lambda s: None) -> dict:
    """Score a generator (run directory or .safetensors) against its dataset's real test split.

    Returns a JSON-ready report; each section holds the generated figure and its real-data floor.
    """
    G = resolve_generator(model, step)
    p = Path(model)
    cfg = dict((RunDir(p).config() or {}) if p.is_dir() else {})
    if dataset:
        cfg["dataset"] = dataset
    if data_root:
        cfg["data_root"] = data_root
    dataset = cfg.get("dataset")
    if dataset not in CLASSIFIER_OF and dataset != "folder":
        raise CheckpointError(f"the evaluator knows {', '.join(CLASSIFIER_OF)} and folder runs, not {dataset!r} "
                              "(pass dataset=... for a bare weights file)")
    cfg.update(image_size=G.image_size, channels=G.channels)
    samples = samples or DEFAULT_SAMPLES.get(dataset, 2000)
    if step is None and p.is_dir():
        step = (read_json(RunDir(p).generator_config_path) or {}).get("step")
    report = {"model": str(model), "step": step, "dataset": dataset, "samples": samples, "seed": seed}
    g = torch.Generator().manual_seed(seed + 1)
    t0 = time.time()
    fake = generate_images(G, samples, seed)
    log(f"generated {samples} images ({time.time() - t0:.0f} s)")
    train = real_images(cfg, "train")
    test = real_images(cfg, "test")

    gen_emb = None
    if dataset in CLASSIFIER_OF:
        path = Path(evaluator) if evaluator else classifier_path(dataset)
        classifier = load_classifier(path)
        info = read_json(path.with_suffix(".json")) or {}
        report["evaluator"] = {"file": path.name, "test_accuracy": info.get("test_accuracy")}
        ref_shares = class_shares(test.labels, 10) if dataset != "stacked-mnist" else np.full(1000, 1e-3)
        n_ref = len(test) if dataset != "stacked-mnist" else min(len(test), STACKED_REFERENCE)
        ref_emb = embed(classifier, test.images[_subset(len(test), n_ref, g)], dataset)
        gen_emb = embed(classifier, fake, dataset)
        # the floor: as many real training images as generated ones, scored the same way
        floor_idx = _subset(len(train), samples, g)
        floor_emb = embed(classifier, train.images[floor_idx], dataset)
        log(f"classified generated, real test and real train images ({time.time() - t0:.0f} s)")
        report["generated"] = compare(gen_emb, ref_emb, dataset, ref_shares)
        report["real"] = compare(floor_emb, ref_emb, dataset, ref_shares)
        if dataset != "stacked-mnist":
            report["real_class_share"] = [round(float(s), 4) for s in ref_shares]
            report["class_names"] = CLASS_NAMES[dataset]

    if check_memorisation:
        n = min(samples, MEMORISATION_MAX)
        test_idx = _subset(len(test), min(len(test), MEMORISATION_MAX), g)
        mem = {"pixels": memorisation(to_uint8_nchw(fake[:n]), train.images, test.images[test_idx])}
        if gen_emb is not None and dataset != "stacked-mnist":
            train_emb = embed(classifier, train.images, dataset)
            mem["features"] = memorisation(gen_emb.features[:n], train_emb.features,
                                           embed(classifier, test.images[test_idx], dataset).features)
        log(f"nearest training images found ({time.time() - t0:.0f} s)")
        report["memorisation"] = {space: m.summary() for space, m in mem.items()}
        pix = mem["pixels"]
        report["nearest_examples"] = [{"sample": i, "train_index": int(pix.nearest_index[i]),
                                       "pixel_distance": round(float(pix.distance[i]), 4)} for i in range(min(8, n))]
    report["seconds"] = round(time.time() - t0, 1)
    return report


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def format_report(report: dict) -> str:
    """The report as a table: each figure beside its real-data floor."""
    step = "latest" if report.get("step") is None else report["step"]
    lines = [f"evaluation of {report['model']} (step {step}, {report['dataset']}, {report['samples']} generated "
             f"images, seed {report['seed']})"]
    if "evaluator" in report:
        acc = report["evaluator"].get("test_accuracy")
        lines.append(f"classifier {report['evaluator']['file']}"
                     + (f", test accuracy {100 * acc:.2f} %" if acc is not None else ""))
    lines.append(f"{'':54s}{'generated':>12s}{'real (floor)':>14s}")
    row = lambda name, a, b: lines.append(f"{name:54s}{a:>12s}{b:>14s}")  # noqa: E731
    gen, real = report.get("generated"), report.get("real")
    if gen:
        row("FID (domain classifier)", f"{gen['fid']:.3f}", f"{real['fid']:.3f}")
        row(f"precision (k={KNN_K})", f"{gen['precision']:.3f}", f"{real['precision']:.3f}")
        row(f"recall (k={KNN_K})", f"{gen['recall']:.3f}", f"{real['recall']:.3f}")
        if "modes_covered" in gen:
            row("modes covered (of 1000)", str(gen["modes_covered"]), str(real["modes_covered"]))
            row("KL(modes || uniform)", f"{gen['modes_kl']:.3f}", f"{real['modes_kl']:.3f}")
        else:
            row(f"classes covered (>= {COVERED:.0%} of samples, of 10)", str(gen["classes_covered"]),
                str(real["classes_covered"]))
            row("KL(classes || real test classes)", f"{gen['class_kl']:.4f}", f"{real['class_kl']:.4f}")
            row("classifier score (IS-like, at most 10)", f"{gen['classifier_score']:.2f}",
                f"{real['classifier_score']:.2f}")
        row(f"confidently classified (p >= {CONFIDENT})", _pct(gen["confident_fraction"]),
            _pct(real["confident_fraction"]))
    for space, m in (report.get("memorisation") or {}).items():
        row(f"memorisation ({space}): nearest-train distance ratio", f"{m['median_ratio']:.3f}",
            f"{m['floor_median_ratio']:.3f}")
        row("  near-copies (relative distance < 1 % of test)", _pct(m["near_copy_share"]),
            _pct(m["floor_near_copy_share"]))
        row("  memorised", "YES" if m["memorised"] else "no",
            "YES" if m["floor_near_copy_share"] > MEMORISED_SHARE else "no")
    if gen and "class_share" in gen:
        names = report.get("class_names") or [str(i) for i in range(len(gen["class_share"]))]
        lines.append("class share (generated): " + ", ".join(f"{n} {s:.3f}" for n, s in zip(names, gen["class_share"])))
    lines.append(f"floor = real training images in place of generated ones (memorisation: unseen test images); "
                 f"memorised = more than {MEMORISED_SHARE:.0%} near-copies")
    return "\n".join(lines)


def save_report(run_dir: str | Path, report: dict) -> Path:
    path = Path(run_dir) / REPORT_NAME
    atomic_write_json(path, report)
    return path


def load_report(run_dir: str | Path) -> dict | None:
    """eval.json of a run, or the evaluation.json older versions wrote; None when there is neither,
    or when it is not a report this module wrote (a string where a figure belongs, say), so no
    reader trips over it."""
    run_dir = Path(run_dir)
    report = read_json(run_dir / REPORT_NAME) or read_json(run_dir / LEGACY_REPORT_NAME)
    return report if report is not None and valid_report(report) else None


def valid_report(report: dict) -> bool:
    """Whether a report's parts are dicts, its figures numbers and its shares lists of numbers."""
    memorisation = report.get("memorisation") or {}
    parts = [report.get("generated", {}), report.get("real", {})]
    parts += list(memorisation.values()) if isinstance(memorisation, dict) else [None]
    if not all(isinstance(part, dict) for part in parts):
        return False
    # flags (memorised) and shares aside, every value of a part is a figure
    figures = [v for part in parts for v in part.values() if not isinstance(v, (bool, list))]
    shares = [report.get("real_class_share", []), *(part.get("class_share", []) for part in parts)]
    return (all(map(is_number, figures)) and all(isinstance(s, list) and all(map(is_number, s)) for s in shares)
            and (report.get("step") is None or is_step(report["step"])) and is_number(report.get("samples", 0))
            and isinstance(report.get("class_names", []), list))


# --- evaluation during training --------------------------------------------------------------------

class TrainingEvaluator:
    """The trainer's periodic check: cfg.eval_samples images from a fixed z, scored against a real
    reference embedded once at start-up, so each evaluation costs about one classifier pass."""

    REFERENCE_SIZE = 2000

    def __init__(self, cfg, device: torch.device | str = "cpu", log: Callable[[str], None] = print):
        self.dataset, self.log = cfg.dataset, log
        self.classifier = load_classifier(classifier_path(cfg.dataset)).to(device)
        g = torch.Generator().manual_seed(cfg.seed + 3)
        cfg_dict = cfg.to_dict()
        test = real_images(cfg_dict, "test")
        train = real_images(cfg_dict, "train")
        n = cfg.eval_samples
        self.ref_shares = class_shares(test.labels, 10) if self.dataset != "stacked-mnist" else np.full(1000, 1e-3)
        self.ref = embed(self.classifier, test.images[_subset(len(test), max(self.REFERENCE_SIZE, n), g)], self.dataset)
        floor = compare(embed(self.classifier, train.images[_subset(len(train), n, g)], self.dataset), self.ref,
                        self.dataset, self.ref_shares)
        self.floor = {k: v for k, v in floor.items() if k in LIVE_KEYS}
        # the same z every time: changes between evaluations are G's, not the sample's
        self.z = torch.randn(n, cfg.z_dim, generator=g)
        self.best_coverage = 0

    def __call__(self, G: nn.Module, step: int) -> dict:
        t0 = time.time()
        was_training = G.training
        G.eval()
        try:
            fake = generate_images(G, len(self.z), 0, z=self.z)
        finally:
            G.train(was_training)
        result = compare(embed(self.classifier, fake, self.dataset), self.ref, self.dataset, self.ref_shares)
        record = {"step": step, **{k: v for k, v in result.items() if k in LIVE_KEYS}}
        if "class_share" in result:
            record["class_share"] = result["class_share"]
        record["floor"] = self.floor
        key = coverage_key(record)
        self.best_coverage = max(self.best_coverage, record[key])
        if record[key] < COLLAPSE_DROP * self.best_coverage:
            record["collapse_warning"] = (f"possible mode collapse: {key.replace('_', ' ')} fell to {record[key]} "
                                          f"(best so far {self.best_coverage}, real data {self.floor[key]})")
            self.log(f"warning at step {step}: {record['collapse_warning']}")
        record["seconds"] = round(time.time() - t0, 2)
        return record


LIVE_KEYS = ("images", "fid", "precision", "recall", "classes_covered", "class_kl", "modes_covered", "modes_kl",
             "confident_fraction")


def coverage_key(record: dict) -> str:
    """The coverage figure of an evaluation record: modes for Stacked MNIST, classes otherwise."""
    return "modes_covered" if "modes_covered" in record else "classes_covered"


def collapse_warnings(records: list[dict]) -> list[dict]:
    """The evaluation records that carry a mode-collapse warning."""
    return [r for r in records if r.get("collapse_warning")]


# --- nearest training images, for people to look at -----------------------------------------------

@dataclass
class NearestStrip:
    image: np.ndarray  # (H, W, C) uint8: generated images on top, each one's nearest training image below
    distances: list[float]  # pixel distance of each pair
    train_indices: list[int]
    pixels: int  # values per image (H * W * C) the distances run over, each in [0, 1]


def nearest_neighbour_strip(G: nn.Module, train_images: torch.Tensor, count: int = 8, seed: int = 0,
                            scale: int = 2) -> NearestStrip:
    """count generated images next to their nearest training images (in pixels), as one grid."""
    from .imaging import make_grid, upscale
    fake = to_uint8_nchw(generate_images(G, count, seed))
    index, dist = nearest(fake, train_images)
    pairs = torch.cat([fake, train_images[torch.from_numpy(index)]])
    grid = make_grid(pairs.permute(0, 2, 3, 1).numpy(), nrow=count)
    return NearestStrip(upscale(grid, scale), [round(float(d), 3) for d in dist], index.tolist(),
                        int(fake[0].numel()))


@functools.lru_cache(maxsize=2)
def _cached_train_images(key: str) -> torch.Tensor:
    # the app asks again for every strip; a folder of faces takes seconds to decode
    return real_images(json.loads(key), "train").images


def nearest_training_images(run_dir: str | Path, step: int | None = None, count: int = 8,
                            seed: int = 0) -> NearestStrip:
    """The app's nearest-neighbour strip for a run: its generator at `step` (None: final) against
    the run's own training split (a folder's held-out share excluded)."""
    run = RunDir(Path(run_dir))
    cfg = run.config()
    if cfg is None:
        raise CheckpointError(f"{run.path} has no config.json")
    G = resolve_generator(run.path, step)
    key = {k: cfg.get(k) for k in ("dataset", "data_root", "image_folder", "seed", "holdout")}
    train = _cached_train_images(json.dumps({**key, "image_size": G.image_size, "channels": G.channels},
                                            sort_keys=True))
    return nearest_neighbour_strip(G, train, count, seed)
