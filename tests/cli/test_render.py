"""`interpolate --out x.mp4|.webp|.gif|.apng|.zip [--session-out s.json]` and `render s.json`: the suffix picks
the format, a session makes the same bytes twice and in a fresh process, and every bad input is one line
with nothing written."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from exportkit import generator_run
from faultkit import cli_out
from dcgan.media import read_animation

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("render")
    return generator_run(root, "grey", seed=1), generator_run(root, "other", seed=2)


def ok(*args) -> str:
    code, out, err = cli_out(*args)
    assert code == 0, err
    return out


def one_line_error(*args, fragments=()) -> str:
    code, _, err = cli_out(*args)
    assert code == 2, (code, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


@pytest.mark.parametrize("suffix, fmt", [(".mp4", "MP4"), (".webp", "WEBP"), (".GIF", "GIF"), (".zip", "ZIP"),
                                         (".apng", "APNG")])
def test_interpolate_writes_the_format_its_suffix_names(runs, tmp_path, suffix, fmt):
    out = tmp_path / f"a{suffix}"
    printed = ok("interpolate", runs[0].path, "--frames", "6", "--fps", "25", "--scale", "3", "--pingpong",
                 "--out", out)
    assert f"({fmt}, 6 frames of 40 ms" in printed
    back = read_animation(out.read_bytes(), fmt)
    assert len(back.frames) == 10 and back.size == (84, 84) and back.frame_ms[0] == pytest.approx(40)


@pytest.mark.parametrize("name", ["x.txt", "x.avi", "x", "x.png"])
def test_interpolate_refuses_other_suffixes_naming_the_choices_before_any_work(tmp_path, name):
    out = tmp_path / name
    one_line_error("interpolate", tmp_path / "no-such-run", "--out", out,
                   fragments=["--out", "GIF (.gif) or MP4 (.mp4) or WEBP (.webp) or APNG (.apng) or ZIP (.zip)"])
    assert not out.exists()


@pytest.mark.parametrize("args, fragment", [
    (["--loop-through", "1,2"], "3 to 64 seeds"),
    (["--loop-through", "1,x,3"], "separated by commas"),
    (["--loop-through", "1,2,3", "--method", "lerp"], "slerp loop"),
    (["--fps", "0"], "--fps must be between 0.1 and 50"),
    (["--frame-ms", "5"], "--frame-ms must be between 20 and 10000"),
    (["--scale", "0"], "--scale must be between 1 and 16"),
    (["--session-out", "s.txt"], "--session-out"),
])
def test_interpolate_refuses_bad_options_in_one_line(runs, tmp_path, args, fragment):
    out = tmp_path / "a.gif"
    one_line_error("interpolate", runs[0].path, *args, "--out", out, fragments=[fragment])
    assert not out.exists()


@pytest.mark.slow  # a fresh process imports torch and ffmpeg
def test_a_loop_session_renders_byte_for_byte_twice_and_in_a_fresh_process(runs, tmp_path):
    original, session = tmp_path / "loop.mp4", tmp_path / "loop.json"
    ok("interpolate", runs[0].path, "--loop-through", "1,7,3,9", "--frames", "16", "--frame-ms", "50",
       "--out", original, "--session-out", session)
    data = json.loads(session.read_text())
    assert (data["path"], data["seeds"], data["format"], data["frames"]) == ("loop", [1, 7, 3, 9], "mp4", 16)
    ok("render", session)  # beside the session, named by its format: loop.mp4 again
    assert original.read_bytes() == (tmp_path / "loop.mp4").read_bytes()
    twice = tmp_path / "twice.mp4"
    ok("render", session, "--out", twice)
    fresh = tmp_path / "fresh.mp4"
    proc = subprocess.run([sys.executable, "-m", "dcgan", "render", str(session), "--out", str(fresh)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr
    assert original.read_bytes() == twice.read_bytes() == fresh.read_bytes()
    assert len(read_animation(fresh.read_bytes(), "MP4").frames) == 16


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".zip"])
def test_a_session_names_the_model_as_given_and_renders_from_the_same_folder(runs, tmp_path, monkeypatch, suffix):
    monkeypatch.chdir(runs[0].path.parent)
    out, session = tmp_path / f"a{suffix}", tmp_path / "a.json"
    ok("interpolate", "grey", "--seed-a", "3", "--seed-b", "4", "--frames", "5", "--no-loop", "--out", out,
       "--session-out", session)
    assert json.loads(session.read_text())["model"] == "grey"
    again = tmp_path / f"b{suffix}"
    ok("render", session, "--out", again)
    assert again.read_bytes() == out.read_bytes()


def test_a_session_along_a_direction_keeps_its_z_as_numbers(runs, tmp_path):
    ok("directions", runs[0].path, "--k", "2")  # SeFa, saved with the run
    out, session = tmp_path / "d.zip", tmp_path / "d.json"
    ok("interpolate", runs[0].path, "--direction", "SeFa 1", "--reach", "2", "--frames", "5", "--out", out,
       "--session-out", session)
    data = json.loads(session.read_text())
    assert data["seeds"] is None and len(data["z"]) == 2 and len(data["z"][0]) == 16 and data["path"] == "lerp"
    ok("render", session, "--out", tmp_path / "again.zip")
    assert (tmp_path / "again.zip").read_bytes() == out.read_bytes()


def test_render_refuses_a_session_for_another_model_naming_both(runs, tmp_path):
    session = tmp_path / "s.json"
    ok("interpolate", runs[0].path, "--frames", "4", "--out", tmp_path / "a.gif", "--session-out", session)
    out = tmp_path / "b.gif"
    one_line_error("render", session, "--model", runs[1].path, "--out", out,
                   fragments=[runs[0].weights_sha256(None), runs[1].weights_sha256(None)])
    assert not out.exists()


def test_render_refuses_bad_sessions_and_names_in_one_line_writing_nothing(runs, tmp_path):
    session = tmp_path / "s.json"
    ok("interpolate", runs[0].path, "--frames", "4", "--out", tmp_path / "a.webp", "--session-out", session)
    good = json.loads(session.read_text())
    cases = {
        "unknown": (dict(good, speed=2), "unknown key(s) 'speed'"),
        "zlength": (dict(good, seeds=None, z=[[0.5] * 3, [0.1] * 3]), "z has 3 values; this generator takes 16"),
        "frames": (dict(good, frames=5000), "'frames' must be a whole number from 2 to 1000"),
        "missing": (dict(good, model=str(tmp_path / "gone")), "gone is not there"),
    }
    for name, (data, fragment) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(data))
        one_line_error("render", path, fragments=[fragment, name])
        assert not (tmp_path / f"{name}.webp").exists()
    nan = tmp_path / "nan.json"
    nan.write_text(session.read_text().replace('"frame_ms": 80', '"frame_ms": NaN'))
    one_line_error("render", nan, fragments=["NaN"])
    one_line_error("render", tmp_path / "none.json", fragments=["is not there"])
    one_line_error("render", session, "--out", tmp_path / "c.gif", fragments=["format is WEBP", ".webp"])
    assert not (tmp_path / "c.gif").exists() and not (tmp_path / "nan.webp").exists()
