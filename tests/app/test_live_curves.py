"""The app's chart buckets per run (explorer.live.run_curves): one server-wide copy per run that each call
brings up to date from the lines appended since the last, starting again when a resume replaced the file;
each caller gets its own copy to draw."""
from __future__ import annotations

import pytest
import streamlit as st

from dcgan.runs.files import atomic_write_bytes, jsonl_line
from dcgan.runs.rundir import RunDir
from explorer.live import _run_curves, run_curves


def lines(first: int, last: int, loss_g: float = 1.0) -> bytes:
    return "".join(jsonl_line({"step": s, "loss_d": 0.7, "loss_g": loss_g}) for s in range(first, last + 1)).encode()


@pytest.fixture
def clean_cache():
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def test_run_curves_follow_the_file_and_are_shared(tmp_path, clean_cache):
    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    run.metrics_path.write_bytes(lines(1, 100))
    first = run_curves(run)
    assert len(first) == 100
    shared, _ = _run_curves(str(run.path), run)
    assert shared.follower.offset == run.metrics_path.stat().st_size
    with open(run.metrics_path, "ab") as f:
        f.write(lines(101, 130) + b"junk\n")
    again = run_curves(RunDir(run.path))  # another page or session: the same buckets, brought up to date
    assert len(again) == 130 and again.skipped == 1 and len(first) == 100  # the first caller's copy stays
    assert _run_curves(str(run.path), run)[0] is shared
    # a resume from step 60 replaces the file: the buckets start again from it
    atomic_write_bytes(run.metrics_path, lines(1, 60) + lines(61, 80, loss_g=9.0))
    resumed = run_curves(run)
    assert len(resumed) == 80 and resumed.skipped == 0
    assert resumed.series("loss_g").y.max() == 9.0 and resumed.steps[-1] == 80
