"""Is a run still learning? A divergence that never becomes NaN, read off the step statistics.

A GAN can fail without a single non-finite loss: D learns to tell every real image from every fake
one, its loss falls to ~0, G's loss climbs to tens or thousands, and from then on G's gradients
carry nothing (the non-saturating loss saturates too once D's logits are large enough). The
statistics show it plainly: D's accuracy is pinned at 1 on both real and fake images while loss_g
is huge, step after step (bar the odd batch). divergence() finds the first such stretch long enough to rule out a
passing spike; the trainer flags the run with it (status.json "diverged") and keeps training.
"""
from __future__ import annotations

import collections
from typing import Iterable

from ..runs.records import ACC_PINNED, LOSS_G_EXPLODED  # shared with the app's health notes

# a healthy run has D win outright for a while at times (the shipped MNIST: 35 steps in a row with
# both accuracies >= 0.99, but loss_g < 15 throughout); 50 steps of both at once is a collapse that
# is not coming back by itself. Long runs wait up to 200 steps (10 % of the run) to be sure; none
# waits longer, so the flag appears while there is still time to stop the run and save the hours
WINDOW_MIN, WINDOW_MAX, WINDOW_SHARE = 50, 200, 0.1
# of the window's steps, this share must be collapsed: a diverged G still fools D with one image of
# a batch now and then (15 of 16 right is 0.94 < 0.99), which must not reset the count to zero
COLLAPSED_SHARE = 0.9


def divergence_window(total_steps: int | None) -> int:
    """Consecutive collapsed steps that make a divergence: 10 % of the run, within [50, 200]."""
    return max(WINDOW_MIN, min(WINDOW_MAX, int((total_steps or 0) * WINDOW_SHARE)))


def collapsed(record: dict) -> bool:
    """One step where D wins outright and G's loss has exploded."""
    try:
        return (record["acc_real"] >= ACC_PINNED and record["acc_fake"] >= ACC_PINNED
                and record["loss_g"] > LOSS_G_EXPLODED)
    except (KeyError, TypeError):  # a record without these figures says nothing either way
        return False


def divergence(records: Iterable[dict], window: int = WINDOW_MIN) -> dict | None:
    """The first `window` consecutive metrics records (oldest first) of which COLLAPSED_SHARE or
    more are collapsed, ending on a collapsed one, as {"step": the first collapsed step among
    them, "why": one line for the user}; None when there is no such stretch."""
    recent, count = collections.deque(), 0
    for record in records:
        hit = collapsed(record)
        recent.append((hit, record.get("step")))
        count += hit
        if len(recent) > window:
            count -= recent.popleft()[0]
        if hit and len(recent) == window and count >= COLLAPSED_SHARE * window:
            first = next(step for flag, step in recent if flag)
            return {"step": first, "why": (
                f"from step {first} on, in {count} of {window} steps, D told every real and fake image apart "
                f"(accuracy >= {ACC_PINNED} on both) while loss_g was above {LOSS_G_EXPLODED:g}: G has "
                "stopped learning and more steps will not help; train it again with lower learning rates "
                "or label smoothing")}
    return None


__all__ = ["collapsed", "divergence", "divergence_window"]
