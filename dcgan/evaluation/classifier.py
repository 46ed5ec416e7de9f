"""The evaluator's domain classifier (MNIST / Fashion-MNIST): the net, its training, loading."""
from __future__ import annotations

import math
from pathlib import Path
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..explore.imaging import as_float_images
from ..runs.checkpoint import CheckpointError, state_dict_problem
from ..runs.rundir import atomic_write_bytes, atomic_write_json

EVALUATOR_DIR = Path(__file__).resolve().parents[2] / "checkpoints" / "evaluators"


CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Boot"],
}


# the classifier each dataset is judged by: Stacked MNIST classifies each channel as an MNIST digit
CLASSIFIER_OF = {"mnist": "mnist", "fashion-mnist": "fashion-mnist", "stacked-mnist": "mnist"}


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
    from ..data import load_torchvision
    split = load_torchvision(dataset, root, 28, 1, download=False, train=train)
    return as_float_images(split.images), split.labels


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
