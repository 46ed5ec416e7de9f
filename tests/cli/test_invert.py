"""`python -m dcgan invert`: an image or a real test image to z.json (as the Latent page reads it), the error
beside its references, --save-as keeping it with the run, and a one-line error for every bad input."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgan.analysis.views import z_from_upload
from dcgan.cli import main
from dcgan.runs.rundir import RunDir

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--starts", "2", "--steps", "10"]


@pytest.fixture
def run(app_tiny_checkpoints, tmp_path) -> Path:
    root = tmp_path / "checkpoints"
    shutil.copytree(app_tiny_checkpoints, root)
    return root / "tiny"


def drawing(tmp_path: Path, name: str = "mine.png", background: int = 255) -> Path:
    a = np.full((120, 120), background, np.uint8)
    a[20:100, 50:70] = 255 - background
    Image.fromarray(a).save(tmp_path / name)
    return tmp_path / name


def test_a_test_image_is_inverted_saved_and_readable_by_the_latent_page(run, tmp_path, capsys):
    out, pair = tmp_path / "z.json", tmp_path / "pair.png"
    assert main(["invert", str(run), "--test-image", "3", "--out", str(out), "--save-as", "three", "--png", str(pair),
                 *FAST]) == 0
    said = capsys.readouterr().out
    assert "test image 3: error " in said and "G's own images" in said and "real held-out images" in said
    z = z_from_upload(out.read_bytes(), 16)  # the Latent page's JSON upload
    record = json.loads(out.read_text())
    assert record["source"] == "test image 3" and record["step"] == 12 and record["steps"] == 10
    assert np.allclose(z_from_upload(RunDir(run).latent_path("three").read_bytes(), 16), z)
    assert Image.open(pair).size == ((2 * 28 + 6) * 9, (28 + 4) * 9)  # target and G(z), padded, 9x


def test_an_image_file_is_inverted_and_its_preparation_said(run, tmp_path, capsys):
    out = tmp_path / "z.json"
    assert main(["invert", str(run), str(drawing(tmp_path)), "--out", str(out), *FAST]) == 0
    said = capsys.readouterr().out
    assert "image mine.png: error" in said and out.is_file() and not RunDir(run).latents_dir.exists()


@pytest.mark.parametrize("args, message", [
    (["IMAGE", "--test-image", "1"], "one of them"),
    ([], "one of them"),
    (["--test-image", "1", "--out", "z.txt"], "writes JSON"),
    (["--test-image", "1", "--png", "pair.jpg"], "--png"),
    (["--test-image", "1", "--starts", "0"], "--starts must be"),
    (["--test-image", "1", "--steps", "100000"], "--steps must be"),
    (["--test-image", "100000"], "outside 0.."),
    (["--test-image", "1", "--save-as", "../out"], "bad name"),
    (["--test-image", "1", "--step", "7"], "no generator weights for step 7"),
    (["NOT_AN_IMAGE"], "not an image this app can read"),
    (["BLANK"], "blank"),
    (["MISSING"], "No such file"),
])
def test_bad_input_is_one_line_and_writes_nothing(run, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "NOT_AN_IMAGE").write_bytes(b"plain text, not a picture")
    Image.new("L", (40, 40), 255).save(tmp_path / "BLANK", "PNG")
    args = [str(drawing(tmp_path)) if a == "IMAGE" else a for a in args]
    image = args[:1] if args and not args[0].startswith("--") else []  # IMAGE comes right after RUN
    assert main(["invert", str(run), *image, *FAST, *args[len(image):]]) != 0
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "z.json").exists() and not RunDir(run).latents_dir.exists()


def test_a_run_that_is_not_there_is_one_line(tmp_path, capsys):
    assert main(["invert", str(tmp_path / "nowhere"), "--test-image", "0"]) == 2
    assert "is not a run directory" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT.parent / "shared" / "datasets" / "MNIST" / "raw").is_dir(),
                    reason="real MNIST is not on this machine")
def test_the_shipped_mnist_model_inverts_a_real_test_digit_in_a_fresh_process(tmp_path):
    run = tmp_path / "mnist"  # a copy: the references it writes stay out of the shipped folder
    shutil.copytree(ROOT / "checkpoints" / "mnist", run, ignore=shutil.ignore_patterns("snapshots"))
    proc = subprocess.run([sys.executable, "-m", "dcgan", "invert", str(run), "--test-image", "0", "--out",
                           str(tmp_path / "z.json"), "--save-as", "seven"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr
    assert "test image 0: error" in proc.stdout and "real held-out images" in proc.stdout
    assert len(json.loads((tmp_path / "z.json").read_text())["z"]) == 100
    assert (run / "latents" / "seven.json").is_file() and (run / "inversion_references.json").is_file()
