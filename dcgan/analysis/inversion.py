"""Inversion: a picture brought into the latent space. Finds the z whose G(z) looks most like a target
image, reports how close it came beside what "close" means for this model, and keeps found z's with
the run, each beside the target image it was found for. A drawing for a 28 px grey model is framed as
the data set's images were made first (imaging.reframe, chosen by target_framing).

How (Lipton & Tripathi 2017, "Precise recovery of latent vectors from generative adversarial
networks"; yxlao/reverse-gan.pytorch): gradient descent (Adam) on z through the frozen G, from several
starts at once in one batch (G's loss surface in z has local minima; the starts cost one batched
forward pass), keeping the best z each start ever reached. The starts are the best of many random z's,
each scored by one forward pass: the search then begins in the basins nearest the target. The loss is the mean squared pixel
error in [-1, 1], optionally plus the evaluator classifier's feature error (its 128-d penultimate
features, where the run's dataset has a classifier), which weighs what the strokes mean over where
each grey pixel is.

z is kept in the typical set by projection: after every step it is scaled back to the norm sqrt(z_dim)
that a standard normal z of this size has (to within about 1 %). A prior term (+ w |z|^2) was the other
choice; it pulls z toward 0, the density's peak, which in 100 dimensions is no z G ever saw in
training (G(0) is a blur), and its weight trades fit for plausibility with no right value. The
projection (Lipton & Tripathi's "stochastic clipping" for a uniform z, here for a normal one) leaves
only directions free, so every z tried is one G knows.

An error means little alone, so two references are computed per (run, step) and kept in the run's
inversion_references.json: the error of inverting G's own images (a seeded batch, whose exact z exist:
what "perfect" looks like) and of the run's held-out real images (when its data is on this machine).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..imaging import (FASHION_FRAMING, MNIST_FRAMING, Framing, PreparedImage, as_float_images, border_level,
                       png_bytes, prepare_upload, to_uint8)
from ..runs.rundir import RunDir

DEFAULT_STARTS = 8
DEFAULT_STEPS = 200
DEFAULT_LR = 0.1
# random z's scored per target (forward passes only) before the search, which starts from the best DEFAULT_STARTS
# of them: scoring 256 costs about what 7 steps do at 28 px (0.05 s), 17 at 64 px (0.34 s), and brought 6 of 8 fresh
# Fashion-MNIST G images within 1.5x of the self-inversion error in 200 steps, against 3 of 8 (docs/inversion.md)
DEFAULT_CANDIDATES = 256
MAX_CANDIDATES = 4096
FEATURE_WEIGHT = 0.0  # the classifier feature term's weight (0: pixels alone; see docs/inversion.md)
REFERENCE_COUNT = 4  # images of each kind the references invert (in one batch with their starts)
REFERENCE_SEED = 0
REFERENCES_VERSION = 2  # 2: the searches start from the best of DEFAULT_CANDIDATES random z's
MAX_STARTS = 64
MAX_STEPS = 5000
MAX_FEATURE_WEIGHT = 10.0  # the feature error is scale-free (about 1 for unrelated images): past 10 pixels no longer count


@dataclass
class Inversion:
    """The best z found for one target, G(z), and how close it came."""

    z: np.ndarray  # (z_dim,) float32, |z| = sqrt(z_dim)
    image: np.ndarray  # G(z): uint8 (H, W, C)
    error: float  # mean squared pixel error of G(z) against the target, both in [-1, 1]
    steps: int  # Adam steps taken (fewer than asked when stopped)
    stopped: bool = False  # stopped early by the caller: z is the best so far
    seconds: float = 0.0


def project(z: torch.Tensor) -> torch.Tensor:
    """Each row of z scaled to norm sqrt(z_dim): the shell where standard normal z's lie."""
    return z * (math.sqrt(z.shape[1]) / z.norm(dim=1, keepdim=True).clamp_min(1e-8))


def frozen_copy(G: torch.nn.Module) -> torch.nn.Module:
    """A copy of G for inversion: eval mode, no parameter gradients, and each BatchNorm that follows a
    convolution folded into it (eval-mode BatchNorm is an affine map per channel), which makes a
    step about 15 % (28 px) to 2x (64 px) cheaper on a CPU; its images equal G's to float rounding."""
    import copy
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    frozen = copy.deepcopy(G).eval().requires_grad_(False)
    for seq in [m for m in frozen.modules() if isinstance(m, torch.nn.Sequential)]:
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) and isinstance(bn, torch.nn.BatchNorm2d) \
                    and bn.track_running_stats and bn.running_mean is not None:
                seq[i] = fuse_conv_bn_eval(conv, bn, transpose=isinstance(conv, torch.nn.ConvTranspose2d))
                seq[i + 1] = torch.nn.Identity()
    return frozen


