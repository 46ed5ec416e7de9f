"""One training step: a D update and g_steps G updates, returning the step's statistics."""
from __future__ import annotations

import contextlib
import functools

import torch

from ..config import TrainConfig
from ..nets.augment import diff_augment
from ..nets.losses import gan_loss, r1_penalty, top_k_fakes
from ..nets.models import Discriminator, Generator
from .distributed import SINGLE, World

def train_step(G: Generator, D: Discriminator, opt_g, opt_d, real: torch.Tensor, z_gen: torch.Generator,
               cfg: TrainConfig, world: World = SINGLE, aug_gen: torch.Generator | None = None,
               step: int = 0) -> dict[str, float]:
    """One D update and cfg.g_steps G updates; returns the step's statistics as floats.

    step is the number of steps done before this one (lazy R1 runs when step % r1_every == 0);
    aug_gen draws DiffAugment's randomness. Under torchrun, real is this process's share of the
    global batch, G and D are DDP-wrapped and the statistics are averaged over the processes."""
    n = real.shape[0]
    loss = gan_loss(cfg.gan_loss, cfg.label_smoothing)
    r1 = cfg.r1_gamma > 0 and step % cfg.r1_every == 0

    def sample_z() -> torch.Tensor:
        # every process draws the global batch's z and keeps its rows: the noise, like the data,
        # does not depend on the number of processes
        z = torch.randn(n * world.world_size, cfg.z_dim, device=real.device, generator=z_gen)
        return z[world.shard(z.shape[0])]

    def augment(x: torch.Tensor) -> torch.Tensor:  # DiffAugment: every image D sees, real or fake
        return diff_augment(x, cfg.diffaugment, aug_gen) if cfg.diffaugment else x

    # (1) Update D: maximize log D(x) + log(1 - D(G(z))) (or the hinge / relativistic equivalent)
    if r1:  # R1 differentiates D(x) w.r.t. the un-augmented real images
        real = real.detach().requires_grad_(True)
    with autocast(real.device, cfg):
        fake = G(sample_z())
        real_logits = D(augment(real))
        fake_logits = D(augment(fake.detach()))
        loss_d = loss.d(real_logits, fake_logits)
        if r1:  # lazy regularisation: every r1_every steps, k times as strong (StyleGAN2)
            penalty = r1_penalty(real_logits, real)
            loss_d = loss_d + cfg.r1_gamma / 2 * cfg.r1_every * penalty
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    real = real.detach()

    # (2) Update G: maximize log D(G(z)); extra G steps draw fresh z (faces64, anime64: g_steps 2).
    # D's weight gradients would be thrown away here: not computing them saves a third of D's
    # backward pass (and, under DDP, an all-reduce of them)
    D.requires_grad_(False)
    try:
        with _no_sync(D):
            for i in range(cfg.g_steps):
                with autocast(real.device, cfg):
                    if i > 0:
                        fake = G(sample_z())
                    g_real_logits = None
                    if loss.g_needs_real:  # G's loss pairs each fake with a real: D(x), no grad
                        with torch.no_grad():
                            g_real_logits = D(augment(real))
                    g_logits = D(augment(fake))
                    loss_g = loss.g(*top_k_fakes(g_real_logits, g_logits, cfg.g_topk))
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()
    finally:
        D.requires_grad_(True)

    real_logits, fake_logits = real_logits.detach(), fake_logits.detach()
    acc_real, acc_fake = loss.accuracy(real_logits, fake_logits)
    # one host sync for all statistics
    stats = [
        loss_d.detach(), loss_g.detach(), torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean(),
        torch.sigmoid(g_logits.detach()).mean(), acc_real, acc_fake,
    ]
    keys = ["loss_d", "loss_g", "d_x", "d_g_z", "d_g_z_after", "acc_real", "acc_fake"]
    if r1:  # on the steps it is computed (every r1_every-th)
        stats.append(penalty.detach().float())
        keys.append("r1")
    return dict(zip(keys, world.mean_(torch.stack(stats)).tolist()))


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
