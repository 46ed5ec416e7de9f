"""What a newcomer trips over in training (issue 13): resuming to the configured end, stale stop requests, a
divergence that never becomes NaN, launches that cannot work, deleting runs."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan import cli
from dcgan.training import launch
from dcgan.config import ConfigError, TrainConfig
from dcgan.data import DataError
from dcgan.training.health import divergence, divergence_window
from dcgan.runs.files import atomic_write_json
from dcgan.runs.rundir import RunDir, state_label
from dcgan.training.loop import TrainingFailed, train
from dcgan.training.resume import resume_config

from faultkit import cli_out, one_line_error
from trainkit import NEWCOMER_TINY as tiny, quiet


ROOT = Path(__file__).resolve().parents[2]








@pytest.fixture
def spawned(monkeypatch):
    """launch._spawn replaced by running the very CLI command it would launch, in this process."""
    calls = []

    def fake_spawn(args, run, total_steps):
        calls.append(list(args))
        code, _, err = cli_out(*args, "--quiet")
        assert code == 0, err
        return os.getpid()
    monkeypatch.setattr(launch, "_spawn", fake_spawn)
    return calls



def test_resume_training_without_steps_goes_to_the_configured_end(stopped, spawned):
    launch.resume_training(stopped.path.parent, "s")
    assert spawned[0][:4] == ["resume", "s", "--steps", "12"]
    st = stopped.status()
    assert st["state"] == "finished" and st["step"] == 12
    assert [r["step"] for r in stopped.metrics()] == list(range(1, 13))
    with pytest.raises(ConfigError, match="'s' is at step 12, its configured end; ask for more steps"):
        launch.resume_training(stopped.path.parent, "s")


def test_resume_training_more_and_steps(stopped, spawned):
    root = stopped.path.parent
    launch.resume_training(root, "s", more=2)
    assert stopped.status()["step"] == 7
    launch.resume_training(root, "s", steps=9, lr_d=1e-4)
    assert spawned[-1][:6] == ["resume", "s", "--steps", "9", "--lr-d", "0.0001"]
    assert stopped.status()["step"] == 9 and TrainConfig.load(stopped.config_path).lr_d == 1e-4
    with pytest.raises(ConfigError, match="not both"):
        launch.resume_training(root, "s", steps=20, more=3)
    with pytest.raises(ConfigError, match="at step 9; ask for more steps"):
        launch.resume_training(root, "s", more=0)
    with pytest.raises(ConfigError, match="whole number"):
        launch.resume_training(root, "s", more=2.5)
    assert len(spawned) == 2


def test_stopping_a_run_that_is_not_running_is_refused_and_leaves_no_stop_file(stopped):
    root = stopped.path.parent
    with pytest.raises(ConfigError, match=r"run 's' is not running \(it is stopped\); nothing to stop"):
        launch.stop_training(root, "s")
    assert not stopped.stop_path.exists()
    one_line_error(cli_out("stop", "s", "--checkpoints", root), "is not running (it is stopped); nothing to stop")
    one_line_error(cli_out("stop", "nothere", "--checkpoints", root), "no run named 'nothere'")
    assert not stopped.stop_path.exists()


def test_a_stop_request_older_than_the_trainer_is_dropped(stopped):
    stopped.stop_path.write_text(f"{time.time() - 60}\n")  # left by a stop that came too late
    lines = []
    assert train(resume_config(stopped.path.parent, "s"), stopped.path.parent, resume=True, progress=False,
                 log=lines.append) == "finished"
    assert stopped.status()["step"] == 12 and not stopped.stop_path.exists()
    assert "ignored a stop request made before this trainer started" in lines


def test_a_stop_request_made_while_the_trainer_was_starting_is_honoured(stopped):
    started = time.time() - 30  # the process started, then (while it imported torch) Stop was pressed
    stopped.request_stop()
    cfg = resume_config(stopped.path.parent, "s")
    assert train(cfg, stopped.path.parent, resume=True, progress=False, log=quiet, started_at=started) == "stopped"
    assert stopped.status()["step"] == 5 and not stopped.stop_path.exists()
    # a STOP whose contents are not a time (`touch STOP`) is dated by the file itself
    stopped.stop_path.write_text("")
    os.utime(stopped.stop_path, (started - 10, started - 10))
    assert train(cfg, stopped.path.parent, resume=True, progress=False, log=quiet, started_at=started) == "finished"


@pytest.mark.slow
def test_stop_pressed_while_a_launched_run_is_starting_stops_it(tmp_path):
    run = launch.start_training(tiny("early", steps=100_000), tmp_path)
    assert run.status()["state"] == "starting"
    launch.stop_training(tmp_path, "early")  # before the trainer even imported torch
    st = launch.wait_for_state(run, timeout_s=180)
    assert st["state"] == "stopped", (st, run.log_path.read_text())
    assert st["step"] < 100 and not run.stop_path.exists()



def records(steps, collapsed_steps) -> list[dict]:
    healthy = dict(acc_real=0.7, acc_fake=0.6, loss_g=2.0)
    broken = dict(acc_real=1.0, acc_fake=0.995, loss_g=40.0)
    return [{"step": s, **(broken if s in collapsed_steps else healthy)} for s in steps]


def test_divergence_needs_most_of_a_window_of_collapsed_steps():
    assert divergence_window(100) == 50 and divergence_window(1000) == 100 and divergence_window(10 ** 6) == 200
    assert divergence(records(range(1, 200), range(20, 64)), 50) is None  # 44 steps: a spike
    assert divergence(records(range(1, 200), [s for s in range(20, 200) if s % 5]), 50) is None  # 80 %
    # 90 %: a G that fools D with an image now and then has diverged all the same
    found = divergence(records(range(1, 200), set(range(10, 40)) | {s for s in range(80, 200) if s % 10}), 50)
    assert found["step"] == 81 and "\n" not in found["why"] and "loss_g" in found["why"]
    assert divergence(records(range(1, 60), range(5, 60)), 50)["step"] == 5
    assert divergence([{"step": 1}, {"step": 2, "loss_g": None}], 1) is None  # missing figures say nothing


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "faces"])
def test_the_shipped_models_never_count_as_diverged(name):
    run = RunDir(ROOT / "checkpoints" / name)
    if not run.metrics_path.is_file():
        pytest.skip(f"checkpoints/{name} has no metrics.jsonl")
    metrics = run.metrics()
    assert len(metrics) > 1000 and metrics.skipped == 0
    assert divergence(metrics, divergence_window(0)) is None  # the smallest window: the most sensitive


@pytest.mark.slow
def test_a_run_at_lr_099_is_flagged_diverged_and_a_normal_one_is_not(tmp_path, capsys):
    lines = []
    # D at lr 0.99 against a G that barely moves: within a dozen steps D wins outright and loss_g runs
    # into the hundreds, all finite. (G at 0.99 too was the first version: on some CPUs its wild
    # steps fool D now and then, and whether a 50-step window pins depends on the machine's numerics.)
    assert train(tiny("wild", steps=80, lr_d=0.99, lr_g=1e-6), tmp_path, progress=False,
                 log=lines.append) == "finished"
    st = RunDir(tmp_path / "wild").status()
    assert st["state"] == "finished" and st["step"] == 80  # flagged, not stopped
    assert 1 <= st["diverged"]["step"] <= 30 and "stopped learning" in st["diverged"]["why"]
    assert state_label(st) == f"finished · diverged at step {st['diverged']['step']}"
    assert any("training diverged at step" in line for line in lines)
    assert train(tiny("calm", steps=80), tmp_path, progress=False, log=quiet) == "finished"
    calm = RunDir(tmp_path / "calm").status()
    assert "diverged" not in calm and state_label(calm) == "finished"
    assert cli.main(["runs", "--checkpoints", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"finished · diverged at step {st['diverged']['step']}" in out and "calm" in out


def test_an_unexpected_error_is_one_line_in_status_and_a_traceback_in_the_log(tmp_path):
    def broken(*args):
        raise ZeroDivisionError("division by zero\nsecond line")
    lines = []
    with pytest.raises(TrainingFailed) as e:
        train(tiny("bug"), tmp_path, progress=False, log=lines.append, step_fn=broken)
    assert isinstance(e.value.__cause__, ZeroDivisionError)
    error = RunDir(tmp_path / "bug").status()["error"]
    assert error.startswith("training failed: ZeroDivisionError: division by zero") and "train.log" in error
    assert "\n" not in error and "Traceback" not in error
    assert any("Traceback (most recent call last)" in line and "ZeroDivisionError" in line for line in lines)


def test_start_training_refuses_missing_mnist_before_making_a_folder(tmp_path):
    ck = tmp_path / "ck"
    for dataset, channels in (("mnist", 1), ("fashion-mnist", 1), ("stacked-mnist", 3)):
        cfg = tiny("m", dataset=dataset, channels=channels, data_root=str(tmp_path / "nodata"))
        with pytest.raises(DataError, match="Expected files: .*train-images-idx3-ubyte") as e:
            launch.start_training(cfg, ck)
        assert "\n" not in str(e.value) and "t10k-images-idx3-ubyte" in str(e.value)
    assert not ck.exists()


def test_start_training_refuses_a_folder_of_unreadable_images_before_making_a_folder(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(40):
        (folder / f"{i}.png").write_bytes(b"\x89PNG not really" + bytes([i]))
    ck = tmp_path / "ck"
    with pytest.raises(DataError, match="none of the .* training image files .* could be read"):
        launch.start_training(tiny("f", dataset="folder", image_folder=str(folder)), ck)
    assert not ck.exists()
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="device='cuda'"):
            launch.start_training(tiny("g", device="cuda"), ck)
        assert not ck.exists()


def test_delete_run_removes_a_finished_run_and_refuses_an_active_one(tmp_path, capsys):
    train(tiny("old", steps=2), tmp_path, progress=False, log=quiet)
    assert launch.is_protected(RunDir(tmp_path / "old")) is None
    assert cli.main(["delete", "old", "--checkpoints", str(tmp_path)]) == 2  # no --yes
    assert "add --yes" in capsys.readouterr().err and (tmp_path / "old").is_dir()
    assert cli.main(["delete", "old", "--yes", "--checkpoints", str(tmp_path)]) == 0
    assert not (tmp_path / "old").exists() and not list(tmp_path.iterdir())
    live = RunDir(tmp_path / "live")
    atomic_write_json(live.config_path, tiny("live").to_dict())
    atomic_write_json(live.status_path, {"state": "running", "pid": os.getpid(), "heartbeat": time.time()})
    assert launch.is_protected(live) == "it is running; stop it first"
    with pytest.raises(ConfigError, match="'live' cannot be deleted: it is running"):
        launch.delete_run(tmp_path, "live")
    with pytest.raises(ConfigError, match="no run named 'ghost'"):
        launch.delete_run(tmp_path, "ghost")
    assert live.path.is_dir()


def test_delete_run_refuses_a_run_whose_trainer_holds_it(tmp_path):
    run = RunDir(tmp_path / "held")
    atomic_write_json(run.status_path, {"state": "stopped"})
    fd = run.lock()  # a trainer that has not written its status yet
    try:
        with pytest.raises(ConfigError, match="being trained by another process"):
            launch.delete_run(tmp_path, "held")
    finally:
        os.close(fd)
    assert run.path.is_dir()


def test_shipped_models_and_evaluators_are_protected(tmp_path, monkeypatch):
    shipped = ROOT / "checkpoints"
    for name in ("mnist", "fashion-mnist", "faces"):
        assert "shipped with the project" in launch.is_protected(RunDir(shipped / name))
    assert "evaluator" in launch.is_protected(RunDir(shipped / "evaluators"))
    # the refusal itself, on a stand-in for the project's checkpoints folder
    fake = tmp_path / "checkpoints"
    for name in ("mnist", "evaluators"):
        atomic_write_json(RunDir(fake / name).config_path, tiny("x").to_dict())
    monkeypatch.setattr(launch, "SHIPPED_ROOT", fake)
    for name in ("mnist", "evaluators"):
        with pytest.raises(ConfigError, match="cannot be deleted"):
            launch.delete_run(fake, name)
    (fake / "alias").symlink_to(fake / "mnist", target_is_directory=True)  # a link to a shipped run
    with pytest.raises(ConfigError, match="shipped"):
        launch.delete_run(fake, "alias")
    (tmp_path / "outside").mkdir()
    (fake / "escape").symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(ConfigError, match="outside"):
        launch.delete_run(fake, "escape")
    assert (fake / "mnist" / "config.json").is_file() and (fake / "evaluators").is_dir()


def test_the_trainer_writes_dataset_warnings_into_status(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(12):
        Image.fromarray(np.full((32, 32), 20 * i, np.uint8)).save(folder / f"{i}.png")
    lines = []
    cfg = tiny("few", dataset="folder", image_folder=str(folder), steps=3, holdout=0.0)
    assert train(cfg, tmp_path, progress=False, log=lines.append) == "finished"
    st = RunDir(tmp_path / "few").status()  # the final status write keeps them
    assert len(st["warnings"]) == 2 and "fewer than one batch of 16" in st["warnings"][0]
    assert any(line.startswith("warning: only 12 image(s)") for line in lines)


def test_stop_of_a_run_still_starting_from_its_request(tmp_path):
    run = RunDir(tmp_path / "new")
    atomic_write_json(run.request_path, tiny("new").to_dict())
    atomic_write_json(run.status_path, {"state": "starting", "pid": None, "heartbeat": time.time()})
    launch.stop_training(tmp_path, "new")  # no config.json yet: still a run, and it is asked to stop
    assert run.stop_requested() and run.stop_request_time() <= time.time()


def test_stop_signals_only_a_trainer_it_has_seen_alive_here(tmp_path, monkeypatch):
    import socket
    from dcgan.runs.processes import process_start
    killed = []
    real_kill = os.kill
    # os.kill(pid, 0), the liveness probe, still runs: only what would be a signal is recorded
    monkeypatch.setattr(os, "kill", lambda pid, sig: real_kill(pid, 0) if sig == 0 else killed.append(pid))
    run = RunDir(tmp_path / "r")
    atomic_write_json(run.config_path, tiny("r").to_dict())
    me, here = os.getpid(), socket.gethostname()
    for status in ({"state": "starting", "pid": -1},  # a hostile -1 would signal every process of ours
                   {"state": "running", "pid": me, "pid_start": process_start(me), "host": "elsewhere"},
                   {"state": "running", "pid": me, "pid_start": -5, "host": here}):  # the pid was reused
        atomic_write_json(run.status_path, {**status, "heartbeat": time.time()})
        if run.status()["state"] in ("starting", "running"):
            launch.stop_training(tmp_path, "r")
    assert killed == [] and run.stop_requested()
    atomic_write_json(run.status_path, {"state": "running", "pid": me, "pid_start": process_start(me), "host": here,
                                        "heartbeat": time.time()})
    launch.stop_training(tmp_path, "r")
    assert killed == [me]
