"""A run's model as a chain of blocks, read off the networks themselves: z, each G block with its real output
shape and parameter count, the image, each D block, the score. The Learn page draws it as a diagram.

A block is one convolution with what follows it up to the next one (BatchNorm, the activation, dropout);
D's minibatch std-dev layer, when it has one, is a block of its own (it adds a feature map and no weights).
Shapes come from one forward pass of two inputs in eval mode, on a copy when a network is in training mode.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn as nn

from ..nets.layers import MinibatchStdDev

SHORT = {"ConvTranspose2d": "ConvT", "Conv2d": "Conv", "BatchNorm2d": "BN", "LeakyReLU": "LeakyReLU",
         "ReLU": "ReLU", "Tanh": "tanh", "Dropout": "Dropout", "MinibatchStdDev": "minibatch std-dev"}


@dataclass(frozen=True)
class Block:
    """One node of the diagram: what it does, the shape it outputs (channels, height, width, or (n,) for
    z and the score) and its parameters."""

    label: str
    shape: tuple[int, ...]
    parameters: int
    kind: str  # "z", "G", "image", "D" or "score"

    @property
    def shape_text(self) -> str:
        return "×".join(map(str, self.shape))


@dataclass(frozen=True)
class Overview:
    """z -> G's blocks -> image -> D's blocks -> score; D's part is empty (and d_note says why) without a D."""

    z: Block
    g: list[Block]
    image: Block
    d: list[Block]
    score: Block | None
    d_note: str | None = None

    @property
    def g_parameters(self) -> int:
        return sum(b.parameters for b in self.g)

    @property
    def d_parameters(self) -> int:
        return sum(b.parameters for b in self.d)

    @property
    def chain(self) -> list[Block]:
        return [self.z, *self.g, self.image, *self.d] + ([self.score] if self.score is not None else [])


def _op_label(module: nn.Module) -> str:
    name = type(module).__name__
    short = SHORT.get(name, name)
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        k, s = module.kernel_size[0], module.stride[0]
        return f"{short} {k}x{k}" + (f" /{s}" if s > 1 else "")
    if isinstance(module, nn.Dropout):
        return f"Dropout {module.p:g}"
    return short


def _blocks(sequence: nn.Sequential, x: torch.Tensor, kind: str) -> tuple[list[Block], torch.Tensor]:
    """The blocks of a network's nn.Sequential and the output, run on x."""
    groups: list[list[nn.Module]] = []
    for module in sequence:
        starts = isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, MinibatchStdDev))
        if starts or not groups or isinstance(groups[-1][0], MinibatchStdDev):
            groups.append([module])
        else:
            groups[-1].append(module)
    blocks = []
    for group in groups:
        for module in group:
            x = module(x)
        params = sum(p.numel() for m in group for p in m.parameters())
        blocks.append(Block(" → ".join(_op_label(m) for m in group), tuple(x.shape[1:]), params, kind))
    return blocks, x


def _eval(module: nn.Module) -> nn.Module:
    return copy.deepcopy(module).eval() if module.training else module


@torch.no_grad()
def model_overview(G: nn.Module, D: nn.Module | None = None, d_note: str | None = None) -> Overview:
    """The Overview of G (and D, when given; d_note says why when not)."""
    G = _eval(G)
    device = next(G.parameters()).device
    z = torch.zeros(2, G.z_dim, 1, 1, device=device)
    g_blocks, image = _blocks(G.main, z, "G")
    image_block = Block("image", tuple(image.shape[1:]), 0, "image")
    d_blocks, score = [], None
    if D is not None:
        D = _eval(D)
        d_blocks, out = _blocks(D.main, image.to(next(D.parameters()).device), "D")
        score = Block("score (one logit per image)", (out.reshape(out.shape[0], -1).shape[1],), 0, "score")
    return Overview(Block("z", (G.z_dim,), 0, "z"), g_blocks, image_block, d_blocks, score, d_note)
