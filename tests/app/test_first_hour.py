"""What a newcomer met in the app's first hour (issue 13), each as a test that failed before its fix:
wrong results shown as right, tracebacks where a message belongs, silent refusals, cut-off labels.

AppTest on a copy of the tiny run (tests/test_app.py's fixtures); the core and CLI halves of the
same bugs are in tests/test_newcomer_core.py."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from dcgan.training.launch import wait_for_state
from dcgan.runs.files import atomic_write_json, jsonl_line
from dcgan.runs.rundir import RunDir
from apptestkit import errors, image_urls, open_app
from trainkit import APP_TINY
from explorer import quality_charts


START = "FormSubmitter:train_form-Start training"


def copy_run(root: Path, name: str, source: str = "tiny") -> RunDir:
    shutil.copytree(root / source, root / name)
    cfg = json.loads((root / name / "config.json").read_text())
    (root / name / "config.json").write_text(json.dumps({**cfg, "run_name": name}))
    return RunDir(root / name)


def running_status(run: RunDir, step: int, total: int, **extra) -> None:
    """status.json of a trainer that is alive (this test process stands in for it)."""
    atomic_write_json(run.status_path, {"state": "running", "pid": os.getpid(), "host": os.uname().nodename,
                                        "step": step, "total_steps": total, "heartbeat": time.time(),
                                        "error": None, **extra})


def warnings(at) -> list[str]:
    return [w.value for w in at.warning]



def test_a_deleted_run_is_named_gone_not_shown_under_another_name(app_checkpoints):
    copy_run(app_checkpoints, "doomed")
    at = open_app()
    at.selectbox(key="run").set_value("doomed").run()
    shutil.rmtree(app_checkpoints / "doomed")
    at.run()
    assert not at.exception
    assert at.selectbox(key="run").value == "tiny"
    assert any("Run **doomed** is gone" in w.value and "showing **tiny** instead" in w.value
               for w in at.sidebar.warning)
    assert "tiny" in at.get("image")[0].captions[0]


def test_a_training_run_shows_its_newest_weights_with_their_step(app_checkpoints):
    run = copy_run(app_checkpoints, "live")
    # the export is older than the newest snapshot, as while a run trains between checkpoints
    meta = json.loads(run.generator_config_path.read_text())
    run.generator_config_path.write_text(json.dumps({**meta, "step": 6}))
    running_status(run, 12, 30)
    at = open_app()
    at.selectbox(key="run").set_value("live").run()
    step = at.selectbox(key="step")
    assert step.value == "12" and step.options[:3] == ["snapshot at step 12", "snapshot at step 9", "last checkpoint"]
    caption = at.sidebar.caption[-1].value
    assert "running" in caption and "showing step 12" in caption and "final model" not in caption
    assert "step 12" in at.get("image")[0].captions[0]


def test_runs_table_and_progress_line_agree(app_checkpoints):
    run = copy_run(app_checkpoints, "ahead")
    # status.json still says 0 (its writes are throttled); metrics.jsonl is at step 160
    running_status(run, 0, 600)
    t0 = time.time() - 100
    with open(run.metrics_path, "w") as f:
        for s in range(1, 161):
            f.write(jsonl_line({"step": s, "time": t0 + s * 0.5, "loss_d": 1.0, "loss_g": 1.0}))
    at = open_app()
    at.selectbox(key="run").set_value("ahead").run()
    at.switch_page("explorer/train.py").run()
    assert not at.exception
    table = at.table[0].value
    assert table[table["run"] == "ahead"].iloc[0]["step"] == "160/600"
    assert "step 160/600" in at.get("progress")[0].proto.text



def test_a_sweep_over_an_absurd_range_is_a_message(app_checkpoints):
    at = open_app()
    at.number_input(key="sweep_low").set_value(-1e308)
    at.number_input(key="sweep_high").set_value(1e308)
    at.button(key="FormSubmitter:sweep_form-Sweep").click().run()
    assert not at.exception
    assert any("**From** must be" in e for e in errors(at)) and any("**To** must be" in e for e in errors(at))
    assert len(image_urls(at)) == 1  # no sweep grid


def test_progress_page_after_its_run_is_deleted(app_checkpoints):
    copy_run(app_checkpoints, "doomed")
    at = open_app()
    at.selectbox(key="run").set_value("doomed").run()
    at.switch_page("explorer/progress.py").run()
    shutil.rmtree(app_checkpoints / "doomed")
    at.select_slider(key="progress_step").set_value(3).run()
    assert not at.exception


def test_junk_lines_in_metrics_are_skipped_and_counted_on_every_page(app_checkpoints):
    run = RunDir(app_checkpoints / "tiny")
    with open(run.metrics_path, "ab") as f:
        f.write(b"\x00\x00\xff\xfe binary junk\n")
        f.write(b'{"step": 13, "loss_d": "oops", "loss_g": 1.0}\n')
    at = open_app("train")
    assert not at.exception
    assert any("2 malformed line(s)" in c.value for c in at.caption)
    at.switch_page("explorer/progress.py").run()
    assert not at.exception
    assert any("2 malformed line(s)" in c.value for c in at.caption)


def test_import_errors_appear_under_the_upload_which_stays(app_checkpoints):
    at = open_app("train")
    at.file_uploader(key="import_file_0").set_value(("netG.pth", b"not a checkpoint", "application/octet-stream"))
    at.button(key="FormSubmitter:import_form-Import").click().run()
    assert not at.exception
    expander = next(e for e in at.expander if e.label == "Import a generator")
    messages = [e.value for e in expander.error]
    assert messages and messages[0].startswith("Cannot import netG.pth")
    assert "weights_only" not in messages[0] and "pop from" not in messages[0]
    assert at.file_uploader(key="import_file_0").value is not None  # still there to fix or replace



@pytest.mark.parametrize("key, value, message", [
    ("train_steps", 0, "**Steps** must be 1 to 10,000,000"),
    ("train_batch_size", 100_000, "**Batch size** must be 1 to 4,096"),
    ("train_seed", 10**14, "**Seed** must be 0 to 2,147,483,647"),
])
def test_out_of_range_train_fields_say_the_range_next_to_them(app_checkpoints, key, value, message):
    at = open_app("train")
    at.number_input(key=key).set_value(value)
    at.button(key=START).click().run()
    assert not at.exception
    assert any(message in e for e in errors(at))
    assert sorted(p.name for p in app_checkpoints.iterdir()) == ["tiny"]


@pytest.mark.parametrize("frames", [1, 5000])
def test_out_of_range_frames_say_the_range(app_checkpoints, frames):
    at = open_app("interpolate")
    at.number_input(key="interp_frames").set_value(frames)
    at.button(key="FormSubmitter:interp_form-Interpolate").click().run()
    assert not at.exception
    assert any("**Frames** must be 2 to 1,000" in e for e in errors(at))
    assert "interp_result" not in at.session_state


def test_out_of_range_latent_seed_says_the_range_and_keeps_z(app_checkpoints):
    at = open_app()
    before = image_urls(at)[0]
    at.number_input(key="latent_seed").set_value(10**14).run()
    assert not at.exception
    assert any("**Seed** must be 0 to 2,147,483,647" in e for e in errors(at))
    assert image_urls(at)[0] == before


def test_a_start_that_cannot_work_leaves_no_run_folder(app_checkpoints, tmp_path):
    unreadable = tmp_path / "unreadable"
    unreadable.mkdir()
    for i in range(3):
        (unreadable / f"{i}.png").write_bytes(b"not a png")
    at = open_app("train")
    at.selectbox(key="train_dataset").set_value("mnist")
    at.text_input(key="train_data_root").set_value(str(tmp_path / "no-data-here"))
    at.text_input(key="train_run_name").set_value("mnist-nowhere")
    at.button(key=START).click().run()
    assert any(e.startswith("Cannot start") for e in errors(at))
    at.selectbox(key="train_dataset").set_value("folder")
    at.text_input(key="train_image_folder").set_value(str(unreadable))
    at.button(key=START).click().run()
    assert any(e.startswith("Cannot start") for e in errors(at))
    assert not at.exception
    assert sorted(p.name for p in app_checkpoints.iterdir()) == ["tiny"]


def test_delete_a_run_after_confirming(app_checkpoints):
    copy_run(app_checkpoints, "unwanted")
    at = open_app()
    at.selectbox(key="run").set_value("unwanted").run()
    at.switch_page("explorer/train.py").run()
    next(b for b in at.button if b.label == "Delete").click().run()
    assert (app_checkpoints / "unwanted").is_dir()  # asked first
    at.button(key="train_delete_confirm").click().run()
    assert not at.exception
    assert not (app_checkpoints / "unwanted").exists()
    assert any("Deleted run **unwanted**" in s.value for s in at.success)
    assert at.selectbox(key="run").value == "tiny"


def test_status_warnings_divergence_and_garbage_files_are_explained(app_checkpoints):
    small = copy_run(app_checkpoints, "small")
    status = json.loads(small.status_path.read_text())
    small.status_path.write_text(json.dumps({**status, "warnings": ["only 12 images: fewer than a batch"],
                                             "diverged": {"step": 7, "why": "D's accuracy stayed at 1.00"}}))
    garbage = copy_run(app_checkpoints, "garbage")
    garbage.status_path.write_bytes(b"\x00\x00garbage")
    garbage.config_path.write_bytes(b"{not json")
    at = open_app()
    at.selectbox(key="run").set_value("small").run()
    at.switch_page("explorer/train.py").run()
    assert "only 12 images: fewer than a batch" in warnings(at)
    assert any("diverged at step 7" in e for e in errors(at))
    at.selectbox(key="run").set_value("garbage").run()
    assert not at.exception
    assert any("state of run **garbage** is unknown" in w for w in warnings(at))
    assert any("config.json of run **garbage** is not usable" in e and "JSON" in e for e in errors(at))



def test_new_run_comes_first_on_the_train_page(app_checkpoints):
    at = open_app("train")
    # first after the page's own intro (explorer/intro.py)
    assert [e.label for e in at.expander][:2] == ["About this page", "New run"]


def test_resume_finishes_the_configured_run_by_default(app_checkpoints):
    root = app_checkpoints
    run = RunDir(root / "short")
    from dcgan.training.loop import train
    train(APP_TINY("short", steps=8, snapshot_every=4, checkpoint_every=4), root,
          progress=False, log=lambda _: None)
    cfg = json.loads(run.config_path.read_text())
    # as if stopped at 8 of a 20-step run
    run.config_path.write_text(json.dumps({**cfg, "steps": 20}))
    run.status_path.write_text(json.dumps({**json.loads(run.status_path.read_text()), "state": "stopped",
                                           "total_steps": 20}))
    at = open_app()
    at.selectbox(key="run").set_value("short").run()
    at.switch_page("explorer/train.py").run()
    assert at.number_input(key="train_resume_to_short").value == 20
    next(b for b in at.button if b.label == "Resume").click().run()
    assert not at.exception and not errors(at)
    st_ = wait_for_state(run, timeout_s=240)
    assert (st_["state"], st_["step"], st_["total_steps"]) == ("finished", 20, 20)


def test_a_run_without_checkpoint_says_why_resume_is_off(app_checkpoints):
    run = copy_run(app_checkpoints, "shipped-like")
    run.checkpoint_path.unlink()
    at = open_app()
    at.selectbox(key="run").set_value("shipped-like").run()
    at.switch_page("explorer/train.py").run()
    resume = next(b for b in at.button if b.label == "Resume")
    assert resume.disabled and "no training checkpoint" in resume.help
    assert any("Resume is off" in c.value for c in at.caption)


def test_pingpong_caption_counts_the_gif_frames(app_checkpoints):
    at = open_app("interpolate")
    at.number_input(key="interp_frames").set_value(8)
    at.checkbox[1].check()  # Ping-pong
    at.button(key="FormSubmitter:interp_form-Interpolate").click().run()
    assert not at.exception
    assert at.get("image")[0].captions[0].startswith("14 GIF frames (8 forward, 6 back)")


def test_an_imported_run_does_not_wait_for_training(app_checkpoints):
    run = copy_run(app_checkpoints, "imported")
    cfg = json.loads(run.config_path.read_text())
    run.config_path.write_text(json.dumps({**cfg, "imported_from": "netG_epoch_24.pth"}))
    at = open_app()
    at.selectbox(key="run").set_value("imported").run()
    at.switch_page("explorer/train.py").run()
    assert not any("Waiting for the first training step" in i.value for i in at.info)
    assert any("imported from `netG_epoch_24.pth`" in i.value for i in at.info)


def test_quality_page_of_a_folder_run_does_not_suggest_eval_every(app_checkpoints):
    run = copy_run(app_checkpoints, "faces-like")
    cfg = json.loads(run.config_path.read_text())
    run.config_path.write_text(json.dumps({**cfg, "dataset": "folder", "image_folder": "/somewhere"}))
    at = open_app()
    at.selectbox(key="run").set_value("faces-like").run()
    at.switch_page("explorer/quality.py").run()
    assert not at.exception
    assert not any("eval-every" in i.value for i in at.info)
    # a folder run can be judged by an evaluator trained on its labels: the reason is the missing folder
    assert any("image folder is not on this machine" in i.value for i in at.info)


def test_class_histogram_labels_every_class():
    fig = quality_charts.class_histogram_figure([0.1] * 10)
    assert fig.layout.xaxis.type == "category" and list(fig.layout.xaxis.tickvals) == [str(i) for i in range(10)]


def test_nearest_image_distances_have_a_scale(app_checkpoints):
    at = open_app("quality")
    at.button(key="quality_nn").click().run()
    assert not at.exception and not errors(at)
    assert any("Euclidean over all 784 pixel values on a 0–1 scale" in c.value for c in at.caption)


def test_sweep_grid_names_its_rows_and_columns():
    import torch
    from dcgan.analysis.views import sweep_grid
    from dcgan.nets.models import Generator
    G = Generator(z_dim=8, image_size=28, channels=1, width=4).eval()
    plain = sweep_grid(G, torch.zeros(8), [0, 3], -3, 3, 5, scale=2, labels=False)
    labelled = sweep_grid(G, torch.zeros(8), [0, 3], -3, 3, 5, scale=2)
    h, w = plain.shape[:2]
    assert labelled.shape[0] > h and labelled.shape[1] > w
    # the margins are white paper with dark text in them; the grid itself sits bottom right
    assert (labelled[-h:, -w:] == plain).all()
    top, left = labelled[:-h], labelled[:, :-w]
    assert top.max() == 255 and top.min() < 128 and left.min() < 128
