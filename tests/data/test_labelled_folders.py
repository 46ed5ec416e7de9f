"""The labelled folder loader: classes from subfolders, its fixed held-out split, and the trainer using only
the training split."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from dcgan.config import TrainConfig
from dcgan.data import folder_classes, is_held_out, load_dataset, load_folder
from dcgan.training.loop import Trainer
from dcgan.runs.rundir import RunDir


ROOT = Path(__file__).resolve().parents[2]
FACES = ROOT.parent / "shared" / "datasets" / "faces" / "SMILEs"


def make_folder(root: Path, layout: dict[str, int], size: int = 20) -> None:
    for sub, n in layout.items():
        (root / sub).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            # brightness tells the class apart, so labels can be checked against pixels
            value = 40 if sub.startswith("neg") else 220
            Image.new("L", (size, size), value).save(root / sub / f"{i:03d}.png")


def test_folder_labels_from_subfolders(tmp_path):
    make_folder(tmp_path, {"positives/p7": 30, "negatives/n7": 50})
    ds = load_folder(tmp_path, 28, 1)
    assert ds.classes == ("negatives", "positives")  # sorted, like torchvision's ImageFolder
    assert ds.labels.tolist().count(0) == 50 and ds.labels.tolist().count(1) == 30
    bright = ds.images.float().mean(dim=(1, 2, 3)) > 128
    assert torch.equal(bright, ds.labels == 1)
    # RGB conversion of grey files keeps the labels
    rgb = load_folder(tmp_path, 32, 3)
    assert rgb.images.shape == (80, 3, 32, 32) and torch.equal(rgb.labels, ds.labels)


def test_folder_without_labels(tmp_path):
    make_folder(tmp_path, {"": 5})
    (tmp_path / "only_one").mkdir()
    Image.new("RGB", (30, 30), (255, 0, 0)).save(tmp_path / "only_one" / "x.png")
    ds = load_folder(tmp_path, 28, 3)
    assert ds.labels is None and ds.classes == () and len(ds) == 6
    assert folder_classes(tmp_path / "only_one", [tmp_path / "only_one" / "x.png"]) == ()


def test_held_out_split_is_fixed_and_disjoint(tmp_path):
    make_folder(tmp_path, {"positives": 120, "negatives": 280})
    train_set = load_folder(tmp_path, 28, 1, split="train", holdout=0.1)
    test_set = load_folder(tmp_path, 28, 1, split="test", holdout=0.1)
    assert len(train_set) + len(test_set) == 400
    assert 20 <= len(test_set) <= 65  # about 10 %
    names = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    held = [n for n in names if is_held_out(n, 0.1)]
    assert len(held) == len(test_set)
    # the split of one file does not depend on the others: add files, the old ones stay put
    make_folder(tmp_path, {"extra": 50})
    assert [n for n in names if is_held_out(n, 0.1)] == held
    again = load_dataset("folder", 28, 1, image_folder=str(tmp_path), split="test", holdout=0.1)
    assert len(again) >= len(test_set)
    with pytest.raises(ValueError):
        load_folder(tmp_path, 28, 1, split="validation")


def test_trainer_trains_on_the_train_split_only(tmp_path):
    make_folder(tmp_path / "data", {"a": 40, "b": 40})
    cfg = TrainConfig(run_name="f", dataset="folder", image_folder=str(tmp_path / "data"), image_size=28,
                      batch_size=8, steps=1, g_width=4, d_width=4, grid_size=4, holdout=0.25)
    trainer = Trainer(cfg, RunDir(tmp_path / "runs" / "f"), log=lambda _: None)
    trainer.load_data()
    n_test = len(load_folder(tmp_path / "data", 28, 1, split="test", holdout=0.25))
    assert n_test > 0 and trainer.data.images.shape[0] == 80 - n_test


@pytest.mark.slow
@pytest.mark.skipif(not FACES.is_dir(), reason="needs ../shared/datasets/faces (the seed-000 face photos)")
def test_real_faces_folder_has_two_labelled_classes():
    test_set = load_folder(FACES, 64, 1, split="test")
    assert test_set.classes == ("negatives", "positives")
    assert 1000 < len(test_set) < 1650 and set(test_set.labels.tolist()) == {0, 1}
