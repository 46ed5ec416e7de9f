"""One training step: a D update and g_steps G updates, returning the step's statistics."""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Callable

import torch

from ..config import TrainConfig
from ..nets.augment import diff_augment
from ..nets.losses import GanLoss, gan_loss, r1_penalty, top_k_fakes
from ..nets.models import Discriminator, Generator
from .distributed import SINGLE, World


@dataclass
class StepPlan:
    """What one step needs besides the nets: its loss, whether R1 runs, and the random streams of z and
    DiffAugment. train_step and the slow-motion driver (slow_motion.py) run the same phases with it."""

    cfg: TrainConfig
    loss: GanLoss
    r1: bool
    z_gen: torch.Generator
    aug_gen: torch.Generator | None
    world: World
    device: torch.device

    @classmethod
    def of(cls, cfg: TrainConfig, device: torch.device, z_gen: torch.Generator, world: World = SINGLE,
           aug_gen: torch.Generator | None = None, step: int = 0) -> "StepPlan":
        # lazy R1 runs when step % r1_every == 0 (step: the steps done before this one)
        return cls(cfg, gan_loss(cfg.gan_loss, cfg.label_smoothing), cfg.r1_gamma > 0 and step % cfg.r1_every == 0,
                   z_gen, aug_gen, world, device)

    def sample_z(self, n: int) -> torch.Tensor:
        # every process draws the global batch's z and keeps its rows: the noise, like the data,
        # does not depend on the number of processes
        z = torch.randn(n * self.world.world_size, self.cfg.z_dim, device=self.device, generator=self.z_gen)
        return z[self.world.shard(z.shape[0])]

    def augment(self, x: torch.Tensor) -> torch.Tensor:  # DiffAugment: every image D sees, real or fake
        return diff_augment(x, self.cfg.diffaugment, self.aug_gen) if self.cfg.diffaugment else x


@dataclass
class DUpdate:
    """What D's update leaves for the statistics: its logits on the batch (before the update) and its loss."""

    real_logits: torch.Tensor
    fake_logits: torch.Tensor
    loss_d: torch.Tensor
    penalty: torch.Tensor | None  # R1, on the steps it runs


@dataclass
class GUpdate:
    """What G's last update leaves: D's logits on its fakes (D already updated) and G's loss."""

    g_logits: torch.Tensor
    loss_g: torch.Tensor


def train_step(G: Generator, D: Discriminator, opt_g, opt_d, real: torch.Tensor, z_gen: torch.Generator,
               cfg: TrainConfig, world: World = SINGLE, aug_gen: torch.Generator | None = None,
               step: int = 0) -> dict[str, float]:
    """One D update and cfg.g_steps G updates; returns the step's statistics as floats.

    step is the number of steps done before this one (lazy R1 runs when step % r1_every == 0);
    aug_gen draws DiffAugment's randomness. Under torchrun, real is this process's share of the
    global batch, G and D are DDP-wrapped and the statistics are averaged over the processes."""
    plan = StepPlan.of(cfg, real.device, z_gen, world, aug_gen, step)
    fake = draw_fakes(G, plan, plan.sample_z(real.shape[0]))
    d = d_update(D, opt_d, real, fake, plan)
    g = g_update(G, D, opt_g, real, fake, plan)
    return step_stats(plan, d, g)


def draw_fakes(G: Generator, plan: StepPlan, z: torch.Tensor) -> torch.Tensor:
    """G's batch for D's update: G(z) for the step's z (plan.sample_z), its graph kept for G's first update."""
    with autocast(plan.device, plan.cfg):
        return G(z)


