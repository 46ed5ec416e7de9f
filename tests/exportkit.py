"""Generators for the export tests: a run folder holding only an exported G (random weights, no training),
made in milliseconds, so the animation, session and render tests need neither a trainer nor the shipped
models."""
from __future__ import annotations

from pathlib import Path

import torch

from dcgan.config import ModelConfig
from dcgan.nets.models import Generator
from dcgan.runs.checkpoint import export_generator
from dcgan.runs.rundir import RunDir

Z_DIM = 16


def generator_run(root: Path, name: str, seed: int = 0, channels: int = 1, image_size: int = 28) -> RunDir:
    """root/name with generator.safetensors and generator.json: a G whose weights depend on seed (two
    seeds, two models with different hashes)."""
    torch.manual_seed(seed)
    G = Generator(Z_DIM, image_size, channels, width=8).eval()
    run = RunDir(Path(root) / name)
    run.path.mkdir(parents=True, exist_ok=True)
    export_generator(run.generator_path, run.generator_config_path, G,
                     ModelConfig(image_size, channels, Z_DIM, 8, 4))
    return run
