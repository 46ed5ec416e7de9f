"""A full disk at every kind of write a run makes: the trainer stops with status 'failed' and one line
saying which file, that the disk is full and what was kept; the run resumes from its last good
checkpoint once there is space. The writes fail through dcgan/faults.py (DCGAN_FAULT's points, armed
in this process), and the trainer's output through a real full device (/dev/full); the CLI's own
files (model card, exports) fail with one line and leave nothing half-written."""
from __future__ import annotations

import errno
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faultkit import cli_out, one_line_error
from dcgan import faults
from dcgan.runs.checkpoint import checkpoint_step
from dcgan.runs.files import TEMP_SUFFIX, WriteError, append_line, atomic_write_bytes, close_quietly
from dcgan.runs.rundir import RunDir, RunFolderGone
from dcgan.training import loop
from dcgan.training.loop import train
from dcgan.training.resume import resume_config


@pytest.fixture
def armed():
    yield faults.arm
    faults.arm(None)


def quiet(_: str) -> None:
    pass


def failed_clearly(run: RunDir, file: str) -> dict:
    """status.json says failed: which file, the disk is full, the checkpoint kept; one line, no temp files."""
    st = run.status()
    assert st["state"] == "failed", st
    assert f"{file}: the disk is full" in st["error"], st["error"]
    assert "\n" not in st["error"] and "Traceback" not in st["error"]
    if run.checkpoint_path.is_file():
        assert f"the last checkpoint (step {checkpoint_step(run.checkpoint_path)}) is kept" in st["error"]
    assert not list(run.path.rglob("*" + TEMP_SUFFIX))
    return st


def resumes(root: Path, name: str, steps: int) -> None:
    """Space freed: the run resumes from its checkpoint and finishes with every step logged once."""
    faults.arm(None)
    assert train(resume_config(root, name, steps=steps), root, resume=True, progress=False, log=quiet) == "finished"
    run = RunDir(root / name)
    assert [r["step"] for r in run.metrics()] == list(range(1, steps + 1))
    assert run.metrics().skipped == 0


# (fault point, the file the error names) for each kind of file the trainer writes whole or appends;
# TINY: snapshots (grid and weights) at 0, 4, 8, 12, checkpoints at 0, 6, 12
@pytest.mark.parametrize("point, file", [
    ("write:grid_*@3", "grid_000008.png"),                 # mid-snapshot: the grid
    ("write:G_*@2", "G_000004.safetensors"),               # mid-snapshot: the weights
    ("append:metrics.jsonl@8", "metrics.jsonl"),           # half a metrics line on disk
    ("write:checkpoint.pt@2", "checkpoint.pt"),
    ("write:generator.safetensors@2", "generator.safetensors"),  # the exported generator
    ("write:status.json@2", "status.json"),
])
def test_a_full_disk_at_each_run_file_fails_the_run_clearly_and_it_resumes(tmp_path, tiny, armed, point, file):
    armed(f"{point}=ENOSPC")
    with pytest.raises(WriteError, match=f"{file}: the disk is full"):
        train(tiny("full"), tmp_path, progress=False, log=quiet)
    run = RunDir(tmp_path / "full")
    failed_clearly(run, file)
    if point.startswith("append:"):
        assert not run.metrics_path.read_bytes().endswith(b"\n")  # the torn line readers skip
        assert [r["step"] for r in run.metrics()] == list(range(1, 8))
    resumes(tmp_path, "full", 16)


