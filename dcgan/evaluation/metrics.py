"""GAN quality metrics as pure functions: feature sets or images in, numbers and index arrays out.

Everything here works on whatever space it is given (classifier features or raw pixels), so the
evaluator (dcgan/evaluation/), the trainer's periodic evaluation and the tests share one
implementation. Definitions follow the papers named in each docstring.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

COVERED = 0.02  # a class with at least this share of samples counts as covered (uniform is 0.10)
# a generated image nearer (relatively, see relative_distances) to one training image than this
# percentile of real test images counts as a near-copy; more than MEMORISED_SHARE flags memorisation
NEAR_COPY_PERCENTILE = 1.0
MEMORISED_SHARE = 0.05  # five times what unseen real images show (1 % by construction)
CHUNK = 512  # query rows per distance block: bounds memory at CHUNK x len(reference) floats


def _as_float_rows(x) -> torch.Tensor:
    """(N, ...) array or tensor as float32 rows; uint8 images are scaled to [0, 1]."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    scale = 1 / 255 if t.dtype == torch.uint8 else 1.0
    return t.reshape(t.shape[0], -1).float() * scale


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (FID's formula, other features)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # trace of sqrt(s1 s2) from the eigenvalues of the symmetric sqrt(s1) s2 sqrt(s1)
    w, v = np.linalg.eigh(s1)
    sqrt_s1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = np.linalg.eigvalsh(sqrt_s1 @ s2 @ sqrt_s1)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(eig, 0, None)).sum())


def class_shares(labels, num_classes: int) -> np.ndarray:
    """The share of each class among integer labels (a histogram that sums to 1)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)[:num_classes]
    return counts / max(1, counts.sum())


def kl_divergence(p, q, eps: float = 1e-12) -> float:
    """KL(p || q) in nats for two histograms; classes p never visits add nothing (0 log 0 = 0)."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    p, q = p / p.sum(), q / q.sum()
    nz = p > 0
    return float((p[nz] * (np.log(p[nz]) - np.log(np.maximum(q[nz], eps)))).sum())


def class_coverage(labels, num_classes: int, reference_shares, min_share: float = COVERED) -> dict:
    """Predicted-class histogram, classes with at least min_share of the samples, and KL to the
    real class distribution (reference_shares)."""
    shares = class_shares(labels, num_classes)
    return {"class_share": [round(float(s), 4) for s in shares],
            "classes_covered": int((shares >= min_share).sum()),
            "class_kl": round(kl_divergence(shares, reference_shares), 4)}


def stacked_mnist_modes(digits) -> dict:
    """Stacked MNIST modes (VEEGAN, PacGAN): digit triples (N, 3) -> modes 100 r + 10 g + b; a mode
    counts as covered with one sample; KL of the mode histogram to the uniform 1/1000."""
    d = np.asarray(digits, dtype=np.int64)
    modes = d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2]
    hist = np.bincount(modes, minlength=1000)
    return {"modes_covered": int((hist > 0).sum()), "modes_kl": round(kl_divergence(hist, np.ones(1000)), 4),
            "samples": int(len(modes))}


# --- nearest neighbours ----------------------------------------------------------------------------

def _sq_norms(x: torch.Tensor) -> torch.Tensor:
    return (x * x).sum(1)


def distance_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distances between the rows of a and b (one block; callers chunk a)."""
    # the matmul expansion |a|^2 + |b|^2 - 2ab, as this module did by hand: fast for the k-NN radii
    return torch.cdist(a, b, compute_mode="use_mm_for_euclid_dist")


def nearest(query, reference, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, the indices of its k nearest reference rows and the exact distances to
    them, nearest first: (N,) arrays for k=1, else (N, k)."""
    q, r = _as_float_rows(query), _as_float_rows(reference)
    index = torch.empty(len(q), k, dtype=torch.int64)
    r_norms = _sq_norms(r)
    for i in range(0, len(q), CHUNK):
        block = q[i:i + CHUNK]
        # |q|^2 is the same for every candidate of a row, so the ranking needs only |r|^2 - 2 q.r
        index[i:i + CHUNK] = (r_norms[None, :] - 2 * block @ r.T).topk(k, dim=1, largest=False).indices
    # recomputed directly: the expanded form above loses precision for near-identical rows
    dist = (q[:, None, :] - r[index]).norm(dim=2)
    dist, order = dist.sort(dim=1)
    index = index.gather(1, order)
    if k == 1:
        return index[:, 0].numpy(), dist[:, 0].numpy()
    return index.numpy(), dist.numpy()


def knn_radii(x, k: int = 3) -> np.ndarray:
    """Distance from each row to its k-th nearest other row of the same set."""
    x = _as_float_rows(x)
    if len(x) <= k:
        raise ValueError(f"k-NN radii need more than k={k} samples, got {len(x)}")
    radii = torch.empty(len(x))
    for i in range(0, len(x), CHUNK):
        d = distance_matrix(x[i:i + CHUNK], x)
        # the smallest distance is the row to itself (0); the (k+1)-th smallest is the k-th neighbour
        radii[i:i + CHUNK] = d.topk(k + 1, dim=1, largest=False).values[:, k]
    return radii.numpy()


