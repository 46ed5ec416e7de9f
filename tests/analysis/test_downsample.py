"""Charts' buckets (dcgan.analysis.downsample): a one-step spike survives any run length; buckets kept as
records arrive equal buckets built from scratch; a short run is drawn exactly as before (every step, the
same trailing mean); RunCurves follows a run's metrics.jsonl, a resume's new file included."""
from __future__ import annotations

import random

import numpy as np
import pytest

from dcgan.analysis.downsample import CurveBuckets, RunCurves, buckets_of
from dcgan.analysis.stats_chart import running_mean
from dcgan.runs.files import atomic_write_bytes, jsonl_line
from dcgan.runs.rundir import RunDir

KEYS = ("loss_d", "loss_g", "lr_d")


def records(n: int, seed: int = 0, start: int = 1) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    for s in range(start, start + n):
        r = {"step": s, "loss_d": rnd.uniform(0.2, 1.5), "loss_g": rnd.uniform(0.5, 3.0)}
        if s % 3:  # a statistic some records lack
            r["lr_d"] = 2e-4 * rnd.random()
        out.append(r)
    return out


@pytest.mark.parametrize("n,spike_at", [(200_000, 123_457), (1_000, 1), (50_000, 50_000)])
def test_a_single_step_spike_survives(n, spike_at):
    buckets = CurveBuckets(KEYS)
    flat = [{"step": s, "loss_d": 0.7, "loss_g": 1.0} for s in range(1, n + 1)]
    flat[spike_at - 1]["loss_g"] = 40.0
    for i in range(0, n, 7_919):  # as a live view takes them: a poll's worth at a time
        buckets.add(flat[i:i + 7_919])
    series = buckets.series("loss_g", smooth=max(1, n // 100))
    assert len(series.x) <= 1500 and series.x[-1] == n
    assert series.high.max() == 40.0 and series.low.min() == 1.0
    assert series.x[series.high.argmax()] >= spike_at > series.x[series.high.argmax()] - buckets.width
    if n > 1500:
        assert buckets.banded and series.y.max() < 40.0  # the mean alone would have flattened it


@pytest.mark.parametrize("max_buckets", [16, 1500])
def test_buckets_kept_as_records_arrive_equal_buckets_built_from_scratch(max_buckets):
    rows = records(9_999, seed=max_buckets)
    whole = CurveBuckets(KEYS, max_buckets)
    whole.add(rows)
    live = CurveBuckets(KEYS, max_buckets)
    rnd, at = random.Random(1), 0
    while at < len(rows):
        step = rnd.choice([1, 2, 3, 50, 100, 777, 4_000])
        live.add(rows[at:at + step])
        at += step
        assert len(live.fill) <= max_buckets and live.fill[:-1].tolist() == [live.width] * (len(live.fill) - 1)
    assert (live.width, live.records) == (whole.width, whole.records) == (live.width, 9_999)
    for name in ("steps", "fill", "count", "min", "max"):
        assert np.array_equal(getattr(live, name), getattr(whole, name), equal_nan=True), name
    assert np.allclose(live.sum, whole.sum, rtol=1e-12, atol=0)
    for key in KEYS:
        a, b = live.series(key, smooth=100), whole.series(key, smooth=100)
        assert np.array_equal(a.x, b.x) and np.allclose(a.y, b.y, rtol=1e-9)


def test_buckets_agree_with_the_records_they_hold():
    rows = records(5_000, seed=5)
    buckets = buckets_of(rows, KEYS, max_buckets=100)
    assert buckets.width == 64 and len(buckets.fill) == 79 and buckets.fill[-1] == 5_000 - 78 * 64
    for b in (0, 40, 78):
        held = rows[b * 64:(b + 1) * 64]
        assert buckets.steps[b] == held[-1]["step"]
        for k, key in enumerate(KEYS):
            values = [r[key] for r in held if key in r]
            assert buckets.count[b, k] == len(values)
            assert (buckets.min[b, k], buckets.max[b, k]) == (min(values), max(values))
            assert buckets.sum[b, k] == pytest.approx(sum(values))


def test_a_short_run_is_every_step_and_the_same_trailing_mean_as_before():
    rows = records(1_200, seed=2)
    buckets = buckets_of(rows, KEYS)
    assert buckets.width == 1 and not buckets.banded
    for key in KEYS:
        have = [r for r in rows if key in r]
        raw = buckets.series(key)
        assert raw.x.tolist() == [r["step"] for r in have] and raw.y.tolist() == [r[key] for r in have]
        smooth = buckets.series(key, smooth=12)
        assert smooth.y == pytest.approx(running_mean([r[key] for r in have], 12), rel=1e-12)


def test_records_without_a_number_are_left_out_of_that_curve_only():
    buckets = buckets_of([{"step": 1, "loss_d": 1.0, "loss_g": "high"}, {"step": 2, "loss_g": 2.0},
                          {"step": "3", "loss_d": 9.0}, {"loss_d": 9.0}], KEYS)
    assert len(buckets) == 2  # the records without an int step are no records here
    assert buckets.series("loss_d").x.tolist() == [1] and buckets.series("loss_g").y.tolist() == [2.0]
    assert len(buckets.series("lr_d").x) == 0 and len(CurveBuckets(KEYS).series("loss_d").y) == 0


def write(run: RunDir, rows: list[dict], mode: str = "ab") -> None:
    with open(run.metrics_path, mode) as f:
        f.write("".join(jsonl_line(r) for r in rows).encode())


def test_run_curves_follow_the_run_and_start_again_after_a_resume(tmp_path):
    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    rows = records(3_000, seed=4)
    write(run, rows[:2_000])
    curves = RunCurves(run, KEYS, max_buckets=64)
    assert len(curves.update()) == 2_000
    write(run, rows[2_000:])
    with open(run.metrics_path, "ab") as f:
        f.write(b"junk\n" + jsonl_line(rows[0])[:10].encode())  # a damaged line and a torn one
    got = curves.update()
    fresh = buckets_of(run.metrics(), KEYS, max_buckets=64)
    assert len(got) == 3_000 and got.skipped == fresh.skipped == 1
    assert np.array_equal(got.max, fresh.max) and np.array_equal(got.steps, fresh.steps)
    # a resume from step 1,000 replaces the file with steps 1..1,000 and trains on with other values
    atomic_write_bytes(run.metrics_path, "".join(jsonl_line(r) for r in rows[:1_000]).encode())
    write(run, [dict(r, loss_g=50.0) for r in rows[1_000:1_100]])
    got = curves.update()
    assert len(got) == 1_100 and got.skipped == 0
    assert got.series("loss_g").high.max() == 50.0 and got.steps[-1] == 1_100
    copy = got.copy()
    write(run, rows[1_100:1_200])
    curves.update()
    assert len(copy) == 1_100 and len(curves.buckets) == 1_200  # a copy a chart draws does not move
