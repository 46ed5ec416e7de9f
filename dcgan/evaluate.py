"""The project's evaluator: do a generator's samples look like the dataset, and are all classes there?

A small CNN classifier trained on the real training split (MNIST or Fashion-MNIST) judges generated
images: how confidently each is classified (looks like a digit at all), which classes appear
(mode coverage), an Inception-Score-like figure, and a Frechet distance between classifier features
of generated and real test images. Real test images are scored the same way as a reference.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpoint import CheckpointError, resolve_generator
from .rundir import RunDir, atomic_write_bytes, atomic_write_json

EVALUATOR_DIR = Path(__file__).resolve().parent.parent / "checkpoints" / "evaluators"
CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Boot"],
}
CONFIDENT = 0.9  # max softmax above this counts as 'clearly one class'
COVERED = 0.02  # a class with at least this share of samples counts as covered (uniform is 0.10)


class Classifier(nn.Module):
    """28x28 grey -> 10 logits; the 128-d pooled features feed the Frechet distance."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(True), nn.MaxPool2d(2),
            # state size. 32 x 14 x 14
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(True), nn.MaxPool2d(2),
            # state size. 64 x 7 x 7
            nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            # state size. 128
        )
        self.head = nn.Linear(128, 10)

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


def train_classifier(dataset: str, data_root: str, epochs: int = 2, batch_size: int = 128, seed: int = 0,
                     out_dir: Path = EVALUATOR_DIR, log=print) -> dict:
    """Train the evaluator's classifier and save it as out_dir/<dataset>.safetensors + .json."""
    torch.manual_seed(seed)
    x, y = _split(dataset, data_root, train=True)
    xt, yt = _split(dataset, data_root, train=False)
    model = Classifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=epochs * (len(x) // batch_size))
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x))
        for i in range(len(x) // batch_size):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            # small random shifts: generated digits are rarely perfectly centred
            xb = torch.roll(x[idx], shifts=tuple(torch.randint(-2, 3, (2,)).tolist()), dims=(2, 3))
            loss = F.cross_entropy(model(xb)[0], y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        acc = _accuracy(model, xt, yt)
        log(f"epoch {epoch + 1}/{epochs}: test accuracy {acc:.4f} ({time.time() - t0:.0f} s)")
    info = {"dataset": dataset, "test_accuracy": round(acc, 4), "epochs": epochs, "seed": seed,
            "train_seconds": round(time.time() - t0, 1)}
    out_dir.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save
    atomic_write_bytes(out_dir / f"{dataset}.safetensors",
                       save({k: v.contiguous() for k, v in model.state_dict().items()}))
    atomic_write_json(out_dir / f"{dataset}.json", info)
    return info


@torch.no_grad()
def _predict(model: Classifier, x: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    probs, feats = [], []
    for i in range(0, len(x), batch_size):
        logits, f = model(x[i:i + batch_size])
        probs.append(logits.softmax(1))
        feats.append(f)
    return torch.cat(probs), torch.cat(feats)


def _accuracy(model: Classifier, x: torch.Tensor, y: torch.Tensor) -> float:
    return (_predict(model, x)[0].argmax(1) == y).float().mean().item()


def load_classifier(path: str | Path) -> Classifier:
    from safetensors.torch import load_file
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"no evaluator at {p}; train one with `python -m dcgan train-evaluator`")
    model = Classifier()
    model.load_state_dict(load_file(str(p)))
    return model.eval()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (as FID, other features)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # trace of sqrt(s1 s2) from the eigenvalues of the symmetric sqrt(s1) s2 sqrt(s1)
    w, v = np.linalg.eigh(s1)
    sqrt_s1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = np.linalg.eigvalsh(sqrt_s1 @ s2 @ sqrt_s1)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(eig, 0, None)).sum())


