"""Training images: MNIST, Fashion-MNIST, any image folder, and a synthetic set for tests.

Every dataset is loaded once into a uint8 tensor (N, C, H, W). Batches are slices of a per-epoch
permutation that depends only on (seed, epoch), so step k always sees the same images and a resumed
run needs no data-loader state. At 28 px a PIL + DataLoader pipeline would cost more than the model.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .config import dataset_spec, project_path
from .imaging import decode_image


IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}

# torchvision opens either split only when all four files are there (its _check_exists)
IDX_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
TORCHVISION_FILES = {"mnist": ("MNIST", IDX_FILES), "fashion-mnist": ("FashionMNIST", IDX_FILES)}
# below this many images a DCGAN of the usual size memorises or collapses rather than generalises
FEW_IMAGES = 500


class DataError(RuntimeError):
    """A dataset that cannot be loaded, with a message that says what to do."""


def default_data_root() -> str:
    """Where MNIST and Fashion-MNIST are looked for unless a run says otherwise, relative to the project
    folder (as the app reads paths): the shared datasets beside the project when they are there, else data/.
    The Train form and the CLI's `train` both start from it."""
    from .config import PROJECT_ROOT
    return "../shared/datasets" if (PROJECT_ROOT.parent / "shared" / "datasets").is_dir() else "data"


@dataclass
class ImageSet:
    images: torch.Tensor  # uint8 (N, C, H, W)
    name: str
    skipped: int = 0  # unreadable files left out (folder datasets)
    labels: torch.Tensor | None = None  # int64 (N,) class indices, when the source has classes
    classes: tuple[str, ...] = ()  # class names, in label order

    def __len__(self) -> int:
        return self.images.shape[0]


def _resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[-1] == size:
        return images
    x = torch.nn.functional.interpolate(images.float(), size=(size, size), mode="bilinear",
                                        antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)


def _to_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    if images.shape[1] == channels:
        return images
    if channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)


def load_torchvision(name: str, root: str | Path, image_size: int, channels: int,
                     download: bool = True, train: bool = True) -> ImageSet:
    """MNIST or Fashion-MNIST training (or test) split; downloads when missing and online."""
    from torchvision import datasets  # imported here: the app and tests need not pay for it

    folder, files = TORCHVISION_FILES[name]
    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError:
        if not download:
            ds = None
        else:
            made = _missing_folders(Path(root) / folder / "raw")
            try:
                ds = cls(str(root), train=train, download=True)
            except Exception:  # offline: URLError, socket errors, HTTP errors
                ds = None
                # a failed download leaves no empty <root>/MNIST/raw behind, which would pass for the data
                for path in made:
                    with contextlib.suppress(OSError):
                        path.rmdir()  # only if still empty
    if ds is None:
        raise DataError(missing_message(name, root, "and could not be downloaded (offline?)"))
    images = ds.data.unsqueeze(1)  # (N, 1, 28, 28) uint8
    return ImageSet(_to_channels(_resize_uint8(images, image_size), channels), name, labels=ds.targets.clone())


def missing_message(name: str, root: str | Path, why: str = "") -> str:
    """What to do when a torchvision set's files are not under root: the files, by name."""
    folder, files = TORCHVISION_FILES[name]
    expected = ", ".join(str(Path(root) / folder / "raw" / f) for f in files)
    return (f"{name} is not in {root}{' ' + why if why else ''}. Expected files: {expected}. Put them there, "
            f"or point --data-root at a folder that holds {folder}/raw/.")


