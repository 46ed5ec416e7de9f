"""Small pure GAN loss helpers on D's logits (one logit per image), and the R1 gradient penalty.

Follows:
- hinge loss: Lim & Ye 2017 "Geometric GAN" and Miyato et al. 2018 "Spectral Normalization for GANs"
  (SNGAN; as used by BigGAN / StudioGAN): D minimises relu(1 - D(x)) + relu(1 + D(G(z))), G minimises
  -D(G(z)).
- relativistic pair loss (RpGAN): Jolicoeur-Martineau 2018 "The relativistic discriminator", in the
  form R3GAN uses (Huang et al. 2024 "The GAN is dead; long live the GAN!", brownvc/R3GAN Trainer.py):
  softplus of the paired logit differences, D wants real - fake large, G wants fake - real large.
- R1: Mescheder et al. 2018 "Which training methods for GANs do actually converge?", written as
  rosinality/stylegan2-pytorch's d_r1_loss (squared L2 norm of d sum(D(x)) / dx per image, batch mean;
  the caller scales it by gamma/2 and, for lazy regularisation every k steps, by k).
- top-k training: Sinha et al. 2020 "Top-k Training of GANs: Improving GAN Performance by Throwing Away
  Bad Samples" (as in their torch_mimicry fork: torch.topk over D's logits of the fakes, before G's loss).

And the plain DCGAN's BCE pair (TrainConfig's default): d_loss (with one-sided label smoothing) and the non-saturating g loss.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


def d_hinge_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """mean relu(1 - D(x)) + mean relu(1 + D(G(z))): D stops pushing once a logit is past the margin."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def g_hinge_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-mean D(G(z)): G raises its logits with no margin."""
    return -fake_logits.mean()


def d_relativistic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """mean softplus(D(G(z)) - D(x)) over pairs: -log sigmoid(real - fake), real should beat its fake."""
    return F.softplus(fake_logits - real_logits).mean()


def g_relativistic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """mean softplus(D(x) - D(G(z))) over pairs: the mirror image of D's loss, each fake should beat its real."""
    return F.softplus(real_logits - fake_logits).mean()


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """Batch mean of |d D(x) / dx|^2 per image (create_graph, so it backpropagates into D); 0 if D ignores x."""
    # real_images must be the leaf the caller set requires_grad_(True) on, *before* any augmentation:
    # DiffAugment is differentiable, so the gradient reaches the un-augmented images through it (as in
    # StyleGAN2-ADA / R3GAN). Summing the logits gives every image its own gradient in one backward.
    grad, = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True, allow_unused=True)
    if grad is None:  # D's output does not depend on the images at all (a constant D)
        return real_logits.new_zeros(())
    return grad.float().square().reshape(grad.shape[0], -1).sum(dim=1).mean()


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))); real_label < 1 is one-sided label smoothing."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(z)): strong gradients early, when D easily rejects G's samples."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def top_k_fakes(real_logits: torch.Tensor | None, fake_logits: torch.Tensor,
                share: float) -> tuple[torch.Tensor | None, torch.Tensor]:
    """The ceil(share * n) fakes D rates most real, each with its paired real logit (None stays None).

    G's loss over these alone: the fakes D already rejects pull G towards the mean of several modes,
    between digits, so their gradients are dropped (Sinha et al. 2020)."""
    if share >= 1:
        return real_logits, fake_logits
    k = max(1, math.ceil(share * fake_logits.shape[0]))
    idx = torch.topk(fake_logits.detach(), k).indices
    return (None if real_logits is None else real_logits[idx]), fake_logits[idx]


# a loss on D's logits: (real_logits, fake_logits) -> scalar
LogitLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class GanLoss:
    """One adversarial loss as the training step needs it: D's loss, G's loss (both on (real, fake)
    logits), whether G's loss reads D(x) at all, and how D's accuracy is counted."""

    d: LogitLoss
    g: LogitLoss
    g_needs_real: bool = False  # G's loss pairs each fake with a real (relativistic): D(x) must be computed
    paired: bool = False        # D judges (real, fake) pairs, not single images: its logits' signs mean nothing

    def accuracy(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """D's share of right calls on reals and on fakes."""
        if self.paired:
            # only a real logit above its fake's is a right call ("acc 1.00/0.00" from the signs while D
            # ranks the pairs at chance would mislead)
            right = (real_logits > fake_logits).float().mean()
            return right, right
        return (real_logits > 0).float().mean(), (fake_logits < 0).float().mean()


def gan_loss(name: str, label_smoothing: float = 0.0) -> GanLoss:
    """The loss called name (config's gan_loss: "bce", "hinge" or "relativistic"); label smoothing is BCE's alone."""
    if name == "bce":
        return GanLoss(d=lambda real, fake: d_loss(real, fake, 1.0 - label_smoothing),
                       g=lambda real, fake: g_nonsaturating_loss(fake))
    if name == "hinge":
        return GanLoss(d=d_hinge_loss, g=lambda real, fake: g_hinge_loss(fake))
    if name == "relativistic":
        return GanLoss(d=d_relativistic_loss, g=g_relativistic_loss, g_needs_real=True, paired=True)
    raise ValueError(f"unknown GAN loss {name!r}")