def test_a_full_disk_under_eval_jsonl_fails_the_run_clearly_and_it_resumes(tmp_path, tiny, armed, monkeypatch):
    """The trainer's periodic evaluation (here a stand-in evaluator on a folder run) appended to eval.jsonl."""
    import dcgan.evaluation.evaluate as evaluate

    class Evaluator:
        floor, best_coverage = {"fid": 1.0}, 0

        def __init__(self, cfg, device, log):
            pass

        def __call__(self, G, step):
            return {"step": step, "fid": 2.0, "precision": 0.5, "recall": 0.5, "classes_covered": 2,
                    "floor": {"fid": 1.0}}

    monkeypatch.setattr(evaluate, "TrainingEvaluator", Evaluator)
    monkeypatch.setenv("DCGAN_CACHE_DIR", str(tmp_path / "cache"))
    images = tmp_path / "images"
    for label in ("a", "b"):
        (images / label).mkdir(parents=True)
        for i in range(12):
            pixels = np.random.default_rng(i).integers(0, 255, (28, 28), dtype=np.uint8)
            Image.fromarray(pixels).save(images / label / f"{i}.png")
    cfg = tiny("evald", dataset="folder", image_folder=str(images), channels=1, eval_every=4, eval_samples=100)
    armed("append:eval.jsonl@2=ENOSPC")  # step 0's line is written, step 4's fails half-way
    with pytest.raises(WriteError, match="eval.jsonl: the disk is full"):
        train(cfg, tmp_path, progress=False, log=quiet)
    run = RunDir(tmp_path / "evald")
    failed_clearly(run, "eval.jsonl")
    assert [r["step"] for r in run.evaluations()] == [0] and not run.eval_log_path.read_bytes().endswith(b"\n")
    resumes(tmp_path, "evald", 12)
    assert [r["step"] for r in run.evaluations()] == [0, 4, 8, 12]


@pytest.fixture
def stdout_to(monkeypatch):
    """Point print() at a file for one test, closed after (quietly: a full device fails its last flush)."""
    opened = []

    def use(path: Path | str):
        f = open(path, "a", buffering=1)
        opened.append(f)
        monkeypatch.setattr(sys, "stdout", f)
    yield use
    for f in opened:
        try:
            f.close()
        except OSError:
            pass


