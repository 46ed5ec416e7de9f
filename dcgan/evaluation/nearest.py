"""Generated images beside their nearest training images: the app's memorisation view."""
from __future__ import annotations

from dataclasses import dataclass
import functools
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..runs.checkpoint import CheckpointError, resolve_generator
from ..runs.rundir import RunDir
from ..imaging import to_uint8_nchw
from .evaluate import generate_images, real_images
from .metrics import nearest


@dataclass
class NearestStrip:
    image: np.ndarray  # (H, W, C) uint8: generated images on top, each one's nearest training image below
    distances: list[float]  # pixel distance of each pair
    train_indices: list[int]
    pixels: int  # values per image (H * W * C) the distances run over, each in [0, 1]


def nearest_neighbour_strip(G: nn.Module, train_images: torch.Tensor, count: int = 8, seed: int = 0,
                            scale: int = 2) -> NearestStrip:
    """count generated images next to their nearest training images (in pixels), as one grid."""
    from ..imaging import make_grid, upscale
    fake = to_uint8_nchw(generate_images(G, count, seed))
    index, dist = nearest(fake, train_images)
    pairs = torch.cat([fake, train_images[torch.from_numpy(index)]])
    grid = make_grid(pairs.permute(0, 2, 3, 1).numpy(), nrow=count)
    return NearestStrip(upscale(grid, scale), [round(float(d), 3) for d in dist], index.tolist(),
                        int(fake[0].numel()))


@functools.lru_cache(maxsize=2)
def _cached_train_images(key: str) -> torch.Tensor:
    # the app asks again for every strip; a folder of faces takes seconds to decode
    return real_images(json.loads(key), "train").images


def nearest_training_images(run_dir: str | Path, step: int | None = None, count: int = 8,
                            seed: int = 0) -> NearestStrip:
    """The app's nearest-neighbour strip for a run: its generator at `step` (None: final) against
    the run's own training split (a folder's held-out share excluded)."""
    run = RunDir.at(run_dir)
    cfg = run.config_values()
    if not cfg:
        raise CheckpointError(f"{run.path} has no valid config.json: {run.config_problem()}")
    G = resolve_generator(run.path, step)
    key = {k: cfg.get(k) for k in ("dataset", "data_root", "image_folder", "seed", "holdout")}
    train = _cached_train_images(json.dumps({**key, "image_size": G.image_size, "channels": G.channels},
                                            sort_keys=True))
    return nearest_neighbour_strip(G, train, count, seed)
