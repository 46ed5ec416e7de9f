"""Animation exports (issue 33): every format decodes back to the frames, size, timing and loop it was
written with; the seamless loop closes; a session file makes its export again byte for byte, and every
bad session is refused in one line."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from exportkit import Z_DIM, generator_run
from dcgan.analysis.animation import (SESSION_TAG, ModelRef, SessionError, animate, model_ref, read_session,
                                      render_file, render_session)
from dcgan.analysis.views import interpolation, progression_animation
from dcgan.imaging import output_format
from dcgan.media import (ANIMATION_FORMATS, animation_bytes, animation_file_format, animation_format, even,
                         frame_ms_from_fps, played, read_animation)
from dcgan.runs.checkpoint import load_run_generator
from dcgan.sampling import MAX_FRAMES, loop_path, slerp, z_from_seed

FORMATS = list(ANIMATION_FORMATS)


def frames_of(n: int, h: int = 10, w: int = 12, channels: int = 1) -> list[np.ndarray]:
    """n distinct frames, smooth enough for H.264 to keep them close: a bright bar that moves down a
    dark field, so frame i is told from its neighbours by where the bar is."""
    out = []
    for i in range(n):
        f = np.full((h, w, channels), 30, np.uint8)
        f[(i * h) // n, :, :] = 220
        if channels == 3:
            f[..., 1] = 40 + 12 * i % 200  # a colour that changes too
        out.append(f)
    return out


def closest(decoded: np.ndarray, sources: list[np.ndarray]) -> int:
    errors = [np.abs(decoded.astype(int) - s.astype(int)).mean() for s in sources]
    return int(np.argmin(errors))


# --- 1. every format decodes back ----------------------------------------------------------------------

@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_decodes_to_its_frames_size_and_timing(fmt, channels):
    frames = frames_of(6, channels=channels)
    data = animation_bytes(frames, fmt, frame_ms=120, loop=True, pingpong=True, scale=3)
    back = read_animation(data, fmt)
    order = [0, 1, 2, 3, 4, 5, 4, 3, 2, 1]  # ping-pong: back without repeating either end
    assert len(back.frames) == len(order)
    assert back.size == (36, 30)  # 12 x 10 upscaled 3 times, even already
    assert back.frame_ms == pytest.approx([120] * len(order), abs=0.5)
    expected = [np.repeat(np.repeat(frames[i], 3, 0), 3, 1) for i in order]
    if fmt == "MP4":  # lossy: each frame is nearest to its own source, within a few levels
        grey = [f.mean(axis=-1, keepdims=True) for f in back.frames] if channels == 1 else back.frames
        assert [closest(g, expected[:6]) for g in grey] == order
        assert max(np.abs(g.astype(float) - e).mean() for g, e in zip(grey, expected)) < (3 if channels == 1 else 8)
    else:
        got = [f[..., :1] if channels == 1 and f.shape[-1] == 3 else f for f in back.frames]
        assert all(np.array_equal(g, e) for g, e in zip(got, expected)), fmt


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "APNG", "ZIP"])
def test_loop_flag_is_kept(fmt):
    assert read_animation(animation_bytes(frames_of(3), fmt, loop=True), fmt).loop is True
    assert read_animation(animation_bytes(frames_of(3), fmt, loop=False), fmt).loop is False


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_frames_same_bytes(fmt):
    frames = frames_of(5, channels=3)
    assert animation_bytes(frames, fmt, frame_ms=50) == animation_bytes(frames, fmt, frame_ms=50)


def test_mp4_is_h264_rgb_padded_to_even_sides_and_its_rate_is_the_frame_time():
    frames = frames_of(4, h=11, w=13)  # odd both ways, grey
    data = animation_bytes(frames, "MP4", frame_ms=40)
    assert data[4:8] == b"ftyp" and b"avc1" in data[:2000]  # an MP4 holding H.264
    back = read_animation(data, "MP4")
    assert back.size == (14, 12) and back.frames[0].shape[-1] == 3
    assert back.frame_ms[0] == pytest.approx(40)
    # the extra row and column repeat the last ones (edge padding), not black
    padded = even(frames[0])
    assert padded.shape == (12, 14, 1) and np.array_equal(padded[11], padded[10])
    assert np.array_equal(padded[:, 13], padded[:, 12]) and even(padded) is padded


def test_zip_holds_numbered_pngs_and_its_timing():
    data = animation_bytes(frames_of(12), "ZIP", frame_ms=250, loop=False, scale=2)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert names[:3] == ["frame_0000.png", "frame_0001.png", "frame_0002.png"] and names[11] == "frame_0011.png"
        assert json.loads(archive.read("animation.json")) == {"frames": 12, "frame_ms": 250, "fps": 4.0, "loop": False}
        with Image.open(io.BytesIO(archive.read("frame_0007.png"))) as im:
            assert im.format == "PNG" and im.size == (24, 20) and im.mode == "L"


def test_webp_is_lossless_and_read_frame_by_frame():
    frames = frames_of(4, channels=3)
    data = animation_bytes(frames, "WEBP", frame_ms=70)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "WEBP" and im.n_frames == 4
        im.seek(2)
        assert np.array_equal(np.asarray(im.convert("RGB")), frames[2]) and im.info["duration"] == 70


def test_options_and_formats_are_checked():
    with pytest.raises(ValueError, match="from 20 to 10000"):
        animation_bytes(frames_of(3), "GIF", frame_ms=10)
    with pytest.raises(ValueError, match="frame duration"):
        animation_bytes(frames_of(3), "GIF", frame_ms=True)
    with pytest.raises(ValueError, match="scale must be a whole number from 1 to 16"):
        animation_bytes(frames_of(3), "MP4", scale=17)
    with pytest.raises(ValueError, match="gif, mp4, webp, apng, zip, not 'avi'"):
        animation_bytes(frames_of(3), "avi")
    with pytest.raises(ValueError, match="at least one frame"):
        animation_bytes([], "GIF")
    with pytest.raises(ValueError, match="one size"):
        animation_bytes([np.zeros((4, 4, 1), np.uint8), np.zeros((4, 6, 1), np.uint8)], "GIF")
    assert [animation_format(n) for n in ("mp4", ".WebP", "gif", "Zip", "apng")] == ["MP4", "WEBP", "GIF", "ZIP", "APNG"]
    assert animation_file_format("a/b.MP4") == "MP4" and output_format("x.zip", ("ZIP",)) == "ZIP"
    with pytest.raises(ValueError, match=r"--out x\.avi: this command writes GIF \(\.gif\) or MP4 \(\.mp4\) or WEBP "
                                         r"\(\.webp\) or APNG \(\.apng\) or ZIP \(\.zip\) only, not a \.avi file"):
        animation_file_format("x.avi")
    assert frame_ms_from_fps(30) == 33 and frame_ms_from_fps(12.5) == 80
    with pytest.raises(ValueError):
        frame_ms_from_fps(0)
    assert len(played(frames_of(2), pingpong=True)) == 2  # nothing to play back between two ends


# --- 2. the seamless loop ------------------------------------------------------------------------------

def test_seamless_loop_closes_without_a_seam():
    zs = [z_from_seed(s, 100)[0] for s in (1, 7, 3)]
    path = loop_path(zs, 30)
    assert path.shape == (30, 100)
    # 30 frames, 3 legs: every key z is a frame (0, 10, 20), and the start is not repeated at the end
    for k, z in zip((0, 10, 20), zs):
        assert torch.allclose(path[k], z, atol=1e-5)
    steps = (path - path.roll(1, dims=0)).norm(dim=1)  # steps[0]: from the last frame back to the first
    last_leg = (path[21:] - path[20:-1]).norm(dim=1)
    # the step over the seam is one step of the last leg (slerp's steps along a leg differ by a few %)
    assert steps[0] == pytest.approx(float(last_leg.mean()), rel=0.05)
    assert steps.min() > 0.5 * steps.max()  # no jump, no repeated frame anywhere in the loop
    # the seam is the last leg's next step: slerp(z3, z1) at t = 1 is z1, one leg-step after frame 29
    assert torch.allclose(slerp(zs[2], zs[0], torch.tensor([0.9]))[0], path[29], atol=1e-5)


def test_lerp_loop_has_equal_steps_and_the_loop_needs_three_z():
    zs = [torch.zeros(4), torch.ones(4), torch.full((4,), 3.0)]
    path = loop_path(zs, 6, "lerp")  # two frames per leg
    assert torch.allclose(path, torch.tensor([[0.0] * 4, [0.5] * 4, [1.0] * 4, [2.0] * 4, [3.0] * 4, [1.5] * 4]))
    with pytest.raises(ValueError, match="3 or more z, not 2"):
        loop_path(zs[:2], 10)
    with pytest.raises(ValueError, match="needs 3 to"):
        loop_path(zs, 2)
    with pytest.raises(ValueError, match=f"3 to {MAX_FRAMES} frames"):
        loop_path(zs, MAX_FRAMES + 1)
    with pytest.raises(ValueError, match="5 values"):
        loop_path([torch.zeros(4), torch.zeros(5), torch.zeros(4)], 9)


# --- 3. sessions ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    return generator_run(root, "grey", seed=1), generator_run(root, "other", seed=2)


def made(run, fmt="GIF", **kw):
    G = load_run_generator(run)
    seeds = kw.pop("seeds", [1, 7])
    zs = [z_from_seed(s, Z_DIM)[0] for s in seeds]
    options = dict(frames=8, frame_ms=60, scale=2, pingpong=False)
    options.update(kw)
    return interpolation(G, zs[0], zs[1], fmt=fmt, through=zs[2:], seeds=seeds, model=model_ref(run.path), **options)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_session_renders_its_export_byte_for_byte(runs, fmt):
    result = made(runs[0], fmt, pingpong=True)
    text = result.session.to_json()
    assert json.loads(text)["format"] == fmt.lower() and json.loads(text)["seeds"] == [1, 7]
    again = render_file(text)
    assert again.data == result.data and again.session == result.session
    assert read_session(text) == result.session


def test_a_loop_session_with_z_values_round_trips_exactly(runs):
    G = load_run_generator(runs[0])
    # z's that are no seed's (a direction's ends): stored as numbers, read back as the same float32
    zs = [torch.randn(Z_DIM, generator=torch.Generator().manual_seed(i)) / 3 for i in range(4)]
    result = animate(G, zs, "loop", frames=12, fmt="WEBP", model=model_ref(runs[0].path))
    session = read_session(result.session.to_json())
    assert session.seeds is None and all(torch.equal(a, b) for a, b in zip(session.zs(Z_DIM), zs))
    assert render_file(result.session.to_json()).data == result.data
    assert len(read_animation(result.data, "WEBP").frames) == 12


def test_the_session_names_model_step_path_frames_timing_size_and_format(runs):
    session = json.loads(made(runs[0], "MP4", seeds=[1, 2, 3], frames=9, frame_ms=100).session.to_json())
    assert session["session"] == SESSION_TAG and session["model_sha256"] == runs[0].weights_sha256(None)
    assert len(session["model_sha256"]) == 64 and session["step"] is None
    assert (session["path"], session["seeds"], session["z"], session["frames"]) == ("loop", [1, 2, 3], None, 9)
    assert (session["frame_ms"], session["loop"], session["pingpong"], session["scale"]) == (100, True, False, 2)
    assert (session["size"], session["format"]) == ([56, 56], "mp4")


def test_weights_sha256_is_the_files_sha256_and_changes_with_the_weights(runs, tmp_path):
    import hashlib
    grey, other = runs
    assert grey.weights_sha256(None) == hashlib.sha256(grey.generator_path.read_bytes()).hexdigest()
    assert grey.weights_sha256(None) != other.weights_sha256(None)
    with pytest.raises(FileNotFoundError):
        grey.weights_sha256(5)


def session_dict(runs) -> dict:
    return json.loads(made(runs[0]).session.to_json())


def refused(text, *fragments, model=None):
    with pytest.raises(SessionError) as e:
        render_file(text, model)
    message = str(e.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


def test_a_session_for_another_model_is_refused_naming_both_hashes(runs):
    good = session_dict(runs)
    message = refused(json.dumps(good), good["model_sha256"], runs[1].weights_sha256(None), model=runs[1].path)
    assert "another model" in message


@pytest.mark.parametrize("change, fragments", [
    (lambda s: s.update(colour="red"), ["unknown key(s) 'colour'"]),
    (lambda s: s.pop("frames"), ["lacks 'frames'"]),
    (lambda s: s.update(session="dcgan-animation/9"), ["'session' must be"]),
    (lambda s: s.update(frames=1), ["'frames' must be a whole number from 2 to 1000"]),
    (lambda s: s.update(frames=1001), ["'frames'"]),
    (lambda s: s.update(frames=8.5), ["'frames'"]),
    (lambda s: s.update(frame_ms=5), ["frame duration must be"]),
    (lambda s: s.update(scale=0), ["scale must be"]),
    (lambda s: s.update(format="avi"), ["not 'avi'"]),
    (lambda s: s.update(loop="yes"), ["'loop' must be true or false"]),
    (lambda s: s.update(path="spiral"), ["'path' must be"]),
    (lambda s: s.update(model_sha256="abc"), ["sha256"]),
    (lambda s: s.update(step=-1), ["'step'"]),
    (lambda s: s.update(z=[[0.0] * Z_DIM] * 2), ["either 'seeds' or 'z'"]),
    (lambda s: s.update(seeds=None), ["either 'seeds' or 'z'"]),
    (lambda s: s.update(seeds=[1, -2]), ["'seeds' must be whole numbers"]),
    (lambda s: s.update(seeds=[1, 2, 3]), ["a slerp path goes through 2 z, not 3"]),
    (lambda s: s.update(path="loop"), ["a loop path goes through 3 to 64 z, not 2"]),
    (lambda s: s.update(seeds=None, z=[[0.0] * Z_DIM, [0.0] * (Z_DIM + 1)]), ["different lengths"]),
    (lambda s: s.update(seeds=None, z=[[0.0] * 9, [0.0] * 9]), ["z has 9 values; this generator takes 16"]),
    (lambda s: s.update(seeds=None, z=[[True] * Z_DIM, [0.0] * Z_DIM]), ["true/false"]),
    (lambda s: s.update(size=[10, 10]), ["promises 10 x 10 px frames", "makes 56 x 56"]),
    (lambda s: s.update(step=4), ["not there", "step 4"]),
    (lambda s: s.update(model="/no/such/model"), ["/no/such/model is not there"]),
    (lambda s: s.update(model=""), ["names no model"]),
])
def test_every_bad_session_is_refused_in_one_line(runs, change, fragments):
    s = session_dict(runs)
    change(s)
    refused(json.dumps(s), *fragments)


def test_nan_not_json_and_huge_sessions_are_refused(runs):
    text = json.dumps(session_dict(runs)).replace('"frame_ms": 60', '"frame_ms": NaN')
    refused(text, "NaN", "no number")
    # a number too big for a float is read as inf by JSON readers: refused as z, not rendered
    s = dict(session_dict(runs), seeds=None, z=[[7.0] * Z_DIM, [0.0] * Z_DIM])
    refused(json.dumps(s).replace("7.0", "1e400"), "z 0", "NaN or infinite")
    refused(b"\x89PNG\r\n", "not a session file")
    refused("[1, 2]", "a JSON object is expected")
    refused(" " * 2_000_001, "at most 2,000,000 bytes")


def test_render_session_with_a_loaded_generator_checks_the_hash(runs):
    result = made(runs[0], "APNG")
    G = load_run_generator(runs[0])
    assert render_session(result.session, G, model_ref(runs[0].path)).data == result.data
    with pytest.raises(SessionError, match="another model"):
        render_session(result.session, G, ModelRef("0" * 64, None, "x"))


def test_interpolation_without_a_model_has_no_session_and_a_lerp_loop_is_refused(runs):
    G = load_run_generator(runs[0])
    z = [z_from_seed(s, Z_DIM)[0] for s in range(3)]
    result = interpolation(G, z[0], z[1], frames=4, scale=1)
    assert result.session is None and result.gif[:6] == b"GIF89a" and result.gif_frames == 4
    with pytest.raises(ValueError, match="slerp"):
        interpolation(G, z[0], z[1], frames=6, method="lerp", through=z[2:])
    with pytest.raises(ValueError, match="not a GIF"):
        interpolation(G, z[0], z[1], frames=4, fmt="MP4").gif


@pytest.mark.slow  # trains the app's tiny run (once per session)
@pytest.mark.parametrize("fmt", ["MP4", "ZIP"])
def test_progression_exports_in_every_format(app_tiny_checkpoints, fmt):
    from dcgan.runs.rundir import RunDir
    run = RunDir(app_tiny_checkpoints / "tiny")
    back = read_animation(progression_animation(run, fmt, frame_ms=200, scale=1), fmt)
    with Image.open(run.grid_path(run.snapshot_steps()[0])) as im:
        size = im.size
    assert len(back.frames) == len(run.snapshot_steps()) and back.frame_ms[0] == pytest.approx(200)
    assert back.size == (size[0] + size[0] % 2, size[1] + size[1] % 2)
