"""Awkward image folders: unreadable, huge and odd images, and folders with nothing usable."""
from __future__ import annotations

import json
import os
import resource
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import faultkit
from faultkit import cli_out, one_line_error
from dcgan.data import DataError, load_folder
from dcgan.imaging import MAX_IMAGE_PIXELS


def big_png(path: Path, width: int, height: int) -> None:
    """A valid all-black greyscale PNG of any size, written without ever holding it in memory."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    z = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    idat = b"".join(z.compress(row * 256) for _ in range(height // 256)) + z.compress(row * (height % 256))
    idat += z.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def awkward_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("awkward")
    gradient = np.tile(np.linspace(0, 255, 32, dtype=np.uint8), (32, 1))
    Image.fromarray(gradient).save(folder / "good.png")
    Image.fromarray(np.stack([gradient] * 3, -1)).save(folder / "good.jpg", quality=95)
    Image.fromarray(np.stack([gradient] * 3, -1)).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(gradient.astype(np.uint16) * 257).save(folder / "sixteen.png")  # I;16, full range
    Image.fromarray(gradient).convert("P").save(folder / "palette.png", transparency=0)
    Image.fromarray(np.dstack([gradient] * 3 + [gradient])).save(folder / "rgba.png")
    Image.fromarray(gradient).convert("1").save(folder / "onebit.png")
    jpeg = (folder / "good.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(jpeg[:len(jpeg) // 2])
    (folder / "notes.png").write_text("this is not a picture")
    (folder / "noise.jpg").write_bytes(os.urandom(3000))
    (folder / "empty.png").write_bytes(b"")
    (folder / "dir.png").mkdir()
    (folder / "zero.png").symlink_to("/dev/zero")
    big_png(folder / "huge.png", 8000, 8000)  # 64 MP: over our limit, under Pillow's bomb limit
    big_png(folder / "bomb.png", 16000, 16000)  # 256 MP: Pillow's DecompressionBombError
    return folder


READABLE = 7  # good.png, good.jpg, cmyk, sixteen, palette, rgba, onebit
UNREADABLE = 6  # truncated, notes, noise, empty, huge, bomb (dir.png and /dev/zero are not files)


@pytest.mark.parametrize("channels", [1, 3])
def test_awkward_image_folder_loads_what_it_can(awkward_folder, channels):
    images = load_folder(awkward_folder, 28, channels)
    assert images.images.shape == (READABLE, channels, 28, 28) and images.skipped == UNREADABLE
    names = sorted(p.name for p in awkward_folder.iterdir() if p.is_file() and p.stat().st_size
                   and p.name not in ("truncated.jpg", "notes.png", "noise.jpg", "huge.png", "bomb.png"))
    sixteen = images.images[names.index("sixteen.png")].float()
    good = images.images[names.index("good.png")].float()
    assert (sixteen - good).abs().max() <= 2  # scaled to 8 bits, not clipped to white


def _load_and_measure(folder: str, out: str) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    images = load_folder(folder, 28, 3)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Path(out).write_text(json.dumps({"kib": after - before, "n": len(images), "skipped": images.skipped}))


@pytest.mark.slow
def test_huge_images_are_skipped_before_they_are_decoded(awkward_folder):
    assert 8000 * 8000 > MAX_IMAGE_PIXELS
    result = json.loads(faultkit.call_in_child(_load_and_measure, str(awkward_folder)))
    assert (result["n"], result["skipped"]) == (READABLE, UNREADABLE)
    assert result["kib"] < 60_000, result  # decoding the 64 MP image as RGB alone would take 190 MB


def test_folders_with_no_usable_images(tmp_path):
    (tmp_path / "none").mkdir()
    with pytest.raises(DataError, match="no images in"):
        load_folder(tmp_path / "none", 28, 1)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.png").write_text("text")
    (junk / "b.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.raises(DataError, match="none of the 2 image files"):
        load_folder(junk, 28, 1)
    # the CLI refuses in its pre-launch check (check_launch), which tries the train split's files
    for folder, fragment in ((tmp_path / "none", "no images in"), (junk, "none of the 2 training image files")):
        one_line_error(cli_out("train", "--dataset", "folder", "--image-folder", folder, "--run-name", folder.name,
                                "--checkpoints", tmp_path / "ck", "--steps", "2", "--quiet"), fragment)