def d_update(D: Discriminator, opt_d, real: torch.Tensor, fake: torch.Tensor, plan: StepPlan) -> DUpdate:
    """(1) Update D: maximize log D(x) + log(1 - D(G(z))) (or the hinge / relativistic equivalent)."""
    cfg = plan.cfg
    if plan.r1:  # R1 differentiates D(x) w.r.t. the un-augmented real images
        real = real.detach().requires_grad_(True)
    penalty = None
    with autocast(plan.device, cfg):
        real_logits = D(plan.augment(real))
        fake_logits = D(plan.augment(fake.detach()))
        loss_d = plan.loss.d(real_logits, fake_logits)
        if plan.r1:  # lazy regularisation: every r1_every steps, k times as strong (StyleGAN2)
            penalty = r1_penalty(real_logits, real)
            loss_d = loss_d + cfg.r1_gamma / 2 * cfg.r1_every * penalty
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    return DUpdate(real_logits, fake_logits, loss_d, penalty)


def g_update(G: Generator, D: Discriminator, opt_g, real: torch.Tensor, fake: torch.Tensor, plan: StepPlan,
             fake_grad: Callable[[torch.Tensor], None] | None = None) -> GUpdate:
    """(2) Update G: maximize log D(G(z)); extra G steps draw fresh z (faces64, anime64: g_steps 2).

    fake_grad, when given, is called during the first update's backward with d loss_G / d fake (the
    gradient D sends G through its images; a tensor hook, so the numbers are the step's own)."""
    cfg = plan.cfg
    real = real.detach()
    # D's weight gradients would be thrown away here: not computing them saves a third of D's
    # backward pass (and, under DDP, an all-reduce of them)
    D.requires_grad_(False)
    try:
        with _no_sync(D):
            for i in range(cfg.g_steps):
                with autocast(plan.device, cfg):
                    if i > 0:
                        fake = G(plan.sample_z(real.shape[0]))
                    elif fake_grad is not None:
                        fake.register_hook(fake_grad)
                    g_real_logits = None
                    if plan.loss.g_needs_real:  # G's loss pairs each fake with a real: D(x), no grad
                        with torch.no_grad():
                            g_real_logits = D(plan.augment(real))
                    g_logits = D(plan.augment(fake))
                    loss_g = plan.loss.g(*top_k_fakes(g_real_logits, g_logits, cfg.g_topk))
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()
    finally:
        D.requires_grad_(True)
    return GUpdate(g_logits, loss_g)


def step_stats(plan: StepPlan, d: DUpdate, g: GUpdate) -> dict[str, float]:
    """The step's statistics as floats (averaged over the processes under torchrun)."""
    real_logits, fake_logits = d.real_logits.detach(), d.fake_logits.detach()
    acc_real, acc_fake = plan.loss.accuracy(real_logits, fake_logits)
    # one host sync for all statistics
    stats = [
        d.loss_d.detach(), g.loss_g.detach(), torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean(),
        torch.sigmoid(g.g_logits.detach()).mean(), acc_real, acc_fake,
    ]
    keys = ["loss_d", "loss_g", "d_x", "d_g_z", "d_g_z_after", "acc_real", "acc_fake"]
    if d.penalty is not None:  # on the steps it is computed (every r1_every-th)
        stats.append(d.penalty.detach().float())
        keys.append("r1")
    return dict(zip(keys, plan.world.mean_(torch.stack(stats)).tolist()))


def autocast(device: torch.device, cfg: TrainConfig):
    """bf16 autocast when cfg.precision asks for it (convolutions in bf16, losses and weights fp32)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=uses_bf16(cfg.precision, device))


def uses_bf16(precision: str, device: torch.device) -> bool:
    """Whether a step at this precision ("fp32", "bf16" or "auto") autocasts to bf16 on device."""
    return precision == "bf16" or (precision == "auto" and fast_bf16(device.type))


@functools.cache
def fast_bf16(device_type: str) -> bool:
    """Whether this machine's device runs bf16 convolutions faster than fp32: CUDA GPUs with bf16, CPUs
    with AMX tiles (1.8-2x on the 28 px recipe, docs/speed.md). Other CPUs emulate bf16: 0.06x measured."""
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device_type == "cpu":
        return bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())
    return False


def _no_sync(module: torch.nn.Module):
    return module.no_sync() if hasattr(module, "no_sync") else contextlib.nullcontext()