def test_a_full_disk_under_the_trainers_output_fails_the_run_naming_it(tmp_path, tiny, stdout_to):
    """The trainer's own output on a device that is really full (/dev/full: every write is ENOSPC)."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    stdout_to("/dev/full")
    with pytest.raises(WriteError, match=r"the trainer's output \(stdout\): the disk is full"):
        train(tiny("loud"), tmp_path, progress=False, log=print)
    st = RunDir(tmp_path / "loud").status()
    assert st["state"] == "failed" and "the trainer's output (stdout): the disk is full" in st["error"]
    # it failed at its first line, before any checkpoint: the error says a resume is not possible
    assert "no checkpoint was saved yet" in st["error"]


def test_a_full_disk_under_train_log_names_train_log_and_the_run_resumes(tmp_path, tiny, armed, stdout_to):
    """A launched trainer's stdout is the run's train.log (the launcher's redirect): the error names it."""
    run = RunDir(tmp_path / "logged")
    run.path.mkdir()
    stdout_to(run.log_path)
    armed("append:train.log@3=ENOSPC")  # the dataset line, step 2's, then step 4's fails
    with pytest.raises(WriteError, match="train.log: the disk is full"):
        train(tiny("logged", log_every=2), tmp_path, progress=False, log=print)
    failed_clearly(run, "train.log")
    assert "step 2/12" in run.log_path.read_text()
    resumes(tmp_path, "logged", 12)


def test_a_line_on_a_full_device_is_a_write_error_naming_the_file(tmp_path):
    """append_line on a real ENOSPC (/dev/full), as a metrics or eval line would meet it."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    f = open("/dev/full", "a", buffering=1)
    with pytest.raises(WriteError, match="metrics.jsonl: the disk is full") as e:
        append_line(f, tmp_path / "metrics.jsonl", '{"step":1}\n')
    assert e.value.errno == errno.ENOSPC
    close_quietly(f)  # its close() fails the same flush again: the trainer's finally must not raise that
    assert f.closed


def test_a_full_disk_writing_the_model_card_or_an_export_says_so_in_one_line(tmp_path, tiny, armed):
    root = tmp_path / "checkpoints"
    assert train(tiny("card"), root, progress=False, log=quiet) == "finished"
    run = RunDir(root / "card")
    armed("write:MODEL_CARD.md@1=ENOSPC")
    one_line_error(cli_out("card", run.path), "MODEL_CARD.md: the disk is full")
    assert not run.model_card_path.exists()
    armed("write:walk.gif@1=ENOSPC")
    out = tmp_path / "exports" / "walk.gif"
    one_line_error(cli_out("interpolate", run.path, "--frames", "4", "--out", out), "walk.gif: the disk is full")
    assert not list((tmp_path / "exports").iterdir())  # no GIF, no half of one
    armed("write:sweep.png@1=ENOSPC")
    one_line_error(cli_out("sweep", run.path, "--components", "0,1", "--out", tmp_path / "sweep.png"),
                   "sweep.png: the disk is full")
    armed(None)
    code, out_text, _ = cli_out("interpolate", run.path, "--frames", "4", "--out", out)
    assert code == 0 and out.is_file()  # a user's folder is still made for their file


def test_a_run_folder_deleted_during_a_write_is_not_made_again(tmp_path, tiny, monkeypatch):
    """Deleted between the trainer's check that the folder is still its own and the write itself: the
    write finds no folder (atomic_write_bytes makes none) and the trainer stops, leaving nothing there."""
    import shutil
    run = RunDir(tmp_path / "vanishing")
    real_png = loop.png_bytes
    calls = []

    def png_then_delete(grid):
        calls.append(1)
        if len(calls) == 2:  # step 4's grid: after check_claimed, before its write
            shutil.rmtree(run.path)
        return real_png(grid)

    monkeypatch.setattr(loop, "png_bytes", png_then_delete)
    with pytest.raises(RunFolderGone, match="deleted or replaced"):
        train(tiny("vanishing"), tmp_path, progress=False, log=quiet)
    assert not run.path.exists()


def test_a_write_that_may_not_make_folders_makes_none(tmp_path):
    gone = RunDir(tmp_path / "deleted-run")
    with pytest.raises(WriteError, match="deleted-run/status.json"):
        atomic_write_bytes(gone.status_path, b"{}", make_parents=False)
    with pytest.raises(WriteError, match="deleted-run/STOP"):
        gone.request_stop()  # a stop asked of a run deleted meanwhile
    assert not gone.path.exists()
    # a RunDir never claimed by lock() is a new run, not a deleted one: its status makes its folder (a
    # claimed run deleted under its trainer is refused by check_claimed: the test above)
    RunDir(tmp_path / "new-run").write_status("starting", own=False)
    assert RunDir(tmp_path / "new-run").status()["state"] == "starting"
    atomic_write_bytes(tmp_path / "made" / "x.json", b"{}")  # other files (a user's --out) get their folder
    assert (tmp_path / "made" / "x.json").read_bytes() == b"{}"


def test_an_interrupted_run_on_a_nearly_full_disk_says_so(tmp_path, monkeypatch):
    """A trainer that found the disk full could not write even its status: a reader adds the free space."""
    import os
    import shutil
    import time
    from collections import namedtuple
    from dcgan.runs import rundir
    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    rundir.atomic_write_json(run.status_path, {"state": "running", "pid": 2 ** 22 + 77, "step": 5,
                                               "total_steps": 10, "heartbeat": time.time()})
    assert "disk" not in run.status()["error"]
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 ** 9, 10 ** 9 - 2_100_000, 2_100_000))
    st = run.status()
    assert st["state"] == "interrupted"
    assert "the disk holding the run has only 2.1 MB free" in st["error"] and "resume" in st["error"]
    assert os.path.isdir(run.path)


@pytest.mark.slow  # the whole Train page in AppTest
def test_the_train_page_shows_a_disk_full_failure_and_offers_resume(tmp_path, tiny, armed, app_env):
    from apptestkit import open_app
    armed("append:metrics.jsonl@8=ENOSPC")
    with pytest.raises(WriteError):
        train(tiny("full"), tmp_path, progress=False, log=quiet)
    armed(None)
    app_env(tmp_path)
    at = open_app("train", run="full")
    errors = [e.value for e in at.error]
    assert any("Run **full** failed" in e and "metrics.jsonl: the disk is full" in e
               and "the last checkpoint (step 6) is kept" in e for e in errors), errors
    assert not next(b for b in at.button if b.label == "Resume").disabled
