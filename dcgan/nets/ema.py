"""An exponential moving average of the generator's weights: the G to sample from, smoother than G itself.

Follows Yazici et al. 2019 "The Unusual Effectiveness of Averaging in GAN Training" and Karras et al.
(ProGAN / StyleGAN2's G_ema), in the form of PyTorch-StudioGAN's Ema (src/utils/ema.py: g_ema_decay,
and before ema_start_step the average is a plain copy of G) with StyleGAN's rule for buffers
(NVlabs/stylegan3 training_loop.py: parameters are averaged, buffers copied). StudioGAN's plain Ema
averages the whole state_dict, BatchNorm's running statistics and its integer num_batches_tracked
included; here those are copied, since an average of running statistics is no statistic of anything.

Warm-up: after start_step the decay is min(decay, (1 + n) / (10 + n)), n = step - start_step, as
TensorFlow's ExponentialMovingAverage(num_updates=...) does. Without it, 0.999 averages over the last
~1000 steps from the start, so for the first few thousand steps of a DCGAN run (most runs here are that
short) the average would still be dominated by the barely-trained early weights; with it the average
covers roughly the last 10% of the steps until that is more than 1/(1 - decay). StyleGAN's ema_rampup
option (the half-life capped at ema_rampup x the images seen so far) does the same job.
warmup=False gives StudioGAN's rule.

For a BatchNorm generator (this DCGAN's), the copied running statistics belong to G's weights, not the
averaged ones; they are close once training settles, and re-estimating them is the caller's choice.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn


def _unwrap(model: nn.Module) -> nn.Module:
    # a DDP / DataParallel G keeps the real network in .module (its state_dict keys gain "module.")
    if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        return model.module
    return model


class EMA:
    """Keeps `module`, an averaged copy of a generator (eval mode, no grads), up to date with update()."""

    def __init__(self, model: nn.Module, decay: float = 0.999, start_step: int = 0, warmup: bool = True):
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay}")
        if start_step < 0:
            raise ValueError(f"EMA start_step must be >= 0, got {start_step}")
        self.decay, self.start_step, self.warmup = decay, start_step, warmup
        self.module = copy.deepcopy(_unwrap(model)).eval().requires_grad_(False)

    def decay_at(self, step: int) -> float:
        """The weight update(step) gives the old average: 0 (a copy) before start_step, then the decay."""
        if step < self.start_step:
            return 0.0
        if not self.warmup:
            return self.decay
        n = step - self.start_step
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Average model's parameters into the copy (average <- d * average + (1 - d) * model); copy its buffers."""
        model = _unwrap(model)
        d = self.decay_at(step)
        for (name, avg), (model_name, p) in zip(self.module.named_parameters(), model.named_parameters(),
                                                strict=True):
            if name != model_name:
                raise ValueError(f"EMA: model parameter {model_name!r} where {name!r} was expected")
            if d == 0.0:
                avg.copy_(p)
            else:
                avg.lerp_(p.detach(), 1.0 - d)  # avg + (1 - d) * (p - avg)
        for (name, avg), (model_name, b) in zip(self.module.named_buffers(), model.named_buffers(), strict=True):
            if name != model_name:
                raise ValueError(f"EMA: model buffer {model_name!r} where {name!r} was expected")
            avg.copy_(b)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged generator's state_dict (tensors only: a checkpoint loads it with weights_only=True)."""
        # decay, start_step and warmup are config, which the checkpoint holds anyway
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the average saved by state_dict(): update() then continues bit for bit."""
        self.module.load_state_dict(state)
