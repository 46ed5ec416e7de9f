"""Data sets: synthetic, image folders (and their cache), MNIST offline and on disk."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from dcgan.data import torchvision_files_present, DataError, load_dataset, load_folder, load_torchvision, make_synthetic


ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "datasets"


def test_synthetic_set():
    s = make_synthetic(32, 3, count=30, seed=1)
    assert s.images.shape == (30, 3, 32, 32) and s.images.dtype == torch.uint8
    assert s.images.float().mean() > 5  # shapes were drawn
    assert torch.equal(s.images, make_synthetic(32, 3, count=30, seed=1).images)


def test_folder_loader(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    Image.new("RGB", (80, 60), (200, 10, 10)).save(tmp_path / "a" / "one.png")
    Image.new("L", (50, 50), 128).save(tmp_path / "a" / "b" / "two.jpg")
    Image.new("RGB", (40, 90), (0, 0, 255)).save(tmp_path / "three.webp")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    (tmp_path / "notes.txt").write_text("ignored")
    grey = load_folder(tmp_path, 32, 1)
    assert grey.images.shape == (3, 1, 32, 32) and grey.skipped == 1
    rgb = load_folder(tmp_path, 64, 3)
    assert rgb.images.shape == (3, 3, 64, 64)
    # centre crop then resize: the red image stays red
    red = rgb.images[[i for i in range(3) if rgb.images[i, 0].float().mean() > 150][0]]
    assert red[0].float().mean() > 190 and red[1].float().mean() < 20


def test_a_decoded_folder_is_cached_until_a_file_changes(tmp_path, monkeypatch):
    import dcgan.data
    monkeypatch.setenv("DCGAN_CACHE_DIR", str(tmp_path / "cache"))
    for i, sub in enumerate(["cats", "cats", "dogs", "dogs"]):
        (tmp_path / "imgs" / sub).mkdir(parents=True, exist_ok=True)
        Image.new("L", (40, 40), 40 * i).save(tmp_path / "imgs" / sub / f"{i}.png")
    (tmp_path / "imgs" / "dogs" / "bad.png").write_bytes(b"not an image")
    first = load_folder(tmp_path / "imgs", 28, 1)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1

    decode = dcgan.data._load_image
    monkeypatch.setattr(dcgan.data, "_load_image", lambda *a: pytest.fail("decoded although cached"))
    again = load_folder(tmp_path / "imgs", 28, 1)
    assert torch.equal(again.images, first.images) and torch.equal(again.labels, first.labels)
    assert (again.skipped, again.classes) == (1, ("cats", "dogs"))
    halves = [load_folder(tmp_path / "imgs", 28, 1, split=s, holdout=0.46) for s in ("train", "test")]
    assert sorted(int(x.float().mean()) for h in halves for x in h.images) == [0, 40, 80, 120]

    monkeypatch.setattr(dcgan.data, "_load_image", decode)
    Image.new("L", (40, 40), 250).save(tmp_path / "imgs" / "cats" / "0.png")
    changed = load_folder(tmp_path / "imgs", 28, 1)
    assert int(changed.images[0].float().mean()) == 250
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_folder(tmp_path / "missing", 28, 1)
    with pytest.raises(DataError, match="no images"):
        load_folder(tmp_path, 28, 1)
    (tmp_path / "x.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="could be read"):
        load_folder(tmp_path, 28, 1)


def test_mnist_missing_offline_says_what_to_do(tmp_path):
    with pytest.raises(DataError) as e:
        load_torchvision("mnist", tmp_path, 28, 1, download=False)
    msg = str(e.value)
    assert "train-images-idx3-ubyte" in msg and "--data-root" in msg and str(tmp_path) in msg


@pytest.mark.skipif(not torchvision_files_present("mnist", SHARED), reason="real MNIST not present (../shared/datasets)")
def test_real_mnist_and_fashion():
    m = load_dataset("mnist", 28, 1, str(SHARED))
    assert m.images.shape == (60000, 1, 28, 28)
    f = load_dataset("fashion-mnist", 32, 1, str(SHARED))
    assert f.images.shape == (60000, 1, 32, 32)
