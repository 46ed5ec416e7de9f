"""Full and periodic evaluation of a generator against real data, each figure with its floor."""
from __future__ import annotations

import math
from pathlib import Path
import time
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from ..config import DATASET_SPECS, dataset_spec
from ..data import DataError, load_dataset
from ..imaging import to_uint8_nchw
from ..runs.checkpoint import CheckpointError, resolve_generator
from ..runs.files import read_json
from ..runs.rundir import RunDir
from ..sampling import generate_tensor
from .classifier import CLASS_NAMES, CLASSIFIER_OF, evaluator_for, load_classifier
from .embedding import CONFIDENT, Embedding, embed
from .metrics import class_coverage, class_shares, frechet_distance, memorisation, precision_recall, stacked_mnist_modes

KNN_K = 3  # Kynkaanniemi et al.'s recommended k


KNN_MAX = 5000  # precision / recall on at most this many images per side (N^2 distances)


MEMORISATION_MAX = 2000  # generated and test images checked against the whole training set


def default_samples(dataset: str) -> int:
    """How many images evaluate() generates when not told: the dataset's own count (Stacked MNIST's modes
    are counted over 26,000), else 2,000."""
    spec = DATASET_SPECS.get(dataset)
    return (spec.default_samples if spec else None) or 2000


STACKED_REFERENCE = 5000  # Stacked MNIST test images for FID / precision / recall: three classifier passes each


def reference_shares(spec, labels, num_classes: int) -> np.ndarray:
    """The real test images' share of each class, or for a dataset judged by modes an even share of each mode."""
    return np.full(spec.modes, 1 / spec.modes) if spec.modes else class_shares(labels, num_classes)


# a live evaluation whose coverage falls below this share of the run's best so far warns of collapse
COLLAPSE_DROP = 0.9


def compare(gen: Embedding, ref: Embedding, dataset: str, ref_shares: np.ndarray) -> dict:
    """Every classifier-based figure of one image set (generated, or real for the floor) against the
    real reference set."""
    out = {"images": len(gen), "fid": round(frechet_distance(gen.features, ref.features), 4)}
    n = min(len(gen), len(ref), KNN_MAX)
    out.update(precision_recall(ref.features[:n], gen.features[:n], KNN_K))
    if dataset_spec(dataset).modes:
        out.update(stacked_mnist_modes(gen.digits))
        out["confident_fraction"] = round(float((gen.probs.max(-1).min(1) >= CONFIDENT).mean()), 4)
        return out
    out.update(class_coverage(gen.labels, len(ref_shares), ref_shares))
    p = torch.from_numpy(gen.probs).double()
    marginal = p.mean(0)
    kl = (p * (p.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(1).mean()
    out["confident_fraction"] = round((p.max(1).values >= CONFIDENT).double().mean().item(), 4)
    out["classifier_score"] = round(math.exp(kl.item()), 3)  # Inception-Score-like, at most the classes
    return out


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
    return torch.cat(generate_tensor(G, z, batch_size))


def evaluate_model(model: str | Path, step: int | None = None, samples: int | None = None,
                   evaluator: str | None = None, data_root: str | None = None, dataset: str | None = None,
                   seed: int = 0, check_memorisation: bool = True, log: Callable[[str], None] = lambda s: None) -> dict:
    """Score a generator (run directory or .safetensors) against its dataset's real test split.

    Returns a JSON-ready report; each section holds the generated figure and its real-data floor.
    """
    G = resolve_generator(model, step)
    p = Path(model)
    run = RunDir.at(p) if p.is_dir() else None
    cfg = run.config_values() if run else {}
    if dataset:
        cfg["dataset"] = dataset
    if data_root:
        cfg["data_root"] = data_root
    dataset = cfg.get("dataset")
    spec = DATASET_SPECS.get(dataset)
    if spec is None or not spec.can_be_evaluated:
        raise CheckpointError(f"the evaluator knows {', '.join(CLASSIFIER_OF)} and folder runs, not {dataset!r} "
                              "(pass dataset=... for a bare weights file)")
    cfg.update(image_size=G.image_size, channels=G.channels)
    samples = samples or default_samples(dataset)
    if step is None and run is not None:
        step = run.export_step()
    report = {"model": str(model), "step": step, "dataset": dataset, "samples": samples, "seed": seed}
    g = torch.Generator().manual_seed(seed + 1)
    t0 = time.time()
    fake = generate_images(G, samples, seed)
    log(f"generated {samples} images ({time.time() - t0:.0f} s)")
    train = real_images(cfg, "train")
    test = real_images(cfg, "test")

    gen_emb = None
    if evaluator:
        path = Path(evaluator)
    else:
        try:  # a labelled folder may have a classifier of its own (the faces' smiling / not smiling)
            path = evaluator_for(dataset, train.classes)
        except CheckpointError as e:
            if not spec.folder:
                raise
            path = None
            log(f"{e}: memorisation only")
    if path is not None:
        classifier = load_classifier(path)
        info = read_json(path.with_suffix(".json")) or {}
        report["evaluator"] = {"file": path.name, "test_accuracy": info.get("test_accuracy")}
        if "balanced_accuracy" in info:
            report["evaluator"]["balanced_accuracy"] = info["balanced_accuracy"]
        if spec.folder and test.labels is None:
            raise CheckpointError(f"{path.name} judges labelled folders, and {cfg.get('image_folder')} has no "
                                  "class sub-folders")
        ref_shares = reference_shares(spec, test.labels, classifier.num_classes)
        n_ref = len(test) if not spec.modes else min(len(test), STACKED_REFERENCE)
        ref_emb = embed(classifier, test.images[_subset(len(test), n_ref, g)], dataset)
        gen_emb = embed(classifier, fake, dataset)
        # the floor: as many real training images as generated ones, scored the same way
        floor_idx = _subset(len(train), samples, g)
        floor_emb = embed(classifier, train.images[floor_idx], dataset)
        log(f"classified generated, real test and real train images ({time.time() - t0:.0f} s)")
        report["generated"] = compare(gen_emb, ref_emb, dataset, ref_shares)
        report["real"] = compare(floor_emb, ref_emb, dataset, ref_shares)
        if spec.per_image_class:
            report["real_class_share"] = [round(float(s), 4) for s in ref_shares]
            report["class_names"] = CLASS_NAMES.get(dataset) or list(info.get("classes") or test.classes)

    if check_memorisation:
        n = min(samples, MEMORISATION_MAX)
        test_idx = _subset(len(test), min(len(test), MEMORISATION_MAX), g)
        mem = {"pixels": memorisation(to_uint8_nchw(fake[:n]), train.images, test.images[test_idx])}
        if gen_emb is not None and spec.per_image_class:
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


class TrainingEvaluator:
    """The trainer's periodic check: cfg.eval_samples images from a fixed z, scored against a real
    reference embedded once at start-up, so each evaluation costs about one classifier pass."""

    REFERENCE_SIZE = 2000

    def __init__(self, cfg, device: torch.device | str = "cpu", log: Callable[[str], None] = print):
        self.dataset, self.log = cfg.dataset, log
        g = torch.Generator().manual_seed(cfg.seed + 3)
        cfg_dict = cfg.to_dict()
        test = real_images(cfg_dict, "test")
        train = real_images(cfg_dict, "train")
        self.classifier = load_classifier(evaluator_for(cfg.dataset, train.classes)).to(device)
        n = cfg.eval_samples
        self.ref_shares = reference_shares(dataset_spec(self.dataset), test.labels, self.classifier.num_classes)
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