def _missing_folders(path: Path) -> list[Path]:
    """path and its ancestors that do not exist yet, deepest first: what a download would create."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def torchvision_files_present(name: str, root: str | Path) -> bool:
    """Whether torchvision will open the set without downloading: its four raw files, or the
    processed training.pt / test.pt of old torchvision versions."""
    folder, files = TORCHVISION_FILES[name]
    base = Path(root) / folder
    return all((base / "raw" / f).is_file() for f in files) or \
        all((base / "processed" / f).is_file() for f in ("training.pt", "test.pt"))


STACKED_COUNT = {"train": 60_000, "test": 10_000}


def make_stacked_mnist(root: str | Path, image_size: int = 28, seed: int = 0, split: str = "train",
                       download: bool = True) -> ImageSet:
    """Stacked MNIST (VEEGAN, PacGAN): three random MNIST digits as the R, G and B channels, so
    1000 modes (label = 100 r + 10 g + b). The triples depend on the seed and split alone; the
    test split stacks MNIST's test digits."""
    train = split != "test"
    mnist = load_torchvision("mnist", root, image_size, 1, download=download, train=train)
    g = torch.Generator().manual_seed(seed * 2 + (0 if train else 1))
    idx = torch.randint(len(mnist), (STACKED_COUNT["train" if train else "test"], 3), generator=g)
    images = mnist.images[:, 0][idx]  # (N, 3, H, W): one digit per channel
    labels = (mnist.labels[idx] * torch.tensor([100, 10, 1])).sum(1)
    return ImageSet(images.contiguous(), "stacked-mnist", labels=labels)


def _load_image(path: Path, image_size: int, channels: int) -> np.ndarray:
    """One training image, uint8 (C, H, W): imaging.decode_image, the one decoder uploads share."""
    return decode_image(path, image_size, channels)


def find_images(folder: str | Path) -> list[Path]:
    root = Path(folder)
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def folder_classes(root: Path, paths: list[Path]) -> tuple[str, ...]:
    """Class names from the top-level sub-folders (faces: negatives / positives), sorted as
    torchvision's ImageFolder sorts them; () when some image lies in the root itself or there is
    only one such sub-folder, since then the folders say nothing about the images."""
    tops = [p.relative_to(root).parts for p in paths]
    if any(len(parts) < 2 for parts in tops):
        return ()
    names = sorted({parts[0] for parts in tops})
    return tuple(names) if len(names) >= 2 else ()


def folder_labels(folder: str | Path) -> tuple[str, ...]:
    """The class names of an image folder (folder_classes of every image in it), without decoding any."""
    root = Path(folder)
    return folder_classes(root, find_images(root))


def is_held_out(relative_path: str, holdout: float) -> bool:
    """Whether a file belongs to the held-out split: a hash of its path, so the split stays the
    same when files are added or removed, on every machine."""
    digest = hashlib.md5(relative_path.replace("\\", "/").encode()).digest()
    return int.from_bytes(digest[:4], "little") / 2 ** 32 < holdout


def load_folder(folder: str | Path, image_size: int, channels: int, split: str = "all",
                holdout: float = 0.1) -> ImageSet:
    """Images under folder (recursive, sorted), centre-cropped, resized and converted to grey or RGB.

    split "train" leaves out the held-out share (`holdout`), "test" is that share alone, "all" is
    everything. Labels come from the top-level sub-folders when there are two or more.
    """
    if split not in ("all", "train", "test"):
        raise ValueError(f"split must be all, train or test, not {split!r}")
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"image folder not found: {root}")
    paths = find_images(root)
    if not paths:
        raise DataError(f"no images in {root} (looked recursively for {', '.join(sorted(IMAGE_EXTENSIONS))})")
    classes = folder_classes(root, paths)
    images, decoded, skipped = _decode_folder(root, paths, image_size, channels)
    if split != "all":
        want_test = split == "test"
        keep = [i for i, rel in enumerate(decoded) if is_held_out(rel, holdout) == want_test]
        skipped = [rel for rel in skipped if is_held_out(rel, holdout) == want_test]
        if not keep and not skipped:
            raise DataError(f"the {split} split of {root} is empty (holdout={holdout}); "
                            "use more images or another holdout share")
        images, decoded = images[keep], [decoded[i] for i in keep]
    if not decoded:
        raise DataError(f"none of the {len(paths)} image files in {root} could be read")
    labels = torch.tensor([classes.index(rel.split("/")[0]) for rel in decoded], dtype=torch.int64) \
        if classes else None
    return ImageSet(torch.from_numpy(images), f"folder:{root}", len(skipped), labels, classes)


