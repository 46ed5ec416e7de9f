"""How the learning rates move during training: the faces64 preset's balancing from D's accuracies, or a
linear decay over the last part of the run."""
from __future__ import annotations

import torch

from ..config import TrainConfig


def balance_lrs(lr_d: float, lr_g: float, acc_real: float, acc_fake: float, cfg: TrainConfig) -> tuple[float, float]:
    """The faces64 preset's adaptive balancing from D's accuracies on real and fake images.

    Either accuracy below acc_low: D's verdicts say little, so speed D up and slow G down.
    Both above acc_high: D is winning, so the opposite. In between both may learn faster.
    """
    f = cfg.lr_factor
    if min(acc_real, acc_fake) < cfg.acc_low:
        lr_d, lr_g = lr_d * f, lr_g / f
    elif min(acc_real, acc_fake) > cfg.acc_high:
        lr_d, lr_g = lr_d / f, lr_g * f
    else:
        lr_d, lr_g = lr_d * f, lr_g * f
    clamp = lambda lr: min(max(lr, cfg.lr_min), cfg.lr_max)  # noqa: E731
    return clamp(lr_d), clamp(lr_g)


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


def decayed_lr(base: float, step: int, steps: int, decay_from: float) -> float:
    """The learning rate of the update that follows `step` done steps: base until decay_from x steps,
    then falling linearly, to base / (steps in the decay) for the last update of the run."""
    start = decay_from * steps
    if step < start or steps <= start:
        return base
    return base * max(steps - step, 0) / (steps - start)
