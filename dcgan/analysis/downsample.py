"""Training statistics downsampled for charts, kept up to date as the run goes: a chart costs the same at
step 1,000,000 as at step 10,000, and a one-step spike still shows.

How: the records are cut into consecutive buckets of `width` records, at most `max_buckets` of them (about
one per pixel column of a chart), and each bucket keeps per statistic its count, sum, min and max. When
the run outgrows max_buckets, neighbouring buckets merge in pairs and the width doubles. Count, sum, min
and max merge exactly, so buckets built as the records arrive equal buckets built from scratch from the
same records, and a poll that brings 100 new records costs 100 records' work plus a chart of max_buckets
points: nothing that grows with the run. The chart draws each bucket's mean, smoothed by a trailing mean
over about 1 % of the run (sums and counts of the last few buckets), and, once a bucket holds more than one
step, the buckets' raw min..max as a faint band, so a spike the mean flattens stays in sight.

Why min/max and not LTTB (largest-triangle-three-buckets): LTTB picks each bucket's point by looking at
its neighbours, so it cannot be updated by merging and has to be run again over the whole run at every
refresh; and it keeps one point per bucket, which a spike can lose to a larger triangle nearby. min/max
keeps every spike by construction.

RunCurves ties the buckets to a run's metrics.jsonl followed incrementally (RunDir.metrics_follower()).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..runs.rundir import RunDir

MAX_BUCKETS = 1500  # about a chart's width in pixels: more points only slow the browser down
_NUMBERS = (int, float)


@dataclass(frozen=True)
class Series:
    """One statistic ready to draw: x (the step that ends each bucket), y (its mean, smoothed), and the
    raw low/high of each bucket; all of one length, buckets without the statistic left out."""

    x: np.ndarray
    y: np.ndarray
    low: np.ndarray
    high: np.ndarray


class CurveBuckets:
    """Per-statistic bucket aggregates (count, sum, min, max) of metrics records, at most max_buckets
    buckets of `width` consecutive records each; add() takes new records at a cost that does not grow
    with what came before. len() is the number of records taken; skipped, the damaged lines its source
    left out (for the app's note)."""

    def __init__(self, keys: tuple[str, ...] | list[str], max_buckets: int = MAX_BUCKETS):
        if max_buckets < 2:
            raise ValueError("max_buckets must be at least 2")
        self.keys = tuple(keys)
        self.max_buckets = int(max_buckets)
        self.reset()

    def reset(self) -> None:
        """Forget every record (the log was replaced by a resume, or shortened)."""
        k = len(self.keys)
        self.width = 1
        self.records = 0
        self.skipped = 0
        self.steps = np.zeros(0, np.int64)  # the step of each bucket's last record (x of its point)
        self.fill = np.zeros(0, np.int64)  # records in each bucket: width, but the last one may hold fewer
        self.count = np.zeros((0, k), np.int64)  # records with a number for each statistic
        self.sum = np.zeros((0, k), np.float64)
        self.min = np.zeros((0, k), np.float64)
        self.max = np.zeros((0, k), np.float64)

    def __len__(self) -> int:
        return self.records

    def copy(self) -> "CurveBuckets":
        """An independent copy (what a chart draws while another viewer adds to the original)."""
        out = CurveBuckets(self.keys, self.max_buckets)
        out.width, out.records, out.skipped = self.width, self.records, self.skipped
        for name in ("steps", "fill", "count", "sum", "min", "max"):
            setattr(out, name, getattr(self, name).copy())
        return out

    # --- taking records --------------------------------------------------------------------------
    def add(self, records: list[dict]) -> None:
        """Take new records in order (each with an int 'step'; a statistic that is missing or not a
        number is left out of its curve)."""
        n = len(records)
        if not n:
            return
        steps = np.fromiter((r["step"] for r in records), np.int64, n)
        values = _columns(records, self.keys)
        # widen first, so the buckets never outnumber max_buckets (nor take memory for all n records)
        while -(-(self.records + n) // self.width) > self.max_buckets:
            self._merge_pairs()
        i = 0
        if len(self.fill) and self.fill[-1] < self.width:  # top up the last, partly filled bucket
            i = min(n, int(self.width - self.fill[-1]))
            count, total, low, high = _aggregate(values[:i][None])
            self.count[-1] += count[0]
            self.sum[-1] += total[0]
            self.min[-1] = np.fmin(self.min[-1], low[0])
            self.max[-1] = np.fmax(self.max[-1], high[0])
            self.fill[-1] += i
            self.steps[-1] = steps[i - 1]
        rest = n - i
        full, left = divmod(rest, self.width)
        parts = []
        if full:
            block = values[i:i + full * self.width].reshape(full, self.width, -1)
            parts.append((_aggregate(block), steps[i + self.width - 1:i + full * self.width:self.width],
                          np.full(full, self.width, np.int64)))
        if left:
            parts.append((_aggregate(values[n - left:][None]), steps[-1:], np.array([left], np.int64)))
        for (count, total, low, high), last_steps, fill in parts:
            self.count = np.concatenate([self.count, count])
            self.sum = np.concatenate([self.sum, total])
            self.min = np.concatenate([self.min, low])
            self.max = np.concatenate([self.max, high])
            self.steps = np.concatenate([self.steps, last_steps])
            self.fill = np.concatenate([self.fill, fill])
        self.records += n

    def _merge_pairs(self) -> None:
        """Buckets 0+1, 2+3, ... become one each and the width doubles (an odd last bucket stays alone,
        partly filled at the new width)."""
        self.width *= 2
        b = len(self.fill)
        if b == 0:
            return
        if b % 2:  # pad with an empty bucket so every bucket has a partner
            self.count = np.concatenate([self.count, np.zeros((1, len(self.keys)), np.int64)])
            self.sum = np.concatenate([self.sum, np.zeros((1, len(self.keys)))])
            self.min = np.concatenate([self.min, np.full((1, len(self.keys)), np.nan)])
            self.max = np.concatenate([self.max, np.full((1, len(self.keys)), np.nan)])
            self.steps = np.concatenate([self.steps, self.steps[-1:]])
            self.fill = np.concatenate([self.fill, [0]])
        pairs = len(self.fill) // 2
        self.count = self.count.reshape(pairs, 2, -1).sum(axis=1)
        self.sum = self.sum.reshape(pairs, 2, -1).sum(axis=1)
        self.min = np.fmin.reduce(self.min.reshape(pairs, 2, -1), axis=1)
        self.max = np.fmax.reduce(self.max.reshape(pairs, 2, -1), axis=1)
        self.steps = self.steps.reshape(pairs, 2).max(axis=1)
        self.fill = self.fill.reshape(pairs, 2).sum(axis=1)

    # --- drawing ---------------------------------------------------------------------------------
    def series(self, key: str, smooth: int = 1) -> Series:
        """One statistic's points: each bucket's mean, then a trailing mean over `smooth` records (rounded
        to whole buckets; 1 = none), and each bucket's raw min and max."""
        k = self.keys.index(key)
        has = self.count[:, k] > 0
        count, total = self.count[has, k], self.sum[has, k]
        window = max(1, round(smooth / self.width))
        if window == 1:
            y = total / np.maximum(count, 1)
        else:  # sums over the last `window` buckets from running totals: one pass, however long the run
            sums, counts = np.concatenate([[0.0], np.cumsum(total)]), np.concatenate([[0], np.cumsum(count)])
            end = np.arange(1, len(total) + 1)
            start = np.maximum(0, end - window)
            y = (sums[end] - sums[start]) / (counts[end] - counts[start])
        return Series(self.steps[has], y, self.min[has, k], self.max[has, k])

    @property
    def banded(self) -> bool:
        """Whether a bucket holds more than one record, so its min..max says more than its mean."""
        return self.width > 1


def _columns(records: list[dict], keys: tuple[str, ...]) -> np.ndarray:
    """(records, keys) as floats, NaN where a record has no number. Column by column first (twice as
    fast: a first load takes a million records); a record with something else there (None, text) sends
    the whole lot the careful way. Records checked by runs.records hold numbers or nothing."""
    nan = math.nan
    try:
        columns = [np.array([r.get(k, nan) for r in records], np.float64) for k in keys]
        return np.stack(columns, axis=1) if columns else np.zeros((len(records), 0))
    except (TypeError, ValueError, OverflowError):
        return np.array([[v if type(v := r.get(k)) in _NUMBERS else nan for k in keys] for r in records],
                        np.float64).reshape(len(records), len(keys))


def _aggregate(block: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """count, sum, min, max over axis 1 of (buckets, records, statistics), NaN (no number) left out."""
    present = ~np.isnan(block)
    return (present.sum(axis=1), np.where(present, block, 0.0).sum(axis=1),
            np.fmin.reduce(block, axis=1), np.fmax.reduce(block, axis=1))


def buckets_of(records: list[dict], keys: tuple[str, ...] | list[str], max_buckets: int = MAX_BUCKETS) -> CurveBuckets:
    """Buckets built at once from a list of records (those without a step left out): for readers that
    have the whole list anyway."""
    buckets = CurveBuckets(keys, max_buckets)
    buckets.add([r for r in records if type(r.get("step")) is int])
    buckets.skipped = getattr(records, "skipped", 0)
    return buckets


class RunCurves:
    """A run's metrics.jsonl as CurveBuckets, brought up to date by reading only what the file gained
    since the last update (and from the start again when a resume replaced it)."""

    def __init__(self, run: RunDir, keys: tuple[str, ...] | list[str], max_buckets: int = MAX_BUCKETS):
        self.run = run
        self.follower = run.metrics_follower()
        self.buckets = CurveBuckets(keys, max_buckets)

    def update(self) -> CurveBuckets:
        """Read what was appended (all of it, in pieces, on the first call) and return the buckets."""
        while True:
            found = self.follower.poll()
            if found.restarted:
                self.buckets.reset()
            self.buckets.add(found.records)
            if not found.more:
                break
        self.buckets.skipped = self.follower.skipped
        return self.buckets
