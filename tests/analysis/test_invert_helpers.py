"""The core pieces the Invert page calls: a random held-out target, a free name for a found z, and the
analogy view's four images."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dcgan.analysis.inversion import free_latent_name, held_out_image, random_held_out
from dcgan.analysis.views import analogy_view, render_z
from dcgan.config import ModelConfig
from dcgan.nets.models import Generator
from dcgan.runs.rundir import RunDir
from dcgan.sampling import z_from_seed


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    return Generator.from_config(ModelConfig(image_size=28, channels=1, z_dim=8, g_width=8, kernel_size=4)).eval()


@pytest.mark.slow  # a 2-step run: about 4 s
def test_random_held_out_is_the_run_s_own_image_of_that_index(tmp_path, tiny):
    from dcgan.training.loop import train
    train(tiny("r", steps=2), tmp_path, progress=False, log=lambda _: None)
    run = RunDir(tmp_path / "r")
    index, image = random_held_out(run, 28, 1, seed=4)
    assert image.shape == (28, 28, 1) and image.dtype == np.uint8
    assert np.array_equal(image, held_out_image(run, index, 28, 1))
    assert random_held_out(run, 28, 1, seed=4)[0] == index  # seeded: the same pick
    assert len({random_held_out(run, 28, 1, seed=s)[0] for s in range(8)}) > 1  # and not always the same


def test_free_latent_name_never_reuses_a_file(tmp_path):
    run = RunDir(tmp_path / "run")
    run.path.mkdir()  # write_latent makes latents/, never the run folder itself
    assert free_latent_name(run, "drawn") == "drawn-1"
    run.write_latent("drawn-1", {"z": [0.0]})
    run.latents_dir.joinpath("drawn-2.json").write_text("{damaged")  # unreadable, but a file all the same
    assert free_latent_name(run, "drawn") == "drawn-3"
    assert free_latent_name(run, "upload") == "upload-1"


def test_analogy_view_answers_c_plus_b_minus_a(G):
    za, zb, zc = (z_from_seed(s, G.z_dim)[0] for s in (1, 2, 3))
    z_d, images = analogy_view(G, za, zb, zc, scale=2)
    assert np.allclose(z_d, (zc + zb - za).numpy(), atol=1e-6)
    assert [im.shape for im in images] == [(56, 56, 1)] * 4
    assert np.array_equal(images[3], render_z(G, z_d, scale=2))
    same, images = analogy_view(G, za, za, zc, scale=1)  # A = B: nothing moves, ? is C
    assert np.allclose(same, zc.numpy()) and np.array_equal(images[3], images[2])


def test_analogy_view_refuses_z_of_another_length(G):
    with pytest.raises(ValueError):
        analogy_view(G, np.zeros(G.z_dim), np.zeros(G.z_dim + 1), np.zeros(G.z_dim))
