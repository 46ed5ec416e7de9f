"""Issue 33's last pieces under AppTest: a drawing for the MNIST model is framed as MNIST's digits were (and
shown so); a found z is saved with its target image, and the saved section shows the two side by side and
deletes both; a saved z is an Interpolate endpoint directly, the Invert page's Morph button opens it there by
name, and the session file holds the z itself so it renders again byte for byte."""
from __future__ import annotations

import base64
import io
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from apptestkit import errors, image_urls, open_app
from dcgan.analysis.inversion import latent_record, save_latent, saved_latents, saved_target
from dcgan.analysis.views import render_z
from dcgan.imaging import png_bytes
from dcgan.runs.checkpoint import resolve_generator
from dcgan.runs.rundir import RunDir
from dcgan.sampling import generate, z_from_seed

ROOT = Path(__file__).resolve().parents[2]


def decode(url: str) -> np.ndarray:
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    return image if image.ndim == 2 else image[..., 0]


def captions(at) -> list[str]:
    return [im.caption for el in at.get("image") for im in el.proto.imgs]


def shown(at, caption_part: str) -> np.ndarray:
    """The one image whose caption holds caption_part, grey."""
    pairs = [(c, u) for c, u in zip(captions(at), image_urls(at)) if caption_part in c]
    assert len(pairs) == 1, captions(at)
    return decode(pairs[0][1])


def upload(at, name: str, data: bytes):
    at.radio(key="inv_source").set_value("upload").run()
    at.file_uploader(key="inv_upload").set_value((name, data, "image/png")).run()
    assert not at.exception, at.exception
    return at


def until_found(at, timeout_s: float = 90) -> dict:
    """Run the page until the search's result is there (the fragment would do it in a browser)."""
    deadline = time.monotonic() + timeout_s
    while "inv_result" not in at.session_state:
        assert time.monotonic() < deadline, "the search did not finish"
        time.sleep(0.3)
        at.run()
    assert not at.exception, at.exception
    return at.session_state["inv_result"]