def _features(classifier: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The classifier's penultimate features of images in [-1, 1] (grey, resized to its size), with gradients."""
    if x.shape[1] == 3:
        x = x.mean(1, keepdim=True)
    size = classifier.image_size
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return classifier.features(x)


def feature_classifier(run: RunDir) -> torch.nn.Module:
    """The evaluator's classifier that judges a run (MNIST's, Fashion-MNIST's, a labelled folder's such as
    the faces' smiling), whose features the feature term compares; ValueError, one line, when the run's
    dataset has none (synthetic shapes, Stacked MNIST, an unlabelled folder, a folder not on this machine)."""
    from ..config import DATASET_SPECS
    from ..evaluation.classifier import evaluator_for, load_classifier, run_evaluation_problem, run_folder_classes
    from ..runs.checkpoint import CheckpointError
    values = run.config_values()
    spec = DATASET_SPECS.get(values.get("dataset"))
    problem = run_evaluation_problem(run) if values else "it has no config naming its dataset (a bare generator)"
    if problem is None and not spec.per_image_class:  # Stacked MNIST: three digits an image, no one class
        problem = f"the {spec.label} classifier judges each channel, not the image"
    if problem is None:
        try:
            return load_classifier(evaluator_for(values.get("dataset"), tuple(run_folder_classes(values) or ())))
        except CheckpointError as e:
            problem = str(e).splitlines()[0]
    raise ValueError(f"the classifier-feature term needs the evaluator's classifier for this run: {problem}")


def invert_batch(G: torch.nn.Module, targets: torch.Tensor, starts: int = DEFAULT_STARTS, steps: int = DEFAULT_STEPS,
                 lr: float = DEFAULT_LR, seed: int = 0, classifier: torch.nn.Module | None = None,
                 feature_weight: float = FEATURE_WEIGHT, progress: Callable[[int, int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None, target_error: float | None = None,
                 candidates: int = DEFAULT_CANDIDATES) -> list[Inversion]:
    """The best z for each of targets (N, C, H, W; uint8 or [-1, 1], G's size and channels): Adam over
    N x starts z's in one batch for `steps` steps (the learning rate decays to 0 on a cosine), each
    z projected back to norm sqrt(z_dim) after every step. progress(done, total) is called every few
    steps; should_stop() is asked every step and, once True, the best z's so far are returned (stopped
    is set). With target_error, the search ends as soon as every target's best pixel error is at most
    that (a benchmark's "good enough"). With candidates > starts, that many random z's per target are
    scored first (forward passes only) and the best `starts` of them are where the search starts (0: the
    starts are random z's). The same seed gives the same z's (CPU)."""
    if not 1 <= starts <= MAX_STARTS:
        raise ValueError(f"starts must be 1 to {MAX_STARTS}, not {starts}")
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be 1 to {MAX_STEPS}, not {steps}")
    if not 0 <= candidates <= MAX_CANDIDATES:
        raise ValueError(f"candidates must be 0 to {MAX_CANDIDATES}, not {candidates}")
    shape = (G.channels, G.image_size, G.image_size)
    if targets.ndim != 4 or tuple(targets.shape[1:]) != shape:
        raise ValueError(f"targets must be (N, {', '.join(map(str, shape))}) images for this generator, "
                         f"not {tuple(targets.shape)}")
    began = time.perf_counter()
    device = next(G.parameters()).device
    n = len(targets)
    target = as_float_images(targets).to(device).repeat_interleave(starts, 0)  # row i*starts+s: target i
    use_features = classifier is not None and feature_weight > 0
    G_frozen = frozen_copy(G)
    if use_features:
        classifier = frozen_copy(classifier).to(device)
        with torch.no_grad():
            target_features = _features(classifier, target)
            feature_scale = target_features.pow(2).mean(1).clamp_min(1e-6)  # a scale-free feature error
    generator = torch.Generator().manual_seed(seed)
    if candidates > starts:
        z0 = torch.cat([_best_starts(G_frozen, t, starts, candidates, generator) for t in as_float_images(targets)])
    else:
        z0 = torch.randn(n * starts, G.z_dim, generator=generator)
    z = project(z0).to(device).requires_grad_(True)
    optimiser = torch.optim.Adam([z], lr=lr)
    best_loss = torch.full((n * starts,), math.inf, device=device)
    best_pixel = torch.full((n * starts,), math.inf, device=device)
    best_z = z.detach().clone()
    every = max(1, steps // 50)
    taken, stopped = 0, False
    for step in range(steps + 1):  # the last pass only scores the z of the last step
        image = G_frozen(z)
        pixel = (image - target).pow(2).flatten(1).mean(1)
        loss = pixel
        if use_features:
            loss = loss + feature_weight * (_features(classifier, image) - target_features).pow(2).mean(1) \
                / feature_scale
        with torch.no_grad():  # keep each start's best z: Adam's last step need not be its best
            better = loss < best_loss
            best_loss = torch.where(better, loss, best_loss)
            best_pixel = torch.where(better, pixel, best_pixel)
            best_z[better] = z.detach()[better]
        if step == steps or target_error is not None and \
                bool((best_pixel.view(n, starts).min(1).values <= target_error).all()):
            break
        if should_stop is not None and should_stop():
            stopped = True
            break
        for group in optimiser.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        optimiser.zero_grad(set_to_none=True)
        loss.sum().backward()  # a sum: each z's gradient is its own target's alone
        optimiser.step()
        with torch.no_grad():
            z.copy_(project(z))
        taken = step + 1
        if progress is not None and (taken % every == 0 or taken == steps):
            progress(taken, steps)
    pick = best_loss.view(n, starts).argmin(1) + torch.arange(n, device=device) * starts
    with torch.no_grad():
        images = to_uint8(G_frozen(best_z[pick]))
    seconds = time.perf_counter() - began
    return [Inversion(best_z[i].cpu().numpy().astype(np.float32), images[k], float(best_pixel[i]), taken, stopped,
                      seconds) for k, i in enumerate(pick.tolist())]


def _best_starts(G: torch.nn.Module, target: torch.Tensor, starts: int, candidates: int,
                 generator: torch.Generator) -> torch.Tensor:
    """The `starts` of `candidates` random z's (on the shell) whose G(z) lies nearest target, by pixel error."""
    device = next(G.parameters()).device
    pool = project(torch.randn(candidates, G.z_dim, generator=generator))
    with torch.no_grad():
        errors = torch.cat([(G(chunk.to(device)) - target.to(device)).pow(2).flatten(1).mean(1)
                            for chunk in pool.split(256)])
    return pool[errors.topk(starts, largest=False).indices.cpu()]


def invert(G: torch.nn.Module, target: np.ndarray | torch.Tensor, **options) -> Inversion:
    """The best z for one target image: uint8 (H, W, C) as prepare_target gives it, or a tensor
    (C, H, W) / (1, C, H, W) in [-1, 1]; options as invert_batch's."""
    if isinstance(target, np.ndarray):
        if target.ndim != 3:
            raise ValueError(f"a target image is (H, W, C), not an array of shape {target.shape}")
        target = torch.from_numpy(np.ascontiguousarray(target)).permute(2, 0, 1)
    return invert_batch(G, target.reshape(1, *target.shape[-3:]), **options)[0]


# --- targets -----------------------------------------------------------------------------------------

def model_background(G: torch.nn.Module, count: int = 16, seed: int = REFERENCE_SEED) -> str | None:
    """What G's images stand on: "dark" (MNIST's and Fashion-MNIST's black), "light", or None when the
    border of its images varies (photos): the median border of a seeded batch of G's images."""
    from ..sampling import generate, z_from_seed
    images = generate(G, z_from_seed(seed, G.z_dim, count))
    level = float(np.median([border_level(im) for im in images]))
    return "dark" if level < 64 else "light" if level > 192 else None


def target_framing(G: torch.nn.Module, run: RunDir | None) -> Framing | None:
    """How a drawing for G is re-framed (imaging.reframe): as Fashion-MNIST's garments were for a Fashion-MNIST
    run, as MNIST's digits were for any other 28 px grey model that draws on dark (MNIST, an imported
    netG); None for every other model, whose images were not framed by a recipe."""
    if (G.image_size, G.channels) != (MNIST_FRAMING.frame, 1) or model_background(G) != "dark":
        return None
    dataset = run.config_values().get("dataset") if run is not None else None
    return FASHION_FRAMING if dataset == "fashion-mnist" else MNIST_FRAMING


def prepare_target(G: torch.nn.Module, data: bytes, framing: Framing | None = None) -> PreparedImage:
    """An uploaded picture as a target for G: imaging.prepare_upload at G's size and channels, inverted
    when its border is light and G draws on dark (or the other way round), and with framing (see
    target_framing) re-framed as the data set's images were. ValueError, one line, for what cannot be a
    target."""
    return prepare_upload(data, G.image_size, G.channels, background=model_background(G), framing=framing)


def held_out_image(run: RunDir, index: int, image_size: int, channels: int) -> np.ndarray:
    """Real held-out image number index of a run (MNIST / Fashion-MNIST: the test split; a folder: its
    held-out share) as uint8 (H, W, C); DataError when the data is not here, ValueError out of range."""
    from .critic import held_out_images
    images = held_out_images(run, image_size, channels)
    if not 0 <= index < len(images):
        raise ValueError(f"test image {index} is outside 0..{len(images) - 1} (the run's held-out images)")
    return images[index].permute(1, 2, 0).numpy().copy()


def random_held_out(run: RunDir, image_size: int, channels: int, seed: int | None = None) -> tuple[int, np.ndarray]:
    """A real held-out image of the run picked at random (seeded when seed is given): (its index, uint8
    (H, W, C)), the index being what `python -m dcgan invert --test-image` takes; DataError when the
    data is not here."""
    from .critic import held_out_images
    images = held_out_images(run, image_size, channels)
    if len(images) == 0:
        raise ValueError("the run has no held-out images")
    index = int(np.random.default_rng(seed).integers(len(images)))
    return index, images[index].permute(1, 2, 0).numpy().copy()


# --- references: what an error means for this model ------------------------------------------------

@dataclass
class References:
    """The median error of inverting G's own images (what "perfect" looks like) and held-out real images."""

    own: float
    real: float | None
    real_note: str | None = None  # why there is no real reference
    count: int = REFERENCE_COUNT
    settings: dict = field(default_factory=dict)

    def text(self, error: float) -> str:
        """ "error 0.0123 (G's own images: 0.0040; real held-out images: 0.0310)" """
        real = f"real held-out images: {self.real:.4f}" if self.real is not None else \
            f"no real reference ({self.real_note})"
        return f"error {error:.4f} (G's own images: {self.own:.4f}; {real})"


def _settings(starts: int, steps: int, candidates: int) -> dict:
    return {"version": REFERENCES_VERSION, "count": REFERENCE_COUNT, "seed": REFERENCE_SEED, "starts": starts,
            "steps": steps, "candidates": candidates, "lr": DEFAULT_LR, "feature_weight": 0.0}


def references(G: torch.nn.Module, run: RunDir | None, step: int | None, starts: int = DEFAULT_STARTS,
               steps: int = DEFAULT_STEPS, refresh: bool = False,
               candidates: int = DEFAULT_CANDIDATES) -> References:
    """The reference errors for G (a run's generator at step; None: its latest export), read from the
    run's inversion_references.json when it holds them for this step and these settings, else computed
    (G's own images and the held-out real ones inverted in one batch, REFERENCE_COUNT of each, pixels
    alone) and saved there. A run folder that cannot be written to is no error: the figures are
    returned all the same."""
    from ..data import DataError
    from ..sampling import generate_tensor, z_from_seed
    key = "final" if step is None else str(step)
    if run is not None and step is None and run.export_step() is not None:
        key = str(run.export_step())
    settings = _settings(starts, steps, candidates)
    stored = run.inversion_references() if run is not None else {}
    entry = stored.get(key) if isinstance(stored.get(key), dict) else None
    if entry is not None and not refresh and entry.get("settings") == settings and _number(entry.get("own")) \
            and (entry.get("real") is None or _number(entry.get("real"))):
        return References(entry["own"], entry.get("real"), entry.get("real_note"), REFERENCE_COUNT, settings)
    own = torch.cat(generate_tensor(G, z_from_seed(REFERENCE_SEED + 1, G.z_dim, REFERENCE_COUNT)))
    real, note = None, "no run to take real images from"
    if run is not None:
        try:
            from .critic import held_out_images
            images = held_out_images(run, G.image_size, G.channels)
            pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(REFERENCE_SEED))
            real, note = as_float_images(images[pick[:REFERENCE_COUNT]]), None
        except (DataError, OSError, ValueError) as e:
            note = str(e).splitlines()[0]
    targets = own if real is None else torch.cat([own, real])
    found = invert_batch(G, targets, starts=starts, steps=steps, seed=REFERENCE_SEED, candidates=candidates)
    errors = [f.error for f in found]
    result = References(float(np.median(errors[:REFERENCE_COUNT])),
                        None if real is None else float(np.median(errors[REFERENCE_COUNT:])), note,
                        REFERENCE_COUNT, settings)
    if run is not None:
        stored = {k: v for k, v in stored.items() if isinstance(v, dict)}
        stored[key] = {"own": round(result.own, 6), "real": None if result.real is None else round(result.real, 6),
                       "real_note": note, "settings": settings}
        try:
            run.write_inversion_references(stored)
        except OSError:
            pass  # a read-only run: the figures were computed, the next visit computes them again
    return result


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --- found z's kept with the run -----------------------------------------------------------------------

def latent_record(result: Inversion, source: str, step: int | None) -> dict:
    """A found z as the file the Latent page's JSON upload reads ({"z": [...]}) with where it came from."""
    return {"z": [round(float(v), 6) for v in result.z], "source": source, "error": round(result.error, 6),
            "step": step, "steps": result.steps, "saved": round(time.time(), 3)}


def save_latent(run: RunDir, name: str, record: dict, target: np.ndarray | None = None) -> str:
    """Keep a found z with the run as latents/<name>.json (atomic) and, given, its target image (uint8
    (H, W, C), as the search took it) beside it as latents/<name>.png; returns the JSON's path as text."""
    return str(run.write_latent(name, record, None if target is None else png_bytes(target)))


def saved_target(run: RunDir, name: str) -> np.ndarray | None:
    """The target image saved with z `name` as uint8 (H, W, C), or None: none was kept (a save from before
    targets were), or its file is damaged or another save's (RunDir.latent_target)."""
    import io
    from PIL import Image
    data = run.latent_target(name)
    if data is None:
        return None
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
            image = np.asarray(im.convert("L" if im.mode in ("L", "1", "I", "I;16") else "RGB"))
    except (OSError, SyntaxError, ValueError):
        return None
    return image[..., None] if image.ndim == 2 else image


def free_latent_name(run: RunDir, stem: str) -> str:
    """The first of stem-1, stem-2, ... not yet saved with the run (a new z never overwrites an old one)."""
    number = 1
    while run.latent_path(f"{stem}-{number}").exists():  # a damaged file counts too: it is not overwritten
        number += 1
    return f"{stem}-{number}"


@dataclass
class SavedView:
    """A saved z as the Invert page lists it: the picture to show and its caption."""

    image: np.ndarray  # uint8 (H, W, C): the target beside G(z), or G(z) alone, upscaled
    caption: str
    has_target: bool


def saved_view(G: torch.nn.Module, run: RunDir, name: str, z: np.ndarray, scale: int) -> SavedView:
    """The target saved z `name` was found for beside G(z), upscaled by scale, or G(z) alone for a save that
    kept no target (made before targets were kept, or its PNG damaged), captioned with where it came from."""
    from ..imaging import make_grid, upscale
    from ..sampling import check_z, generate
    found = generate(G, check_z(z, G.z_dim).view(1, -1))[0]
    record = read_latent(run, name)
    error = record.get("error")
    about = f"from {record.get('source', '?')}" + (f" · error {error:.4f}" if _number(error) else "")
    target = saved_target(run, name)
    if target is not None and target.shape == found.shape:
        return SavedView(upscale(make_grid(np.stack([target, found]), nrow=2, pad_value=128), scale),
                         f"left: the target it was found for; right: G(z) · {about}", True)
    return SavedView(upscale(found, scale), f"G(z) · {about} (no target image kept with it)", False)


def read_latent(run: RunDir, name: str) -> dict:
    """One saved z's record ({} when it is gone or damaged)."""
    return next((r for r in run.latents() if r["name"] == name), {})


def saved_latents(run: RunDir, z_dim: int) -> tuple[dict[str, np.ndarray], int]:
    """The run's saved z's that fit a generator of z_dim, by name, the newest first (the one just found heads
    every list that offers them), and how many files were left out (damaged, or a z that check_z refuses)."""
    from ..sampling import check_z
    records = run.latents()
    out, skipped = {}, records.skipped
    newest_first = sorted(records, key=lambda r: -r["saved"] if _number(r.get("saved")) else math.inf)
    for record in newest_first:
        try:
            out[record["name"]] = check_z(record["z"], z_dim).numpy()
        except ValueError:
            skipped += 1
    return out, skipped
