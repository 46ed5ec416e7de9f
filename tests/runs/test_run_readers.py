"""Reading a run: torn lines, dead trainers, runs still starting, a corrupt generator."""
from __future__ import annotations

import json
import time

import pytest

from dcgan.runs.checkpoint import CheckpointError, load_run_generator
from dcgan.config import ConfigError
from dcgan.runs.files import read_jsonl
from dcgan.runs.rundir import RunDir, list_runs
from dcgan.training.loop import train

from trainkit import TINY as tiny


def test_readers_tolerate_torn_lines_and_dead_trainers(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"step": 1}\n{"step": 2}\n{"ste')
    assert read_jsonl(p) == [{"step": 1}, {"step": 2}]
    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    run.status_path.write_text(json.dumps({"state": "running", "pid": 2 ** 22 + 12345, "step": 3}))
    st = run.status()
    assert st["state"] == "interrupted" and "ended without finishing" in st["error"]
    with pytest.raises(ConfigError):
        RunDir.of(tmp_path, "../x")


def test_list_runs_includes_a_run_still_starting(tmp_path):
    from dcgan.runs.files import atomic_write_json
    train(tiny("done"), tmp_path, progress=False)
    starting = RunDir(tmp_path / "new")
    atomic_write_json(starting.status_path, {"state": "starting", "pid": None, "heartbeat": time.time()})
    (tmp_path / "not a run").mkdir()
    (tmp_path / "empty").mkdir()
    assert [r.name for r in list_runs(tmp_path)] == ["new", "done"]
    assert starting.status()["state"] == "starting"
    atomic_write_json(starting.status_path, {"state": "starting", "pid": None, "heartbeat": time.time() - 600})
    assert starting.status()["state"] == "failed"


def test_corrupt_generator_is_a_clear_error(tmp_path):
    train(tiny("bad"), tmp_path, progress=False)
    run = RunDir(tmp_path / "bad")
    run.generator_path.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_run_generator(run)
    with pytest.raises(CheckpointError, match="no generator weights"):
        load_run_generator(run, step=999)
