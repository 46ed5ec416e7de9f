"""bench/long_runs.py runs in --quick mode and fills its table (no speed is asserted: figures depend on
the machine and its load); its synthetic runs are runs every reader accepts."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench.long_runs import make_run, metrics_lines, table
from dcgan.runs.files import parse_jsonl
from dcgan.runs.records import valid_metrics_record

ROOT = Path(__file__).resolve().parents[2]


def test_synthetic_metrics_are_what_the_trainer_writes(tmp_path):
    data = metrics_lines(1, 500, seed=0)
    records = parse_jsonl(data)
    assert len(records) == 500 and records.skipped == 0 and all(map(valid_metrics_record, records))
    assert 200 < len(data) / 500 < 260  # about a real line's 230 bytes
    run = make_run(tmp_path, "r", steps=300, snapshots=5, grid_png=b"png")
    assert run.train_config() is not None and run.status()["state"] == "finished"
    assert [r["step"] for r in run.metrics()] == list(range(1, 301)) and run.snapshot_steps() == [0, 200, 400, 600, 800]
    assert run.weight_steps() == [0] and run.summary()["step"] == "300/300"


@pytest.mark.slow
def test_quick_run_prints_every_row(tmp_path):
    out = tmp_path / "long_runs.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "long_runs.py"), "--quick", "--json", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert [c["steps"] for c in report["charts"]] == [2_000, 10_000]
    for c in report["charts"]:
        assert all(math.isfinite(c[k]) and c[k] > 0 for k in ("first_load_ms", "refresh_ms", "whole_reread_ms"))
        assert c["buckets"] <= 1500 and len(c["refresh_all_ms"]) == 3
    assert report["scrub"]["snapshots"] == 50 and report["scrub"]["slider_options"] == 50
    assert report["scrub"]["page_move_s"] > 0 and report["runs"]["runs"] == 10
    stdout = proc.stdout
    assert stdout.startswith("machine: ") and stdout == table(report) + "\n"
    for row in ("chart first load, 10,000 steps", "chart refresh, slowest/fastest", "snapshot scrub, 50 snapshots",
                "Progress page (AppTest)", "runs table, 10 runs", "python -m dcgan runs, 10 runs"):
        assert row in stdout, row
