"""The Interpolate page exports in every format with its session file beside it, makes a seamless loop
through seeds, and renders a session file loaded back (refusing one made with another model); the
Progress page exports its progression in the format chosen."""
from __future__ import annotations

import json

import pytest

from apptestkit import errors, open_app
from dcgan.analysis.animation import render_file
from dcgan.media import read_animation

SUBMIT = "FormSubmitter:interp_form-Interpolate"


def interpolate(at, fmt: str = "GIF", frames: int = 6, mode: str | None = None, seeds: str | None = None):
    at.selectbox(key="interp_format").set_value(fmt).run()
    if mode:
        at.radio(key="interp_mode").set_value(mode).run()
    if seeds is not None:
        at.text_input(key="interp_loop_seeds").set_value(seeds).run()
    at.number_input(key="interp_frames").set_value(frames)
    at.number_input(key="interp_fps").set_value(20.0)
    at.number_input(key="interp_scale").set_value(2)
    at.button(key=SUBMIT).click().run()
    assert not at.exception, at.exception
    return at.session_state["interp_result"] if "interp_result" in at.session_state else None


@pytest.mark.slow  # AppTest page runs
def test_mp4_export_comes_with_its_session_which_renders_the_same_bytes(app_checkpoints):
    at = open_app("interpolate")
    result = interpolate(at, "MP4", frames=6)
    assert not errors(at) and result["format"] == "MP4"
    back = read_animation(result["data"], "MP4")
    assert len(back.frames) == 6 and back.frame_ms[0] == pytest.approx(50) and back.size == (56, 56)
    assert len(at.get("video")) == 1
    assert [b.label for b in at.get("download_button")] == ["Download MP4", "Download session file",
                                                             "Download frame grid PNG"]
    session = json.loads(result["session"])
    assert (session["seeds"], session["path"], session["frame_ms"], session["format"]) == ([0, 1], "slerp", 50, "mp4")
    assert render_file(result["session"]).data == result["data"]  # the CLI's render: the same file


@pytest.mark.slow
def test_a_seamless_loop_through_seeds_as_webp(app_checkpoints):
    at = open_app("interpolate")
    result = interpolate(at, "WEBP", frames=9, mode="seamless loop through seeds", seeds="3, 1, 4")
    assert not errors(at)
    session = json.loads(result["session"])
    assert (session["path"], session["seeds"], session["frames"]) == ("loop", [3, 1, 4], 9)
    back = read_animation(result["data"], "WEBP")
    assert len(back.frames) == 9 and back.loop is True
    assert render_file(result["session"]).data == result["data"]
    at.text_input(key="interp_loop_seeds").set_value("3, 1").run()
    assert any("3 to 64 seeds" in e for e in errors(at))


@pytest.mark.slow
def test_a_loaded_session_renders_again_and_one_for_another_model_is_refused(app_checkpoints):
    at = open_app("interpolate")
    made = interpolate(at, "ZIP", frames=4)
    at = open_app("interpolate")  # a fresh session: nothing made yet
    at.file_uploader(key="interp_session").set_value(("s.json", made["session"].encode(), "application/json")).run()
    assert not at.exception and not errors(at)
    loaded = at.session_state["interp_result"]
    assert loaded["data"] == made["data"] and loaded["method"] == "from the session file"
    assert [b.label for b in at.get("download_button")][0] == "Download ZIP of PNG frames"
    other = json.loads(made["session"])
    other["model_sha256"] = "0" * 64
    at = open_app("interpolate")
    at.file_uploader(key="interp_session").set_value(("s.json", json.dumps(other).encode(), "application/json")).run()
    assert any("0" * 64 in e and "cannot be rendered" in e for e in errors(at))
    assert "interp_result" not in at.session_state


@pytest.mark.slow
def test_progress_exports_the_progression_as_mp4(app_checkpoints):
    at = open_app("progress")
    at.selectbox(key="progress_format").set_value("MP4").run()
    at.button(key="FormSubmitter:progress_gif_form-Make MP4 (H.264) of all 5 snapshots").click().run()
    assert not at.exception and not errors(at)
    made = at.session_state["progress_gif"]
    assert made["format"] == "MP4" and len(read_animation(made["data"], "MP4").frames) == 5
    assert [b.label for b in at.get("download_button")] == ["Download progression MP4"]
