"""The evaluator's domain classifier (MNIST / Fashion-MNIST): the net, its training, loading."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import DATASET_SPECS, dataset_spec
from ..data import DataError, folder_labels
from ..imaging import as_float_images
from ..runs.checkpoint import CheckpointError, state_dict_problem
from ..config import IMAGE_SIZES, project_path
from ..runs.files import atomic_write_bytes, atomic_write_json, read_json
from ..runs.rundir import RunDir

EVALUATOR_DIR = Path(__file__).resolve().parents[2] / "checkpoints" / "evaluators"


# both read off the dataset registry (dcgan/data.py): the fixed class names, and the classifier each
# dataset is judged by (Stacked MNIST classifies each channel as an MNIST digit)
CLASS_NAMES = {s.name: list(s.class_names) for s in DATASET_SPECS.values() if s.class_names}
CLASSIFIER_OF = {s.name: s.evaluator for s in DATASET_SPECS.values() if s.evaluator}
FOLDER_DATASETS = tuple(s.name for s in DATASET_SPECS.values() if s.folder)


class Classifier(nn.Module):
    """Grey image -> class logits; the 128-d penultimate features feed the Frechet distance and the
    k-NN metrics. Conv blocks (5x5, BatchNorm, ReLU, 2x2 max-pool) until the map is at most 8x8 (two
    at 28 px, three at 64 px), then a dense layer: a global average pool (the first version) threw
    away where strokes are, which is what tells a 4 from a 9 (98.5 % -> 99+ %)."""

    def __init__(self, image_size: int = 28, num_classes: int = 10):
        super().__init__()
        self.image_size, self.num_classes = image_size, num_classes
        layers: list[nn.Module] = []
        size, channels = image_size, 1
        while size > 8:
            out = 32 * 2 ** (len(layers) // 4)
            layers += [nn.Conv2d(channels, out, 5, padding=2), nn.BatchNorm2d(out), nn.ReLU(True), nn.MaxPool2d(2)]
            # state size. out x size/2 x size/2 (28 px: 32 x 14 x 14, then 64 x 7 x 7)
            size, channels = size // 2, out
        self.features = nn.Sequential(
            *layers,
            nn.Flatten(), nn.Linear(channels * size * size, 128), nn.BatchNorm1d(128), nn.ReLU(True),
            # state size. 128
        )
        self.head = nn.Sequential(nn.Dropout(0.25), nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return self.head(f), f


def _split(dataset: str, root: str, train: bool, image_folder: str = "", image_size: int = 28,
           holdout: float = 0.1) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """Images in [-1, 1] (N, 1, size, size), labels and class names of a split: torchvision's (no
    download here), or a labelled folder's training share / held-out share."""
    from ..data import load_dataset, load_torchvision
    if dataset_spec(dataset).folder:
        split = load_dataset(dataset, image_size, 1, image_folder=image_folder, split="train" if train else "test",
                             holdout=holdout)
        if split.labels is None:
            raise DataError(f"{image_folder} has no class sub-folders: the evaluator's classifier needs labels "
                            "(one sub-folder per class, e.g. positives/ and negatives/)")
        return as_float_images(split.images), split.labels, split.classes
    split = load_torchvision(dataset, root, 28, 1, download=False, train=train)
    return as_float_images(split.images), split.labels, tuple(CLASS_NAMES[dataset])


# light augmentation per dataset: digits tolerate small rotations, clothes are photographed upright
# but face either way
# (and faces: a mirrored face is a face, and it smiles or not the same)
AUGMENT = {"mnist": dict(degrees=10.0, scale=0.1, flip=False),
           "fashion-mnist": dict(degrees=0.0, scale=0.05, flip=True), "folder": dict(degrees=5.0, scale=0.05, flip=True)}


SHIFT_PX = 2  # generated images are rarely centred as exactly as the real ones


