"""`python -m dcgan invert`'s target: `--reframe` frames a drawing as MNIST's digits were made (28 px grey models
that draw on black), refused in one line elsewhere; `--save-as` keeps the target image beside the z."""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dcgan.analysis.inversion import held_out_image, saved_target
from dcgan.cli import main
from dcgan.runs.rundir import RunDir

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--starts", "2", "--steps", "10"]


@pytest.fixture
def tiny_run(app_tiny_checkpoints, tmp_path) -> Path:
    root = tmp_path / "checkpoints"
    shutil.copytree(app_tiny_checkpoints, root)
    return root / "tiny"


@pytest.fixture
def mnist_run(tmp_path) -> Path:
    if not (ROOT / "checkpoints" / "mnist" / "generator.safetensors").is_file():
        pytest.skip("no shipped MNIST model")
    run = tmp_path / "mnist"  # a copy: what invert writes stays out of the shipped folder
    shutil.copytree(ROOT / "checkpoints" / "mnist", run, ignore=shutil.ignore_patterns("snapshots", "latents"))
    return run


def corner_seven(path: Path) -> Path:
    """A 7 drawn in pencil (black on white), small in the top-left corner of a 280 px picture."""
    im = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(im).line([(20, 20), (70, 20), (45, 105)], fill=0, width=22)
    im.save(path)
    return path


def left_of_pair(pair: Path, size: int = 28) -> np.ndarray:
    """The target: the left image of --png's pair (2 px padding, upscaled 256 // size)."""
    scale = 256 // size
    image = np.asarray(Image.open(pair).convert("L"))
    return image[2 * scale:(2 + size) * scale:scale, 2 * scale:(2 + size) * scale:scale]


def test_reframe_frames_a_corner_drawing_as_mnist_s_digits(mnist_run, tmp_path, capsys):
    drawing = corner_seven(tmp_path / "seven.png")
    assert main(["invert", str(mnist_run), str(drawing), "--reframe", "--out", str(tmp_path / "z.json"),
                 "--png", str(tmp_path / "framed.png"), *FAST]) == 0
    said = capsys.readouterr().out
    assert "inverted: this model draws on a dark background" in said
    assert "re-framed as MNIST's images were made" in said
    framed = left_of_pair(tmp_path / "framed.png")
    rows, cols = np.nonzero(framed > 50)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 == 20
    assert main(["invert", str(mnist_run), str(drawing), "--out", str(tmp_path / "z.json"),
                 "--png", str(tmp_path / "plain.png"), *FAST]) == 0
    assert "re-framed" not in capsys.readouterr().out
    rows, cols = np.nonzero(left_of_pair(tmp_path / "plain.png") > 50)
    assert rows.max() < 14 and cols.max() < 14  # without: as drawn, in the corner


@pytest.mark.parametrize("extra, message", [
    (["--test-image", "0"], "--reframe frames an IMAGE file"),
    (["IMAGE"], "--reframe is for 28 px grey models that draw on black"),
])
def test_reframe_where_it_does_not_apply_is_one_line_and_writes_nothing(tiny_run, tmp_path, capsys, extra, message):
    args = [str(corner_seven(tmp_path / "seven.png")) if a == "IMAGE" else a for a in extra]
    out = tmp_path / "z.json"
    assert main(["invert", str(tiny_run), *args, "--reframe", "--out", str(out), "--save-as", "x", *FAST]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not out.exists() and not RunDir(tiny_run).latents_dir.exists()


@pytest.mark.parametrize("value", ["-1", "4097"])
def test_candidates_out_of_range_is_one_line(tiny_run, tmp_path, capsys, value):
    out = tmp_path / "z.json"
    assert main(["invert", str(tiny_run), "--test-image", "0", "--candidates", value, "--out", str(out), *FAST]) == 2
    err = capsys.readouterr().err
    assert err == "error: --candidates must be between 0 and 4096\n" and not out.exists()


def test_candidates_zero_searches_from_random_starts_and_the_references_say_so(tiny_run, tmp_path):
    assert main(["invert", str(tiny_run), "--test-image", "0", "--candidates", "0", "--out", str(tmp_path / "z.json"),
                 *FAST]) == 0
    stored = json.loads(RunDir(tiny_run).inversion_references_path.read_text())
    assert [entry["settings"]["candidates"] for entry in stored.values()] == [0]  # computed alike, kept as such


def test_save_as_keeps_the_target_beside_the_z(tiny_run, tmp_path, capsys):
    assert main(["invert", str(tiny_run), "--test-image", "2", "--out", str(tmp_path / "z.json"),
                 "--save-as", "two", *FAST]) == 0
    run = RunDir(tiny_run)
    assert f"its target image as {run.latent_target_path('two')}" in capsys.readouterr().out
    assert np.array_equal(saved_target(run, "two"), held_out_image(run, 2, 28, 1))
    record = json.loads(run.latent_path("two").read_text())
    assert record["source"] == "test image 2" and "target_sha256" in record
    # --out: the z as the Latent page reads it, no target named
    assert "target_sha256" not in json.loads((tmp_path / "z.json").read_text())
    # saved again under the same name: both replaced, the new target shown
    drawing = Image.new("L", (60, 60), 0)
    ImageDraw.Draw(drawing).rectangle([25, 10, 35, 50], fill=255)
    buf = io.BytesIO()
    drawing.save(buf, "PNG")
    (tmp_path / "bar.png").write_bytes(buf.getvalue())
    assert main(["invert", str(tiny_run), str(tmp_path / "bar.png"), "--out", str(tmp_path / "z.json"),
                 "--save-as", "two", *FAST]) == 0
    assert not np.array_equal(saved_target(run, "two"), held_out_image(run, 2, 28, 1))
    assert json.loads(run.latent_path("two").read_text())["source"] == "image bar.png"
