"""What D believes, read relatively: a logit ranked among a seeded reference of real images and G's, and
said plainly when D scores the two alike (a relativistic D at equilibrium)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dcgan.analysis.critic import Realness, Reference, reference, standings
from dcgan.data import torchvision_files_present
from dcgan.runs.checkpoint import load_run_discriminator, load_run_generator
from dcgan.runs.rundir import RunDir

ROOT = Path(__file__).resolve().parents[2]
MNIST_RUN = ROOT / "checkpoints" / "mnist"
MNIST_DATA = ROOT.parent / "shared" / "datasets" / "MNIST"


def scores(logits) -> Realness:
    logits = np.asarray(logits, np.float64)
    return Realness(logits, 1 / (1 + np.exp(-logits)))


def made(real, fake) -> Reference:
    return Reference(np.zeros((len(fake), 4, 4, 1), np.uint8), scores(fake), None if real is None else scores(real),
                     None if real is not None else "the data is not here")


def test_a_logit_is_ranked_among_real_images_and_g_s():
    ref = made(real=np.arange(64) / 64, fake=np.arange(64) / 64 - 0.5)
    s = ref.standing(0.19)  # above 13 real logits (0 .. 12/64) and 45 of G's (-0.5 .. 44/64 - 0.5)
    assert (s.above_real, s.above_fake) == (13, 45)
    assert s.text() == "higher than 13 of 64 real images and 45 of 64 of G's"
    alone = made(real=None, fake=np.arange(8)).standing(3.5)
    assert alone.above_real is None and alone.text() == "higher than 4 of 8 of G's"
    assert "No real images to compare with (the data is not here)" in made(None, np.arange(8)).verdict()


def test_d_that_scores_real_images_and_g_s_alike_is_said_plainly():
    rng = np.random.default_rng(0)
    alike = made(real=0.51 + 0.01 * rng.standard_normal(64), fake=0.51 + 0.01 * rng.standard_normal(64))
    assert alike.tells_apart() is False and "D cannot tell real images from G's" in alike.verdict()
    apart = made(real=2 + rng.standard_normal(64), fake=-2 + rng.standard_normal(64))
    assert apart.tells_apart() is True and "real images score above G's" in apart.verdict()
    assert made(None, np.arange(8)).tells_apart() is None


@pytest.mark.skipif(not (MNIST_RUN / "discriminator.safetensors").is_file(),
                    reason="the shipped MNIST model and its D are not in checkpoints/")
@pytest.mark.slow
@pytest.mark.skipif(not torchvision_files_present("mnist", MNIST_DATA.parent), reason="needs ../shared/datasets/MNIST (not in the repository)")
def test_shipped_mnist_d_ranks_noise_below_real_digits():
    from dcgan.data import load_dataset
    run = RunDir.at(MNIST_RUN)
    D, _ = load_run_discriminator(run)
    ref = reference(D, load_run_generator(run), run)  # what the Directions page shows, seeded
    assert ref.real is not None, ref.real_note
    assert len(ref.real.logits) == len(ref.fake.logits) == 64
    noise = np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1)).astype(np.uint8)
    # training digits: not among the reference's held-out test images
    digits = load_dataset("mnist", 28, 1, str(MNIST_DATA.parent)).images[:16].permute(0, 2, 3, 1).numpy()
    noise_ranks = [s.above_real for s in standings(D, ref, noise)]
    digit_ranks = [s.above_real for s in standings(D, ref, digits)]
    assert max(noise_ranks) <= 4, noise_ranks  # below (almost) every real digit
    assert np.median(digit_ranks) >= 16, digit_ranks  # real digits rank among real digits
    # the same reference on every visit: seeded
    again = reference(D, load_run_generator(run), run)
    assert np.array_equal(again.fake.logits, ref.fake.logits) and np.array_equal(again.real.logits, ref.real.logits)
    assert torch.is_tensor(ref.context) and ref.context.shape == (64, 1, 28, 28)
