"""What listing runs reads: a run's weights from one listing of its snapshots (the same steps as a look-up
per snapshot gave), and a row of the runs table for a run that is not training without its metrics."""
from __future__ import annotations

from dcgan.runs.files import atomic_write_json, jsonl_line
from dcgan.runs.rundir import RunDir


def test_weight_steps_are_the_grids_whose_weights_file_is_there(tmp_path):
    run = RunDir(tmp_path / "r")
    run.snapshots_dir.mkdir(parents=True)
    for step in (0, 200, 400, 600, 1_234_567):
        run.grid_path(step).write_bytes(b"png")
    for step in (0, 400, 800, 1_234_567):  # 800: weights without a grid
        run.snapshot_weights_path(step).write_bytes(b"")
    run.snapshot_weights_path(600).mkdir()  # a folder by that name is no weights file
    (run.snapshots_dir / "G_0000200.safetensors").write_bytes(b"")  # not the name step 200's weights have
    (run.snapshots_dir / "G_000200.safetensors.tmp").write_bytes(b"")  # a writer's leftover
    assert run.weight_steps() == [0, 400, 1_234_567]
    assert run.weight_steps() == [s for s in run.snapshot_steps() if run.snapshot_weights_path(s).is_file()]
    assert RunDir(tmp_path / "none").weight_steps() == []


def test_a_finished_runs_row_needs_no_metrics_and_a_running_one_reads_its_speed(tmp_path):
    run = RunDir(tmp_path / "done")
    run.path.mkdir()
    atomic_write_json(run.config_path, {"run_name": "done", "steps": 40})
    atomic_write_json(run.status_path, {"state": "finished", "step": 40, "total_steps": 40})
    run.metrics_path.mkdir()  # whatever metrics.jsonl has become, the row does not read it
    row = run.summary()
    assert (row["state"], row["step"], row["speed"], row["ETA"]) == ("finished", "40/40", "–", "–")
    # without a step in its status, the newest metrics say how far it got
    atomic_write_json(run.status_path, {"state": "stopped"})
    run.metrics_path.rmdir()
    run.metrics_path.write_text("".join(jsonl_line({"step": s, "time": 100.0 + s}) for s in range(1, 31)))
    assert run.summary()["step"] == "30/40" and run.progress()["steps_per_s"] == 1.0
