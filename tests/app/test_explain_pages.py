"""Issue 16 in the app: the Directions page, saved directions reused by the Interpolate page, the Latent page's
sliders ordered by sensitivity."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from apptestkit import open_app

from dcgan.analysis.directions import load_directions
from dcgan.analysis.semantics import find_directions, save_run_directions
from dcgan.analysis.sensitivity import sensitivity
from dcgan.runs.checkpoint import load_run_generator
from dcgan.runs.rundir import RunDir


@pytest.fixture
def checkpoints(app_checkpoints) -> Path:
    """test_app's tiny run (16 components, 12 steps, a checkpoint) in a private folder the app reads."""
    return app_checkpoints


def image_srcs(at: AppTest) -> list[str]:
    return [url for im in at.get("image") for url in im.value]


def test_directions_page_moves_z_along_a_direction_and_saves_it(checkpoints):
    at = open_app("directions")
    assert at.radio(key="dir_method").value == "sefa"
    before = image_srcs(at)[0]
    at.slider(key="dir_amount").set_value(4.0).run()
    assert not at.exception and image_srcs(at)[0] != before
    assert any("G(z + 4 · SeFa 1)" in c for im in at.get("image") for c in im.captions)
    at.button(key="dir_save").click().run()
    assert (checkpoints / "tiny" / "directions_sefa.json").is_file()
    assert load_directions(checkpoints / "tiny" / "directions_sefa.json", 16).metadata["model_step"] is None
    # D of the run's checkpoint gives the image a logit, ranked among the reference's images
    assert at.metric[0].label == "D's logit for the image above" and np.isfinite(float(at.metric[0].value))
    at.radio(key="dir_method").set_value("local").run()
    assert not at.exception and at.selectbox(key="dir_pick_local").options[0].startswith("local 1")
    # a synthetic run has no classifier: SeFa and local work, labelled says why
    at.radio(key="dir_method").set_value("labels").run()
    assert not at.exception and any("need a classifier" in i.value for i in at.info)


def test_a_run_without_d_says_so(checkpoints):
    (checkpoints / "tiny" / "checkpoint.pt").unlink()
    at = open_app("directions")
    assert any("No discriminator to ask" in i.value and "keeps no discriminator" in i.value for i in at.info)


def test_interpolate_along_a_saved_direction(checkpoints):
    at = open_app("interpolate")
    at.radio(key="interp_mode").set_value("along a saved direction").run()
    assert any("keeps no directions yet" in i.value for i in at.info)
    G = load_run_generator(RunDir(checkpoints / "tiny"))
    save_run_directions(checkpoints / "tiny", find_directions(G, checkpoints / "tiny", "sefa", k=4))
    at.run()
    assert at.selectbox(key="interp_direction").options[:2] == ["SeFa 1", "SeFa 2"]
    at.number_input(key="interp_frames").set_value(6)
    at.button(key="FormSubmitter:interp_form-Interpolate").click().run()
    assert not at.exception, at.exception
    captions = [c for im in at.get("image") for c in im.captions]
    assert any(c.startswith("6 GIF frames") and "along SeFa 1" in c for c in captions), captions


def test_latent_sliders_ordered_by_sensitivity(checkpoints):
    at = open_app("latent")
    at.radio(key="latent_order_by").set_value("sensitivity").run()
    assert not at.exception
    G = load_run_generator(RunDir(checkpoints / "tiny"))
    values = sensitivity(G, at.session_state["latent_z"])
    labels = [s.label for s in at.slider]
    # the sliders fill 4 columns row by row; the element tree lists them column by column
    reading = [labels[[j for c in range(4) for j in range(c, 16, 4)].index(k)] for k in range(16)]
    order = [int(label[2:-1]) for label in reading]
    assert sorted(order) == list(range(16))
    # finite differences: components of nearly equal sensitivity may come in either order
    assert (np.diff(values[order]) <= 1e-3 * values.max()).all(), values[order]
    # dragging a slider keeps the order it was given (it would otherwise jump away under the mouse)
    at.slider(key=f"z_{order[-1]}").set_value(3.0).run()
    assert [s.label for s in at.slider] == labels
    at.toggle(key="latent_show_sensitivity").set_value(True).run()
    assert not at.exception
    assert any("components do nothing here" in c for im in at.get("image") for c in im.captions)
