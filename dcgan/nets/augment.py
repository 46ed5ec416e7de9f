"""DiffAugment: cheap differentiable augmentations applied to every image D sees, real and fake alike.

Follows Zhao et al. 2020 "Differentiable Augmentation for Data-Efficient GAN Training"
(mit-han-lab/data-efficient-gans, DiffAugment_pytorch.py): the same three policies with the same ranges,
for images in [-1, 1]:
- 'color': brightness + U[-0.5, 0.5), saturation x U[0, 2) about the per-pixel channel mean (a no-op
  on grey images), contrast x U[0.5, 1.5) about the image mean;
- 'translation': an integer shift of up to 1/8 of the size in each direction, zero-filled;
- 'cutout': a zeroed square of half the size, centred anywhere in the image (clipped at its edges).

Differences from the reference: every draw comes from an optional torch.Generator (the trainer passes its
own, so a resumed run draws the same augmentations as an uninterrupted one), draws are float32 whatever
the image dtype (the same stream under bf16), the output keeps the input's memory format (channels_last
on CPU), and policies are checked up front (parse_policy).

Use it on both of D's inputs, real and fake, in the D step and in the G step; gradients flow through it
to G (and, for R1, to the un-augmented real images).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .augment_policy import POLICIES, parse_policy  # noqa: F401 (the policies' names live without torch)


def diff_augment(x: torch.Tensor, policy: str | Sequence[str],
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """x (N, C, H, W) in [-1, 1] with each image randomly augmented by the policies, in their order."""
    names = parse_policy(policy) if isinstance(policy, str) else parse_policy(",".join(policy))
    if not names:
        return x
    channels_last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    for name in names:
        x = _AUGMENTS[name](x, generator)
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def _uniform(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    # one U[0, 1) per image, shaped to broadcast over (C, H, W)
    u = torch.rand(x.shape[0], 1, 1, 1, generator=generator, device=x.device, dtype=torch.float32)
    return u.to(x.dtype)


def _color(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    x = x + (_uniform(x, generator) - 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_uniform(x, generator) * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, generator) + 0.5) + mean  # contrast


def _randint(low: int, high: int, n: int, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    # n integers in [low, high], one per image, shaped (n, 1) to broadcast against a row of positions
    return torch.randint(low, high + 1, (n, 1), generator=generator, device=x.device)


def _translation(x: torch.Tensor, generator: torch.Generator | None, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    max_dy, max_dx = int(h * ratio), int(w * ratio)
    dy = _randint(-max_dy, max_dy, n, x, generator)
    dx = _randint(-max_dx, max_dx, n, x, generator)
    # Output pixel (i, j) reads input pixel (i + dy, j + dx). With one pixel of zero padding, any source
    # outside the image is clamped onto the padding, so it reads 0 without padding by the full shift.
    rows = (torch.arange(h, device=x.device) + dy + 1).clamp(0, h + 1)  # (n, h), padded coordinates
    cols = (torch.arange(w, device=x.device) + dx + 1).clamp(0, w + 1)  # (n, w)
    padded = F.pad(x, [1, 1, 1, 1])
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    # advanced indexing with a slice in the middle puts the indexed dims first: (n, h, w, C)
    return padded[batch, :, rows.view(n, h, 1), cols.view(n, 1, w)].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, generator: torch.Generator | None, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    size_y, size_x = int(h * ratio), int(w * ratio)
    # centres as in the reference: an even-sized square's centre may sit one past the last pixel
    cy = _randint(0, h - size_y % 2, n, x, generator)
    cx = _randint(0, w - size_x % 2, n, x, generator)
    top, left = cy - size_y // 2, cx - size_x // 2  # (n, 1)
    ys = torch.arange(h, device=x.device)
    xs = torch.arange(w, device=x.device)
    in_rows = (ys >= top) & (ys < top + size_y)  # (n, h)
    in_cols = (xs >= left) & (xs < left + size_x)  # (n, w)
    keep = ~(in_rows.view(n, 1, h, 1) & in_cols.view(n, 1, 1, w))
    return x * keep.to(x.dtype)


_AUGMENTS = {"color": _color, "translation": _translation, "cutout": _cutout}
