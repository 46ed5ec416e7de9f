"""bench/disk.py (a run folder's growth per 10,000 steps, docs/run-directory.md) runs and prints every
kind of file with a size; no size is asserted beyond being there and positive."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # a trainer at TrainConfig's own sizes (batch 128)
def test_disk_bench_prints_each_kind_of_file_per_10k_steps():
    proc = subprocess.run([sys.executable, "bench/disk.py", "--presets", "defaults", "--steps", "4"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {line.split()[0]: line for line in proc.stdout.splitlines() if line.startswith("  ")}
    for kind in ("metrics.jsonl", "snapshots/grid_*.png", "snapshots/G_*.safetensors", "train.log", "grows"):
        assert kind in rows, proc.stdout
        assert float(rows[kind].split()[-1]) > 0, rows[kind]
    assert re.search(r"with keep_snapshot_weights=4: grows by [\d.]+ MB per 10k steps", proc.stdout)
