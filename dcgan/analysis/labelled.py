"""Labelled directions (InterFaceGAN): label G's images with a classifier, fit a linear boundary in z
per class, and take its unit normal as the direction "toward" that class.

InterFaceGAN (Shen et al., "Interpreting the Latent Space of GANs for Semantic Face Editing",
CVPR 2020; genforce/interfacegan, utils/manipulator.py `train_boundary`): label sampled G(z) with
a classifier, fit a linear boundary in z for each attribute, and move along its unit normal.
Facts taken: a linear classifier on (latent code, label) pairs, a train / validation split with
the validation accuracy reported, the boundary's coefficient vector normalised to unit length as
the editing direction, and editing as z + distance * normal (`linear_interpolate`).
Differences: InterFaceGAN fits a linear SVM (scikit-learn) on the top and bottom 2 % of scores;
here a class-balanced L2-regularised logistic regression in torch (no new dependency) uses every
sample, labelled by the classifier's argmax, and reports held-out *balanced* accuracy (the mean
of the hit rates on the class and on the rest), since "is it a 7" is only 10 % positive and
plain accuracy would give 90 % to a boundary that never says yes.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from .directions import Directions, Progress, move

# images (N, C, H, W) in [-1, 1] -> class probabilities (N, K) (a binary label_fn: (N,) or (N, 1))
LabelFn = Callable[[torch.Tensor], "torch.Tensor | np.ndarray"]

MIN_CLASS_SAMPLES = 10  # fewer positive (or negative) samples than this: no boundary is fitted
MAX_SAMPLES = 200_000
LABEL_BATCH = 500


# --- labelled directions (InterFaceGAN): linear boundaries in z --------------------------------------

def sample_z(n: int, z_dim: int, seed: int) -> torch.Tensor:
    """n standard-normal z from a seeded CPU generator (the same as dcgan.sampling.z_from_seed)."""
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(int(seed)))


@torch.no_grad()
def label_samples(G: torch.nn.Module, label_fn: LabelFn, z: torch.Tensor, batch_size: int = LABEL_BATCH,
                  progress: Progress | None = None) -> np.ndarray:
    """label_fn(G(z)) in batches, G in eval mode: (N, K) float64 (a 1-D result becomes (N, 1))."""
    device = next(G.parameters()).device
    was_training = G.training
    G.eval()
    out = []
    try:
        for i in range(0, len(z), batch_size):
            p = label_fn(G(z[i:i + batch_size].to(device)))
            p = p.detach().cpu().double().numpy() if isinstance(p, torch.Tensor) else np.asarray(p, np.float64)
            out.append(p.reshape(len(p), -1))
            if progress:
                progress(min(i + batch_size, len(z)), len(z))
    finally:
        G.train(was_training)
    probs = np.concatenate(out)
    if probs.shape[0] != len(z):
        raise ValueError(f"label_fn gave {probs.shape[0]} rows for {len(z)} images")
    if not np.isfinite(probs).all():
        raise ValueError("label_fn gave NaN or infinite probabilities")
    return probs


def fit_boundaries(x: torch.Tensor, y: torch.Tensor, l2: float = 1e-3,
                   max_iter: int = 300) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """K independent class-balanced logistic regressions "is class k" on x (N, D), y (N, K) in {0, 1}.
    Returns the unit normals (K, D) in x's own units, each pointing toward its positive side, and a
    function giving the fitted logits (M, K) of new x.
    Inputs are standardised and the L2 penalty acts there; the K losses are independent, so one
    L-BFGS run on their sum fits them all at once."""
    x, y = x.double(), y.double()
    mean, std = x.mean(0), x.std(0).clamp_min(1e-8)
    xs = (x - mean) / std
    n, k = y.shape
    pos = y.sum(0).clamp_min(1)
    neg = (n - y.sum(0)).clamp_min(1)
    weight = y * (n / (2 * pos)) + (1 - y) * (n / (2 * neg))  # both sides weigh the same in total
    w = torch.zeros(x.shape[1], k, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, tolerance_grad=1e-9, tolerance_change=1e-12,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(xs @ w + b, y, weight=weight,
                                                                    reduction="sum") / n
        loss = loss + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    w, b = w.detach(), b.detach()
    normal = (w / std.view(-1, 1)).T  # logit = (w / std) . x + const

    def logits(x_new: torch.Tensor) -> torch.Tensor:
        return ((x_new.double() - mean) / std) @ w + b

    return normal / normal.norm(dim=1, keepdim=True).clamp_min(1e-12), logits


def _balanced_accuracy(scores: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    pred = scores > 0
    yb = y > 0.5
    tpr = (pred & yb).sum().item() / max(1, yb.sum().item())
    tnr = (~pred & ~yb).sum().item() / max(1, (~yb).sum().item())
    return (tpr + tnr) / 2, (pred == yb).double().mean().item()


def _boundaries(z: torch.Tensor, positive: np.ndarray, names: Sequence[str], wanted: Sequence[int],
                holdout: float, seed: int) -> tuple[list, list, list, dict, dict]:
    """Fit one boundary per wanted column of positive (N, K) bool; (vectors, scores, kept columns,
    per-kept-column stats, skipped {name: reason})."""
    n = len(z)
    # the split has its own stream (seed + 1), so it does not repeat the draws that made z
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed) + 1))
    n_hold = int(round(holdout * n))
    hold, train = perm[:n_hold], perm[n_hold:]
    y = torch.as_tensor(positive, dtype=torch.float64)
    skipped, fit = {}, []
    for c in wanted:
        p_train, p_hold = int(y[train, c].sum()), int(y[hold, c].sum())
        p_all = p_train + p_hold
        if p_all < MIN_CLASS_SAMPLES or n - p_all < MIN_CLASS_SAMPLES:
            side = "are" if p_all < MIN_CLASS_SAMPLES else "are not"
            count = p_all if p_all < MIN_CLASS_SAMPLES else n - p_all
            skipped[names[c]] = (f"only {count} of {n} samples {side} {names[c]!r}; a boundary needs at least "
                                 f"{MIN_CLASS_SAMPLES} on each side (more samples, or the model rarely makes it)")
        elif p_hold == 0 or p_hold == n_hold:
            skipped[names[c]] = (f"the {n_hold} held-out samples are all on one side of {names[c]!r}; "
                                 f"use more samples or a larger holdout")
        else:
            fit.append(c)
    if not fit:
        return [], [], [], {}, skipped
    normals, predict = fit_boundaries(z[train], y[train][:, fit])
    logits = predict(z[hold])
    scores, stats = [], {}
    for j, c in enumerate(fit):
        balanced, plain = _balanced_accuracy(logits[:, j], y[hold, c])
        scores.append(balanced)
        stats[c] = {"accuracy": round(plain, 4), "positives": int(y[:, c].sum())}
    return [normals[j] for j in range(len(fit))], scores, fit, stats, skipped


def _check_sampling(samples: int, holdout: float) -> None:
    if not 2 * MIN_CLASS_SAMPLES <= samples <= MAX_SAMPLES:
        raise ValueError(f"samples must be {2 * MIN_CLASS_SAMPLES} to {MAX_SAMPLES:,}, not {samples}")
    if not 0.05 <= holdout <= 0.5:
        raise ValueError(f"holdout must be a share from 0.05 to 0.5, not {holdout}")


def labelled_directions(G: torch.nn.Module, label_fn: LabelFn, classes: Sequence[str], samples: int = 5000,
                        seed: int = 0, holdout: float = 0.2, progress: Progress | None = None,
                        only: Sequence[int] | None = None) -> Directions:
    """InterFaceGAN-style "toward <class>" directions: sample z (seeded), label G(z) with label_fn
    (argmax of its (N, K) probabilities), fit a linear boundary in z per class and take its unit
    normal; score = held-out balanced accuracy. Classes too rare (or too common) to fit are left out
    and named with the reason in metadata["skipped"]; ValueError when none can be fitted."""
    _check_sampling(samples, holdout)
    names = [str(c) for c in classes]
    z = sample_z(samples, G.z_dim, seed)
    probs = label_samples(G, label_fn, z, progress=progress)
    if probs.shape[1] != len(names):
        raise ValueError(f"label_fn gives {probs.shape[1]} probabilities per image; {len(names)} class names given")
    labels = probs.argmax(1)
    present = np.unique(labels)
    if len(present) < 2:
        raise ValueError(f"label_fn put all {samples} samples in one class ({names[present[0]]!r}); "
                         f"a boundary needs samples on both sides")
    wanted = list(range(len(names))) if only is None else [int(c) for c in only]
    for c in wanted:
        if not 0 <= c < len(names):
            raise ValueError(f"class index {c} is outside 0..{len(names) - 1}")
    positive = labels[:, None] == np.arange(len(names))[None, :]
    vectors, scores, kept, stats, skipped = _boundaries(z, positive, names, wanted, holdout, seed)
    if not kept:
        raise ValueError("no class could be fitted: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    metadata = {"samples": samples, "seed": seed, "holdout": holdout, "classes": names,
                "class_index": kept, "accuracy": [stats[c]["accuracy"] for c in kept],
                "positives": [stats[c]["positives"] for c in kept], "skipped": skipped,
                "class_shares": [round(float((labels == c).mean()), 4) for c in range(len(names))]}
    if getattr(label_fn, "classifier", None):
        metadata["classifier"] = str(label_fn.classifier)
    return Directions(torch.stack(vectors).numpy(), [f"toward {names[c]}" for c in kept], scores, "labels",
                      G.z_dim, metadata)


def binary_direction(G: torch.nn.Module, label_fn: LabelFn, name: str, samples: int = 5000, seed: int = 0,
                     holdout: float = 0.2, threshold: float = 0.5,
                     progress: Progress | None = None) -> Directions:
    """One labelled direction for a yes/no attribute ("smile"): label_fn gives p(attribute) per image,
    (N,) or (N, 1); positive where p > threshold. The direction points toward the attribute."""
    _check_sampling(samples, holdout)
    z = sample_z(samples, G.z_dim, seed)
    p = label_samples(G, label_fn, z, progress=progress)
    if p.shape[1] != 1:
        raise ValueError(f"a binary label_fn gives one probability per image, not {p.shape[1]}")
    positive = p[:, 0] > threshold
    if positive.all() or not positive.any():
        raise ValueError(f"label_fn says {'yes' if positive.all() else 'no'} to {name!r} for all {samples} "
                         f"samples; a boundary needs samples on both sides")
    names = [f"not {name}", str(name)]
    vectors, scores, kept, stats, skipped = _boundaries(
        z, np.stack([~positive, positive], 1), names, [1], holdout, seed)
    if not kept:
        raise ValueError(skipped[str(name)])
    metadata = {"samples": samples, "seed": seed, "holdout": holdout, "threshold": threshold,
                "accuracy": [stats[1]["accuracy"]], "positives": [stats[1]["positives"]]}
    if getattr(label_fn, "classifier", None):
        metadata["classifier"] = str(label_fn.classifier)
    return Directions(vectors[0].view(1, -1).numpy(), [str(name)], scores, "labels", G.z_dim, metadata)


@torch.no_grad()
def direction_effect(label_fn: LabelFn, G: torch.nn.Module, direction, class_index: int,
                     alphas: Sequence[float], samples: int = 500, seed: int = 1) -> np.ndarray:
    """Mean label_fn probability of class_index over `samples` z (seeded: use another seed than the
    fit's, so these are held-out z) moved by each alpha along direction: (len(alphas),)."""
    z = sample_z(samples, G.z_dim, seed)
    out = []
    for a in alphas:
        probs = label_samples(G, label_fn, move(z, direction, float(a)))
        if not 0 <= class_index < probs.shape[1]:
            raise ValueError(f"class index {class_index} is outside 0..{probs.shape[1] - 1}")
        out.append(probs[:, class_index].mean())
    return np.asarray(out)


# --- the evaluator's classifier as a label_fn -----------------------------------------------------

class NoClassifierError(ValueError):
    """Labelled directions asked for on a run the evaluator has no classifier for."""


class ClassifierLabels:
    """label_fn from an evaluator classifier (MNIST, Fashion-MNIST, or a labelled folder's such as the
    faces' smiling / not smiling): images in [-1, 1] (any size, grey or RGB) -> softmax (N, classes)."""

    def __init__(self, model: torch.nn.Module, classifier: str):
        self.model, self.classifier = model.eval(), classifier

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        from ..evaluation.embedding import embed
        self.model.to(images.device)
        return embed(self.model, images, "").probs  # grey, resized to the classifier's size, as evaluate judges


def classifier_label_fn(dataset: str, classes: Sequence[str] = ()) -> tuple[ClassifierLabels, list[str]]:
    """(label_fn, class names) from the evaluator's classifier for a dataset, or for a folder whose
    class sub-folders are `classes`; NoClassifierError (one line) when there is none."""
    from ..config import DATASET_SPECS
    from ..runs.checkpoint import CheckpointError
    from ..evaluation.classifier import class_names_for, evaluator_for, load_classifier
    hint = "labelled directions need a classifier for this dataset; SeFa and sensitivity still work"
    spec = DATASET_SPECS.get(dataset)
    if spec is None or not spec.per_image_class:
        # Stacked MNIST's 1000 modes are three digits, not one class
        known = ", ".join(s.label for s in DATASET_SPECS.values() if s.per_image_class and not s.folder)
        raise NoClassifierError(f"{hint} (classifiers: {known} and labelled folders; not {dataset!r})")
    try:
        path = evaluator_for(dataset, tuple(classes))
        model = load_classifier(path)
    except CheckpointError as e:
        raise NoClassifierError(f"{hint} ({str(e).splitlines()[0]})") from None
    return ClassifierLabels(model, f"evaluators/{path.name}"), list(class_names_for(dataset, tuple(classes)).names)
