"""Radford et al. DCGAN generator and discriminator for 28, 32, 64 and 128 px, grey or RGB."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from .layers import MinibatchStdDev, apply_spectral_norm

# Feature maps stop doubling here so 128 px nets stay laptop-sized.
MAX_WIDTH_MULT = 8


def base_size(image_size: int) -> int:
    """Spatial size of G's first feature map: 7 for MNIST's native 28 px, else 4."""
    return 7 if image_size == 28 else 4


def num_up_blocks(image_size: int) -> int:
    """How many stride-2 (de)convolutions take base_size to image_size."""
    n = math.log2(image_size / base_size(image_size))
    if n != int(n) or n < 1:
        raise ValueError(f"unsupported image_size {image_size}")
    return int(n)


def _stride2(kernel_size: int) -> dict:
    # padding/output_padding that make a stride-2 layer exactly halve or double the size
    return {"kernel_size": kernel_size, "stride": 2, "padding": (kernel_size - 1) // 2}


def variance_preserving_init(m: nn.Module) -> None:
    """He init for LeakyReLU(0.2), biases 0: for a D without BatchNorm, where N(0, 0.02) would shrink
    the signal ~10x per layer and the biases, moving at Adam's pace, would soon drown it out."""
    if isinstance(m, nn.Conv2d):
        nn.init.kaiming_normal_(m.weight, a=0.2, nonlinearity="leaky_relu")
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def weights_init(m: nn.Module) -> None:
    """DCGAN init: conv weights N(0, 0.02), BatchNorm gamma N(1, 0.02) and beta 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class Generator(nn.Module):
    """z (N, z_dim) -> image (N, channels, image_size, image_size) in [-1, 1]."""

    def __init__(self, z_dim: int = 100, image_size: int = 64, channels: int = 1,
                 width: int = 64, kernel_size: int = 4, init_weights: bool = True, depth: int = 0):
        super().__init__()
        self.z_dim, self.image_size, self.channels = z_dim, image_size, channels
        n = num_up_blocks(image_size)
        s = base_size(image_size)
        mults = [min(2 ** i, MAX_WIDTH_MULT) for i in reversed(range(n))]  # e.g. 8,4,2,1 at 64 px
        layers: list[nn.Module] = [
            # z as a 1x1 map, projected to the first feature map
            nn.ConvTranspose2d(z_dim, width * mults[0], s, 1, 0, bias=False),
            nn.BatchNorm2d(width * mults[0]),
            nn.ReLU(True),
            # state size. (width*mults[0]) x s x s
        ]
        layers += _stride1_blocks(width * mults[0], depth, nn.BatchNorm2d, lambda: nn.ReLU(True))
        up = _stride2(kernel_size)
        output_padding = 1 if kernel_size % 2 else 0  # odd kernels need it to double exactly
        for i in range(1, n):
            layers += [
                nn.ConvTranspose2d(width * mults[i - 1], width * mults[i], **up,
                                   output_padding=output_padding, bias=False),
                nn.BatchNorm2d(width * mults[i]),
                nn.ReLU(True),
                # state size. (width*mults[i]) x (s*2^i) x (s*2^i)
            ]
            layers += _stride1_blocks(width * mults[i], depth, nn.BatchNorm2d, lambda: nn.ReLU(True))
        layers += [
            nn.ConvTranspose2d(width * mults[-1], channels, **up, output_padding=output_padding, bias=False),
            nn.Tanh(),
            # state size. channels x image_size x image_size
        ]
        self.main = nn.Sequential(*layers)
        if init_weights:  # not for weights about to be loaded: on the meta device, normal_ alone
            self.apply(weights_init)  # imports torch's decompositions, 1.4 s of the app's cold start

    @classmethod
    def from_config(cls, cfg, init_weights: bool = True) -> "Generator":
        """G of a ModelConfig (or a TrainConfig, which has the same fields)."""
        return cls(cfg.z_dim, cfg.image_size, cfg.channels, cfg.g_width, cfg.kernel_size, init_weights, cfg.depth)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.view(z.shape[0], self.z_dim, 1, 1))


class Discriminator(nn.Module):
    """image -> one logit per image (apply sigmoid for D's probability of 'real')."""

    def __init__(self, image_size: int = 64, channels: int = 1, width: int = 64,
                 kernel_size: int = 4, batchnorm: bool = True, dropout: float = 0.0, dropout_every: int = 1,
                 spectral_norm: bool = False, mbstd: bool = False, depth: int = 0):
        super().__init__()
        n = num_up_blocks(image_size)
        s = base_size(image_size)
        mults = [min(2 ** i, MAX_WIDTH_MULT) for i in range(n)]  # e.g. 1,2,4,8 at 64 px
        down = _stride2(kernel_size)
        # Without BatchNorm D needs biases: a bias-free LeakyReLU net is positively homogeneous,
        # D(a*x) = a*D(x), so it must call any flat grey image "0.5, can't tell" and G can park there
        # (seen with the faces64 preset's D on the faces). With BatchNorm, BN's shift does that job.
        bias = not batchnorm
        layers: list[nn.Module] = [
            # input is channels x image_size x image_size; no BatchNorm on the input block
            nn.Conv2d(channels, width * mults[0], **down, bias=bias),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (width) x (image_size/2) x (image_size/2)
        ]
        layers += _stride1_blocks(width * mults[0], depth, nn.BatchNorm2d if batchnorm else None,
                                  lambda: nn.LeakyReLU(0.2, inplace=True), bias=bias)
        for i in range(1, n):
            layers.append(nn.Conv2d(width * mults[i - 1], width * mults[i], **down, bias=bias))
            if batchnorm:
                layers.append(nn.BatchNorm2d(width * mults[i]))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            layers += _stride1_blocks(width * mults[i], depth, nn.BatchNorm2d if batchnorm else None,
                                      lambda: nn.LeakyReLU(0.2, inplace=True), bias=bias)
            if dropout > 0 and (i + 1) % dropout_every == 0:
                # faces64 / anime64: dropout reins in a D that gets ahead of G (plain element dropout, as
                # that design had it: channel dropout on 4x4 maps silences too much of a BatchNorm-free D)
                layers.append(nn.Dropout(dropout))
            # state size. (width*mults[i]) x (image_size/2^(i+1)) x (image_size/2^(i+1))
        if mbstd:
            # ProGAN's minibatch std-dev: one more feature map saying how varied the batch is
            layers.append(MinibatchStdDev())
            # state size. (width*mults[-1] + 1) x s x s
        layers += [
            nn.Conv2d(width * mults[-1] + int(mbstd), 1, s, 1, 0, bias=bias),
            # state size. 1 x 1 x 1
        ]
        self.main = nn.Sequential(*layers)
        self.apply(weights_init if batchnorm else variance_preserving_init)
        if spectral_norm:  # after the init: the parametrization normalises whatever weights it is given
            apply_spectral_norm(self)

    @classmethod
    def from_config(cls, cfg) -> "Discriminator":
        """D of a TrainConfig."""
        return cls(cfg.image_size, cfg.channels, cfg.d_width, cfg.kernel_size, cfg.d_batchnorm, cfg.d_dropout,
                   cfg.d_dropout_every, cfg.d_spectral_norm, cfg.d_mbstd, cfg.depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1)


def _stride1_blocks(channels: int, depth: int, norm, activation, bias: bool = False) -> list[nn.Module]:
    """depth 3x3 stride-1 conv blocks at one resolution (SNGAN's "standard CNN" puts one between
    each change of size): more layers for the same feature-map size, at about twice the cost per block."""
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers.append(nn.Conv2d(channels, channels, 3, 1, 1, bias=bias))
        if norm is not None:
            layers.append(norm(channels))
        layers.append(activation())  # a module of its own per block, as the DCGAN blocks have
        # state size. unchanged
    return layers


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
