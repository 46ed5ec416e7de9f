"""A trainer whose run folder is deleted (or deleted and made again by another run of the same name)
while it trains: it stops with one line on stderr and never writes a half run into the path."""
from __future__ import annotations

import pytest

import json
import shutil
from pathlib import Path

import faultkit

CFG = dict(run_name="doomed", dataset="synthetic", image_size=28, batch_size=16, z_dim=16, g_width=8, d_width=8,
           grid_size=16, steps=400, snapshot_every=3, snapshot_weights_every=1, checkpoint_every=5, log_every=1000,
           seed=5)


def stopped_mid_run(tmp_path: Path) -> tuple[faultkit.Trainer, Path]:
    """A trainer process paused (SIGSTOP) after its 20th step, and its run folder."""
    root = tmp_path / "checkpoints"
    root.mkdir()
    config = tmp_path / "config.json"
    config.write_text(json.dumps(CFG))
    trainer = faultkit.Trainer(["train", "--config", str(config), "--checkpoints", str(root), "--quiet"],
                               tmp_path / "trainer.log", fault="step@20")
    assert trainer.wait_stopped_or_exit() == "stopped", trainer.log()
    run = root / "doomed"
    assert (run / "config.json").is_file() and (run / "checkpoint.pt").is_file()
    return trainer, run


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def gone_lines(trainer: faultkit.Trainer) -> list[str]:
    return [line for line in trainer.log().splitlines() if "deleted or replaced" in line]


@pytest.mark.slow
def test_a_deleted_run_folder_stops_its_trainer_and_stays_deleted(tmp_path):
    trainer, run = stopped_mid_run(tmp_path)
    try:
        shutil.rmtree(run)
        trainer.cont()
        code = trainer.join(120)
    finally:
        trainer.ensure_gone()
    assert not run.exists(), f"the trainer made the folder again: {sorted(files_of(run))}"
    assert code == 1
    assert len(gone_lines(trainer)) == 1 and "Traceback" not in trainer.log(), trainer.log()


@pytest.mark.slow
def test_a_replaced_run_folder_is_left_to_its_new_owner(tmp_path):
    trainer, run = stopped_mid_run(tmp_path)
    try:
        shutil.rmtree(run)
        run.mkdir()  # another run of the same name, just started
        (run / "config.json").write_text(json.dumps({**CFG, "seed": 9}))
        (run / "status.json").write_text(json.dumps({"state": "starting", "step": 0}))
        (run / "STOP").write_text("1\n")  # a stop request meant for the new run
        before = files_of(run)
        trainer.cont()
        code = trainer.join(120)
    finally:
        trainer.ensure_gone()
    assert files_of(run) == before
    assert code == 1
    assert len(gone_lines(trainer)) == 1 and "Traceback" not in trainer.log(), trainer.log()
