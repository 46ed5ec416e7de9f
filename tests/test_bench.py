"""The speed benchmark (bench/run.py) runs and fills its table: throughput and latency in --quick
mode on synthetic data. No speed is asserted here, ever: figures depend on the machine and its load;
the table's verdicts are for a person reading a run on a quiet machine."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import Row, Target
from bench.throughput import plan

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "checkpoints"
BATCH_SIZES = (64, 128)
THROUGHPUT_ROWS = ["reference loop (pytorch/examples)", "bare train_step", "ours (dcgan.training.loop.train) vs bare",
                   "ours vs reference"]
LATENCY_ROWS = ["generator load (first view, then cached)", "one z -> one image, p95", "12x12 sweep grid, p95",
                "64-frame interpolation GIF, p95"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--parts", "throughput", "latency",
         "--dataset", "synthetic", "--sizes", "28", "--batch-sizes", *map(str, BATCH_SIZES), "--json", str(out),
         # one call per latency row, no warm-up: the 64 px sweep and GIF are the slow part of this test
         "--latency-calls", "1", "--latency-min-calls", "1", "--latency-warmup-calls", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def test_quick_run_has_every_row_with_finite_positive_figures(quick_run):
    report, _ = quick_run
    names = [(r["part"], r["name"]) for r in report["rows"]]
    expected = [(f"throughput 28 px, batch {b}", name) for b in BATCH_SIZES for name in THROUGHPUT_ROWS]
    for size, run in ((28, "mnist"), (64, "faces")):
        if (SHIPPED / run / "generator.safetensors").is_file():
            expected += [(f"latency {size} px ({run})", name) for name in LATENCY_ROWS]
    assert names == expected
    for row in report["rows"]:
        assert math.isfinite(row["value"]) and row["value"] > 0, row
        if row["baseline"] is not None:
            assert math.isfinite(row["ratio"]) and row["ratio"] > 0, row
            assert row["passed"] in (True, False)
    ours = next(r for r in report["rows"] if r["name"] == THROUGHPUT_ROWS[2])
    assert len(ours["extra"]["rounds"]) == 1  # --quick: one round
    assert report["machine"]["cores"] >= 1 and report["machine"]["torch"]


def test_quick_run_prints_the_machine_and_one_table(quick_run):
    report, stdout = quick_run
    assert stdout.startswith("machine: ")
    assert stdout.count("part ") == 1 and "verdict" in stdout
    assert "synthetic" in stdout  # the data the throughput was measured on is named
    assert f"of {sum(r['passed'] is not None for r in report['rows'])} targets met" in stdout


def test_each_window_holds_exactly_one_grid_save():
    for seconds_per_step in (0.001, 0.05, 2.0, 30.0):
        p = plan(seconds_per_step, window_s=10, warmup_s=2, min_steps=5)
        assert 1 <= p.warmup <= p.steps and p.save_every == p.steps
        # ours saves after steps that are multiples of save_every, the reference after 0-based
        # iterations that are: either way one multiple in the window's consecutive numbers
        assert sum(s % p.save_every == 0 for s in range(p.warmup, p.warmup + p.steps)) == 1


def test_verdicts_use_the_ratio_when_there_is_a_baseline():
    assert Row("t", "x", 96.0, "img/s", 100.0, "bare", Target(">=", 0.95)).passed is True
    assert Row("t", "x", 94.0, "img/s", 100.0, "bare", Target(">=", 0.95)).passed is False
    assert Row("l", "x", 31.0, "ms", target=Target("<=", 30.0)).passed is False
    assert Row("l", "x", 31.0, "ms").passed is None
