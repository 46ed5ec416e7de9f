"""Trainings side by side share the CPU's torch threads: each of n trainings in one checkpoints folder gets
threads // n, counted again while they run; a trainer started with OMP_NUM_THREADS keeps that count, and
one that ends gives its process its own count back."""
from __future__ import annotations

import json

import pytest
import torch

from dcgan.runs.rundir import RunDir, active_runs
from dcgan.training import threads as threads_mod
from dcgan.training.loop import train
from dcgan.training.step import train_step
from dcgan.training.threads import ThreadShare
from trainkit import TINY as tiny

CPU = torch.device("cpu")


@pytest.fixture
def four_threads(monkeypatch):
    """This process at 4 torch threads (whatever the machine), given back after; no OMP_NUM_THREADS."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads_mod, "CHECK_EVERY_S", 0.0)  # count at every update
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    yield
    torch.set_num_threads(before)


def running(checkpoints, name: str, state: str = "running") -> RunDir:
    run = RunDir.of(checkpoints, name)
    run.write_status(state, 1, 100)  # this test process as the trainer: alive
    return run


def test_each_of_n_trainings_gets_its_share_and_the_count_follows_them(tmp_path, four_threads):
    lines = []
    me = running(tmp_path, "me")
    share = ThreadShare(me, CPU, distributed=False, log=lines.append)
    share.update()
    assert torch.get_num_threads() == 4 and lines == []  # alone: all of them, and nothing said
    other = running(tmp_path, "other")
    running(tmp_path, "third", state="starting")  # launched, not yet training: it will want its share
    share.update()
    assert torch.get_num_threads() == 1  # 4 // 3
    other.write_status("finished", 100, 100)
    share.update()
    assert torch.get_num_threads() == 2
    assert lines[-1].endswith("this one uses 2 of 4 torch threads") and "2 trainings running" in lines[-1]
    share.restore()
    assert torch.get_num_threads() == 4


def test_a_dead_trainer_another_folder_and_another_machine_are_not_counted(tmp_path, four_threads):
    me = running(tmp_path / "a", "me")
    running(tmp_path / "b", "elsewhere")  # another checkpoints folder
    dead = RunDir.of(tmp_path / "a", "dead")
    dead.write_status("running", 5, 100)
    status = json.loads(dead.status_path.read_text())
    status["pid_start"] -= 100_000  # this pid, but a process started 1,000 s earlier: one that has ended
    dead.status_path.write_text(json.dumps(status))
    remote = RunDir.of(tmp_path / "a", "remote")
    remote.write_status("running", 5, 100)
    status = json.loads(remote.status_path.read_text())
    status["host"] = "another-machine"  # on shared storage: alive by its heartbeat, but not on these cores
    remote.status_path.write_text(json.dumps(status))
    assert sorted(r.name for r in active_runs(tmp_path / "a")) == ["me", "remote"]
    assert [r.name for r in active_runs(tmp_path / "a", this_host=True)] == ["me"]
    share = ThreadShare(me, CPU, distributed=False, log=lambda _: None)
    share.update()
    assert torch.get_num_threads() == 4


@pytest.mark.parametrize("why", ["OMP_NUM_THREADS", "distributed", "cuda"])
def test_a_set_thread_count_torchrun_and_a_gpu_run_are_left_alone(tmp_path, four_threads, monkeypatch, why):
    if why == "OMP_NUM_THREADS":
        monkeypatch.setenv("OMP_NUM_THREADS", "4")  # the user's own count: the same numbers to the bit
    me = running(tmp_path, "me")
    running(tmp_path, "other")
    share = ThreadShare(me, torch.device("cuda") if why == "cuda" else CPU, distributed=why == "distributed",
                        log=lambda _: None)
    share.update()
    assert torch.get_num_threads() == 4


def test_a_trainer_beside_another_training_takes_half_and_gives_it_back(tmp_path, four_threads):
    running(tmp_path, "other")  # a training already running in the folder
    seen, lines = [], []

    def step_fn(*args):
        seen.append(torch.get_num_threads())
        return train_step(*args)

    assert train(tiny("t", steps=3), tmp_path, progress=False, step_fn=step_fn, log=lines.append) == "finished"
    assert seen == [2, 2, 2]
    assert any("2 trainings running in" in line and "uses 2 of 4 torch threads" in line for line in lines), lines
    assert torch.get_num_threads() == 4  # the test process's own count again
