"""Latent tools: seeds, interpolation, sweeps, image grids and GIFs."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.imaging import gif_bytes, gif_frame_count, make_grid, upscale
from dcgan.sampling import interpolate, lerp, slerp, sweep, z_from_seed


def test_seeds_and_interpolation():
    assert torch.equal(z_from_seed(7, 100), z_from_seed(7, 100))
    assert not torch.equal(z_from_seed(7, 100), z_from_seed(8, 100))
    a, b = z_from_seed(1, 100)[0], z_from_seed(2, 100)[0]
    path = interpolate(a, b, 64, "slerp")
    assert path.shape == (64, 100)
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    # slerp keeps the norm of Gaussian samples; lerp's midpoint shrinks towards the origin
    mid_s = slerp(a, b, torch.tensor([0.5]))[0].norm()
    mid_l = lerp(a, b, torch.tensor([0.5]))[0].norm()
    assert mid_l < 0.85 * min(a.norm(), b.norm()) < mid_s
    assert interpolate(torch.zeros(5), torch.ones(5), 3, "slerp").isfinite().all()
    with pytest.raises(ValueError):
        interpolate(a, b, 1)


def test_sweep_changes_one_component_per_row():
    z = z_from_seed(0, 10)[0]
    out = sweep(z, [2, 7], np.linspace(-3, 3, 5))
    assert out.shape == (10, 10)
    assert torch.allclose(out[:5, 2], torch.linspace(-3, 3, 5))
    assert torch.equal(out[:5, 7], z[7].repeat(5)) and torch.allclose(out[5:, 7], torch.linspace(-3, 3, 5))
    with pytest.raises(ValueError):
        sweep(z, [10], [0.0])


def test_images_and_gifs():
    frames = [np.full((8, 8, 1), v, np.uint8) for v in range(0, 250, 10)]
    data = gif_bytes(frames, frame_ms=50, loop=True)
    assert data[:6] == b"GIF89a" and gif_frame_count(data) == 25
    assert gif_frame_count(gif_bytes(frames, pingpong=True)) == 25 + 23
    with Image.open(io.BytesIO(data)) as im:
        assert im.info.get("loop") == 0 and im.info.get("duration") == 50
    with Image.open(io.BytesIO(gif_bytes(frames, loop=False))) as im:
        assert "loop" not in im.info
    rgb = [np.random.default_rng(i).integers(0, 255, (8, 8, 3), dtype=np.uint8) for i in range(4)]
    assert gif_frame_count(gif_bytes(rgb)) == 4
    grid = make_grid(np.zeros((10, 8, 8, 1), np.uint8), nrow=5, padding=2)
    assert grid.shape == (2 * 10 + 2, 5 * 10 + 2, 1)
    assert upscale(np.ones((3, 4, 1), np.uint8), 4).shape == (12, 16, 1)
