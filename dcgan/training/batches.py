"""The stream of training batches: batch k is fixed by (seed, k) alone, so a resumed run sees the same data."""
from __future__ import annotations

import math

import torch

from .distributed import SINGLE, World


class BatchSource:
    """Batches as float tensors in [-1, 1]; batch k is fixed by (seed, k) alone.

    Under torchrun each process gets its rows of the global batch (`world.shard`): the processes
    together see exactly the batches one process would, so the world size may change on resume."""

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int, device: torch.device,
                 world: World = SINGLE):
        if images.shape[0] < batch_size:
            # repeat a tiny set rather than fail: a folder of 20 pictures is still worth a try
            reps = math.ceil(batch_size / images.shape[0])
            images = images.repeat(reps, 1, 1, 1)
        self.images = images
        self.batch_size = batch_size
        self.seed = seed
        self.device = device
        self.rows = world.shard(batch_size)
        self.batches_per_epoch = images.shape[0] // batch_size
        self._epoch, self._perm = -1, None

    def epoch_of(self, step: int) -> float:
        return step / self.batches_per_epoch

    def batch(self, step: int) -> torch.Tensor:
        epoch, index = divmod(step, self.batches_per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm, self._epoch = torch.randperm(self.images.shape[0], generator=g), epoch
        idx = self._perm[index * self.batch_size:(index + 1) * self.batch_size][self.rows]
        x = self.images[idx].to(self.device, non_blocking=True).float()
        return x.div_(127.5).sub_(1.0)
