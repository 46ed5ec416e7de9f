"""The CPU's torch threads shared among the trainings that run side by side in one checkpoints folder."""
from __future__ import annotations

import os
import time
from typing import Callable

import torch

from ..runs.rundir import RunDir, active_runs

# how often a trainer counts the trainings beside it: a new one waits at most this long for its share
CHECK_EVERY_S = 5.0


class ThreadShare:
    """Each of n trainings on one CPU gets threads // n of torch's threads, counted again every few seconds.

    Two trainers with torch's default of one thread per core on 2 cores ran at 12 img/s each against 556
    alone: OpenMP's threads spin at every barrier waiting for a thread whose core the other process holds.
    With one thread each they ran at 375 and 368 img/s (bench/side_by_side.py, docs/speed.md).

    Left alone: a GPU run, torchrun's processes (torchrun sets OMP_NUM_THREADS=1 itself), and a trainer
    started with OMP_NUM_THREADS set (the user's own count, kept; a run's numbers depend on its thread
    count, so that is also how to keep them the same to the bit while other trainings come and go)."""

    def __init__(self, run: RunDir, device: torch.device, distributed: bool, log: Callable[[str], None]):
        self.run, self.log = run, log
        self.own = torch.get_num_threads()
        self.enabled = (device.type == "cpu" and not distributed and self.own > 1
                        and "OMP_NUM_THREADS" not in os.environ)
        self._next_check = 0.0

    def update(self) -> None:
        """Set this trainer's share if the number of trainings changed; cheap between checks."""
        if not self.enabled or time.monotonic() < self._next_check:
            return
        self._next_check = time.monotonic() + CHECK_EVERY_S
        # this one included (starting or running); trainers on other machines share no cores with it
        trainings = max(1, len(active_runs(self.run.path.parent, this_host=True)))
        want = max(1, self.own // trainings)
        if want != torch.get_num_threads():
            torch.set_num_threads(want)
            beside = f"{trainings} trainings running in {self.run.path.parent}" if trainings > 1 else "no other training"
            self.log(f"{beside}: this one uses {want} of {self.own} torch threads")

    def restore(self) -> None:
        """The process's own thread count again (a trainer run inside another program gives it back)."""
        if torch.get_num_threads() != self.own:
            torch.set_num_threads(self.own)
