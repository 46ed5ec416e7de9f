"""The Invert page under AppTest on the tiny run: an upload's prepared target is shown; G's own sample
inverts to a small error shown beside its references and is saved with the run; Stop keeps the best z so
far; the found z reaches the Latent and Interpolate pages; analogies; and each bad target is refused with
the core's reason (not an image, a truncated PNG, a blank canvas). The search runs in a thread that the
page's fragment watches; fragments do not rerun by themselves here, so the tests run the page until the
result is there."""
from __future__ import annotations

import base64
import io
import time

import numpy as np
import pytest
from PIL import Image

from apptestkit import errors, image_urls, open_app
from dcgan.analysis.inversion import model_background
from dcgan.analysis.views import render_z
from dcgan.imaging import png_bytes
from dcgan.runs.checkpoint import resolve_generator
from dcgan.runs.rundir import RunDir
from dcgan.sampling import analogy, z_from_seed



def decode(url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def image_captions(at) -> list[str]:
    return [im.caption for el in at.get("image") for im in el.proto.imgs]


def upload(at, name: str, data: bytes):
    at.radio(key="inv_source").set_value("upload").run()
    at.file_uploader(key="inv_upload").set_value((name, data, "image/png")).run()
    assert not at.exception, at.exception
    return at


def until_found(at, timeout_s: float = 90):
    """Run the page until the search's result is there (the fragment would do it in a browser)."""
    deadline = time.monotonic() + timeout_s
    while "inv_result" not in at.session_state:
        assert time.monotonic() < deadline, "the search did not finish"
        time.sleep(0.3)
        at.run()
    assert not at.exception, at.exception
    return at.session_state["inv_result"]


@pytest.fixture
def G(app_checkpoints):
    """The tiny run's G with its last layer's weights x30: 12 training steps leave its images a flat grey
    (within 5 levels: blank, nothing to invert); scaled, they vary (about 80 to 180)."""
    import torch
    from dcgan.runs.checkpoint import generator_bytes
    from dcgan.runs.files import atomic_write_bytes
    run = RunDir(app_checkpoints / "tiny")
    G = resolve_generator(run.path)
    last = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)][-1]
    with torch.no_grad():
        last.weight.mul_(30)
    atomic_write_bytes(run.generator_path, generator_bytes(G, False))
    return resolve_generator(run.path)