def canvas_state(png: bytes) -> dict:
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    return {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": url}, "backgroundFit": None}


def small_seven() -> bytes:
    """A 7 drawn small in the canvas's top-left corner (white on black, 280 px, a 22 px pen)."""
    im = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    ImageDraw.Draw(im).line([(20, 20), (70, 20), (45, 105)], fill=(255, 255, 255, 255), width=22)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def mnist_app(tmp_path, app_env) -> Path:
    """A copy of the shipped MNIST run (no snapshots, no saved z's), the folder the app reads."""
    if not (ROOT / "checkpoints" / "mnist" / "generator.safetensors").is_file():
        pytest.skip("no shipped MNIST model")
    root = tmp_path / "checkpoints"
    shutil.copytree(ROOT / "checkpoints" / "mnist", root / "mnist",
                    ignore=shutil.ignore_patterns("snapshots", "latents"))
    app_env(root)
    return root


def test_a_drawing_small_in_a_corner_is_framed_as_mnist_s_digits(mnist_app):
    at = open_app("invert", run="mnist")
    assert at.toggle(key="inv_reframe").value  # on by default for a 28 px model that draws on black
    at.session_state["inv_canvas_28_#000000"] = canvas_state(small_seven())
    at.run()
    assert not errors(at) and not at.exception
    target = shown(at, "the target as the model takes it")[::10, ::10]  # 10x: back to the model's pixels
    rows, cols = np.nonzero(target > 50)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 == 20  # MNIST's 20 px box
    ys, xs = np.mgrid[0:28, 0:28]
    mass = target.astype(float)
    assert abs((ys * mass).sum() / mass.sum() - 14) < 1 and abs((xs * mass).sum() / mass.sum() - 14) < 1
    assert any("re-framed as MNIST's images were made" in c.value for c in at.caption)
    # turned off: the target as drawn, small in the top-left corner
    at.toggle(key="inv_reframe").set_value(False).run()
    plain = shown(at, "the target as the model takes it")[::10, ::10]
    rows, cols = np.nonzero(plain > 50)
    assert rows.max() < 14 and cols.max() < 14
    assert not any("re-framed" in c.value for c in at.caption)


def test_an_empty_canvas_is_still_a_clear_message_with_framing_on(mnist_app):
    at = open_app("invert", run="mnist")
    black = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    buf = io.BytesIO()
    black.save(buf, "PNG")
    at.session_state["inv_canvas_28_#000000"] = canvas_state(buf.getvalue())
    at.run()
    assert errors(at) == ["Cannot invert the drawing: the image is blank: every pixel is 0 of 255, nothing drawn"]
    assert at.button(key="inv_go").disabled


@pytest.fixture
def G(app_checkpoints):
    """The tiny run's G with its last layer x30, so its images vary (as in test_invert_page.py)."""
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


def saved_z(G, run: RunDir, name: str, seed: int, when: float, with_target: bool = True) -> np.ndarray:
    """A z saved with the run as the Invert page saves one: G(z of seed) found for a target."""
    from dcgan.analysis.inversion import Inversion
    z = z_from_seed(seed, G.z_dim)[0].numpy()
    import torch
    image = generate(G, torch.from_numpy(z)[None])[0]
    target = 255 - image  # a target unlike G(z), to tell the two apart
    record = {**latent_record(Inversion(z, image, 0.0321, 200), f"source {name}", 12), "saved": when}
    save_latent(run, name, record, target if with_target else None)
    return saved_latents(run, G.z_dim)[0][name]  # as kept: six decimals


def test_a_found_z_is_saved_with_its_target(app_checkpoints, G):
    own = render_z(G, z_from_seed(5, G.z_dim)[0], scale=1)
    at = upload(open_app("invert"), "own.png", png_bytes(own))
    at.button(key="inv_go").click().run()
    result = until_found(at)
    run = RunDir(app_checkpoints / "tiny")
    assert result["saved"] == "upload-1"
    assert np.array_equal(saved_target(run, "upload-1"), result["target"]["image"])  # the prepared target, kept
    assert run.latent_target_path("upload-1").is_file()


def test_the_saved_section_shows_target_beside_g_of_z_and_deletes_both(app_checkpoints, G):
    run = RunDir(app_checkpoints / "tiny")
    z_old = saved_z(G, run, "test-1", 3, when=1.0, with_target=False)  # saved before targets were kept
    z_new = saved_z(G, run, "drawn-1", 4, when=2.0)
    at = open_app("invert")
    assert at.selectbox(key="inv_saved_pick").options == ["drawn-1", "test-1"]  # newest first
    pair = shown(at, "left: the target it was found for")
    scale = max(2, 280 // G.image_size)
    s = G.image_size
    left = pair[2 * scale:(2 + s) * scale:scale, 2 * scale:(2 + s) * scale:scale]
    right = pair[2 * scale:(2 + s) * scale:scale, (4 + s) * scale:(4 + 2 * s) * scale:scale]
    image = render_z(G, z_new, scale=1)[..., 0]
    assert np.array_equal(left, 255 - image) and np.array_equal(right, image)
    # the old save: G(z) alone, said so
    at.selectbox(key="inv_saved_pick").set_value("test-1").run()
    alone = shown(at, "no target image kept with it")
    assert np.array_equal(alone, render_z(G, z_old, scale=scale)[..., 0])
    # deleted: the z and its PNG go; the list falls to what is left
    at.selectbox(key="inv_saved_pick").set_value("drawn-1").run()
    at.button(key="inv_saved_delete").click().run()
    assert not at.exception and not errors(at)
    assert not run.latent_path("drawn-1").exists() and not run.latent_target_path("drawn-1").exists()
    assert at.selectbox(key="inv_saved_pick").options == ["test-1"]
    at.button(key="inv_saved_delete").click().run()
    assert any("None yet" in c.value for c in at.caption) and not list(run.latents_dir.glob("*"))


def test_a_saved_z_is_an_interpolate_endpoint_in_two_clicks_and_its_session_renders_again(app_checkpoints, G):
    from dcgan.analysis.animation import render_file
    run = RunDir(app_checkpoints / "tiny")
    saved_z(G, run, "drawn-1", 3, when=1.0)
    mine = saved_z(G, run, "drawn-2", 4, when=2.0)  # "my drawing of a 3": the newest
    at = open_app("interpolate")
    at.number_input(key="interp_seed_End").set_value(8).run()  # "the model's 8"
    # the two clicks: Start from "a saved z" (the newest is picked), then Interpolate
    at.radio(key="interp_source_Start").set_value("a saved z").run()
    assert at.selectbox(key="interp_saved_Start").value == "drawn-2"
    at.number_input(key="interp_frames").set_value(4)  # in the form: sent with its button
    at.button(key="FormSubmitter:interp_form-Interpolate").click().run()
    assert not at.exception and not errors(at)
    result = at.session_state["interp_result"]
    session = json.loads(result["session"])
    assert session["seeds"] is None and np.array_equal(np.float32(session["z"][0]), mine)  # the z itself
    assert np.array_equal(np.float32(session["z"][1]), z_from_seed(8, G.z_dim)[0].numpy())
    again = render_file(result["session"])  # `python -m dcgan render`'s core: the model named in the file
    assert again.data == result["data"] and again.frame_count == 4


def test_a_saved_z_gone_since_it_was_picked_is_said(app_checkpoints, G):
    run = RunDir(app_checkpoints / "tiny")
    saved_z(G, run, "drawn-1", 3, when=1.0)
    saved_z(G, run, "drawn-2", 4, when=2.0)
    at = open_app("interpolate")
    at.radio(key="interp_source_Start").set_value("a saved z").run()
    at.selectbox(key="interp_saved_Start").set_value("drawn-1").run()
    run.delete_latent("drawn-1")
    at.run()
    assert any("drawn-1 is gone" in w.value for w in at.warning)
    assert at.selectbox(key="interp_saved_Start").value == "drawn-2"
    run.delete_latent("drawn-2")
    at.run()
    assert any("keeps no saved z yet" in e for e in errors(at))


def test_morph_opens_interpolate_on_the_saved_z_by_name(app_checkpoints, G):
    run = RunDir(app_checkpoints / "tiny")
    picked = saved_z(G, run, "drawn-1", 3, when=1.0)
    saved_z(G, run, "drawn-2", 4, when=2.0)
    at = open_app("invert")
    at.selectbox(key="inv_saved_pick").set_value("drawn-1").run()
    latent_z = np.copy(at.session_state["latent_z"])  # the Latent page's (the app opens on it)
    at.button(key="inv_saved_interp").click().run()
    assert not at.exception and at.title[0].value == "Interpolate"
    at.switch_page("explorer/interpolate.py").run()  # AppTest stays on the page it was sent to (see test_invert_page)
    assert at.radio(key="interp_source_Start").value == "a saved z"
    assert at.selectbox(key="interp_saved_Start").value == "drawn-1"  # the one picked, not the newest
    assert np.array_equal(at.session_state["latent_z"], latent_z)  # the Latent page's z is left as it was
    at.number_input(key="interp_frames").set_value(2)
    at.button(key="FormSubmitter:interp_form-Interpolate").click().run()
    session = json.loads(at.session_state["interp_result"]["session"])
    assert np.array_equal(np.float32(session["z"][0]), picked)  # drawn-1's, not the newest's
