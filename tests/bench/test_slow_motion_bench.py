"""bench/slow_motion.py runs and prints its rows with finite, positive figures; no speed is asserted (the
figures depend on the machine and its load, which the script prints)."""
from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_slow_motion_bench_prints_every_row(tmp_path):
    if not (ROOT / "checkpoints" / "mnist" / "discriminator.safetensors").is_file():
        pytest.skip("the shipped MNIST model (with its D) is not in this checkout")
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "slow_motion.py"), "--models", "mnist", "--repeats",
                           "1", "--threads", "1"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"\d+ cores, torch .* on 1 threads, load average \(1 min\) [\d.]+", proc.stdout)
    rows = [line for line in proc.stdout.splitlines() if line.startswith("mnist")]
    assert [re.split(r"\s{2,}", r)[2] for r in rows] == [
        "step, every view", "step, no views", "Inside G, layer 4 ranked (32 units)"], proc.stdout
    for row in rows:
        ms = float(row.split()[-1])
        assert math.isfinite(ms) and ms > 0
