"""A launched trainer runs below the app's CPU priority (nice 10 by default, $DCGAN_TRAINER_NICE to change it),
so on a machine with fewer cores than work a slider move is not queued behind training steps."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from dcgan.config import ConfigError
from dcgan.runs.rundir import RunDir
from dcgan.training import launch


def test_the_trainer_command_is_niced_by_default(monkeypatch):
    monkeypatch.delenv(launch.NICENESS_ENV, raising=False)
    command = launch.trainer_command(["train", "--config", "c.json"])
    tail = [launch.sys.executable, "-m", "dcgan", "train", "--config", "c.json", "--quiet"]
    if shutil.which("nice") and os.name == "posix":
        assert command == [shutil.which("nice"), "-n", "10", *tail]
    else:  # no nice(1) here: the trainer runs at the app's priority rather than not at all
        assert command == tail


@pytest.mark.parametrize("value, niced", [("0", False), ("19", True), (" 3 ", True)])
def test_the_environment_sets_the_niceness(monkeypatch, value, niced):
    monkeypatch.setenv(launch.NICENESS_ENV, value)
    command = launch.trainer_command(["train"])
    assert (command[0] == shutil.which("nice")) == (niced and shutil.which("nice") is not None)
    if niced and shutil.which("nice"):
        assert command[1:3] == ["-n", value.strip()]


@pytest.mark.parametrize("value", ["-5", "20", "ten", "1.5", "\u00b2"])
def test_a_bad_niceness_is_refused_before_a_run_folder_is_made(monkeypatch, tmp_path, tiny, value):
    monkeypatch.setenv(launch.NICENESS_ENV, value)
    with pytest.raises(ConfigError, match="DCGAN_TRAINER_NICE must be a whole number from 0"):
        launch.start_training(tiny("r"), tmp_path)
    assert not (tmp_path / "r").exists()  # the name stays free for the start after the fix


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("nice") or not Path("/proc/self/task").is_dir(),
                    reason="needs nice(1) and Linux's /proc to read each thread's niceness")
def test_every_thread_of_a_launched_trainer_runs_niced(tmp_path, tiny, monkeypatch):
    monkeypatch.delenv(launch.NICENESS_ENV, raising=False)
    run = launch.start_training(tiny("niced", steps=100_000), tmp_path)
    pid = json.loads(run.launch_path.read_text())["pid"]
    try:
        launch.wait_for_state(run, ("running",), timeout_s=180)
        # torch's worker threads start with the first steps: wait for steps in the log
        deadline = time.monotonic() + 180
        while len(run.recent_metrics(4096)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert run.recent_metrics(4096), run.log_tail()
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        # field 19 of /proc/PID/task/TID/stat is the thread's nice value (after the ")" of its name)
        threads = {tid.name: int((tid / "stat").read_text().rsplit(")", 1)[1].split()[16])
                   for tid in Path(f"/proc/{pid}/task").iterdir()}
        assert len(threads) > 1 and set(threads.values()) == {min(mine + 10, 19)}, threads
        assert RunDir(tmp_path / "niced").status()["pid"] == pid  # nice exec'd the trainer: the pid is its own
    finally:
        launch.stop_training(tmp_path, "niced")
        launch.wait_for_state(run, timeout_s=180)
