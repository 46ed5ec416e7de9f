"""Named configs that reproduce the seed documents' models: `--preset NAME` fills every field.

A preset is plain data (field -> value). Flags and config files still override any of it, and the
chosen name is kept in the run's config.json as `preset`.
"""
from __future__ import annotations

from .config import PRESET_NAMES, ConfigError, TrainConfig

# Fields every preset sets, so that a preset means the same run whatever the defaults become.
_COMMON = dict(z_dim=100, beta1=0.5, beta2=0.999, label_smoothing=0.0, grid_size=64, seed=0)

PRESETS: dict[str, dict] = {
    # Seed 000: 64x64 grey faces. G: z -> 512x4x4 -> four stride-2 5x5 transposed convs (256, 128, 64, 1),
    # BatchNorm but on the last; D mirrors it with four stride-2 5x5 convs, no BatchNorm, dropout after
    # the 2nd and 4th. Per step D sees 64 real + 64 fakes; G then takes two steps of 64: one on the
    # same z as D's fakes, one on 64 fresh z (g_steps=2). The seed names no thresholds or clamp range;
    # these held D's accuracies in a useful band on the faces without the rates running away.
    "faces64": dict(
        _COMMON, dataset="folder", image_size=64, channels=1, g_width=64, d_width=64, kernel_size=5,
        d_batchnorm=False, d_dropout=0.2, d_dropout_every=2, steps=1500, batch_size=64,
        lr_d=2e-4, lr_g=2e-4, g_steps=2, adaptive_lr=True, acc_low=0.5, acc_high=0.8,
        lr_factor=1.01, lr_min=1e-4, lr_max=4e-4,
        snapshot_every=100, snapshot_weights_every=5, checkpoint_every=250, log_every=50),
    # Seed 001 (carpedm20 style): 64x64 RGB, 5x5 kernels, BatchNorm in D but on its first block,
    # G trained twice per D update "so that D's loss does not reach zero".
    "anime64": dict(
        _COMMON, dataset="folder", image_size=64, channels=3, g_width=64, d_width=64, kernel_size=5,
        d_batchnorm=True, d_dropout=0.0, d_dropout_every=1, steps=3000, batch_size=64,
        lr_d=2e-4, lr_g=2e-4, g_steps=2, adaptive_lr=False,
        snapshot_every=100, snapshot_weights_every=5, checkpoint_every=250, log_every=50),
    # Seed 003 / the shipped defaults: MNIST's native 28 px, pytorch/examples' settings.
    "mnist28": dict(
        _COMMON, dataset="mnist", image_size=28, channels=1, g_width=64, d_width=64, kernel_size=4,
        d_batchnorm=True, d_dropout=0.0, d_dropout_every=1, steps=16000, batch_size=128,
        lr_d=2e-4, lr_g=2e-4, g_steps=1, adaptive_lr=False,
        snapshot_every=250, snapshot_weights_every=4, checkpoint_every=1000, log_every=250),
    "fashion28": dict(
        _COMMON, dataset="fashion-mnist", image_size=28, channels=1, g_width=64, d_width=64, kernel_size=4,
        d_batchnorm=True, d_dropout=0.0, d_dropout_every=1, steps=5000, batch_size=128,
        lr_d=2e-4, lr_g=2e-4, g_steps=1, adaptive_lr=False,
        snapshot_every=250, snapshot_weights_every=4, checkpoint_every=1000, log_every=250),
}

SEEDS = {"faces64": "000", "anime64": "001", "mnist28": "003", "fashion28": "003"}

assert tuple(PRESETS) == PRESET_NAMES


def preset_values(name: str) -> dict:
    """The fields a preset sets, including its own name; ConfigError for an unknown name."""
    if name not in PRESETS:
        raise ConfigError(f"preset={name!r}: choose one of {', '.join(PRESETS)}")
    return {**PRESETS[name], "preset": name}


def preset_config(name: str, **overrides) -> TrainConfig:
    """A validated TrainConfig from a preset, with overrides applied on top."""
    return TrainConfig.from_dict({**TrainConfig().to_dict(), **preset_values(name), **overrides})
