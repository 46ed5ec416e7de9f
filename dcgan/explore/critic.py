"""What the discriminator believes: its "real" score for generated, uploaded or real images.

D ends in one logit per image; sigmoid(logit) is its probability of "real" under the BCE loss the
DCGAN paper trains with. Under the hinge and relativistic losses the logit is a realness score with no
calibrated zero (the relativistic loss only compares a real image's logit with a fake's), so the
scores are shown beside D's mean score for G's own images: above it, D finds the image more real
than what G usually makes.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .imaging import to_uint8
from .latent import generate_tensor

MAX_UPLOAD_PIXELS = 4096 * 4096  # a decompression bomb is refused before it is decoded


@dataclass
class Realness:
    """D's logits for some images and the probability sigmoid(logit) that D calls them real."""

    logits: np.ndarray  # (N,) float64
    probabilities: np.ndarray  # (N,) float64 in [0, 1]


@torch.no_grad()
def realness(D: torch.nn.Module, images: torch.Tensor, batch_size: int = 256) -> Realness:
    """D's view of images (N, C, H, W) in [-1, 1], in eval mode (BatchNorm's running statistics)."""
    was_training = D.training
    D.eval()
    try:
        device = next(D.parameters()).device
        logits = torch.cat([D(images[i:i + batch_size].to(device).float()).double().cpu()
                            for i in range(0, len(images), batch_size)]) if len(images) else torch.zeros(0)
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
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1


def image_from_upload(data: bytes, image_size: int, channels: int) -> np.ndarray:
    """An uploaded picture (PNG, JPEG, ...) as D sees its training images: grey or RGB, centre-cropped
    to a square and resized to image_size; uint8 (1, H, W, C). ValueError (one line) for a file that
    is not an image or is too large to decode."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_UPLOAD_PIXELS:
                raise ValueError(f"the image is {im.width}x{im.height}; at most {MAX_UPLOAD_PIXELS:,} pixels")
            im = im.convert("L" if channels == 1 else "RGB")
            side = min(im.size)
            left, top = (im.width - side) // 2, (im.height - side) // 2
            im = im.crop((left, top, left + side, top + side)).resize((image_size, image_size), Image.BICUBIC)
            arr = np.array(im, dtype=np.uint8)  # a copy: PIL's buffer is read-only
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise ValueError(f"not an image this app can read ({str(e).splitlines()[0] if str(e) else 'unknown format'})") \
            from None
    return (arr[..., None] if arr.ndim == 2 else arr)[None]

