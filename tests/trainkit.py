"""Tiny training runs for tests in every room: the one tiny config (and its variants), a step function
that stops a run, and state comparison. The `tiny` fixture in conftest.py hands out TINY."""
from __future__ import annotations

import torch

from dcgan.config import TrainConfig
from dcgan.training.step import train_step


class TinyConfig:
    """tiny(name, **changes): a TrainConfig that trains in about a second on CPU; tiny.but(**changes) is
    the same with other defaults (a suite that needs, say, z_dim 16 in every run says so once)."""

    def __init__(self, **base):
        self.base = base

    def __call__(self, name: str = "t", **changes) -> TrainConfig:
        return TrainConfig(**{**self.base, "run_name": name, **changes})

    def but(self, **changes) -> "TinyConfig":
        return TinyConfig(**{**self.base, **changes})


TINY = TinyConfig(dataset="synthetic", image_size=28, steps=12, batch_size=16, g_width=8, d_width=8,
                  snapshot_every=4, checkpoint_every=6, log_every=100, grid_size=16, seed=3)
# the stabiliser suites' runs (stabilisers, top-k, lr decay): wider nets, a 16-d z
STABILISER_TINY = TINY.but(steps=8, z_dim=16, g_width=16, d_width=16, checkpoint_every=4, seed=5)
# the app suites' runs: TrainConfig's own steps and snapshots unless a call chooses them
APP_TINY = TinyConfig(dataset="synthetic", batch_size=16, z_dim=16, g_width=16, d_width=16, grid_size=16,
                      log_every=100)
# the newcomer suites' runs (issue 13)
NEWCOMER_TINY = TINY.but(steps=10, z_dim=16, g_width=16, d_width=16, snapshot_every=5, checkpoint_every=5,
                         log_every=1000, seed=1)


def quiet(_: str) -> None:
    pass


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def stop_at(step: int, run):
    """A step function that asks for a stop (the STOP file) once `step` steps are done."""
    def step_fn(*args):
        stats = train_step(*args)
        if len(run.metrics()) + 1 >= step:
            run.request_stop()
        return stats
    return step_fn
