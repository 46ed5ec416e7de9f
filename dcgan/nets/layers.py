"""Layers for D: the minibatch standard deviation feature, and spectral norm over a whole network.

MinibatchStdDev follows Karras et al. 2018 "Progressive Growing of GANs" (section 3) as StyleGAN2/3 write
it (NVlabs/stylegan3 training/networks_stylegan2.py, MinibatchStdLayer): split the batch into groups,
take each feature's standard deviation over a group, average those over channels (in num_channels
separate channel groups) and pixels, and append the result as constant feature maps. A D that sees how
varied its batch is can tell a collapsed G (identical samples: a std near 0) from the data.

apply_spectral_norm follows Miyato et al. 2018 "Spectral Normalization for GANs", through PyTorch's
torch.nn.utils.parametrizations.spectral_norm (one power iteration per training-mode forward; the u/v
vectors are buffers, so D's state_dict and the checkpoint hold them and resume is exact).
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils.parametrizations import spectral_norm


class MinibatchStdDev(nn.Module):
    """(N, C, H, W) -> (N, C + num_channels, H, W): each image gets its group's mean feature std-dev.

    Groups: StyleGAN's reshape(G, -1, ...) puts image i in group i % M of M = N // G groups (strided,
    not contiguous), which needs N % G == 0. Here every N works by keeping that rule, image i -> group
    i % M, with M = max(N // G, 1): when G divides N it is exactly StyleGAN's grouping, when N < G it is
    StyleGAN's min(G, N) (one group of all N), and otherwise the N % G left-over images are dealt round
    the groups, so each holds G to 2G - 1 images: for N >= G never fewer than G, as a group of one would
    report a std of 0, which reads as "collapsed".
    Batch size 1 gives its one image a std of sqrt(1e-8) = 1e-4 and finite gradients.
    """

    def __init__(self, group_size: int = 4, num_channels: int = 1, eps: float = 1e-8):
        super().__init__()
        if group_size < 1 or num_channels < 1:
            raise ValueError(f"MinibatchStdDev needs group_size >= 1 and num_channels >= 1, "
                             f"got {group_size} and {num_channels}")
        self.group_size, self.num_channels, self.eps = group_size, num_channels, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        f = self.num_channels
        if c % f:
            raise ValueError(f"MinibatchStdDev: {c} channels do not split into num_channels={f} groups")
        m = max(n // self.group_size, 1)
        group = torch.arange(n, device=x.device) % m  # (n,) which group each image is in
        count = torch.bincount(group, minlength=m).view(m, 1)
        # statistics in float32 (as StyleGAN's epilogue does): under bf16 a variance of near-equal
        # images is mostly rounding; index_add keeps autocast out (a one-hot matmul would run in bf16)
        y = x.float().reshape(n, -1)  # (n, C*H*W), channels grouped contiguously as in StyleGAN
        mean = y.new_zeros(m, y.shape[1]).index_add(0, group, y) / count
        var = y.new_zeros(m, y.shape[1]).index_add(0, group, (y - mean[group]).square()) / count
        std = (var + self.eps).sqrt()  # (m, C*H*W)
        std = std.view(m, f, -1).mean(dim=2)  # (m, f): average over channels and pixels
        maps = std[group].to(x.dtype).view(n, f, 1, 1).expand(n, f, h, w)
        out = torch.cat([x, maps], dim=1)
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            out = out.contiguous(memory_format=torch.channels_last)  # keep NHWC for the next conv
        return out

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"


def apply_spectral_norm(module: nn.Module, n_power_iterations: int = 1) -> nn.Module:
    """Spectral-normalise the weight of every Conv2d, ConvTranspose2d and Linear in module, in place; returns it."""
    for layer in list(module.modules()):
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and not _has_spectral_norm(layer):
            spectral_norm(layer, n_power_iterations=n_power_iterations)
    return module


def _has_spectral_norm(layer: nn.Module) -> bool:
    parametrizations = getattr(layer, "parametrizations", None)
    return parametrizations is not None and "weight" in parametrizations