def score(probs: torch.Tensor, feats: torch.Tensor, ref_feats: torch.Tensor, names: list[str]) -> dict:
    """Quality figures for one set of images, given their class probabilities and features."""
    p = probs.double()
    top = p.max(1).values
    pred = p.argmax(1)
    share = torch.bincount(pred, minlength=10).double() / len(pred)
    marginal = p.mean(0)
    kl = (p * (p.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(1).mean()
    entropy = -(share[share > 0] * share[share > 0].log2()).sum()
    return {
        "images": len(pred),
        "mean_confidence": round(top.mean().item(), 4),
        "confident_fraction": round((top >= CONFIDENT).double().mean().item(), 4),
        "classes_covered": int((share >= COVERED).sum().item()),
        "class_share": {n: round(s, 4) for n, s in zip(names, share.tolist())},
        "class_entropy_bits": round(entropy.item(), 4),  # log2(10) = 3.32 is perfectly even
        "classifier_score": round(math.exp(kl.item()), 3),  # Inception-Score-like, at most 10
        "frechet_distance": round(frechet_distance(feats.double().numpy(), ref_feats.double().numpy()), 3),
    }


def _to_eval_images(images: torch.Tensor) -> torch.Tensor:
    """Generated images as the classifier wants them: grey 28x28 in [-1, 1]."""
    if images.shape[1] == 3:
        images = images.mean(1, keepdim=True)
    if images.shape[-1] != 28:
        images = F.interpolate(images, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
    return images


def evaluate_model(model: str | Path, step: int | None = None, samples: int = 2000, evaluator: str | None = None,
                   data_root: str | None = None, dataset: str | None = None, seed: int = 0) -> dict:
    """Score a generator (run directory or .safetensors) against the real test split."""
    G = resolve_generator(model, step)
    p = Path(model)
    cfg = RunDir(p).config() if p.is_dir() else None
    dataset = dataset or (cfg or {}).get("dataset")
    if dataset not in CLASS_NAMES:
        raise CheckpointError(f"the evaluator knows mnist and fashion-mnist, not {dataset!r} (pass dataset=...)")
    data_root = data_root or (cfg or {}).get("data_root") or "data"
    classifier = load_classifier(evaluator or EVALUATOR_DIR / f"{dataset}.safetensors")
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, G.z_dim, generator=g)
    with torch.no_grad():
        fake = torch.cat([_to_eval_images(G(z[i:i + 500])) for i in range(0, samples, 500)])
    real, _ = _split(dataset, data_root, train=False)
    real = real[torch.randperm(len(real), generator=g)[:samples]]
    # a second, disjoint real set: the Frechet distance real-vs-real is the floor to compare against
    real_b, _ = _split(dataset, data_root, train=True)
    real_b = real_b[torch.randperm(len(real_b), generator=g)[:samples]]
    names = CLASS_NAMES[dataset]
    fp, ff = _predict(classifier, fake)
    rp, rf = _predict(classifier, real)
    bp, bf = _predict(classifier, real_b)
    return {"model": str(model), "step": step, "dataset": dataset, "generated": score(fp, ff, rf, names),
            "real_reference": score(bp, bf, rf, names)}


def format_report(report: dict) -> str:
    step = "latest" if report["step"] is None else report["step"]
    lines = [f"evaluator report for {report['model']} (step {step}, {report['dataset']})",
             f"{'':22s}{'generated':>12s}{'real':>12s}"]
    gen, ref = report["generated"], report["real_reference"]
    for key in ("images", "mean_confidence", "confident_fraction", "classes_covered", "class_entropy_bits",
                "classifier_score", "frechet_distance"):
        lines.append(f"{key:22s}{gen[key]:>12}{ref[key]:>12}")
    lines.append("class share (generated): " + ", ".join(f"{k} {v:.3f}" for k, v in gen["class_share"].items()))
    return "\n".join(lines)


def save_report(run_dir: str | Path, report: dict) -> Path:
    path = Path(run_dir) / "evaluation.json"
    atomic_write_bytes(path, (json.dumps(report, indent=2) + "\n").encode())
    return path
