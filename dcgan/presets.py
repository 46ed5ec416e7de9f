"""Named configs: the plain DCGANs the project started from, and the recipe a new MNIST / Fashion-MNIST /
Stacked MNIST run starts from. `--preset NAME` fills every field.

A preset is plain data (field -> value). Flags and config files still override any of it, and the
chosen name is kept in the run's config.json as `preset`.
"""
from __future__ import annotations

from .config import PRESET_NAMES, ConfigError, TrainConfig

# Fields every preset sets, so that a preset means the same run whatever the defaults become.
_COMMON = dict(z_dim=100, beta1=0.5, beta2=0.999, label_smoothing=0.0, lr_decay_from=1.0, g_topk=1.0, grid_size=64,
               seed=0)

PRESETS: dict[str, dict] = {
    # 64x64 grey faces. G: z -> 512x4x4 -> four stride-2 5x5 transposed convs (256, 128, 64, 1),
    # BatchNorm but on the last; D mirrors it with four stride-2 5x5 convs, no BatchNorm, dropout after
    # the 2nd and 4th. Per step D sees 64 real + 64 fakes; G then takes two steps of 64: one on the
    # same z as D's fakes, one on 64 fresh z (g_steps=2). The design named no thresholds or clamp range;
    # these held D's accuracies in a useful band on the faces without the rates running away.
    "faces64": dict(
        _COMMON, dataset="folder", image_size=64, channels=1, g_width=64, d_width=64, kernel_size=5,
        d_batchnorm=False, d_dropout=0.2, d_dropout_every=2, steps=1500, batch_size=64,
        lr_d=2e-4, lr_g=2e-4, g_steps=2, adaptive_lr=True, acc_low=0.5, acc_high=0.8,
        lr_factor=1.01, lr_min=1e-4, lr_max=4e-4,
        snapshot_every=100, snapshot_weights_every=5, checkpoint_every=250, log_every=50),
    # Anime faces, carpedm20's DCGAN style: 64x64 RGB, 5x5 kernels, BatchNorm in D but on its first block,
    # G trained twice per D update "so that D's loss does not reach zero".
    "anime64": dict(
        _COMMON, dataset="folder", image_size=64, channels=3, g_width=64, d_width=64, kernel_size=5,
        d_batchnorm=True, d_dropout=0.0, d_dropout_every=1, steps=3000, batch_size=64,
        lr_d=2e-4, lr_g=2e-4, g_steps=2, adaptive_lr=False,
        snapshot_every=100, snapshot_weights_every=5, checkpoint_every=250, log_every=50),
    # The plain DCGAN at MNIST's native 28 px, pytorch/examples' settings.
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

# what each plain preset is, in the words the Preset box shows
PLAIN = {"faces64": "plain DCGAN for 64 px faces", "anime64": "plain DCGAN for 64 px anime",
         "mnist28": "plain DCGAN (pytorch/examples)", "fashion28": "plain DCGAN (pytorch/examples)"}

# The recipe: mnist28's DCGAN made narrower (widths 32) and 3x3 blocks deeper per resolution,
# trained on batches of 32 with the relativistic pair loss and a lazy R1 penalty instead of BatchNorm in
# D (R3GAN's pairing, Huang et al. 2024), Adam beta1 0, and sampled from an EMA of G: what bought the
# most quality per minute of a 2-core CPU in bench/ablation.py (docs/quality.md has the table and the
# FID-over-time curves).
RECIPE_28 = dict(
    _COMMON, image_size=28, g_width=32, d_width=32, kernel_size=4, depth=1, d_dropout=0.0, d_dropout_every=1,
    batch_size=32, gan_loss="relativistic", d_batchnorm=False, d_spectral_norm=False, r1_gamma=1.0, r1_every=8,
    lr_g=2e-4, lr_d=2e-4, beta1=0.0, beta2=0.99, g_steps=1, adaptive_lr=False, ema_decay=0.999, ema_start=0,
    # bf16 where the machine runs it fast (GPUs, CPUs with AMX: 1.8x the steps a minute, the same
    # figures per step on MNIST, docs/quality.md), fp32 elsewhere
    precision="auto",
    # a snapshot every ~9 s on 2 cores (MNIST), so the Train page's grid moves; weights with every 8th
    snapshot_every=200, snapshot_weights_every=8, checkpoint_every=1000, log_every=200)
PRESETS.update({
    # two 3x3 blocks per resolution: ahead of one in each of 4 equal-time MNIST draws (docs/quality.md);
    # about 9 minutes on 2 CPU cores (23 steps/s)
    "mnist28-rpgan": dict(RECIPE_28, dataset="mnist", channels=1, depth=2, steps=12000),
    "fashion28-rpgan": dict(RECIPE_28, dataset="fashion-mnist", channels=1, depth=2, steps=12000),
    # Stacked MNIST: three digits as RGB, 1000 modes; 90,000 steps: about 2.5 hours on 2 CPU cores at the
    # 10 steps/s measured 2026-12-02 (bench/results/quality-log.md), when this machine ran about 3x slower
    # than the day before.
    # D sees the batch's std-dev: the best hour of the Stacked ablation (on single digits it bought nothing)
    "stacked28-rpgan": dict(RECIPE_28, dataset="stacked-mnist", channels=3, d_mbstd=True, steps=90000,
                            snapshot_every=1000, snapshot_weights_every=10, checkpoint_every=2000, log_every=1000),
    # 64 px faces (any grey folder of faces; the shipped model: the faces' 13k photos): the same nets one
    # stride-2 block larger, DiffAugment's translation and cutout for a few thousand photos that D would
    # otherwise learn by heart (Zhao et al. 2020); about 5,400 steps an hour on 2 CPU cores
    "faces64-rpgan": dict(RECIPE_28, dataset="folder", image_size=64, channels=1, diffaugment="translation,cutout",
                          steps=24000, snapshot_every=500, snapshot_weights_every=8, checkpoint_every=500,
                          log_every=100),
})
# what a new run on each dataset starts from, unless a preset or config file says otherwise
RECIPES = {"mnist": "mnist28-rpgan", "fashion-mnist": "fashion28-rpgan",
           "stacked-mnist": "stacked28-rpgan"}

assert tuple(PRESETS) == PRESET_NAMES


def default_preset(dataset: str) -> str:
    """The preset a new run on dataset starts from: the recipe where there is one, else none ('')."""
    return RECIPES.get(dataset, "")


def preset_summary(name: str) -> str:
    """One line saying what a preset is, for the Train page's preset box and the CLI."""
    p = PRESETS[name]
    colour = "RGB" if p["channels"] == 3 else "grey"
    if name in PLAIN:
        return f"{name}: {PLAIN[name]}, {p['image_size']} px {colour}"
    extra = (f" + DiffAugment {p['diffaugment']}" if p.get("diffaugment") else "") + \
        (" + minibatch std-dev in D" if p.get("d_mbstd") else "")
    recipe = f"relativistic loss + R1, widths {p['g_width']}, depth {p['depth']}, batch {p['batch_size']}, EMA of G"
    return f"{name}: recipe ({recipe}{extra}), {p['image_size']} px {colour}"


def preset_values(name: str) -> dict:
    """The fields a preset sets, including its own name; ConfigError for an unknown name."""
    if name not in PRESETS:
        raise ConfigError(f"preset={name!r}: choose one of {', '.join(PRESETS)}")
    return {**PRESETS[name], "preset": name}


def preset_config(name: str, **overrides) -> TrainConfig:
    """A validated TrainConfig from a preset, with overrides applied on top."""
    return TrainConfig.from_dict({**TrainConfig().to_dict(), **preset_values(name), **overrides})
