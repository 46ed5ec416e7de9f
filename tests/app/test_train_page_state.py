"""The Train page and the sidebar say what is true now: after a delete (in the app or from the shell),
while a run exports new weights, after Start; and the loss chart explains what would look like a bug."""
from __future__ import annotations

import json
import shutil

import pytest
from streamlit.elements.lib import policies
from streamlit.testing.v1 import AppTest

from apptestkit import APP, TIMEOUT_S, errors, open_app
from dcgan.runs.files import atomic_write_json
from dcgan.runs.rundir import RunDir
from dcgan.training.loop import train
from dcgan.config import TrainConfig
from explorer.charts import loss_figure
from explorer.sidebar import Selection, page_signature
from trainkit import APP_TINY


def with_other_run(root):
    """A second run, 'other', beside the fixture's 'tiny' (the same files: steps 0..12, snapshots every 3)."""
    shutil.copytree(root / "tiny", root / "other")


def sidebar_text(at: AppTest) -> str:
    return " ".join([c.value for c in at.sidebar.caption] + [w.value for w in at.sidebar.warning])


def test_a_run_deleted_from_the_shell_leaves_no_step_of_it_behind(app_checkpoints):
    with_other_run(app_checkpoints)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.query_params["run"] = "other"  # a bookmarked link: the URL names the run and its step
    at.query_params["step"] = "snapshot at step 3"
    at.run()
    assert at.selectbox(key="run").value == "other" and "showing step 3" in sidebar_text(at)
    shutil.rmtree(app_checkpoints / "other")
    at.run()
    assert not at.exception
    assert at.selectbox(key="run").value == "tiny"
    assert at.selectbox(key="step").value == "final", "the deleted run's step was carried over"
    assert "showing final model (step 12)" in sidebar_text(at)
    assert "Run **other** is gone" in sidebar_text(at)  # said once, by the sidebar
    at.run()
    assert "other" not in sidebar_text(at)


def test_a_delete_in_the_app_is_said_once(app_checkpoints):
    with_other_run(app_checkpoints)
    at = open_app("train", run="other")
    next(b for b in at.button if b.label == "Delete").click().run()
    at.button(key="train_delete_confirm").click().run()
    assert not at.exception and not errors(at)
    assert [s.value for s in at.success] == ["Deleted run **other**."]
    assert not at.sidebar.warning, [w.value for w in at.sidebar.warning]
    assert not (app_checkpoints / "other").exists()


def test_a_new_export_or_a_deleted_run_changes_what_the_live_views_compare(app_checkpoints):
    """The live fragments rerun the whole page (and so the sidebar's "last checkpoint (step N)") when this
    changes: a new generator.json of a run that trains, or a run deleted."""
    with_other_run(app_checkpoints)
    run = RunDir(app_checkpoints / "tiny")
    sel = Selection(app_checkpoints, run, "final")
    before = page_signature(sel)
    assert page_signature(sel) == before
    info = json.loads(run.generator_config_path.read_text())
    atomic_write_json(run.generator_config_path, {**info, "step": 1000})
    exported = page_signature(sel)
    assert exported != before
    shutil.rmtree(app_checkpoints / "other")
    assert page_signature(sel) != exported


def new_run(at: AppTest):
    """The New-run expander (the page's intro, explorer/intro.py, comes before it)."""
    return next(e for e in at.expander if e.label == "New run")


def test_start_closes_the_form_and_warns_of_no_session_state_clash(app_checkpoints, monkeypatch):
    said = []
    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    monkeypatch.setattr(policies._LOGGER, "warning", lambda msg, *args, **kw: said.append(msg % args))
    at = open_app("train")
    at.session_state["train_new_run_open"] = True  # the user opened the New-run form
    at.run()
    assert new_run(at).proto.expanded
    for key, value in (("train_steps", 2), ("train_batch_size", 8), ("train_z_dim", 8), ("train_g_width", 8),
                       ("train_d_width", 8)):
        at.number_input(key=key).set_value(value)
    at.selectbox(key="train_dataset").set_value("synthetic")
    at.text_input(key="train_run_name").set_value("started")
    at.button(key="FormSubmitter:train_form-Start training").click().run()
    assert not at.exception and not errors(at)
    assert at.selectbox(key="run").value == "started"
    assert not new_run(at).proto.expanded, "the form stays open over the run just started"
    assert not [m for m in said if "Session State" in m], said
    from dcgan.training.launch import wait_for_state
    wait_for_state(RunDir(app_checkpoints / "started"), timeout_s=240)


def test_resume_to_step_is_off_while_resume_is(app_checkpoints):
    at = open_app("train", run="tiny")
    assert not at.number_input(key="train_resume_to_tiny").disabled
    (app_checkpoints / "tiny" / "checkpoint.pt").unlink()  # a shipped model: a generator only
    at.run()
    assert at.number_input(key="train_resume_to_tiny").disabled


def test_relativistic_losses_and_lazy_r1_are_explained(app_checkpoints):
    train(APP_TINY("rel", steps=4, gan_loss="relativistic", r1_gamma=1.0, r1_every=8), app_checkpoints,
          progress=False, log=lambda _: None)
    at = open_app("train", run="rel")
    notes = " ".join(c.value for c in at.caption)
    assert "mirror images" in notes and "panel each" in notes
    assert "lazy R1" in notes and "every 8 steps" in notes
    at.selectbox(key="run").set_value("tiny").run()
    notes = " ".join(c.value for c in at.caption)
    assert "mirror images" not in notes and "lazy R1" not in notes


def test_mirrored_losses_get_a_panel_each():
    metrics = [{"step": s, "loss_d": 0.7, "loss_g": 0.7} for s in range(1, 30)]
    fig = loss_figure(metrics, cfg=TrainConfig(gan_loss="relativistic", d_batchnorm=False), marker_step=5)
    assert [(t.name, t.yaxis) for t in fig.data] == [("loss D", "y"), ("loss G", "y2")]
    assert (fig.layout.yaxis.title.text, fig.layout.yaxis2.title.text) == ("loss D", "loss G")
    assert all(t.yaxis in (None, "y") for t in loss_figure(metrics).data)
    assert all(t.yaxis in (None, "y") for t in loss_figure(metrics, cfg=TrainConfig(gan_loss="hinge")).data)


def test_a_disabled_number_box_keeps_its_value_when_the_page_reruns_itself():
    # Streamlit drops a disabled widget's state on a rerun; the Train page's "Resume to step" (disabled while
    # the run trains) then fell to 0 and said "must be 1 to 10,000,000" after the live view reran the page
    script = """
import streamlit as st
from explorer.common import bounded_number
value = bounded_number(st, "Resume to step", 1, 10, 5, key="resume_to", step=1, disabled=True)
st.write(f"value {value}")
if not st.session_state.get("rerun_once"):
    st.session_state["rerun_once"] = True
    st.rerun()
"""
    at = AppTest.from_string(script, default_timeout=TIMEOUT_S).run()
    assert not at.exception and not errors(at), errors(at)
    assert [m.value for m in at.markdown] == ["value 5"]