# bump when decoding changes, so no stale cache is read
FOLDER_CACHE_VERSION = 1


def folder_cache_dir() -> Path:
    """Where decoded folders are kept: $DCGAN_CACHE_DIR, else ~/.cache/dcgan/folders."""
    env = os.environ.get("DCGAN_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "dcgan" / "folders"


def _decode_folder(root: Path, paths: list[Path], image_size: int, channels: int):
    """Every image of the folder decoded once, as (uint8 array, relative paths read, relative paths
    skipped); kept in the cache keyed by the files' names, sizes and times, so a second run (or the
    evaluator's held-out split) of a 13k-image folder starts in a second rather than after decoding."""
    rels = [p.relative_to(root).as_posix() for p in paths]
    key = hashlib.sha1(f"{FOLDER_CACHE_VERSION}|{root.resolve()}|{image_size}|{channels}".encode())
    for p, rel in zip(paths, rels):
        st = p.stat()
        key.update(f"{rel}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    cache = folder_cache_dir() / f"{key.hexdigest()}.npz"
    try:
        with np.load(cache, allow_pickle=False) as data:
            return data["images"], data["decoded"].tolist(), data["skipped"].tolist()
    except (OSError, KeyError, ValueError):  # none yet, or unreadable: decode
        pass
    arrays, decoded, skipped = [], [], []
    for p, rel in zip(paths, rels):
        try:
            arrays.append(_load_image(p, image_size, channels))
            decoded.append(rel)
        except Exception:  # truncated, corrupt or not an image after all
            skipped.append(rel)
    images = np.stack(arrays) if arrays else np.zeros((0, channels, image_size, image_size), np.uint8)
    try:
        from .runs.files import atomic_write_bytes
        buffer = io.BytesIO()
        np.savez(buffer, images=images, decoded=np.array(decoded, dtype=str), skipped=np.array(skipped, dtype=str))
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(cache, buffer.getvalue())
    except OSError:
        pass  # a read-only or full home: the next run decodes again, nothing worse
    return images, decoded, skipped


def make_synthetic(image_size: int, channels: int, count: int = 2048, seed: int = 0) -> ImageSet:
    """Filled circles, squares and crosses of random size, place and colour on black."""
    g = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:image_size, 0:image_size].astype(np.float32) / image_size
    out = np.zeros((count, channels, image_size, image_size), dtype=np.uint8)
    for i in range(count):
        kind = i % 3
        cx, cy = g.uniform(0.3, 0.7, size=2)
        r = g.uniform(0.15, 0.3)
        if kind == 0:
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r ** 2
        elif kind == 1:
            mask = (abs(xx - cx) < r * 0.8) & (abs(yy - cy) < r * 0.8)
        else:
            mask = ((abs(xx - cx) < r / 4) & (abs(yy - cy) < r)) | ((abs(yy - cy) < r / 4) & (abs(xx - cx) < r))
        colour = g.integers(128, 256, size=channels)
        for c in range(channels):
            out[i, c][mask] = colour[c]
    return ImageSet(torch.from_numpy(out), "synthetic")


def _load_torchvision_spec(name: str):
    def load(image_size, channels, data_root, image_folder, seed, split, holdout):
        return load_torchvision(name, data_root, image_size, channels, train=split != "test")
    return load


# how each dataset of config.DATASET_SPECS is loaded: (image_size, channels, data_root, image_folder, seed,
# split, holdout) -> ImageSet
LOADERS: dict[str, Callable[..., ImageSet]] = {
    "mnist": _load_torchvision_spec("mnist"),
    "fashion-mnist": _load_torchvision_spec("fashion-mnist"),
    "stacked-mnist": lambda image_size, channels, data_root, image_folder, seed, split, holdout: make_stacked_mnist(
        data_root, image_size, seed, "test" if split == "test" else "train"),
    "folder": lambda image_size, channels, data_root, image_folder, seed, split, holdout: load_folder(
        image_folder, image_size, channels, split, holdout),
    "synthetic": lambda image_size, channels, data_root, image_folder, seed, split, holdout: make_synthetic(
        image_size, channels, seed=seed),
}


def load_dataset(dataset: str, image_size: int, channels: int, data_root: str = "data",
                 image_folder: str = "", seed: int = 0, split: str = "all", holdout: float = 0.1) -> ImageSet:
    """Load the named dataset as an ImageSet; raises DataError with advice when it cannot.
    `split` "test" is MNIST-style sets' own test split, or a folder's hashed `holdout` share."""
    if dataset not in LOADERS:
        raise DataError(f"unknown dataset {dataset!r}; known: {', '.join(LOADERS)}")
    # a config's relative paths are the project folder's, whichever folder this process runs in
    data_root, image_folder = str(project_path(data_root)), str(project_path(image_folder)) if image_folder else ""
    return LOADERS[dataset](image_size, channels, data_root, image_folder, seed, split, holdout)


CHECK_DECODES = 16  # images of a folder the pre-launch check tries, spread over the folder


def check_source(cfg) -> None:
    """Fail fast, before a trainer is launched, on a data source that cannot work: MNIST-style
    files that are not there (nothing is downloaded here), an image folder that is missing, empty,
    all held out, or whose images do not decode. Relative paths are the project folder's, as the
    trainer reads them (config.project_path)."""
    where = project_path

    spec = dataset_spec(cfg.dataset)
    if spec.files and not torchvision_files_present(spec.files, where(cfg.data_root)):
        raise DataError(missing_message(spec.files, cfg.data_root))
    if spec.folder:
        _check_folder(where(cfg.image_folder), cfg.image_size, cfg.channels, cfg.holdout)


def _check_folder(root: Path, image_size: int, channels: int, holdout: float) -> None:
    if not root.is_dir():
        raise DataError(f"image folder not found: {root}")
    paths = find_images(root)
    if not paths:
        raise DataError(f"no images in {root} (looked recursively for {', '.join(sorted(IMAGE_EXTENSIONS))})")
    train = [p for p in paths if not is_held_out(p.relative_to(root).as_posix(), holdout)]
    if not train:
        raise DataError(f"the train split of {root} is empty: all {len(paths)} images are held out "
                        f"(holdout={holdout}); use more images or another holdout share")
    # a few files spread over the folder: one that decodes is enough to know training can start
    tried = train[::max(1, len(train) // CHECK_DECODES)][:CHECK_DECODES]
    for path in tried:
        try:
            _load_image(path, image_size, channels)
            return
        except Exception:  # truncated, corrupt or not an image after all
            continue
    some = "" if len(tried) == len(train) else f" (tried {len(tried)} spread over the folder)"
    raise DataError(f"none of the {len(train)} training image files in {root} could be read{some}")


def dataset_warnings(n_images: int, batch_size: int) -> list[str]:
    """What makes a dataset doubtful for a GAN, one line each: fewer images than a batch, fewer
    than a few hundred, batches of one (BatchNorm's statistics then come from a single image)."""
    warnings = []
    if n_images < batch_size:
        warnings.append(f"only {n_images} image(s), fewer than one batch of {batch_size}: every batch repeats "
                        "the same images")
    if n_images < FEW_IMAGES:
        warnings.append(f"only {n_images} image(s): a GAN learns to copy so few or collapses to a handful; "
                        f"a few thousand is a usual minimum")
    if batch_size == 1:
        warnings.append("batch size 1: BatchNorm normalises each image by its own statistics, which leaves G and "
                        "D little to learn from; use 16 or more")
    return warnings


