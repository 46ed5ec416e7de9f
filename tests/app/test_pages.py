"""The Streamlit app under AppTest: every page on a temporary checkpoints folder.

AppTest runs the script in this process, so DCGAN_CHECKPOINTS is set with monkeypatch. Plotly
charts are opaque and download bytes unreachable here: the chart builders are tested directly
below, and the downloaded GIF in tests/test_browser.py. Image URLs are content hashes, so a
changed URL means changed image bytes."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dcgan.training.launch import wait_for_state
from dcgan.runs.files import atomic_write_json
from dcgan.runs.rundir import RunDir
from dcgan.runs import progress
from explorer import charts

from apptestkit import APP, TIMEOUT_S, errors, image_urls, open_app
from trainkit import APP_TINY


def select_run(at: AppTest, name: str) -> None:
    at.selectbox(key="run").set_value(name).run()
    assert not at.exception, at.exception



def test_opens_on_latent_page_with_one_slider_per_component(app_checkpoints):
    at = open_app()
    assert at.title[0].value == "Latent space"
    assert at.selectbox(key="run").value == "tiny"
    assert at.selectbox(key="step").value == "final"
    assert sorted(s.key for s in at.slider) == sorted(f"z_{i}" for i in range(16))
    assert len(image_urls(at)) == 1
    assert [b.label for b in at.get("download_button")] == ["PNG", "JSON", "NPY"]
    assert not errors(at)


def test_moving_a_z_slider_changes_the_image(app_checkpoints):
    at = open_app()
    before = image_urls(at)[0]
    at.slider(key="z_3").set_value(3.0).run()
    assert not at.exception
    after = image_urls(at)[0]
    assert after != before
    assert at.session_state["latent_z"][3] == pytest.approx(3.0)


def test_seed_and_reset(app_checkpoints):
    at = open_app()
    seed0 = image_urls(at)[0]
    at.number_input(key="latent_seed").set_value(7).run()
    seed7 = image_urls(at)[0]
    assert seed7 != seed0
    at.slider(key="z_0").set_value(-3.0).run()
    assert image_urls(at)[0] != seed7
    at.button[1].click().run()  # Reset: back to seed 7's z
    assert image_urls(at)[0] == seed7
    at.button[0].click().run()  # Random: a new seed
    assert at.number_input(key="latent_seed").value != 7


def test_a_model_with_another_z_dim_while_the_seed_box_is_wrong(app_checkpoints):
    # the seed box's bad value leaves z alone, but the old z has the old model's size: the page takes the last
    # valid seed's z at the new size rather than failing on the sliders
    from dcgan.training.loop import train
    train(APP_TINY("wide", z_dim=24, steps=2), app_checkpoints, progress=False, log=lambda *_: None)
    at = open_app()
    at.number_input(key="latent_seed").set_value(7).run()
    at.number_input(key="latent_seed").set_value(-5).run()
    select_run(at, "wide")
    assert not at.exception and sorted(s.key for s in at.slider) == sorted(f"z_{i}" for i in range(24))
    assert at.session_state["latent_z"].shape == (24,)
    from dcgan.sampling import z_from_seed
    assert at.slider(key="z_5").value == pytest.approx(round(float(z_from_seed(7, 24)[0, 5]), 2))


def test_the_run_box_stays_on_its_run_while_new_runs_appear(app_checkpoints):
    # the URL names the run, but only a new session reads it: Streamlit's own URL binding read a missing
    # parameter as "the default" on a page switch, a default that had moved to the newest run, and sent
    # sessions exploring one run to a run another session had just started
    from dcgan.training.loop import train
    at = open_app()
    assert at.selectbox(key="run").value == "tiny" and at.query_params["run"] == "tiny"
    train(APP_TINY("newer", steps=2), app_checkpoints, progress=False, log=lambda *_: None)
    at.query_params.pop("run")  # a page switch that lost the parameter
    at.switch_page("explorer/interpolate.py").run()
    box = at.selectbox(key="run")
    assert box.options[0] == "newer" and box.value == "tiny"  # newest first, as the box lists them
    assert at.query_params["run"] == "tiny"  # written back
    select_run(at, "newer")
    assert at.selectbox(key="run").value == "newer" and at.query_params["run"] == "newer"
    # a new session from that URL (a refresh) opens the run it names; an unknown name opens the default (the
    # shipped mnist, else the newest run)
    for asked, shown in (("tiny", "tiny"), ("nonesuch", "newer")):
        fresh = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
        fresh.query_params["run"] = asked
        fresh.run()
        assert not fresh.exception and fresh.selectbox(key="run").value == shown


def test_sweep_grid_and_its_errors(app_checkpoints):
    at = open_app()
    at.multiselect[0].set_value([0, 5])
    at.number_input(key="sweep_columns").set_value(4)
    at.button(key="FormSubmitter:sweep_form-Sweep").click().run()
    assert not at.exception and not errors(at)
    assert len(image_urls(at)) == 2
    at.multiselect[0].set_value([])
    at.button(key="FormSubmitter:sweep_form-Sweep").click().run()
    assert any("at least one component" in e for e in errors(at))


def test_a_snapshot_step_loads_its_own_weights(app_checkpoints):
    at = open_app()
    final = image_urls(at)[0]
    assert at.selectbox(key="step").options == ["final model"] + [
        f"snapshot at step {s}" for s in (12, 9, 6, 3, 0)]
    assert any("final model (step 12)" in c.value for c in at.sidebar.caption)
    at.selectbox(key="step").set_value("0").run()
    assert not at.exception and not errors(at)
    assert image_urls(at)[0] != final  # the untrained G draws something else



def test_interpolation_makes_the_requested_number_of_frames(app_checkpoints):
    at = open_app("interpolate")
    assert at.number_input(key="interp_frames").value == 64
    assert at.radio(key="interp_method").value == "slerp"
    at.number_input(key="interp_frames").set_value(10)
    at.button(key="FormSubmitter:interp_form-Interpolate").click().run()
    assert not at.exception and not errors(at)
    assert at.session_state["interp_result"]["frames"] == 10
    assert len(image_urls(at)) == 2  # the GIF and the frame grid
    assert [b.label for b in at.get("download_button")] == ["Download GIF", "Download session file",
                                                             "Download frame grid PNG"]


def test_interpolation_from_the_latent_pages_z(app_checkpoints):
    at = open_app("interpolate")
    at.radio(key="interp_source_Start").set_value("current z (Latent page)").run()
    assert not at.exception  # the Latent page ran first and stored its z
    assert not errors(at)
    at.number_input(key="interp_seed_End").set_value(4)
    at.button(key="FormSubmitter:interp_form-Interpolate").click().run()
    assert at.session_state["interp_result"]["frames"] == 64



def test_progress_scrubs_every_snapshot_and_exports_a_gif(app_checkpoints):
    at = open_app("progress")
    slider = at.select_slider(key="progress_step")
    assert slider.options == ["0", "3", "6", "9", "12"]
    assert slider.value == 12
    at.select_slider(key="progress_step").set_value(3).run()
    assert not at.exception
    assert "step 3" in at.get("image")[0].captions[0]
    at.button(key="FormSubmitter:progress_gif_form-Make GIF of all 5 snapshots").click().run()
    assert not at.exception and not errors(at)
    assert at.session_state["progress_gif"]["frames"] == 5
    assert [b.label for b in at.get("download_button")] == ["Download progression GIF"]



def make_broken_runs(root: Path) -> None:
    """'corrupt': garbage weights; 'empty': a run that has written nothing yet; 'crashed': failed."""
    shutil.copytree(root / "tiny", root / "corrupt")
    (root / "corrupt" / "generator.safetensors").write_bytes(b"not safetensors at all")
    empty = RunDir(root / "empty")
    empty.path.mkdir()
    atomic_write_json(empty.config_path, APP_TINY("empty").to_dict())
    atomic_write_json(empty.status_path, {"state": "stopped", "step": 0, "total_steps": 10})
    crashed = RunDir(root / "crashed")
    crashed.path.mkdir()
    atomic_write_json(crashed.config_path, APP_TINY("crashed").to_dict())
    atomic_write_json(crashed.status_path, {"state": "failed", "step": 0, "total_steps": 10,
                                            "error": "mnist is not in /nowhere"})
    crashed.log_path.write_text("loading data\nDataError: mnist is not in /nowhere\n")


def test_corrupt_checkpoint_is_an_error_message(app_checkpoints):
    make_broken_runs(app_checkpoints)
    at = open_app()
    select_run(at, "corrupt")
    assert any("Cannot load the generator" in e for e in errors(at))
    at.switch_page("explorer/interpolate.py").run()
    assert not at.exception
    assert any("Cannot load the generator" in e for e in errors(at))


def test_run_without_snapshots_is_an_error_message(app_checkpoints):
    make_broken_runs(app_checkpoints)
    at = open_app()
    select_run(at, "empty")
    assert any("no generator weights yet" in e for e in errors(at))
    at.switch_page("explorer/progress.py").run()
    assert not at.exception
    assert any("no snapshots yet" in e for e in errors(at))
    at.switch_page("explorer/train.py").run()
    assert not at.exception


def test_failed_run_shows_its_error_and_log(app_checkpoints):
    make_broken_runs(app_checkpoints)
    at = open_app()
    select_run(at, "crashed")
    at.switch_page("explorer/train.py").run()
    assert not at.exception
    assert any("mnist is not in /nowhere" in e for e in errors(at))
    assert "DataError" in at.code[0].value


def test_empty_checkpoints_folder(tmp_path, app_env):
    app_env(tmp_path / "none")
    at = open_app()
    assert any("no runs yet" in e for e in errors(at))
    for page in ("progress", "quality", "interpolate", "train"):
        at.switch_page(f"explorer/{page}.py").run()
        assert not at.exception
        if page in ("progress", "quality"):  # explorer.models.chosen_run: the message, then the page stops
            assert any("no runs yet" in e for e in errors(at))


def test_train_form_rejects_bad_input(app_checkpoints):
    at = open_app("train")
    submit = "FormSubmitter:train_form-Start training"
    at.text_input(key="train_lr_d").set_value("fast")
    at.button(key=submit).click().run()
    assert any("'fast' is not a number" in e for e in errors(at))
    at.text_input(key="train_lr_d").set_value("2e-4")
    at.selectbox(key="train_dataset").set_value("folder")
    at.text_input(key="train_image_folder").set_value("/no/such/folder")
    at.button(key=submit).click().run()
    assert any("image folder not found" in e for e in errors(at))
    at.selectbox(key="train_dataset").set_value("synthetic")
    at.text_input(key="train_run_name").set_value("tiny")
    at.button(key=submit).click().run()
    assert any("already exists" in e for e in errors(at))
    at.text_input(key="train_run_name").set_value("bad name!")
    at.button(key=submit).click().run()
    assert any("run_name" in e for e in errors(at))
    assert not at.exception
    assert sorted(p.name for p in app_checkpoints.iterdir()) == ["tiny"]



def test_training_started_from_the_page_finishes_and_is_shown(app_checkpoints):
    at = open_app("train")
    assert at.text_input(key="train_data_root").value in ("../shared/datasets", "data")
    at.selectbox(key="train_dataset").set_value("synthetic")
    at.number_input(key="train_steps").set_value(4)
    at.number_input(key="train_batch_size").set_value(8)
    at.number_input(key="train_snapshot_every").set_value(2)
    at.number_input(key="train_checkpoint_every").set_value(2)
    at.number_input(key="train_z_dim").set_value(8)
    at.number_input(key="train_g_width").set_value(8)
    at.number_input(key="train_d_width").set_value(8)
    at.checkbox(key="train_adaptive_lr").check()
    at.text_input(key="train_run_name").set_value("from-page")
    at.button(key="FormSubmitter:train_form-Start training").click().run()
    assert not at.exception and not errors(at)
    run = RunDir(app_checkpoints / "from-page")
    assert json.loads((run.path / "request.json").read_text())["adaptive_lr"] is True
    assert at.selectbox(key="run").value == "from-page"  # the new run is selected at once

    assert wait_for_state(run, timeout_s=240)["state"] == "finished"
    at.run()  # AppTest does not rerun fragments on their timer
    assert not at.exception and not errors(at)
    table = at.table[0].value
    row = table[table["run"] == "from-page"].iloc[0]
    assert (row["state"], row["step"], row["snapshots"]) == ("finished", "4/4", 3)
    assert "step 4/4" in at.get("progress")[0].proto.text
    assert "step 4" in at.get("image")[0].captions[0]
    # the new run can be explored at once
    at.switch_page("explorer/latent.py").run()
    assert not at.exception and not errors(at)
    assert len(at.slider) == 8



METRICS = [{"step": s, "time": 1000.0 + s * 0.5, "loss_d": 1.0 / s, "loss_g": 2.0, "acc_real": 0.9,
            "acc_fake": 0.8, "d_x": 0.7, "d_g_z": 0.3, "lr_d": 2e-4, "lr_g": 2e-4 * s} for s in range(1, 101)]


def test_loss_figure_has_both_losses_and_a_step_marker():
    fig = charts.loss_figure(METRICS, marker_step=40)
    assert [t.name for t in fig.data] == ["loss D", "loss G"]
    assert list(fig.data[0].x) == list(range(1, 101))
    assert fig.data[0].y[1] == pytest.approx(0.5)
    assert len(fig.layout.shapes) == 1 and fig.layout.shapes[0].x0 == 40
    assert not charts.loss_figure(METRICS).layout.shapes


def test_discriminator_and_lr_figures():
    fig = charts.discriminator_figure(METRICS)
    assert [t.name for t in fig.data] == ["D accuracy (real)", "D accuracy (fake)", "D(x)", "D(G(z))"]
    assert tuple(fig.layout.yaxis.range) == (-0.02, 1.02)
    fig = charts.lr_figure(METRICS)
    assert [t.name for t in fig.data] == ["lr D", "lr G"] and fig.layout.yaxis.type == "log"


def test_figures_tolerate_missing_keys_and_no_metrics():
    assert all(len(t.x) == 0 for t in charts.loss_figure([]).data)
    fig = charts.discriminator_figure([{"step": 1, "loss_d": 1.0}])
    assert all(len(t.x) == 0 for t in fig.data)


def test_smoothing_is_a_trailing_mean():
    from dcgan.analysis.stats_chart import running_mean
    assert running_mean([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert running_mean([1.0, 2.0], 1) == [1.0, 2.0]
    assert charts.auto_window(50) == 1 and charts.auto_window(5000) == 50
    fig = charts.loss_figure(METRICS, smooth=4)
    assert fig.data[1].y[-1] == pytest.approx(2.0)  # a constant stays constant
    assert fig.data[0].y[3] == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)


def test_a_long_run_is_drawn_from_buckets_with_a_band_that_keeps_a_spike():
    many = [{"step": s, "loss_d": 0.7, "loss_g": 1.0 + (s == 6_789) * 50.0} for s in range(10_001)]
    fig = charts.loss_figure(many, smooth=charts.auto_window(len(many)))
    lines = [t for t in fig.data if t.showlegend is not False]
    bands = [t for t in fig.data if t.showlegend is False]
    assert [t.name for t in lines] == ["loss D", "loss G"]
    assert all(len(t.x) <= 1500 for t in fig.data) and lines[1].x[-1] == 10_000
    assert max(lines[1].y) < 2.0  # the mean over ~100 steps flattens the spike...
    assert max(bands[-2].y) == 51.0 and min(bands[-1].y) == 1.0  # ...its band (max, min) keeps it
    assert lines[0].line.color == bands[0].line.color != lines[1].line.color  # a band is its line's colour
    # a short run has no band and names no colour: it looks as it always did
    assert all(t.line.color is None for t in charts.loss_figure(METRICS, smooth=4).data)
    assert len(charts.discriminator_figure(METRICS).data) == 4


def test_run_progress_speed_and_eta():
    prog = progress.run_progress(METRICS, {"step": 100, "total_steps": 300}, batch_size=64)
    assert prog["fraction"] == pytest.approx(1 / 3)
    assert prog["steps_per_s"] == pytest.approx(2.0)
    assert prog["images_per_s"] == pytest.approx(128.0)
    assert prog["eta_s"] == pytest.approx(100.0)
    assert progress.run_progress([], {"state": "starting"}) == {
        "step": 0, "total": 0, "fraction": 0.0, "steps_per_s": None, "images_per_s": None, "eta_s": None}


def test_run_progress_ignores_a_stop_resume_pause():
    before = [{"step": i, "time": 1000.0 + i} for i in range(1, 21)]  # 1 step/s, then a 10 min pause
    after = [{"step": i, "time": 1600.0 + 0.5 * (i - 20)} for i in range(21, 41)]  # 2 steps/s
    prog = progress.run_progress(before + after, {"step": 40, "total_steps": 140})
    assert prog["steps_per_s"] == pytest.approx(2.0)
    assert prog["eta_s"] == pytest.approx(50.0)


def test_format_seconds():
    assert [progress.format_seconds(s) for s in (None, 5, 65, 3725)] == ["?", "5 s", "1 min 05 s", "1 h 02 min"]
