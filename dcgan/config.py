"""Training configuration: one dataclass, saved as JSON, validated with clear errors."""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, fields
from pathlib import Path

DATASETS = ("mnist", "fashion-mnist", "stacked-mnist", "folder", "synthetic")
# datasets the evaluator has a classifier for (dcgan/evaluate.py): eval_every works only for these
EVALUATED_DATASETS = ("mnist", "fashion-mnist", "stacked-mnist")
IMAGE_SIZES = (28, 32, 64, 128)
DEVICES = ("auto", "cpu", "cuda")
# names only: the values live in dcgan/presets.py, which imports this module
PRESET_NAMES = ("faces64", "anime64", "mnist28", "fashion28")
RUN_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")  # \Z: "$" would allow a final newline


class ConfigError(ValueError):
    """A configuration value or file that cannot be used, with a message for the user."""


@dataclass
class TrainConfig:
    """Everything that defines a training run. Stored as config.json in the run directory."""

    run_name: str = "run"
    # the preset (dcgan/presets.py) this config started from, "" for none: kept for the record
    preset: str = ""
    # the file an imported generator came from (`python -m dcgan import`); "" for a run trained here
    imported_from: str = ""
    # data
    dataset: str = "synthetic"
    data_root: str = "data"
    image_folder: str = ""
    # share of a folder's images held out for the evaluator (fixed by a hash of each file's path)
    holdout: float = 0.1
    image_size: int = 28
    channels: int = 1
    # model
    z_dim: int = 100
    g_width: int = 64
    d_width: int = 64
    kernel_size: int = 4
    d_batchnorm: bool = True
    d_dropout: float = 0.0
    # dropout after every k-th conv of D from the second on (seed 000: 2 = after the 2nd and 4th)
    d_dropout_every: int = 1
    # optimisation
    steps: int = 2000
    batch_size: int = 128
    lr_d: float = 2e-4
    lr_g: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    g_steps: int = 1
    # under torchrun on GPUs: batch statistics over the global batch rather than each process's share
    sync_batchnorm: bool = False
    label_smoothing: float = 0.0
    # seed 000's adaptive learning-rate balancing
    adaptive_lr: bool = False
    acc_low: float = 0.6
    acc_high: float = 0.9
    lr_factor: float = 1.005
    lr_min: float = 2e-5
    lr_max: float = 1e-3
    # outputs
    snapshot_every: int = 200
    # fp16 G weights with every k-th snapshot (0 = none): what the app can explore, and most of a run's size
    snapshot_weights_every: int = 1
    checkpoint_every: int = 1000
    log_every: int = 50
    # evaluate eval_samples generated images every eval_every steps into eval.jsonl (0 = never);
    # MNIST, Fashion-MNIST and Stacked MNIST only, where a classifier exists
    eval_every: int = 0
    eval_samples: int = 500
    grid_size: int = 64
    seed: int = 0
    device: str = "auto"
    # speed options, off by default (README, Speed): bf16 autocast of the convolutions (slow on
    # CPUs without bf16 units), and torch.compile of G and D for the training step (needs a C++
    # compiler and compiles before the first step; 1.2-1.4x at 28 px on the 2-core CPU, 1.06x at 64)
    precision: str = "fp32"
    compile: bool = False

    def validate(self) -> "TrainConfig":
        """Raise ConfigError naming the first bad field; return self when all is well."""
        def bad(name: str, why: str) -> None:
            raise ConfigError(f"{name}={getattr(self, name)!r}: {why}")

        for f in fields(self):
            value = getattr(self, f.name)
            expected = {"int": int, "float": (int, float), "bool": bool, "str": str}[f.type]
            # bool is an int in Python; refuse it where a number is meant and vice versa.
            if isinstance(value, bool) != (f.type == "bool") or not isinstance(value, expected):
                bad(f.name, f"expected {f.type}")
        if not RUN_NAME_RE.match(self.run_name) or self.run_name in (".", ".."):
            bad("run_name", "use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit")
        if self.preset and self.preset not in PRESET_NAMES:
            bad("preset", f"choose one of {', '.join(PRESET_NAMES)}")
        if self.dataset not in DATASETS:
            bad("dataset", f"choose one of {', '.join(DATASETS)}")
        if self.dataset == "folder" and not self.image_folder:
            bad("image_folder", "the folder dataset needs --image-folder PATH")
        if self.image_size not in IMAGE_SIZES:
            bad("image_size", f"choose one of {', '.join(map(str, IMAGE_SIZES))}")
        if self.channels not in (1, 3):
            bad("channels", "use 1 (grey) or 3 (RGB)")
        if self.dataset in ("mnist", "fashion-mnist") and self.channels != 1:
            bad("channels", f"{self.dataset} is grey: use channels=1")
        if self.dataset == "stacked-mnist" and self.channels != 3:
            bad("channels", "stacked-mnist is three digits as RGB: use channels=3")
        if self.kernel_size not in (4, 5):
            bad("kernel_size", "use 4 or 5")
        if self.precision not in ("fp32", "bf16"):
            bad("precision", "choose fp32 or bf16")
        if self.device not in DEVICES:
            bad("device", f"choose one of {', '.join(DEVICES)}")
        for name in ("z_dim", "g_width", "d_width", "steps", "batch_size", "g_steps",
                     "snapshot_every", "checkpoint_every", "log_every", "grid_size", "d_dropout_every"):
            if getattr(self, name) < 1:
                bad(name, "must be at least 1")
        if self.eval_every < 0:
            bad("eval_every", "must be >= 0 (0 turns evaluation during training off)")
        if self.eval_every and self.dataset not in EVALUATED_DATASETS:
            bad("eval_every", f"the evaluator only knows {', '.join(EVALUATED_DATASETS)}; use 0 for "
                              f"{self.dataset}")
        if not 100 <= self.eval_samples <= 10_000:
            bad("eval_samples", "use 100 to 10000 images per evaluation")
        if self.snapshot_weights_every < 0:
            bad("snapshot_weights_every", "must be >= 0 (0 keeps no snapshot weights)")
        if self.grid_size > 256:
            bad("grid_size", "at most 256 images per snapshot grid")
        for name in ("lr_d", "lr_g", "lr_min", "lr_max"):
            if not 0 < getattr(self, name) < 1:
                bad(name, "a learning rate must be between 0 and 1")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                bad(name, "must be in [0, 1)")
        if not 0 <= self.label_smoothing < 0.5:
            bad("label_smoothing", "must be in [0, 0.5)")
        if not 0 <= self.holdout < 0.5:
            bad("holdout", "must be in [0, 0.5)")
        if not 0 <= self.d_dropout < 1:
            bad("d_dropout", "must be in [0, 1)")
        if not 0 <= self.acc_low < self.acc_high <= 1:
            bad("acc_low", "need 0 <= acc_low < acc_high <= 1")
        if self.lr_factor < 1:
            bad("lr_factor", "must be >= 1 (it multiplies or divides the learning rates)")
        if self.lr_min > self.lr_max:
            bad("lr_min", "must not exceed lr_max")
        if self.seed < 0:
            bad("seed", "must be >= 0")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Build and validate a config; unknown keys are an error, missing keys take defaults."""
        if not isinstance(data, dict):
            raise ConfigError("a config must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config key(s): {', '.join(unknown)}")
        values = dict(data)
        # JSON has one number type: accept 2 for a float field, but not 2.5 for an int one.
        for f in fields(cls):
            if f.type == "float" and isinstance(values.get(f.name), int) and not isinstance(values[f.name], bool):
                values[f.name] = float(values[f.name])
        return cls(**values).validate()

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path} is not valid JSON: {e}") from None
        return cls.from_dict(data)


@dataclass
class ModelConfig:
    """The generator's shape: what a reader needs to rebuild G from exported weights."""

    image_size: int
    channels: int
    z_dim: int
    g_width: int
    kernel_size: int

    @classmethod
    def from_train(cls, cfg: TrainConfig) -> "ModelConfig":
        return cls(cfg.image_size, cfg.channels, cfg.z_dim, cfg.g_width, cfg.kernel_size)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data]
        if missing:
            raise ConfigError(f"generator config lacks {', '.join(missing)}")
        return cls(**{n: int(data[n]) for n in names})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def field_names() -> list[str]:
    return [f.name for f in fields(TrainConfig)]

