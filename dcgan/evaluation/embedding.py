"""Images through the domain classifier: features and predicted classes (modes)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..config import DATASET_SPECS
from ..imaging import as_float_images
from .classifier import Classifier, _predict

CONFIDENT = 0.9  # max softmax above this counts as 'clearly one class'


@dataclass
class Embedding:
    """What the classifier makes of a set of images."""

    labels: np.ndarray  # (N,) predicted class (Stacked MNIST: mode 100 r + 10 g + b)
    features: np.ndarray  # (N, F) penultimate features (Stacked MNIST: the three channels' side by side)
    probs: np.ndarray  # (N, classes) softmax (Stacked MNIST: (N, 3, 10))
    digits: np.ndarray | None = None  # (N, 3) per-channel digits, Stacked MNIST only

    def __len__(self) -> int:
        return len(self.labels)


def _to_classifier_input(images: torch.Tensor, size: int = 28) -> torch.Tensor:
    """(N, C, H, W) grey size x size in [-1, 1], as the classifier was trained on."""
    if images.shape[-1] != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return images


def embed(classifier: Classifier, images: torch.Tensor, dataset: str) -> Embedding:
    """Classify images (uint8 or [-1, 1], any size) the way `dataset` is judged."""
    x = as_float_images(images)
    spec = DATASET_SPECS.get(dataset)  # None (""): plain images, one class each
    if spec is not None and spec.modes:  # three digits per image, each judged alone
        n = x.shape[0]
        probs, feats = _predict(classifier, _to_classifier_input(x.reshape(n * 3, 1, *x.shape[-2:])))
        probs = probs.reshape(n, 3, -1)
        digits = probs.argmax(-1).numpy()
        return Embedding(digits @ np.array([100, 10, 1]), feats.reshape(n, -1).numpy(), probs.numpy(), digits)
    if x.shape[1] == 3:
        x = x.mean(1, keepdim=True)
    probs, feats = _predict(classifier, _to_classifier_input(x, classifier.image_size))
    return Embedding(probs.argmax(1).numpy(), feats.numpy(), probs.numpy())
