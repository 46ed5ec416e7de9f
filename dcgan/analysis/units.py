"""Inside G, after GAN Dissection (Bau et al. 2019): a layer's units as feature maps, ranked by how much
switching each off changes G's image; images with chosen units off; the units whose removal most changes
the evaluator's class (MNIST, Fashion-MNIST) or the faces' smile score.

A layer here is the output of one of G's blocks, after its BatchNorm and ReLU (G.main's ReLUs), and a
unit is one channel of it, as in GAN Dissection. Switching a unit off sets its map to zero there, with
G in eval mode (BatchNorm's running statistics, as every view of G in the explorer). G's convolutions
have no bias, so a layer with every unit off feeds zeros to the next convolution, whose output is then
zero, which eval-mode BatchNorm turns into the same constant for every z: the image no longer depends
on z (the known answer tests/analysis/test_units.py checks). Zeroing a convolution's output before its
BatchNorm would not be "off": BatchNorm would map the zeros to its shift.

Units are switched off between two slices of G.main (the blocks up to the layer run once, the rest once
per row of switches), not by a hook on G: a G shared by the app's sessions is never changed, not even for
the length of a call, and ranking every unit costs one pass of the later blocks per unit.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..imaging import to_uint8, upscale
from ..runs.rundir import RunDir
from ..sampling import check_z

CHUNK = 128  # images per forward when every unit is switched off in turn
MAX_FIGURE_UNITS = 64  # units the figure shows, the most effective first


@dataclass(frozen=True)
class Layer:
    """One of G's block outputs: its 1-based index, its place in G.main, its units and map size."""

    index: int
    module_index: int
    channels: int
    size: int

    @property
    def name(self) -> str:
        return f"layer {self.index}: {self.channels} units of {self.size}x{self.size}"


def layers(G: torch.nn.Module) -> list[Layer]:
    """G's layers in order (the output of each block's ReLU), their shapes from one forward pass."""
    found: list[Layer] = []
    g = _eval_mode(G)
    with torch.no_grad():
        x = torch.zeros(1, g.z_dim, 1, 1, device=next(g.parameters()).device)
        for i, module in enumerate(g.main):
            x = module(x)
            if isinstance(module, torch.nn.ReLU):
                found.append(Layer(len(found) + 1, i, x.shape[1], x.shape[2]))
    return found


def layer_of(G: torch.nn.Module, index: int) -> Layer:
    """Layer number index (1-based); ValueError naming the range when there is no such layer."""
    all_layers = layers(G)
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or not 1 <= index <= len(all_layers):
        raise ValueError(f"layer {index} is outside 1..{len(all_layers)} (G has {len(all_layers)} layers)")
    return all_layers[int(index) - 1]


def check_units(layer: Layer, units: Sequence[int]) -> tuple[int, ...]:
    """The units as a sorted tuple without repeats; ValueError for one outside the layer."""
    out = set()
    for u in units:
        if isinstance(u, bool) or not isinstance(u, (int, np.integer)) or not 0 <= u < layer.channels:
            raise ValueError(f"unit {u} is outside 0..{layer.channels - 1} ({layer.name})")
        out.add(int(u))
    return tuple(sorted(out))


def parse_units(text: str) -> list[int]:
    """ "3, 7 12" -> [3, 7, 12]; ValueError for anything that is not a whole number."""
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"units are whole numbers separated by commas, not {text!r}") from None


def _eval_mode(G: torch.nn.Module) -> torch.nn.Module:
    """G itself when it is in eval mode (the app's cached G), else an eval-mode copy: the caller's G is never
    changed, not even its mode, since another session may be using it."""
    return copy.deepcopy(G).eval() if G.training else G


