"""A run's speed and ETA (dcgan.runs.progress): sane from the first reading, blind to pauses, the same
in the app's table and `python -m dcgan runs`."""
from __future__ import annotations

import json

import pytest

from dcgan import cli
from dcgan.config import TrainConfig
from dcgan.runs.files import atomic_write_json
from dcgan.runs.progress import format_seconds, paused_spans, run_progress
from dcgan.runs.rundir import RunDir


def timed(steps_and_seconds: list[tuple[int, float]], start: float = 1000.0) -> list[dict]:
    """Metrics records whose step k ended after its own duration: [(step, seconds it took), ...]."""
    records, now = [], start
    for step, seconds in steps_and_seconds:
        now += seconds
        records.append({"step": step, "time": now})
    return records


# 5 slow warm-up steps (allocations, kernel choice), then 10 steps/s: an 8-minute run of 4800 steps
WARM_START = [(s, 3.0) for s in range(1, 6)] + [(s, 0.1) for s in range(6, 400)]


def test_no_eta_before_enough_steady_steps():
    for n in (1, 2, 8, 15):
        prog = run_progress(timed(WARM_START[:n]), {"step": n, "total_steps": 4800})
        assert prog["eta_s"] is None and prog["steps_per_s"] is None, n


def test_the_first_eta_is_the_steady_speed_not_the_warm_up():
    prog = run_progress(timed(WARM_START[:20]), {"step": 20, "total_steps": 4800}, batch_size=64)
    assert prog["steps_per_s"] == pytest.approx(10.0)
    assert prog["eta_s"] == pytest.approx(478.0)  # 8 minutes, not "1 h 43 min"
    assert prog["images_per_s"] == pytest.approx(640.0)
    assert format_seconds(prog["eta_s"]) == "7 min 58 s"


def test_a_resume_pause_and_its_warm_up_are_left_out():
    records = timed(WARM_START[:60]) + timed([(s, 3.0) for s in range(61, 66)] + [(s, 0.2) for s in range(66, 90)],
                                             start=5000.0)
    assert paused_spans(records) == [(60, 61)]
    prog = run_progress(records, {"step": 89, "total_steps": 189})
    assert prog["steps_per_s"] == pytest.approx(5.0)
    assert prog["eta_s"] == pytest.approx(20.0)


def test_the_runs_table_shows_whole_image_sizes_and_a_dash(tmp_path):
    sized = RunDir(tmp_path / "sized")
    sized.path.mkdir()
    atomic_write_json(sized.config_path, TrainConfig(run_name="sized", image_size=64).to_dict())
    bare = RunDir(tmp_path / "bare")  # a status and no config: what a half-written run leaves
    bare.path.mkdir()
    atomic_write_json(bare.status_path, {"state": "stopped", "step": 3})
    assert sized.summary()["image size"] == "64"
    assert bare.summary()["image size"] == "–" and bare.summary()["dataset"] == "–"


def test_cli_runs_shows_the_speed_and_eta_of_a_live_run(tmp_path, capsys):
    run = RunDir(tmp_path / "live")
    run.path.mkdir()
    atomic_write_json(run.config_path, TrainConfig(run_name="live", steps=4800, batch_size=64).to_dict())
    run.metrics_path.write_text("".join(json.dumps(r) + "\n" for r in timed(WARM_START[:20])))
    run.write_status("running", 20, 4800)  # this process: a trainer that is alive
    assert cli.main(["runs", "--checkpoints", str(tmp_path)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.split()[:2] == ["live", "running"]
    assert "10.0 steps/s" in line and "ETA 7 min 58 s" in line
    assert run.summary()["ETA"] == "7 min 58 s"


def test_a_finished_run_still_says_the_speed_it_ran_at():
    from dcgan.runs.progress import progress_text
    prog = run_progress(timed(WARM_START[:40]), {"step": 40, "total_steps": 40}, batch_size=32)
    line = progress_text(prog, active=False, state="finished")
    assert line.startswith("step 40/40 · ") and line.endswith(" images/s · finished"), line
    assert "ETA" not in line
    assert progress_text(run_progress([], {"step": 0, "total_steps": 9}), active=False, state="failed") == "step 0/9 · failed"
