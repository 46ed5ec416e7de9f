"""A direction's strip and a component's sweep as animations (dcgan.analysis.line_animations): the frames are
the strip's and the sweep's own images, in every format, with a session file that renders them byte for
byte; every bad argument is refused in one line; and an MP4 the disk cannot hold is refused whole
(dcgan.media.mp4_complete), never handed back cut off."""
from __future__ import annotations

import errno
import json
import os
import resource
import signal
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from exportkit import Z_DIM, generator_run
from dcgan.analysis.animation import model_ref, read_session, render_file
from dcgan.analysis.directions import strip
from dcgan.analysis.line_animations import component_endpoints, direction_animation, sweep_animation
from dcgan.media import ANIMATION_FORMATS, ExportError, animation_bytes, mp4_complete, read_animation
from dcgan.runs.checkpoint import load_run_generator
from dcgan.sampling import generate, sweep, z_from_seed

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return generator_run(tmp_path_factory.mktemp("lines"), "grey", seed=3)


@pytest.fixture(scope="module")
def G(run):
    return load_run_generator(run)


def unit(seed: int) -> np.ndarray:
    d = torch.randn(Z_DIM, generator=torch.Generator().manual_seed(seed)).numpy()
    return d / np.linalg.norm(d)


Z = z_from_seed(5, Z_DIM)[0].numpy()


def frames_of(result) -> list[np.ndarray]:
    """The animation's frames as played (lossless formats), one channel as G draws them."""
    return [f[..., :1] for f in read_animation(result.data, result.format).frames]


# --- 1. the frames are the strip's and the sweep's ---------------------------------------------------

def test_a_direction_animation_is_the_strip_frame_for_frame(G):
    d = unit(1)
    result = direction_animation(G, Z, d, 3.0, frames=7, fmt="APNG", scale=1)
    expected = strip(G, Z, d, -3.0, 3.0, 7)  # z + alpha d, alpha = -3, -2, ..., 3
    got = frames_of(result)
    assert len(got) == 7 and result.frame_count == 7
    # a lerp between the ends rounds differently from z + alpha d in float32: at most a level apart
    assert max(int(np.abs(g.astype(int) - e.astype(int)).max()) for g, e in zip(got, expected)) <= 1
    assert np.abs(got[3].astype(int) - generate(G, torch.from_numpy(Z).view(1, -1))[0].astype(int)).max() <= 1
    assert not np.array_equal(got[0], got[-1])  # it moves


def test_a_sweep_animation_is_the_sweep_row_frame_for_frame(G):
    values = np.linspace(-2.0, 2.0, 5)
    result = sweep_animation(G, Z, 4, -2.0, 2.0, frames=5, fmt="ZIP", scale=1)
    expected = generate(G, sweep(torch.from_numpy(Z), [4], values))
    got = frames_of(result)
    assert len(got) == 5
    assert max(int(np.abs(g.astype(int) - e.astype(int)).max()) for g, e in zip(got, expected)) <= 1


def test_component_endpoints_change_that_component_alone():
    lo, hi = component_endpoints(Z, 4, -2.5, 1.5)
    assert (lo[4], hi[4]) == (-2.5, 1.5)
    others = np.arange(Z_DIM) != 4
    assert np.array_equal(lo[others], Z[others]) and np.array_equal(hi[others], Z[others])


@pytest.mark.parametrize("fmt", ANIMATION_FORMATS)
def test_every_format_decodes_with_its_frames_size_timing_and_ping_pong(G, fmt):
    result = direction_animation(G, Z, unit(2), 2.0, frames=5, fmt=fmt, frame_ms=60, pingpong=True, scale=3)
    back = read_animation(result.data, fmt)
    assert result.played_frames == len(back.frames) == 8  # 0 1 2 3 4 3 2 1
    side = 28 * 3  # even already: MP4 pads nothing
    assert back.size == (side, side) and back.frame_ms == pytest.approx([60] * 8, abs=0.5)
    if fmt != "MP4":  # lossless: the way back is the way there, reversed
        assert np.array_equal(back.frames[5], back.frames[3]) and np.array_equal(back.frames[7], back.frames[1])


# --- 2. sessions ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["MP4", "WEBP"])
def test_both_animations_render_again_byte_for_byte_from_their_sessions(G, run, fmt):
    for result in (direction_animation(G, Z, unit(1), 4.0, frames=6, fmt=fmt, pingpong=True, scale=2,
                                       model=model_ref(run.path)),
                   sweep_animation(G, Z, 7, -3.0, 3.0, frames=6, fmt=fmt, scale=2, model=model_ref(run.path))):
        text = result.session.to_json()
        session = json.loads(text)
        # the ends as numbers: a straight line (lerp) between them, no seeds, the direction by its values
        assert (session["path"], session["seeds"], len(session["z"]), session["format"]) == \
            ("lerp", None, 2, fmt.lower())
        assert render_file(text).data == result.data