def _forward(G: torch.nn.Module, z: torch.Tensor, layer: Layer, masks: torch.Tensor | None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """G(z) for one z (1, z_dim), once per row of masks (N, channels) with the layer's output multiplied by
    that row (None: once, untouched); and the layer's maps (channels, size, size). The blocks up to the
    layer run once; only those after it run per row, in chunks."""
    g = _eval_mode(G)
    device = next(g.parameters()).device
    with torch.no_grad():
        x = g.main[:layer.module_index + 1](z.to(device).view(1, g.z_dim, 1, 1))
        rest = g.main[layer.module_index + 1:]
        masks = torch.ones(1, layer.channels) if masks is None else masks
        out = [rest(x * m[:, :, None, None].to(device, x.dtype)).float().cpu()
               for m in masks.split(CHUNK)]
    return torch.cat(out), x[0].float().cpu()


def generate_with_units_off(G: torch.nn.Module, z, layer_index: int, units: Sequence[int]) -> torch.Tensor:
    """G(z) (1, C, H, W) in [-1, 1] for one z, with these units of a layer switched off (eval mode)."""
    z = check_z(z, G.z_dim)[None]
    layer = layer_of(G, layer_index)
    off = check_units(layer, units)
    mask = torch.ones(z.shape[0], layer.channels)
    mask[:, list(off)] = 0
    return _forward(G, z, layer, mask)[0]


@dataclass
class InsideView:
    """One z seen through one layer: G's image, the same with the chosen units off, each unit's map, and how
    much switching each unit off on its own changes the image (the L2 norm of the change, pixels in [-1, 1])."""

    layer: Layer
    off: tuple[int, ...]
    image: np.ndarray  # uint8 (H, W, C): G(z)
    ablated: np.ndarray  # uint8 (H, W, C): G(z) with the units in off switched off
    maps: np.ndarray  # float32 (channels, size, size): the layer's output for z
    effect: np.ndarray  # float64 (channels,)
    change: np.ndarray  # float32 (channels, H, W): per pixel, the squared change summed over colour channels

    @property
    def order(self) -> list[int]:
        """Units by effect, the largest first (ties by unit number)."""
        return sorted(range(len(self.effect)), key=lambda u: (-self.effect[u], u))


def inside_view(G: torch.nn.Module, z, layer_index: int, off: Sequence[int] = ()) -> InsideView:
    """The InsideView of one z (z_dim,) at a layer, with the units in off switched off together. Every unit
    is switched off once, alone, in one batched pass to rank them. ValueError for a layer or unit out of range."""
    z = check_z(z, G.z_dim)[None]
    layer = layer_of(G, layer_index)
    off = check_units(layer, off)
    c = layer.channels
    masks = torch.ones(c + 2, c)
    masks[1, list(off)] = 0  # row 1: the chosen units off together
    masks[2:] -= torch.eye(c)  # row 2 + u: unit u off alone
    images, maps = _forward(G, z, layer, masks)
    change = (images[2:] - images[:1]).square().sum(1)  # (c, H, W)
    effect = change.flatten(1).sum(1).sqrt().double().numpy()
    uint8 = to_uint8(images[:2])
    return InsideView(layer, off, uint8[0], uint8[1], maps.numpy(), effect, change.numpy())


def region_units(view: InsideView, box: tuple[int, int, int, int], k: int) -> list[int]:
    """The k units whose removal most changes the image inside box = (top, left, bottom, right), image pixels,
    bottom and right excluded. ValueError for an empty box or a k out of range."""
    top, left, bottom, right = (int(v) for v in box)
    h, w = view.change.shape[1:]
    top, left, bottom, right = max(top, 0), max(left, 0), min(bottom, h), min(right, w)
    if bottom <= top or right <= left:
        raise ValueError(f"the region is empty: pick a rectangle inside the {w}×{h} image")
    if not 1 <= k <= view.layer.channels:
        raise ValueError(f"k must be 1 to {view.layer.channels}, not {k}")
    inside = view.change[:, top:bottom, left:right].reshape(view.layer.channels, -1).sum(1)
    return sorted(range(len(inside)), key=lambda u: (-inside[u], u))[:k]


@dataclass
class ClassUnit:
    """One unit switched off alone, as the classifier sees the result."""

    unit: int
    score: float  # the tracked class's probability with the unit off
    drop: float  # how much lower than G(z)'s
    label: str  # the class the classifier now gives


@dataclass
class ClassEffect:
    """Which units carry the image's class (or the faces' smile) at one z and layer."""

    target: str  # the class whose probability is tracked
    score: float  # its probability for G(z)
    label: str  # the classifier's class for G(z)
    units: list[ClassUnit]  # by drop, the largest first


LabelFn = Callable[[torch.Tensor], np.ndarray]  # images in [-1, 1] -> probabilities (N, classes)


def run_classifier(run: RunDir) -> tuple[LabelFn, list[str]]:
    """The evaluator's classifier of a run (MNIST, Fashion-MNIST, a labelled folder such as the faces) and its
    class names; NoClassifierError, in a sentence, for a run no evaluator judges."""
    from .labelled import NoClassifierError, classifier_label_fn
    from .semantics import run_classes, run_dataset
    try:
        return classifier_label_fn(run_dataset(run), run_classes(run))
    except NoClassifierError as e:
        # its message speaks of labelled directions; the reason is in its brackets
        text = str(e)
        why = text[text.find("(") + 1:text.rfind(")")] if "(" in text and text.endswith(")") else text
        raise NoClassifierError(f"finding the units that change the class needs the evaluator's classifier for "
                                f"this run's images, and there is none ({why})") from None


def class_units(G: torch.nn.Module, z, layer_index: int, label_fn: LabelFn, names: Sequence[str],
                top: int = 10) -> ClassEffect:
    """The top units whose removal most lowers the probability of G(z)'s class (for two classes, such as
    the faces' not smiling / smiling, always the second: the smile score)."""
    z = check_z(z, G.z_dim)[None]
    layer = layer_of(G, layer_index)
    c = layer.channels
    masks = torch.ones(c + 1, c)
    masks[1:] -= torch.eye(c)
    images, _ = _forward(G, z, layer, masks)
    probs = np.asarray(label_fn(images), dtype=np.float64)
    if probs.shape != (c + 1, len(names)):
        raise ValueError(f"the classifier gave {probs.shape[1:]} scores per image for {len(names)} class names")
    target = 1 if len(names) == 2 else int(probs[0].argmax())
    base = float(probs[0, target])
    rows = [ClassUnit(u, float(probs[u + 1, target]), base - float(probs[u + 1, target]),
                      str(names[int(probs[u + 1].argmax())])) for u in range(c)]
    rows.sort(key=lambda r: (-r.drop, r.unit))
    return ClassEffect(str(names[target]), base, str(names[int(probs[0].argmax())]), rows[:max(1, top)])


# --- the figure the page and `python -m dcgan units` show -------------------------------------------------

def unit_grid(view: InsideView, units: Sequence[int] | None = None, columns: int = 16, cell_px: int = 48) -> np.ndarray:
    """The layer's maps of these units (default: the MAX_FIGURE_UNITS most effective), in that order, as one RGB
    uint8 image: each map on the layer's shared scale (black 0, white the layer's largest activation), its unit
    number above it, a red frame round each unit that is switched off."""
    from PIL import Image, ImageDraw, ImageFont
    units = list(view.order[:MAX_FIGURE_UNITS] if units is None else units)
    top = float(view.maps.max()) if view.maps.size else 0.0
    scale = max(1, cell_px // view.layer.size)
    side = view.layer.size * scale
    label_h, pad = 12, 3
    columns = max(1, min(columns, len(units) or 1))
    rows = max(1, -(-len(units) // columns))
    pitch_x, pitch_y = side + 2 * pad, side + label_h + 2 * pad
    canvas = Image.new("RGB", (columns * pitch_x, rows * pitch_y), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=10)
    for i, u in enumerate(units):
        m = view.maps[u] / top if top > 0 else np.zeros_like(view.maps[u])
        cell = upscale((m.clip(0, 1) * 255).round().astype(np.uint8)[..., None], scale)
        x, y = (i % columns) * pitch_x + pad, (i // columns) * pitch_y + pad
        draw.text((x + side // 2, y), str(u), fill="black", font=font, anchor="mt")
        canvas.paste(Image.fromarray(np.repeat(cell, 3, axis=2)), (x, y + label_h))
        if u in view.off:
            draw.rectangle([x - 2, y + label_h - 2, x + side + 1, y + label_h + side + 1], outline=(220, 0, 0),
                           width=2)
    return np.asarray(canvas)


def units_figure(view: InsideView, seed_text: str = "", image_px: int = 168,
                 box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """The whole picture: G(z) and G(z) with the units off side by side, above the unit grid; RGB uint8. box
    (top, left, bottom, right, image pixels) is outlined on G(z): the region a top-k choice looks at."""
    from PIL import Image, ImageDraw, ImageFont
    scale = max(1, image_px // view.image.shape[0])
    grid = unit_grid(view)
    pair = [upscale(im if im.shape[2] == 3 else np.repeat(im, 3, axis=2), scale) for im in (view.image, view.ablated)]
    side = pair[0].shape[0]
    font = ImageFont.load_default(size=13)
    head = 22
    off = ", ".join(map(str, view.off)) if view.off else "none"
    captions = [f"G(z){seed_text}", f"units off: {off}" if len(off) < 40 else f"{len(view.off)} units off"]
    width = max(grid.shape[1], 2 * side + 30)
    shown = min(len(view.order), MAX_FIGURE_UNITS)
    note = (f"{view.layer.name}; the {shown} units that change the image most, most first"
            if shown < view.layer.channels else f"{view.layer.name}; units by how much they change the image")
    canvas = Image.new("RGB", (width, head + side + 2 * head + grid.shape[0]), "white")
    draw = ImageDraw.Draw(canvas)
    for j, (im, text) in enumerate(zip(pair, captions)):
        x = 10 + j * (side + 10)
        draw.text((x, 4), text, fill="black", font=font)
        canvas.paste(Image.fromarray(im), (x, head))
    if box is not None:
        top, left, bottom, right = (int(v) for v in box)
        if bottom > top and right > left:
            draw.rectangle([10 + left * scale, head + top * scale, 10 + right * scale - 1, head + bottom * scale - 1],
                           outline=(255, 200, 0), width=2)
    draw.text((10, head + side + 6), note, fill="black", font=font)
    canvas.paste(Image.fromarray(grid), (0, head + side + 2 * head))
    return np.asarray(canvas)