def test_an_upload_is_shown_as_the_model_takes_it(app_checkpoints, G):
    # 100 x 60, dark left half and light right half: the centre crop keeps 30 px of each
    picture = np.zeros((60, 100), np.uint8)
    picture[:, 50:] = 255
    at = upload(open_app("invert"), "halves.png", png(picture))
    assert not errors(at)
    target = decode(image_urls(at)[0])  # the first image: the prepared target, upscaled
    scale = max(2, 280 // G.image_size)
    assert target.shape[:2] == (G.image_size * scale,) * 2
    grey = target if target.ndim == 2 else target[..., 0]
    left, right = grey[:, : grey.shape[1] // 3].mean(), grey[:, -grey.shape[1] // 3:].mean()
    assert abs(left - right) > 200, "the crop lost the two halves"
    assert "the target as the model takes it" in image_captions(at)[0]


def test_g_own_sample_comes_back_with_its_references_and_is_saved(app_checkpoints, G):
    own = render_z(G, z_from_seed(5, G.z_dim)[0], scale=1)
    at = upload(open_app("invert"), "own.png", png_bytes(own))
    at.button(key="inv_go").click().run()
    result = until_found(at)
    assert result["error"] < 0.01, result["error"]  # G's own image: there is a z for it
    assert not at.button(key="inv_go").disabled  # ready to invert the next target
    text = " ".join(m.value for m in at.markdown)
    assert f"error {result['error']:.4f}" in text and "G's own images:" in text and "real held-out images:" in text
    # saved with the run the moment it was found: a fresh session (a refresh) lists it
    saved = RunDir(app_checkpoints / "tiny").latents()
    assert [r["name"] for r in saved] == ["upload-1"] and saved[0]["source"] == "upload own.png"
    assert np.allclose(saved[0]["z"], result["z"], atol=1e-5)
    again = open_app("invert")
    assert again.selectbox(key="inv_saved_pick").value == "upload-1"
    assert "saved: upload-1" in again.selectbox(key="inv_ana_A").options  # an analogy's A, B or C too


def test_stop_keeps_the_best_z_so_far(app_checkpoints, G):
    own = render_z(G, z_from_seed(6, G.z_dim)[0], scale=1)
    at = upload(open_app("invert"), "own.png", png_bytes(own))
    at.number_input(key="inv_steps").set_value(5000).run()
    at.button(key="inv_go").click().run()
    assert at.button(key="inv_stop")  # the running search's Stop button
    at.button(key="inv_stop").click().run()
    result = until_found(at)
    assert result["stopped"] and 0 <= result["steps"] < 5000
    assert any(f"stopped at step {result['steps']} of 5000" in c.value for c in at.caption)
    assert np.isfinite(result["error"])


def test_the_found_z_reaches_the_latent_and_interpolate_pages(app_checkpoints, G):
    at = open_app("invert")
    at.radio(key="inv_source").set_value("real test image").run()
    at.button(key="inv_pick_test").click().run()
    assert not errors(at) and "test image" in image_captions(at)[0]
    at.button(key="inv_go").click().run()
    z = until_found(at)["z"]
    at.button(key="inv_result_latent").click().run()
    assert not at.exception and at.title[0].value == "Latent space"
    assert np.array_equal(at.session_state["latent_z"], z)
    assert at.slider(key="z_0").value == pytest.approx(round(float(z[0]), 2))
    # back on Invert, the same z to the Interpolate page's start (by the name it was saved under), the end a seed
    at.switch_page("explorer/invert.py").run()
    at.button(key="inv_result_interp").click().run()
    assert not at.exception and at.title[0].value == "Interpolate" and not errors(at)
    assert at.radio(key="interp_source_Start").value == "a saved z"
    assert at.radio(key="interp_source_End").value == "seed"
    # AppTest runs the page it was last sent to, not one a script switched to: go there as the browser did
    at.switch_page("explorer/interpolate.py").run()
    assert at.radio(key="interp_source_Start").value == "a saved z"
    assert at.selectbox(key="interp_saved_Start").value == "test-1"
    at.number_input(key="interp_frames").set_value(4)
    at.button(key="FormSubmitter:interp_form-Interpolate").click().run()
    assert not at.exception and not errors(at) and len(image_urls(at)) == 2


def test_analogies_show_the_four_images(app_checkpoints, G):
    at = open_app("invert")
    for name, seed in zip("ABC", (3, 8, 11)):
        at.number_input(key=f"inv_ana_seed_{name}").set_value(seed)
    at.run()
    assert not errors(at)
    scale = max(2, max(2, 280 // G.image_size) // 2)
    zs = [z_from_seed(s, G.z_dim)[0] for s in (3, 8, 11)]
    expected = [render_z(G, z, scale) for z in [*zs, analogy(*zs)]]
    shown = [decode(u) for u in image_urls(at)[-4:]]
    for a, b in zip(shown, expected):
        assert np.array_equal(a.reshape(b.shape), b)
    # A = B: C does not move, and ? is C
    at.number_input(key="inv_ana_seed_B").set_value(3).run()
    shown = [decode(u) for u in image_urls(at)[-4:]]
    assert np.array_equal(shown[2], shown[3]) and not np.array_equal(shown[0], shown[2])


@pytest.mark.parametrize("name, data, reason", [
    ("notes.png", b"these are words, not pixels", "not an image this app can read"),
    ("cut.png", None, "truncated or damaged PNG"),
])
def test_bad_uploads_are_refused_with_the_reason(app_checkpoints, name, data, reason):
    if data is None:
        data = png(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))[:40]
    at = upload(open_app("invert"), name, data)
    shown = errors(at)
    assert len(shown) == 1 and name in shown[0] and reason in shown[0], shown
    assert at.button(key="inv_go").disabled


def canvas_state(rgba: np.ndarray) -> dict:
    url = "data:image/png;base64," + base64.b64encode(png(rgba)).decode()
    return {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": url}, "backgroundFit": None}


def test_a_blank_canvas_is_refused_and_a_drawing_is_taken(app_checkpoints, G):
    at = open_app("invert")
    assert [i.value for i in at.info] == ["Nothing drawn yet."] and at.button(key="inv_go").disabled
    # the paper is black under a model that draws on black (MNIST), else white
    key = f"inv_canvas_{G.image_size}_{'#000000' if model_background(G) == 'dark' else '#ffffff'}"
    black = np.zeros((280, 280, 4), np.uint8)
    black[..., 3] = 255
    at.session_state[key] = canvas_state(black)
    at.run()
    assert any("Cannot invert the drawing: the image is blank" in e for e in errors(at)), errors(at)
    stroke = black.copy()
    stroke[60:220, 130:152, :3] = 255  # a "1": a white bar 22 px wide
    at.session_state[key] = canvas_state(stroke)
    at.run()
    assert not errors(at) and not at.button(key="inv_go").disabled
    target = decode(image_urls(at)[0])
    grey = target if target.ndim == 2 else target[..., 0]
    middle = grey[:, grey.shape[1] // 2 - 5: grey.shape[1] // 2 + 5].mean()
    edge = grey[:, :20].mean()
    assert abs(middle - edge) > 100, "the stroke is not where it was drawn"
