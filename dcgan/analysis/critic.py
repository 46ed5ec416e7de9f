"""What the discriminator believes: its "real" score for generated, uploaded or real images, read
against a seeded reference batch of G's images and of the run's real images.

D ends in one logit per image; sigmoid(logit) is its probability of "real" under the BCE loss the
DCGAN paper trains with. Under the hinge and relativistic losses the logit is a realness score with no
calibrated zero (the relativistic loss only compares a real image's logit with a fake's: every image
of the shipped faces scores about 0.51), so a score means something only beside others: where it
ranks among real images and among G's. A well-trained relativistic D scores real images and G's
alike (its medians lie within each other's spread); the reference says so rather than let a lone
number suggest a verdict.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data import DataError
from ..imaging import as_float_images, prepare_upload, to_uint8
from ..runs.rundir import RunDir
from ..sampling import generate_tensor

REFERENCE_SIZE = 64  # images of each kind a score is ranked among
REFERENCE_SEED = 0  # the reference is the same on every visit and in every test

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
    """An uploaded picture (PNG, JPEG, ...) as D saw its training images: imaging.prepare_upload, the one
    preparer inversion shares (16-bit grey scaled, centre crop, resize, grey or RGB); uint8 (1, H, W, C).
    ValueError (one line) for a file that is not an image, is damaged or too large to decode."""
    return prepare_upload(data, image_size, channels, allow_blank=True).image[None]

@dataclass
class Spread:
    """The median of some logits and their middle half (the 25th to the 75th percentile)."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, logits: np.ndarray) -> "Spread":
        q25, q50, q75 = np.percentile(logits, [25, 50, 75])
        return cls(float(q50), float(q25), float(q75))

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high

    def text(self) -> str:
        return f"{self.median:.3f} (middle half {self.low:.3f} to {self.high:.3f})"

@dataclass
class Standing:
    """One image's logit and where it ranks among the reference's real images and G's."""

    logit: float
    probability: float
    above_real: int | None  # how many reference real images score lower (None: no real images)
    above_fake: int
    real_count: int
    fake_count: int

    def text(self) -> str:
        """ "higher than 12 of 64 real images and 40 of 64 of G's" """
        real = "" if self.above_real is None else f"{self.above_real} of {self.real_count} real images and "
        return f"higher than {real}{self.above_fake} of {self.fake_count} of G's"

@dataclass
class Reference:
    """D's logits for a seeded batch of G's images and, when the run's data is on this machine, as many
    of its real (held-out) images: what a single image's score is read against."""

    fake_images: np.ndarray  # uint8 (N, H, W, C): G(z) for REFERENCE_SEED's z
    fake: Realness
    real: Realness | None
    real_note: str | None  # why there are no real images to compare with

    @property
    def context(self) -> torch.Tensor:
        """The batch a lone image is judged in, for a D that looks at batches (minibatch std-dev)."""
        return uint8_to_input(self.fake_images)

    def standing(self, logit: float) -> Standing:
        above_real = None if self.real is None else int((self.real.logits < logit).sum())
        return Standing(float(logit), float(1 / (1 + np.exp(-logit))), above_real,
                        int((self.fake.logits < logit).sum()), 0 if self.real is None else len(self.real.logits),
                        len(self.fake.logits))

    def tells_apart(self) -> bool | None:
        """Whether D scores real images apart from G's: False when each median lies within the other's
        middle half (a relativistic D at equilibrium), None without real images."""
        if self.real is None:
            return None
        real, fake = Spread.of(self.real.logits), Spread.of(self.fake.logits)
        return not (real.holds(fake.median) and fake.holds(real.median))

    def verdict(self) -> str:
        """In words: how D's scores of real images and G's compare, and so how far a score can be read."""
        fake = Spread.of(self.fake.logits)
        if self.real is None:
            return (f"D's logit for G's images: {fake.text()}. No real images to compare with "
                    f"({self.real_note}), so a score can only be ranked among G's.")
        real = Spread.of(self.real.logits)
        figures = f"D's logit for real images: {real.text()}; for G's: {fake.text()}."
        if self.tells_apart():
            side = "above" if real.median > fake.median else "below"
            return f"{figures} D tells them apart: real images score {side} G's."
        return (f"{figures} **D cannot tell real images from G's**: each median lies within the other's middle "
                "half. That is what a well-trained relativistic D looks like (it only compares pairs, and G "
                "has caught up); its score says little about one image, so read where it ranks, not its size.")

def held_out_images(run: RunDir, image_size: int, channels: int) -> torch.Tensor:
    """A run's held-out real images (its test split), uint8 (N, C, H, W); DataError when its data is not here."""
    from ..evaluation.evaluate import real_images
    cfg = run.config_values()
    if not cfg:
        raise DataError("the run has no readable config to say what it was trained on")
    return real_images(cfg, "test", image_size, channels).images

def _real_reference(run: RunDir, image_size: int, channels: int, size: int, seed: int) -> torch.Tensor:
    """size held-out real images of a run (seeded choice), as D's input; DataError when its data is not here."""
    images = held_out_images(run, image_size, channels)
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:size]
    return as_float_images(images[pick])

def reference(D: torch.nn.Module, G: torch.nn.Module, run: RunDir | None, size: int = REFERENCE_SIZE,
              seed: int = REFERENCE_SEED) -> Reference:
    """D's view of size images of G (z from seed) and of size of the run's held-out real images (none when
    run is None or its data is not on this machine; real_note says why)."""
    z = torch.randn(size, G.z_dim, generator=torch.Generator().manual_seed(seed))
    fake_images, fake = generated_realness(D, G, z)
    real, note = None, "no run to take real images from"
    if run is not None:
        try:
            real = realness(D, _real_reference(run, G.image_size, G.channels, size, seed))
            note = None
        except (DataError, OSError, ValueError) as e:
            note = str(e).splitlines()[0]
    return Reference(fake_images, fake, real, note)

def standings(D: torch.nn.Module, ref: Reference, images: np.ndarray) -> list[Standing]:
    """Where D ranks each uint8 image (N, H, W, C) among the reference's real images and G's."""
    scores = realness(D, uint8_to_input(images), context=ref.context)
    return [ref.standing(logit) for logit in scores.logits]