def test_the_sessions_ends_are_the_strip_s_ends(G, run):
    d = unit(1)
    session = read_session(direction_animation(G, Z, d, 4.0, frames=4, model=model_ref(run.path)).session.to_json())
    lo, hi = session.zs(Z_DIM)
    assert np.allclose(lo.numpy(), Z - 4 * d, atol=1e-6) and np.allclose(hi.numpy(), Z + 4 * d, atol=1e-6)
    sweep_session = read_session(sweep_animation(G, Z, 2, -1.0, 2.0, frames=4, model=model_ref(run.path))
                                 .session.to_json())
    lo, hi = sweep_session.zs(Z_DIM)
    assert (float(lo[2]), float(hi[2])) == (-1.0, 2.0)


# --- 3. bad arguments ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(reach=0.0), "reach must be above 0"),
    (dict(reach=25.0), "at most 20"),
    (dict(reach=float("nan")), "reach must be"),
    (dict(frames=1), "2 to 1000 frames"),
    (dict(frames=1001), "2 to 1000 frames"),
    (dict(frames=2.5), "2 to 1000 frames"),
    (dict(frames=True), "2 to 1000 frames"),
    (dict(direction=np.ones(Z_DIM + 1)), f"the direction has {Z_DIM + 1}"),
    (dict(z=np.zeros(Z_DIM - 1)), f"z has {Z_DIM - 1} values"),
    (dict(fmt="avi"), "not 'avi'"),
    (dict(scale=0), "scale must be"),
    (dict(frame_ms=5), "frame duration"),
    (dict(frames=1000, scale=16), "megapixels"),
])
def test_a_bad_direction_animation_is_refused_in_one_line(G, kwargs, message):
    args = dict(z=Z, direction=unit(1), reach=2.0, frames=4)
    args.update(kwargs)
    with pytest.raises(ValueError) as e:
        direction_animation(G, **args)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("kwargs, message", [
    (dict(component=Z_DIM), f"outside 0..{Z_DIM - 1}"),
    (dict(component=-1), "outside"),
    (dict(component=True), "whole number"),
    (dict(component=1.5), "whole number"),
    (dict(low=2.0, high=1.0), "From < To"),
    (dict(low=float("nan")), "finite"),
    (dict(low=-200.0), "within ±100"),
    (dict(frames=0), "2 to 1000 frames"),
])
def test_a_bad_sweep_animation_is_refused_in_one_line(G, kwargs, message):
    args = dict(z=Z, component=3, low=-3.0, high=3.0, frames=4)
    args.update(kwargs)
    with pytest.raises(ValueError) as e:
        sweep_animation(G, **args)
    assert message in str(e.value) and "\n" not in str(e.value)


# --- 4. an export the disk cannot hold ---------------------------------------------------------------

def tiny_frames(n: int = 6) -> list[np.ndarray]:
    return [np.full((16, 16, 1), 20 * i, np.uint8) for i in range(n)]


def test_a_whole_mp4_is_complete_and_every_cut_of_it_is_not():
    data = animation_bytes(tiny_frames(), "MP4")
    assert mp4_complete(data)
    for cut in (8, 40, len(data) // 2, len(data) - 1):
        assert not mp4_complete(data[:cut]), cut
    assert not mp4_complete(b"") and not mp4_complete(data + b"\0" * 3)


def test_an_mp4_the_encoder_could_not_finish_is_refused_not_returned(monkeypatch):
    import imageio.v3 as iio
    whole = animation_bytes(tiny_frames(), "MP4")
    # what imageio hands back when ffmpeg's temporary file hit a full disk: the file as far as it got
    monkeypatch.setattr(iio, "imwrite", lambda *a, **k: whole[:len(whole) // 2])
    with pytest.raises(ExportError) as e:
        animation_bytes(tiny_frames(), "MP4")
    assert isinstance(e.value, OSError) and e.value.errno in (errno.ENOSPC, errno.EIO)
    assert "could not be made" in str(e.value) and "incomplete" in str(e.value) and "\n" not in str(e.value)


def _encode_with_a_small_file_limit(out_path: str) -> None:
    """In a child: every file this process and ffmpeg write stops at 20 kB (as a full disk stops it)."""
    temp = tempfile.gettempdir()
    before = {n for n in os.listdir(temp) if n.startswith("imageio_")}
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG, not a signal
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, hard))
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(12)]  # noise: no H.264 gain
    try:
        data = animation_bytes(frames, "MP4", scale=4)
        said = f"returned {len(data)} bytes"
    except ExportError as e:
        said = f"refused: {e}"
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    left = {n for n in os.listdir(temp) if n.startswith("imageio_")} - before
    Path(out_path).write_text(f"{said}|left {len(left)}")


@pytest.mark.slow  # a fork server that imports torch, and ffmpeg run to its failure
@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="no file-size limit on this system")
def test_the_real_encoder_stopped_by_the_disk_is_refused_and_leaves_no_temporary_file():
    from faultkit import call_in_child
    said, left = call_in_child(_encode_with_a_small_file_limit).split("|")
    assert said.startswith("refused: the MP4 could not be made"), said
    assert "incomplete file (20,000 bytes)" in said and left == "left 0"