def _within_manifold(query: torch.Tensor, points: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    inside = torch.empty(len(query), dtype=torch.bool)
    for i in range(0, len(query), CHUNK):
        inside[i:i + CHUNK] = (distance_matrix(query[i:i + CHUNK], points) <= radii[None, :]).any(1)
    return inside


def precision_recall(real, fake, k: int = 3) -> dict:
    """Improved precision and recall (Kynkaanniemi et al. 2019): each set's manifold is the union
    of balls reaching every point's k-th nearest neighbour. Precision: share of fakes inside the real
    manifold (are samples realistic); recall: share of reals inside the fake one (is all of the data
    covered)."""
    r, f = _as_float_rows(real), _as_float_rows(fake)
    r_radii, f_radii = torch.from_numpy(knn_radii(r, k)), torch.from_numpy(knn_radii(f, k))
    return {"precision": round(_within_manifold(f, r, r_radii).float().mean().item(), 4),
            "recall": round(_within_manifold(r, f, f_radii).float().mean().item(), 4)}


# --- memorisation ----------------------------------------------------------------------------------

COPY_NEIGHBOURS = 5  # the relative distance compares the nearest training image with the 5 nearest


def relative_distances(distances: np.ndarray) -> np.ndarray:
    """Distance to the nearest training image over the mean distance to the COPY_NEIGHBOURS nearest.

    A copy is far nearer one training image than the others (ratio ~0). A blurry average of many
    images is close to all of them alike (ratio ~1): by absolute distance it would look like a copy,
    since in high dimensions the mean lies nearer to every point than the points lie to each other.
    """
    mean = distances.mean(1)
    return np.where(mean > 0, distances[:, 0] / np.maximum(mean, 1e-12), 0.0)


@dataclass
class Memorisation:
    """Nearest training image of every generated one, and how that compares with unseen real images.

    A near-copy is an image whose relative distance (relative_distances) is below the 1st percentile
    of unseen test images'. The test images are split in two: the even ones set the yardsticks (that
    percentile and the median nearest distance), the odd ones are measured against them like the
    generated images, giving the floor an honest model should match (ratio ~1, ~1 % near-copies).
    """

    nearest_index: np.ndarray  # (N,) index into the training set
    distance: np.ndarray  # (N,) distance to that training image
    relative: np.ndarray  # (N,) relative distance (near 0: a copy)
    test_distance: np.ndarray  # (M,) distance of each test image to its nearest training image
    threshold: float  # relative distance below which an image counts as a near-copy
    median_ratio: float  # median generated distance / median yardstick distance (< 1: closer than real)
    near_copy_share: float  # share of generated images at or below the threshold
    floor_median_ratio: float  # the same two figures for the other half of the test images
    floor_near_copy_share: float

    @property
    def memorised(self) -> bool:
        return self.near_copy_share > MEMORISED_SHARE

    def summary(self) -> dict:
        return {"median_distance": round(float(np.median(self.distance)), 4),
                "test_median_distance": round(float(np.median(self.test_distance)), 4),
                "median_ratio": round(self.median_ratio, 4),
                "relative_threshold": round(self.threshold, 4),
                "near_copy_share": round(self.near_copy_share, 4),
                "floor_median_ratio": round(self.floor_median_ratio, 4),
                "floor_near_copy_share": round(self.floor_near_copy_share, 4),
                "memorised": self.memorised, "samples": int(len(self.distance)),
                "test_samples": int(len(self.test_distance))}


def memorisation(generated, train, test) -> Memorisation:
    """Are generated images copies of training images? Inputs are (N, ...) uint8 images (compared
    in pixels scaled to [0, 1]) or float features, all with the same shape per item; `test` must be
    images the model never saw (a test split or a folder's held-out share), at least 4 of them."""
    if len(test) < 4:
        raise ValueError(f"memorisation needs at least 4 held-out images to compare with, got {len(test)}")
    k = min(COPY_NEIGHBOURS, len(train))
    _, test_d = nearest(test, train, k)
    index, gen_d = nearest(generated, train, k)
    test_d, gen_d = test_d.reshape(len(test_d), k), gen_d.reshape(len(gen_d), k)
    index = index.reshape(len(gen_d), k)[:, 0]
    test_rel, gen_rel = relative_distances(test_d), relative_distances(gen_d)
    yard, check = slice(0, None, 2), slice(1, None, 2)
    threshold = float(np.percentile(test_rel[yard], NEAR_COPY_PERCENTILE))
    median = max(float(np.median(test_d[yard, 0])), 1e-12)
    return Memorisation(index, gen_d[:, 0], gen_rel, test_d[:, 0], threshold,
                        median_ratio=float(np.median(gen_d[:, 0])) / median,
                        near_copy_share=float((gen_rel <= threshold).mean()),
                        floor_median_ratio=float(np.median(test_d[check, 0])) / median,
                        floor_near_copy_share=float((test_rel[check] <= threshold).mean()))
