"""The model overview (dcgan/analysis/overview.py): read off the networks themselves."""
from __future__ import annotations

import pytest

from dcgan.analysis.overview import model_overview
from dcgan.analysis.units import layers
from dcgan.nets.models import Discriminator, Generator, count_parameters


@pytest.mark.parametrize("size, depth, mbstd", [(28, 2, False), (64, 0, True)])
def test_the_overview_is_the_models_own(size, depth, mbstd):
    G = Generator(z_dim=20, image_size=size, channels=3, width=8, depth=depth)
    D = Discriminator(size, 3, 8, batchnorm=False, mbstd=mbstd, depth=depth).train()
    overview = model_overview(G, D)
    assert overview.z.shape == (20,) and overview.image.shape == (3, size, size)
    assert overview.g[-1].shape == (3, size, size) and overview.score.shape == (1,)
    assert overview.g_parameters == count_parameters(G) and overview.d_parameters == count_parameters(D)
    # G's blocks but the last are Inside G's layers, shape for shape
    assert [b.shape for b in overview.g[:-1]] == [(l.channels, l.size, l.size) for l in layers(G)]
    assert [b.kind for b in overview.chain] == ["z"] + ["G"] * len(overview.g) + ["image"] + \
        ["D"] * len(overview.d) + ["score"]
    if mbstd:
        block = next(b for b in overview.d if "std-dev" in b.label)
        assert block.parameters == 0 and block.shape[0] == 8 * 8 + 1  # one more feature map
    assert D.training  # read on a copy in eval mode: the caller's D keeps its mode
