"""The Directions page's strip and the Latent page's sweep as animations in any format, each with a session file
that renders the same bytes; frames out of range, an animation too big to make, and an MP4 the disk cannot
hold are messages with nothing kept; a result is shown only under the settings that made it."""
from __future__ import annotations

import errno
import json

import pytest

from apptestkit import errors, open_app
from dcgan import media
from dcgan.analysis.animation import render_file
from dcgan.media import LABEL, read_animation


def make(at, prefix: str, fmt: str = "GIF", frames: int = 6, scale: int = 2, pingpong: bool = False):
    """Set the export's fields and press its button; the kept result (None when there is none)."""
    at.selectbox(key=f"{prefix}_format").set_value(fmt).run()
    at.number_input(key=f"{prefix}_frames").set_value(frames)
    at.number_input(key=f"{prefix}_fps").set_value(20.0)
    at.number_input(key=f"{prefix}_scale").set_value(scale)
    at.checkbox(key=f"{prefix}_pingpong").set_value(pingpong)
    at.button(key=f"FormSubmitter:{prefix}_form-Make the {LABEL[fmt]}").click().run()
    assert not at.exception, at.exception
    return at.session_state[f"{prefix}_result"] if f"{prefix}_result" in at.session_state else None


def swept(at):
    """The Latent page after a sweep of components 0-7 from -3 to 3 (the form's defaults), 4 columns."""
    at.number_input(key="sweep_columns").set_value(4)
    at.button(key="FormSubmitter:sweep_form-Sweep").click().run()
    assert not at.exception and not errors(at)
    return at


def test_the_directions_strip_as_mp4_with_its_session(app_checkpoints):
    at = open_app("directions")
    at.slider(key="dir_reach").set_value(3.0).run()
    result = make(at, "dir_anim", "MP4", frames=6, pingpong=True)
    assert not errors(at) and result["format"] == "MP4"
    back = read_animation(result["data"], "MP4")
    assert len(back.frames) == 10 and back.size == (56, 56) and back.frame_ms[0] == pytest.approx(50)
    session = json.loads(result["session"])
    assert (session["path"], session["seeds"], session["frames"], session["pingpong"]) == ("lerp", None, 6, True)
    assert render_file(result["session"]).data == result["data"]  # the CLI's render: the same file
    labels = [b.label for b in at.get("download_button")]
    assert "Download MP4" in labels and "Download session file" in labels
    assert any("10 frames (6 forward, 4 back)" in c.value for c in at.caption)
    # another reach: the animation of the old strip is not shown under the new one
    at.slider(key="dir_reach").set_value(5.0).run()
    assert any("changed since the last animation" in c.value for c in at.caption)
    assert "Download MP4" not in [b.label for b in at.get("download_button")]


def test_the_latent_sweep_animates_one_component_as_webp(app_checkpoints):
    at = swept(open_app())
    at.selectbox(key="sweep_anim_component").set_value(3).run()
    result = make(at, "sweep_anim", "WEBP", frames=5, scale=1)
    assert not errors(at)
    back = read_animation(result["data"], "WEBP")
    assert len(back.frames) == 5 and back.size == (28, 28) and back.loop is True
    session = json.loads(result["session"])
    assert [session["z"][0][3], session["z"][1][3]] == [-3.0, 3.0]
    # every other component is the sweep's z at both ends
    assert [a for i, a in enumerate(session["z"][0]) if i != 3] == [b for i, b in enumerate(session["z"][1]) if i != 3]
    assert render_file(result["session"]).data == result["data"]


@pytest.mark.parametrize("frames", [1, 0, 1001])
def test_frames_out_of_range_are_said_and_nothing_is_made(app_checkpoints, frames):
    at = open_app("directions")
    assert make(at, "dir_anim", frames=frames) is None
    assert any("Frames" in e and "2 to 1,000" in e for e in errors(at)), errors(at)
    assert any("Fix the fields marked above" in e for e in errors(at))


def test_frames_out_of_range_on_the_interpolate_page_are_said_too(app_checkpoints):
    at = open_app("interpolate")
    at.number_input(key="interp_frames").set_value(1001)
    at.button(key="FormSubmitter:interp_form-Interpolate").click().run()
    assert not at.exception and "interp_result" not in at.session_state
    assert any("Frames" in e and "2 to 1,000" in e for e in errors(at)), errors(at)


def test_an_animation_too_big_to_make_is_a_message(app_checkpoints):
    at = swept(open_app())
    assert make(at, "sweep_anim", "GIF", frames=1000, scale=16) is None
    assert any("Cannot make the animation" in e and "megapixels" in e for e in errors(at)), errors(at)


def test_an_mp4_the_disk_cannot_hold_is_a_message_and_an_older_result_goes(app_checkpoints, monkeypatch):
    at = open_app("directions")
    assert make(at, "dir_anim", "GIF", frames=4) is not None

    def full(frames, frame_ms, loop):  # what the writer raises when ffmpeg's temporary file hit a full disk
        raise media.ExportError(errno.ENOSPC, "the MP4 could not be made: the encoder left an incomplete file "
                                              "(65,536 bytes); the disk of the temporary folder /tmp is full. "
                                              "Nothing was saved")
    monkeypatch.setitem(media.WRITERS, "MP4", full)
    assert make(at, "dir_anim", "MP4", frames=4) is None  # the GIF of before would pass for this one
    assert any("Cannot make the animation" in e and "disk" in e and "full" in e for e in errors(at)), errors(at)
    assert not [b for b in at.get("download_button") if b.label.startswith("Download")]
