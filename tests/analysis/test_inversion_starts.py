"""invert_batch's candidates: many random z's scored by one forward pass each, the search started from the
best of them (bench/inversion.py's search part compares it with plain random starts)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dcgan.analysis.inversion import invert, invert_batch
from dcgan.nets.models import Generator
from dcgan.sampling import generate, generate_tensor, z_from_seed


@pytest.fixture(scope="module")
def small_G() -> Generator:
    """A small random 28 px generator whose images differ from z to z (see test_inversion.py's)."""
    torch.manual_seed(0)
    G = Generator(z_dim=16, image_size=28, channels=1, width=8)
    G.train()
    for m in G.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    with torch.no_grad():
        for _ in range(5):
            G(torch.randn(64, 16))
        G.main[-2].weight *= 10
    return G.eval()


def test_the_best_of_many_candidates_starts_nearer_than_plain_random_starts(small_G):
    targets = torch.cat(generate_tensor(small_G, z_from_seed(21, 16, 3)))
    stop_at_once = {"should_stop": lambda: True}  # step 0: the error of the best start as it was drawn
    plain = invert_batch(small_G, targets, starts=4, seed=0, candidates=0, **stop_at_once)
    picked = invert_batch(small_G, targets, starts=4, seed=0, candidates=512, **stop_at_once)
    for p, q in zip(plain, picked):
        assert q.error < p.error  # the best of 512 against the best of 4
        assert np.isclose(np.linalg.norm(q.z), 4.0, rtol=1e-4)  # on the shell, as every start is


def test_candidates_are_seeded_and_searched_as_usual(small_G):
    target = generate(small_G, z_from_seed(5, 16))[0]
    a, b = (invert(small_G, target, starts=2, steps=20, seed=3, candidates=64) for _ in range(2))
    assert np.array_equal(a.z, b.z)
    assert not np.array_equal(a.z, invert(small_G, target, starts=2, steps=20, seed=4, candidates=64).z)
    one_step = invert(small_G, target, starts=2, steps=1, seed=3, candidates=64)
    assert a.steps == 20 and a.error <= one_step.error  # the same starts, searched further


@pytest.mark.parametrize("candidates", [-1, 4097])
def test_candidates_out_of_range_are_refused(small_G, candidates):
    with pytest.raises(ValueError, match="candidates must be 0 to 4096"):
        invert(small_G, np.zeros((28, 28, 1), np.uint8), candidates=candidates)
