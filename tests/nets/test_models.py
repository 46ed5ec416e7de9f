"""The generator and discriminator: shapes, Radford's architecture, the losses."""
from __future__ import annotations

import pytest
import torch

from dcgan.nets.models import Discriminator, Generator
from dcgan.nets.losses import d_loss, g_nonsaturating_loss


@pytest.mark.parametrize("image_size", [28, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kernel_size", [4, 5])
def test_model_shapes(image_size, channels, kernel_size):
    G = Generator(z_dim=20, image_size=image_size, channels=channels, width=8, kernel_size=kernel_size)
    D = Discriminator(image_size=image_size, channels=channels, width=8, kernel_size=kernel_size, dropout=0.3)
    x = G(torch.randn(3, 20))
    assert x.shape == (3, channels, image_size, image_size)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    assert D(x).shape == (3,)


def test_models_follow_radford():
    G = Generator(z_dim=100, image_size=64, channels=1, width=64)
    D = Discriminator(image_size=64, channels=1, width=64, batchnorm=True)
    banned = (torch.nn.Linear, torch.nn.MaxPool2d, torch.nn.AvgPool2d)
    assert not any(isinstance(m, banned) for m in list(G.modules()) + list(D.modules()))
    g_layers = list(G.main)
    assert isinstance(g_layers[-1], torch.nn.Tanh)
    assert sum(isinstance(m, torch.nn.ConvTranspose2d) for m in g_layers) == 5
    d_layers = list(D.main)
    # no BatchNorm on D's input block; LeakyReLU(0.2) everywhere
    assert isinstance(d_layers[0], torch.nn.Conv2d) and isinstance(d_layers[1], torch.nn.LeakyReLU)
    assert all(m.negative_slope == 0.2 for m in D.modules() if isinstance(m, torch.nn.LeakyReLU))
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in d_layers) == 3
    no_bn = Discriminator(image_size=64, channels=1, width=64, batchnorm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in no_bn.modules())
    # init: conv N(0, 0.02), BN gamma N(1, 0.02)
    w = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)])
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 1e-3
    gamma = torch.cat([m.weight for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert abs(gamma.mean().item() - 1) < 0.01 and 0.01 < gamma.std().item() < 0.03


def test_mnist_size_needs_no_resize():
    G = Generator(image_size=28, channels=1, width=8)
    assert G(torch.randn(2, 100)).shape[-1] == 28


def test_losses():
    confident = torch.full((4,), 10.0)
    assert d_loss(confident, -confident).item() < 1e-3
    assert d_loss(confident, -confident, real_label=0.9).item() > 0.3  # smoothing penalises certainty
    assert g_nonsaturating_loss(-confident).item() > 9  # D sure it is fake: big, non-vanishing loss