# the shipped classifiers' (about 8, 12 and 5 CPU minutes)
EVALUATOR_EPOCHS = {"mnist": 2, "fashion-mnist": 3, "folder": 8}


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
                     out_dir: Path = EVALUATOR_DIR, log=print, image_folder: str = "", name: str | None = None,
                     image_size: int = 32, holdout: float = 0.1) -> dict:
    """Train the evaluator's classifier and save it as out_dir/<name>.safetensors + .json (name: the
    dataset's, or for a labelled image folder the given one, e.g. faces). A folder's classifier trains
    on the folder's training share and is tested on its held-out share, the runs' own split."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    folder = dataset_spec(dataset).folder
    if folder and not name:
        raise ValueError("a folder's evaluator needs a name")
    name = name or dataset
    size = image_size if folder else 28
    x, y, classes = _split(dataset, data_root, True, image_folder, size, holdout)
    xt, yt, _ = _split(dataset, data_root, False, image_folder, size, holdout)
    model = Classifier(size, len(classes))
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
        acc, balanced = _accuracy(model, xt, yt)
        log(f"epoch {epoch + 1}/{epochs}: test accuracy {acc:.4f}, balanced {balanced:.4f} ({time.time() - t0:.0f} s)")
    info = {"dataset": dataset, "test_accuracy": round(acc, 4), "balanced_accuracy": round(balanced, 4),
            "epochs": epochs, "seed": seed, "augment": {**AUGMENT[dataset], "shift_px": SHIFT_PX},
            "train_seconds": round(time.time() - t0, 1), "image_size": size, "classes": list(classes),
            "train_images": len(x), "test_images": len(xt)}
    if folder:
        info.update(folder=Path(image_folder).name, holdout=holdout,
                    class_counts={c: int((y == i).sum()) for i, c in enumerate(classes)})
    out_dir.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save
    atomic_write_bytes(out_dir / f"{name}.safetensors",
                       save({k: v.contiguous() for k, v in model.state_dict().items()}))
    atomic_write_json(out_dir / f"{name}.json", info)
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


def _accuracy(model: Classifier, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Accuracy, and the mean of the per-class accuracies (what counts when classes are unequal:
    the faces are 72 % not smiling)."""
    right = _predict(model, x)[0].argmax(1) == y
    per_class = [right[y == c].float().mean().item() for c in y.unique()]
    return right.float().mean().item(), sum(per_class) / len(per_class)


def classifier_path(dataset: str) -> Path:
    if dataset not in CLASSIFIER_OF:
        raise CheckpointError(f"the evaluator has classifiers for {', '.join(CLASSIFIER_OF)}, not {dataset!r}")
    return EVALUATOR_DIR / f"{CLASSIFIER_OF[dataset]}.safetensors"


def folder_evaluator(classes: tuple[str, ...], evaluator_dir: Path | None = None) -> Path | None:
    """The classifier trained on a labelled folder with these classes (the faces' smiling / not
    smiling), or None: a folder run is judged by one only when its labels are the same. Its own
    image size need not be the run's: images are resized to it (the faces' is 32 px, a fifth of
    the cost of 64 for a smile it still sees)."""
    if not classes:
        return None
    for info_path in sorted(Path(evaluator_dir or EVALUATOR_DIR).glob("*.json")):
        info = read_json(info_path) or {}
        if info.get("dataset") in FOLDER_DATASETS and tuple(info.get("classes") or ()) == tuple(classes) \
                and info_path.with_suffix(".safetensors").is_file():
            return info_path.with_suffix(".safetensors")
    return None


def evaluator_for(dataset: str, classes: tuple[str, ...] = ()) -> Path:
    """The classifier that judges a run: its dataset's own, or for a folder the one trained on the
    same labels; CheckpointError (saying how to get one) when there is none."""
    if not dataset_spec(dataset).folder:
        return classifier_path(dataset)
    if not classes:
        raise CheckpointError("this image folder has no labels (its images are not sorted into two or more class "
                              "sub-folders), so no evaluator can judge it")
    path = folder_evaluator(classes)
    if path is None:
        raise CheckpointError(f"no evaluator knows this folder's labels ({', '.join(classes)}); "
                              "train one with `python -m dcgan train-evaluator --dataset folder`")
    return path


