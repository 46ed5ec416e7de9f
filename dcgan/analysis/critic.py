"""What the discriminator believes: its "real" score for generated, uploaded or real images.

D ends in one logit per image; sigmoid(logit) is its probability of "real" under the BCE loss the
DCGAN paper trains with. Under the hinge and relativistic losses the logit is a realness score with no
calibrated zero (the relativistic loss only compares a real image's logit with a fake's), so the
scores are shown beside D's median score for G's own images: above it, D finds the image more real
than what G usually makes.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..imaging import as_float_images, to_uint8
from ..sampling import generate_tensor



@dataclass
class Realness:
    """D's logits for some images and the probability sigmoid(logit) that D calls them real."""

    logits: np.ndarray  # (N,) float64
    probabilities: np.ndarray  # (N,) float64 in [0, 1]


@torch.no_grad()
def realness(D: torch.nn.Module, images: torch.Tensor, batch_size: int = 256,
             context: torch.Tensor | None = None) -> Realness:
    """D's view of images (N, C, H, W) in [-1, 1], in eval mode (BatchNorm's running statistics).

    A D with a minibatch std-dev layer judges each image by the batch around it, and a batch of one
    looks collapsed to it; given context (other images, e.g. G's), each image is scored in a batch
    with up to 63 of them, as D saw batches in training."""
    from ..nets.layers import MinibatchStdDev
    in_context = context is not None and any(isinstance(m, MinibatchStdDev) for m in D.modules())
    batches = [torch.cat([x[None], context[:63]]) for x in images] if in_context else \
        [images[i:i + batch_size] for i in range(0, len(images), batch_size)]
    keep = 1 if in_context else None  # in context, only the first of each batch is the image asked about
    was_training = D.training
    D.eval()
    try:
        device = next(D.parameters()).device
        logits = torch.cat([D(b.to(device).float())[:keep].double().cpu() for b in batches]) if batches \
            else torch.zeros(0, dtype=torch.float64)
    finally:
        D.train(was_training)
    return Realness(logits.numpy(), torch.sigmoid(logits).numpy())


@torch.no_grad()
def generated_realness(D: torch.nn.Module, G: torch.nn.Module, z: torch.Tensor) -> tuple[np.ndarray, Realness]:
    """G(z) for each row of z (N, z_dim) as uint8 images (N, H, W, C), and D's view of each."""
    images = torch.cat(generate_tensor(G, z, 256)) if len(z) else torch.zeros(0, G.channels, G.image_size,
                                                                               G.image_size)
    return to_uint8(images), realness(D, images)


def uint8_to_input(images: np.ndarray) -> torch.Tensor:
    """uint8 images (N, H, W, C) as D's input (N, C, H, W) in [-1, 1]."""
    return as_float_images(torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2))


def image_from_upload(data: bytes, image_size: int, channels: int) -> np.ndarray:
    """An uploaded picture (PNG, JPEG, ...) as D saw its training images: the image folder loader's own
    decoding (16-bit grey scaled, centre crop, resize, grey or RGB); uint8 (1, H, W, C). ValueError
    (one line) for a file that is not an image or is too large to decode."""
    from ..data import _load_image
    try:
        arr = _load_image(io.BytesIO(data), image_size, channels)  # (C, H, W)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise ValueError("not an image this app can read (PNG, JPEG, GIF, BMP or WebP)") from None
    except ValueError as e:  # over the loader's pixel limit: "<file>: W x H pixels, over N"
        raise ValueError(f"too large to decode: {str(e).split(': ', 1)[-1]}") from None
    return arr.transpose(1, 2, 0)[None].copy()  # a writable copy: the loader's array is a read-only view
