"""`directions ... --animate OUT` and `sweep ... --animate OUT` (the suffix picks the format, --session-out renders
byte for byte), `invert --feature-weight`, and exports the disk cannot hold: a full disk mid-write, or an MP4
encoder cut off, is one line and leaves no file, half or whole, and an older file as it was."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from exportkit import Z_DIM, generator_run
from faultkit import cli_out
from dcgan import faults
from dcgan.media import read_animation
from dcgan.runs.files import TEMP_SUFFIX

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_MNIST = ROOT / "checkpoints" / "mnist"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return generator_run(tmp_path_factory.mktemp("animate"), "grey", seed=4)


def ok(*args) -> str:
    code, out, err = cli_out(*args)
    assert code == 0, err
    return out


def one_line_error(*args, fragments=(), code=2) -> str:
    got, _, err = cli_out(*args)
    assert got == code, (got, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


def directions(run, tmp_path, *args):
    return ("directions", run.path, "--out", tmp_path / "d.json", *args)


# --- 1. directions --animate ---------------------------------------------------------------------------

@pytest.mark.slow  # MP4 encoded, decoded and rendered again (about 3 s with the first ffmpeg start)
def test_directions_animate_writes_the_strip_in_the_suffix_s_format_and_its_session(run, tmp_path):
    out, session = tmp_path / "s.mp4", tmp_path / "s.json"
    said = ok(*directions(run, tmp_path, "--direction", "SeFa 2", "--animate", out, "--frames", "7", "--fps", "25",
                          "--scale", "3", "--pingpong", "--reach", "2.5", "--session-out", session))
    assert "wrote" in said and "(MP4, 7 frames of 40 ms, 12 played with ping-pong, 'SeFa 2' from -2.5 to +2.5" in said
    back = read_animation(out.read_bytes(), "MP4")
    assert len(back.frames) == 12 and back.size == (84, 84) and back.frame_ms[0] == pytest.approx(40)
    assert json.loads(session.read_text())["path"] == "lerp"
    again = tmp_path / "again.mp4"
    ok("render", session, "--out", again)
    assert again.read_bytes() == out.read_bytes()


def test_directions_animate_beside_the_strip_uses_the_same_direction_and_reach(run, tmp_path):
    strip_png, gif = tmp_path / "strip.png", tmp_path / "a.gif"
    ok(*directions(run, tmp_path, "--strip", strip_png, "--columns", "5", "--animate", gif, "--frames", "5",
                   "--scale", "1", "--direction", "1"))
    frames = read_animation(gif.read_bytes(), "GIF").frames
    with Image.open(strip_png) as im:
        strip = np.asarray(im.convert("L"))
    # the strip's five images (28 px, 2 px padding, scale 1) are the animation's five frames
    for i, frame in enumerate(frames):
        cell = strip[2:30, 2 + 30 * i:30 + 30 * i]
        assert np.abs(cell.astype(int) - frame[..., 0].astype(int)).max() <= 1, i


# --- 2. sweep --animate --------------------------------------------------------------------------------

def test_sweep_animate_alone_sweeps_one_component_and_writes_no_grid(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    said = ok("sweep", run.path, "--components", "3", "--animate", "w.webp", "--frames", "6", "--low", "-2",
              "--high", "2", "--session-out", "w.json")
    assert "(WEBP, 6 frames of 80 ms, z[3] from -2 to 2 at seed 0)" in said
    back = read_animation((tmp_path / "w.webp").read_bytes(), "WEBP")
    assert len(back.frames) == 6 and back.size == (112, 112) and back.loop is True  # scale 4 by default
    assert not (tmp_path / "sweep.png").exists()
    session = json.loads((tmp_path / "w.json").read_text())
    assert [session["z"][0][3], session["z"][1][3]] == [-2.0, 2.0]
    ok("render", "w.json", "--out", "again.webp")
    assert (tmp_path / "again.webp").read_bytes() == (tmp_path / "w.webp").read_bytes()


def test_sweep_with_out_and_animate_writes_the_grid_and_animates_its_first_component(run, tmp_path):
    grid, anim = tmp_path / "g.png", tmp_path / "a.zip"
    said = ok("sweep", run.path, "--components", "5,6", "--out", grid, "--animate", anim, "--frames", "4",
              "--no-loop", "--scale", "1")
    assert "components 5,6 x 12 values" in said and "z[5] from -3 to 3" in said
    back = read_animation(anim.read_bytes(), "ZIP")
    assert len(back.frames) == 4 and back.loop is False and back.size == (28, 28)
    with Image.open(grid) as im:
        assert im.size == (12 * 30 + 2, 2 * 30 + 2)


@pytest.mark.parametrize("command", ["directions", "sweep"])
@pytest.mark.parametrize("name", ["x.avi", "x.png", "x"])
def test_an_unknown_animate_suffix_is_one_line_naming_the_choices_before_any_work(tmp_path, command, name):
    out = tmp_path / name
    one_line_error(command, tmp_path / "no-such-model", "--animate", out,
                   fragments=["--animate", "GIF (.gif) or MP4 (.mp4) or WEBP (.webp) or APNG (.apng) or ZIP (.zip)"])
    assert not out.exists()


@pytest.mark.parametrize("args, fragment", [
    (["sweep", "--fps", "5"], "--fps is an option of --animate"),
    (["sweep", "--pingpong"], "--pingpong is an option of --animate"),
    (["directions", "--session-out", "s.json"], "--session-out is an option of --animate"),
    (["sweep", "--animate", "a.gif", "--components", "1,2"], "sweeps one component"),
    (["sweep", "--animate", "a.gif", "--low", "3", "--high", "-3"], "--low must be below --high"),
    (["sweep", "--animate", "a.gif", "--components", str(Z_DIM)], f"outside 0..{Z_DIM - 1}"),
    (["sweep", "--animate", "a.gif", "--frames", "1"], "--frames must be between 2 and 1000"),
    (["sweep", "--animate", "a.gif", "--fps", "0"], "--fps must be between 0.1 and 50"),
    (["sweep", "--animate", "a.gif", "--frame-ms", "5"], "--frame-ms must be between 20 and 10000"),
    (["sweep", "--animate", "a.gif", "--session-out", "s.txt"], "--session-out"),
    (["directions", "--animate", "a.gif", "--reach", "0"], "--reach must be above 0 and at most 20"),
    (["directions", "--animate", "a.gif", "--reach", "nan"], "--reach must be"),
    (["directions", "--animate", "a.gif", "--direction", "99"], "--direction 99 is outside 0..9"),
    (["directions", "--animate", "a.gif", "--scale", "17"], "--scale must be between 1 and 16"),
    (["directions", "--reach", "3", "--direction", "1"], "add --strip PNG or --animate OUT"),
])
def test_bad_animation_flags_are_one_line_and_write_no_animation(run, tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    command, *rest = args
    extra = ["--out", "d.json"] if command == "directions" else []
    one_line_error(command, run.path, *extra, *rest, fragments=[fragment])
    assert not (tmp_path / "a.gif").exists() and not (tmp_path / "s.json").exists()


# --- 3. an export the disk cannot hold ---------------------------------------------------------------

@pytest.fixture
def full_disk():
    """arm(name): the disk is full halfway through writing file name (dcgan.faults), for this test only."""
    yield lambda name: faults.arm(f"write:{name}@1=ENOSPC")
    faults.arm(None)


def no_leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX)]


@pytest.mark.parametrize("name, args", [
    ("a.mp4", ["directions", "--out", "d.json", "--animate", "a.mp4", "--frames", "4"]),
    ("a.webp", ["sweep", "--components", "2", "--animate", "a.webp", "--frames", "4"]),
    ("a.gif", ["interpolate", "--frames", "4", "--out", "a.gif"]),
    ("s.json", ["interpolate", "--frames", "4", "--out", "a.gif", "--session-out", "s.json"]),
    ("g.png", ["sweep", "--out", "g.png"]),
    ("strip.png", ["directions", "--out", "d.json", "--strip", "strip.png"]),
])
def test_a_full_disk_mid_write_is_one_line_and_leaves_the_old_file_as_it_was(run, tmp_path, monkeypatch, full_disk,
                                                                             name, args):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_bytes(b"the file before")
    command, *rest = args
    full_disk(name)
    err = one_line_error(command, run.path, *rest, code=1, fragments=[f"cannot write {name}: the disk is full"])
    assert err.startswith("error: ")
    assert (tmp_path / name).read_bytes() == b"the file before" and not no_leftovers(tmp_path)


def test_a_full_disk_while_rendering_a_session_leaves_no_file(run, tmp_path, monkeypatch, full_disk):
    monkeypatch.chdir(tmp_path)
    ok("sweep", run.path, "--animate", "a.apng", "--frames", "3", "--session-out", "s.json")
    full_disk("b.apng")
    one_line_error("render", "s.json", "--out", "b.apng", code=1, fragments=["the disk is full"])
    assert not (tmp_path / "b.apng").exists() and not no_leftovers(tmp_path)


def test_an_mp4_the_encoder_could_not_finish_is_one_line_and_no_file(run, tmp_path, monkeypatch):
    import imageio.v3 as iio
    real = iio.imwrite
    # as ffmpeg's temporary file comes back when its disk fills up: the file as far as it got
    monkeypatch.setattr(iio, "imwrite", lambda *a, **k: (lambda whole: whole[:len(whole) // 2])(real(*a, **k)))
    monkeypatch.chdir(tmp_path)
    one_line_error("sweep", run.path, "--animate", "a.mp4", "--frames", "4", code=1,
                   fragments=["the MP4 could not be made", "incomplete file (", "Nothing was saved"])
    assert not (tmp_path / "a.mp4").exists()


@pytest.mark.slow  # two searches with their references
def test_a_full_disk_under_invert_leaves_neither_z_nor_pair(app_tiny_checkpoints, tmp_path, monkeypatch, full_disk):
    root = tmp_path / "checkpoints"
    shutil.copytree(app_tiny_checkpoints, root)
    monkeypatch.chdir(tmp_path)
    for name in ("z.json", "pair.png"):
        full_disk(name)
        one_line_error("invert", root / "tiny", "--test-image", "1", "--starts", "1", "--steps", "2", "--out",
                       "z.json", "--png", "pair.png", code=1, fragments=[f"cannot write {name}: the disk is full"])
        assert not (tmp_path / name).exists() and not no_leftovers(tmp_path)
        (tmp_path / "z.json").unlink(missing_ok=True)  # written whole before the pair failed


# --- 4. invert --feature-weight ------------------------------------------------------------------------

@pytest.mark.parametrize("weight, fragment", [("-1", "from 0 to 10"), ("11", "from 0 to 10"), ("nan", "from 0 to 10"),
                                              ("0.1", "needs the evaluator's classifier for this run")])
def test_a_bad_feature_weight_or_a_run_without_a_classifier_is_one_line(run, tmp_path, weight, fragment):
    out = tmp_path / "z.json"
    one_line_error("invert", run.path, "--test-image", "0", "--feature-weight", weight,
                   "--out", out, fragments=[fragment])  # a run with no dataset (a bare G) has no classifier
    assert not out.exists()


def drawn_seven(tmp_path: Path) -> Path:
    a = np.zeros((28, 28), np.uint8)
    a[5:8, 7:21] = 255
    for row in range(8, 24):
        a[row, 19 - (row - 8) // 2:22 - (row - 8) // 2] = 255
    Image.fromarray(a).save(tmp_path / "seven.png")
    return tmp_path / "seven.png"


@pytest.mark.slow  # the shipped MNIST model searched twice, with its references
@pytest.mark.skipif(not (SHIPPED_MNIST / "generator.safetensors").is_file(), reason="no shipped MNIST model")
def test_the_feature_weight_changes_the_search_and_is_said(tmp_path):
    run = tmp_path / "mnist"  # a copy: the references the search writes stay out of the shipped folder
    shutil.copytree(SHIPPED_MNIST, run, ignore=shutil.ignore_patterns("snapshots"))
    image, fast = drawn_seven(tmp_path), ["--starts", "2", "--steps", "15"]
    plain = ok("invert", run, image, "--out", tmp_path / "plain.json", *fast)
    weighted = ok("invert", run, image, "--out", tmp_path / "feat.json", "--feature-weight", "1", *fast)
    zero = ok("invert", run, image, "--out", tmp_path / "zero.json", "--feature-weight", "0", *fast)
    assert "classifier's feature error" in weighted and "classifier" not in plain and "classifier" not in zero
    z = {name: json.loads((tmp_path / f"{name}.json").read_text())["z"] for name in ("plain", "feat", "zero")}
    assert z["zero"] == z["plain"] and z["feat"] != z["plain"]  # the same seed: only the loss differs


@pytest.mark.skipif(not (SHIPPED_MNIST / "config.json").is_file(), reason="no shipped MNIST model")
def test_the_feature_term_uses_the_classifier_that_judges_the_run():
    from dcgan.analysis.inversion import feature_classifier
    from dcgan.runs.rundir import RunDir
    classifier = feature_classifier(RunDir(SHIPPED_MNIST))
    assert (classifier.image_size, classifier.num_classes) == (28, 10) and not classifier.training
