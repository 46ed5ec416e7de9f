"""One training step: a D update and g_steps G updates, returning the step's statistics."""
from __future__ import annotations

import contextlib

import torch

from ..config import TrainConfig
from ..nets.losses import d_loss, g_nonsaturating_loss
from ..nets.models import Discriminator, Generator
from .distributed import SINGLE, World


def train_step(G: Generator, D: Discriminator, opt_g, opt_d, real: torch.Tensor, z_gen: torch.Generator,
               cfg: TrainConfig, world: World = SINGLE) -> dict[str, float]:
    """One D update and cfg.g_steps G updates; returns the step's statistics as floats.

    Under torchrun, real is this process's share of the global batch, G and D are DDP-wrapped and the
    statistics are averaged over the processes."""
    n = real.shape[0]

    def sample_z() -> torch.Tensor:
        # every process draws the global batch's z and keeps its rows: the noise, like the data,
        # does not depend on the number of processes
        z = torch.randn(n * world.world_size, cfg.z_dim, device=real.device, generator=z_gen)
        return z[world.shard(z.shape[0])]

    # (1) Update D: maximize log D(x) + log(1 - D(G(z)))
    with autocast(real.device, cfg):
        fake = G(sample_z())
        real_logits = D(real)
        fake_logits = D(fake.detach())
        loss_d = d_loss(real_logits, fake_logits, 1.0 - cfg.label_smoothing)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()

    # (2) Update G: maximize log D(G(z)); extra G steps draw fresh z (seeds 000/001).
    # D's weight gradients would be thrown away here: not computing them saves a third of D's
    # backward pass (and, under DDP, an all-reduce of them)
    D.requires_grad_(False)
    try:
        with _no_sync(D):
            for i in range(cfg.g_steps):
                with autocast(real.device, cfg):
                    if i > 0:
                        fake = G(sample_z())
                    g_logits = D(fake)
                    loss_g = g_nonsaturating_loss(g_logits)
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()
    finally:
        D.requires_grad_(True)

    # one host sync for all statistics
    stats = torch.stack([
        loss_d.detach(), loss_g.detach(),
        torch.sigmoid(real_logits.detach()).mean(), torch.sigmoid(fake_logits.detach()).mean(),
        torch.sigmoid(g_logits.detach()).mean(),
        (real_logits.detach() > 0).float().mean(), (fake_logits.detach() < 0).float().mean(),
    ])
    keys = ("loss_d", "loss_g", "d_x", "d_g_z", "d_g_z_after", "acc_real", "acc_fake")
    return dict(zip(keys, world.mean_(stats).tolist()))


def autocast(device: torch.device, cfg: TrainConfig):
    """bf16 autocast when cfg.precision asks for it (convolutions in bf16, losses and weights fp32)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")


def _no_sync(module: torch.nn.Module):
    return module.no_sync() if hasattr(module, "no_sync") else contextlib.nullcontext()