def load_classifier(path: str | Path) -> Classifier:
    from safetensors.torch import load_file
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"no evaluator at {p}; train one with `python -m dcgan train-evaluator`")
    info = read_json(p.with_suffix(".json")) or {}  # the shipped MNIST / Fashion ones say nothing: 28 px, 10
    size, classes = info.get("image_size", 28), info.get("classes") or [str(i) for i in range(10)]
    if size not in IMAGE_SIZES or not isinstance(classes, list) or not 2 <= len(classes) <= 1000:
        raise CheckpointError(f"{p.with_suffix('.json')} does not describe a classifier of this project "
                              f"(image_size one of {', '.join(map(str, IMAGE_SIZES))}; 2 to 1000 classes)")
    model = Classifier(size, len(classes))
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


# --- what a run's evaluator can say about it: the one answer the pages and the CLI share ------------------

def run_folder_classes(cfg: dict) -> tuple[str, ...] | None:
    """The class sub-folders of a folder run's images, found from PROJECT_ROOT as its trainer finds them
    (() for an unlabelled folder or a dataset that is no folder); None when the folder is not on this
    machine."""
    spec = DATASET_SPECS.get(cfg.get("dataset"))
    if spec is None or not spec.folder:
        return ()
    root = project_path(str(cfg.get("image_folder") or ""))
    if not cfg.get("image_folder") or not root.is_dir():
        return None
    return folder_labels(root)


def evaluation_problem(dataset: str, classes: tuple[str, ...] | None = ()) -> str | None:
    """Why no evaluator can judge runs of this dataset (a folder's: with these class sub-folders, None when
    the folder is not on this machine), or None when one can."""
    spec = DATASET_SPECS.get(dataset)
    if spec is None or not spec.can_be_evaluated:
        known = ", ".join(s.name for s in DATASET_SPECS.values() if s.evaluator)
        return f"the evaluator has classifiers for {known} and for labelled image folders, not for {dataset!r}"
    if classes is None:
        return ("this run's image folder is not on this machine, so neither its labels nor the evaluator "
                "that knows them can be found")
    try:
        path = evaluator_for(dataset, tuple(classes))
    except CheckpointError as e:
        return str(e)
    if not path.is_file():
        return f"the evaluator's classifier {path} is not there; train it with `python -m dcgan train-evaluator`"
    return None


def run_evaluation_problem(run: RunDir) -> str | None:
    """evaluation_problem for a run, from its config and its image folder."""
    cfg = run.config_values()
    return evaluation_problem(cfg.get("dataset"), run_folder_classes(cfg))


@dataclass(frozen=True)
class ClassNames:
    """A run's classes as its evaluator names them, in the order of its class shares."""

    names: tuple[str, ...]
    evaluator: str  # the classifier's file name

    def __len__(self) -> int:
        return len(self.names)


def class_names_for(dataset: str, classes: tuple[str, ...] = ()) -> ClassNames | None:
    """The classes of a dataset's runs (a folder's: these sub-folders), in the words of the evaluator that
    judges them: an evaluator may give its classes plain names (the faces' negatives / positives are "not
    smiling" / "smiling"). None when no evaluator gives its images one class each (Stacked MNIST counts
    modes; synthetic shapes; a folder whose labels no evaluator knows)."""
    spec = DATASET_SPECS.get(dataset)
    if spec is None or not spec.per_image_class:
        return None
    try:
        path = evaluator_for(dataset, tuple(classes))
    except CheckpointError:
        return None
    info = read_json(path.with_suffix(".json")) or {}
    names = spec.class_names or tuple(info.get("classes") or classes)
    plain = info.get("class_descriptions") if isinstance(info.get("class_descriptions"), dict) else {}
    return ClassNames(tuple(str(plain.get(n, n)) for n in names), path.name)


def run_class_names(run: RunDir) -> ClassNames | None:
    """class_names_for a run: a folder's classes from its sub-folders or, when the folder is not on this
    machine, from the labels its eval.json recorded."""
    cfg = run.config_values()
    classes = run_folder_classes(cfg)
    if classes is None:
        from .report import load_report  # report.py imports this module (through evaluate.py)
        recorded = (load_report(run.path) or {}).get("class_names")
        classes = tuple(map(str, recorded)) if isinstance(recorded, list) else ()
    return class_names_for(cfg.get("dataset"), classes)
