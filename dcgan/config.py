"""Training configuration: one dataclass, saved as JSON, validated with clear errors."""
from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, fields
from pathlib import Path

IMAGE_SIZES = (28, 32, 64, 128)
DEVICES = ("auto", "cpu", "cuda")
# names only: the values live in dcgan/presets.py, which imports this module
LOSSES = ("bce", "hinge", "relativistic")  # gan_loss: each is a GanLoss in dcgan/nets/losses.py (gan_loss)
PRESET_NAMES = ("faces64", "anime64", "mnist28", "fashion28", "mnist28-rpgan", "fashion28-rpgan",
                "stacked28-rpgan", "faces64-rpgan")
# where relative paths in a config (image_folder, data_root) are taken from when the app launches a run
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def project_path(path: str | Path) -> Path:
    """A path from a run's config as every process reads it: a relative one from the project folder (the app's
    trainers work there, and the CLI stores what it is given relative to it), an absolute one as it is."""
    return PROJECT_ROOT / path
RUN_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")  # \Z: "$" would allow a final newline


class ConfigError(ValueError):
    """A configuration value or file that cannot be used, with a message for the user."""


@dataclass(frozen=True)
class DatasetSpec:
    """What the code asks about a dataset (its loader is dcgan.data's LOADERS[name]), answered here, with
    the config's choices, rather than by comparing its name in each file."""

    name: str
    label: str  # as a form or a table names it
    channels: int | None = None  # the channels it must be trained with; None: any
    channels_why: str = ""  # why, in the words of the error a wrong channel count gets
    files: str | None = None  # the torchvision set whose files it reads from data_root
    folder: bool = False  # images from image_folder; classes, if any, are its sub-folders
    evaluator: str | None = None  # the shipped evaluator classifier that judges it (a folder: one of its labels)
    class_names: tuple[str, ...] = ()  # its classes when fixed; a folder's come from its sub-folders
    modes: int | None = None  # judged by modes (three digits each) rather than by one class per image
    default_samples: int | None = None  # samples an evaluation draws by default (None: the evaluator's own)

    @property
    def can_be_evaluated(self) -> bool:
        """Whether an evaluator may judge it: a folder only when one was trained on its labels."""
        return self.evaluator is not None or self.folder

    @property
    def per_image_class(self) -> bool:
        """Whether each image has one class a classifier names (labelled directions, class histograms)."""
        return self.modes is None and self.can_be_evaluated


DIGITS = tuple(str(i) for i in range(10))
FASHION_CLASSES = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot")
DATASET_SPECS = {spec.name: spec for spec in (
    DatasetSpec("mnist", "MNIST", channels=1, channels_why="mnist is grey", files="mnist",
                evaluator="mnist", class_names=DIGITS),
    DatasetSpec("fashion-mnist", "Fashion-MNIST", channels=1, channels_why="fashion-mnist is grey",
                files="fashion-mnist", evaluator="fashion-mnist", class_names=FASHION_CLASSES),
    # the stacked digits are each judged by the MNIST classifier: 1000 modes, not one class per image;
    # VEEGAN / PacGAN count them over 26,000 samples
    DatasetSpec("stacked-mnist", "Stacked MNIST", channels=3, channels_why="stacked-mnist is three digits as RGB",
                files="mnist", evaluator="mnist", modes=1000, default_samples=26_000),
    DatasetSpec("folder", "image folder", folder=True),
    DatasetSpec("synthetic", "synthetic shapes"),
)}
DATASETS = tuple(DATASET_SPECS)


def dataset_spec(name: str) -> DatasetSpec:
    """The registry's entry for a dataset; ConfigError naming the known ones for any other name."""
    try:
        return DATASET_SPECS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(DATASET_SPECS)}") from None


# The groups a field belongs to, in the order the CLI's --help and the Train form show them.
GROUPS = {
    "run": "the run", "data": "data", "model": "model", "optimisation": "optimisation",
    "stabilisers": "stabilisers", "outputs": "outputs", "evaluation": "evaluation during training",
    "speed": "speed",
}


def option(default, help: str, group: str, low=None, high=None, choices=None, low_open: bool = False,
           high_open: bool = False, resume: bool = False, form: bool = True):
    """A TrainConfig field with everything that is said about it, once: its help text, bounds
    ([low, high], either end open), choices, group, whether a resume may change it, and whether the
    Train form shows it. Validation, the CLI flags and the Train form are all built from this."""
    meta = dict(help=help, group=group, low=low, high=high, choices=tuple(choices) if choices else None,
                low_open=low_open, high_open=high_open, resume=resume, form=form)
    assert group in GROUPS, group
    return dataclasses.field(default=default, metadata=meta)


def bounds_text(meta: dict) -> str | None:
    """'1 to 4096', '[0, 0.5)', 'at least 1', ...: how a field's bounds read in a message."""
    low, high = meta["low"], meta["high"]
    if low is None and high is None:
        return None
    if low is not None and high is not None:
        if meta["low_open"] or meta["high_open"] or isinstance(low, float) or isinstance(high, float):
            return f"{'(' if meta['low_open'] else '['}{low:g}, {high:g}{')' if meta['high_open'] else ']'}"
        return f"{low:,} to {high:,}"
    if low is not None:
        return f"{'above' if meta['low_open'] else 'at least'} {low:g}"
    return f"{'below' if meta['high_open'] else 'at most'} {high:g}"


def in_bounds(value, meta: dict) -> bool:
    low, high = meta["low"], meta["high"]
    if low is not None and (value <= low if meta["low_open"] else value < low):
        return False
    return not (high is not None and (value >= high if meta["high_open"] else value > high))


LR = dict(low=0.0, high=1.0, low_open=True, high_open=True)


@dataclass
class TrainConfig:
    """Everything that defines a training run. Stored as config.json in the run directory."""

    run_name: str = option("run", "name of the run folder under --checkpoints", "run")
    preset: str = option("", "the preset this config started from (kept for the record; --preset fills the "
                             "fields). Without --preset or --config, mnist, fashion-mnist and stacked-mnist "
                             "start from their recipe (mnist28-rpgan, ...); --preset '' for these defaults",
                         "run", choices=("",) + PRESET_NAMES, form=False)
    imported_from: str = option("", "the file an imported generator came from (`python -m dcgan import`); empty "
                                    "for a run trained here", "run", form=False)
    seed: int = option(0, "seed of the weights, the data order and the noise: the same seed, the same run",
                       "run", 0, 2**31 - 1)
    device: str = option("auto", "auto takes a CUDA GPU when there is one", "run", choices=DEVICES)
    # data
    dataset: str = option("synthetic", "what to train on", "data", choices=DATASETS)
    data_root: str = option("data", "folder that holds MNIST / Fashion-MNIST in torchvision's layout", "data")
    image_folder: str = option("", "folder of images for dataset=folder (searched recursively)", "data")
    holdout: float = option(0.1, "share of a folder's images held out for the evaluator, fixed by a hash of each "
                                 "file's path", "data", 0.0, 0.5, high_open=True)
    image_size: int = option(28, "image side in pixels", "data", choices=IMAGE_SIZES)
    channels: int = option(1, "1 = grey, 3 = RGB", "data", choices=(1, 3))
    # model
    z_dim: int = option(100, "length of the noise vector z", "model", 1, 1024)
    g_width: int = option(64, "G's channels in its last block (doubled per block towards z)", "model", 1, 1024)
    d_width: int = option(64, "D's channels in its first block (doubled per block)", "model", 1, 1024)
    kernel_size: int = option(4, "convolution kernel size (presets faces64, anime64: 5)", "model", choices=(4, 5))
    depth: int = option(0, "3x3 stride-1 conv blocks at each inner resolution of G and D (0 = the DCGAN)", "model",
                        0, 4)
    d_batchnorm: bool = option(True, "BatchNorm in D's blocks but the first", "model")
    d_dropout: float = option(0.0, "dropout in D (the faces64 preset: 0.2)", "model", 0.0, 1.0, high_open=True)
    d_dropout_every: int = option(1, "dropout after every k-th conv of D from the second on (faces64: 2, after "
                                     "the 2nd and 4th)", "model", 1, 8)
    # optimisation
    steps: int = option(2000, "training steps (one D update and g_steps G updates each)", "optimisation",
                        1, 10_000_000)
    batch_size: int = option(128, "real images per D update", "optimisation", 1, 4096)
    lr_d: float = option(2e-4, "Adam learning rate of D", "optimisation", **LR, resume=True)
    lr_g: float = option(2e-4, "Adam learning rate of G", "optimisation", **LR, resume=True)
    lr_decay_from: float = option(1.0, "from this share of the steps on, both learning rates fall linearly towards "
                                       "0 at the last step (1 = constant; 0.5 = the second half); a resume's new "
                                       "total moves the end", "optimisation", 0.0, 1.0, resume=True)
    beta1: float = option(0.5, "Adam beta1 (momentum)", "optimisation", 0.0, 1.0, high_open=True)
    beta2: float = option(0.999, "Adam beta2", "optimisation", 0.0, 1.0, high_open=True)
    g_steps: int = option(1, "G updates per D update; the extra ones on fresh z (faces64, anime64: 2)", "optimisation",
                          1, 10)
    # stabilisers
    label_smoothing: float = option(0.0, "one-sided label smoothing: D's target for real images is 1 minus "
                                         "this", "stabilisers", 0.0, 0.5, high_open=True, resume=True)
    adaptive_lr: bool = option(False, "the faces64 preset's balancing: speed D up and slow G down while D's accuracy "
                                      "is low, the opposite while D wins", "stabilisers")
    acc_low: float = option(0.6, "balancing: below this accuracy D is helped", "stabilisers", 0.0, 1.0)
    acc_high: float = option(0.9, "balancing: above this accuracy G is helped", "stabilisers", 0.0, 1.0)
    lr_factor: float = option(1.005, "balancing: factor per step the learning rates move by", "stabilisers",
                              1.0, 2.0)
    lr_min: float = option(2e-5, "balancing: lowest learning rate", "stabilisers", **LR)
    lr_max: float = option(1e-3, "balancing: highest learning rate", "stabilisers", **LR)
    # stabilisers from the GAN literature, all off by default (a default run is the plain DCGAN)
    gan_loss: str = option("bce", "D and G's loss: bce = the non-saturating DCGAN pair (Goodfellow 2014), hinge "
                              "(Lim & Ye 2017; SNGAN, Miyato 2018), relativistic = the RpGAN pair "
                              "(Jolicoeur-Martineau 2018; R3GAN, Huang 2024)", "stabilisers",
                       choices=LOSSES)
    d_spectral_norm: bool = option(False, "spectral norm on every conv of D (Miyato et al. 2018); usually with "
                                          "--no-d-batchnorm", "stabilisers")
    r1_gamma: float = option(0.0, "R1 penalty on D's gradient at real images, weight gamma/2 (Mescheder et al. "
                                  "2018); 0 = off", "stabilisers", 0.0, 1000.0)
    r1_every: int = option(1, "R1 every k-th step, scaled by k (lazy regularisation, StyleGAN2)", "stabilisers",
                           1, 64)
    diffaugment: str = option("", "DiffAugment policy for every image D sees, real and fake (Zhao et al. 2020): "
                                  "comma-separated color, translation, cutout; '' = off", "stabilisers")
    d_mbstd: bool = option(False, "minibatch std-dev feature map before D's last conv (Karras et al. 2018, "
                                  "ProGAN)", "stabilisers")
    g_topk: float = option(1.0, "G learns only from this share of each batch's fakes, those D rates most real "
                                "(top-k training, Sinha et al. 2020); 1 = every fake", "stabilisers", 0.0, 1.0,
                           low_open=True, resume=True)
    ema_decay: float = option(0.0, "exponential moving average of G's weights, used for snapshots, export and "
                                   "evaluation (Yazici et al. 2019; StyleGAN's G_ema); 0 = off, e.g. 0.999",
                              "stabilisers", 0.0, 1.0, high_open=True)
    ema_start: int = option(0, "EMA: the step from which G is averaged; before it the EMA copies G",
                            "stabilisers", 0, 10_000_000)
    # outputs
    snapshot_every: int = option(200, "steps between snapshot grids (the Progress page's frames)", "outputs",
                                 1, 10_000_000)
    snapshot_weights_every: int = option(1, "fp16 G weights with every k-th snapshot (0 = none): what the app "
                                            "can explore, and most of a run's size", "outputs", 0, 10_000_000)
    # a long run's weights are most of its folder (docs/run-directory.md has the sizes per 10,000 steps);
    # a resume may change it, since it drops files only
    keep_snapshot_weights: int = option(0, "keep only the newest N snapshot weight files, deleting older ones "
                                           "as new ones are written (0 = keep all); every grid stays, and so "
                                           "does the final generator", "outputs", 0, 10_000_000, resume=True)
    checkpoint_every: int = option(1000, "steps between resumable checkpoints", "outputs", 1, 10_000_000)
    log_every: int = option(50, "steps between progress lines in train.log", "outputs", 1, 10_000_000)
    grid_size: int = option(64, "images in each snapshot grid (fixed z)", "outputs", 1, 256)
    # evaluation
    eval_every: int = option(0, "evaluate every N steps into eval.jsonl (0 = never); MNIST, Fashion-MNIST and "
                                "Stacked MNIST only", "evaluation", 0, 10_000_000, resume=True)
    eval_samples: int = option(500, "generated images per evaluation", "evaluation", 100, 10_000, resume=True)
    # speed options, off by default (docs/speed.md; the recipe presets set precision "auto"): bf16
    # autocast of the convolutions (0.06x on a CPU without AMX, 1.8-2x with it), and torch.compile of G
    # and D for the training step (needs a C++ compiler and compiles before the first step; 1.2-1.4x
    # at 28 px on the 2-core CPU, 1.06x at 64)
    precision: str = option("fp32", "bf16 autocasts the convolutions (fast on GPUs and on CPUs with AMX, many "
                                    "times slower on other CPUs); auto: bf16 where it is fast, else fp32",
                            "speed", choices=("fp32", "bf16", "auto"))
    compile: bool = option(False, "torch.compile G and D for the training step (needs a C++ compiler)", "speed")
    sync_batchnorm: bool = option(False, "under torchrun on GPUs: batch statistics over the global batch",
                                  "speed")

    def __post_init__(self) -> None:
        # a TrainConfig is valid from the moment it exists (dataclasses.replace builds a new one, so it is
        # checked too): the boundary that builds it validates once, every caller after it trusts the type
        self.validate()

    def validate(self) -> "TrainConfig":
        """Raise ConfigError naming the first bad field; return self when all is well."""
        def bad(name: str, why: str) -> None:
            raise ConfigError(f"{name}={getattr(self, name)!r}: {why}")

        for f in fields(self):  # types, choices and bounds, from the fields' own metadata
            value, meta = getattr(self, f.name), f.metadata
            expected = {"int": int, "float": (int, float), "bool": bool, "str": str}[f.type]
            # bool is an int in Python; refuse it where a number is meant and vice versa.
            if isinstance(value, bool) != (f.type == "bool") or not isinstance(value, expected):
                bad(f.name, f"expected {f.type}")
            if f.type == "float" and not math.isfinite(value):
                bad(f.name, "must be a finite number")
            if meta.get("choices") and value not in meta["choices"]:
                bad(f.name, f"choose one of {', '.join(map(str, meta['choices']))}")
            if meta.get("low") is not None or meta.get("high") is not None:
                if not in_bounds(value, meta):
                    bad(f.name, f"must be {bounds_text(meta)}")
        # what one field alone cannot say
        if not RUN_NAME_RE.match(self.run_name) or self.run_name in (".", ".."):
            bad("run_name", "use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit")
        spec = dataset_spec(self.dataset)
        if spec.folder and not self.image_folder:
            bad("image_folder", "the folder dataset needs --image-folder PATH")
        if spec.channels is not None and self.channels != spec.channels:
            bad("channels", f"{spec.channels_why}: use channels={spec.channels}")
        # a folder is judged by a classifier of its own labels, if one was trained: the launch checks
        if self.eval_every and not spec.can_be_evaluated:
            known = ", ".join(s.name for s in DATASET_SPECS.values() if s.evaluator)
            bad("eval_every", f"the evaluator knows {known} and labelled folders; use 0 for {self.dataset}")
        if self.eval_every and spec.folder and self.holdout <= 0:
            bad("holdout", "evaluating a folder run needs held-out images to compare with: a holdout above 0")
        if not self.acc_low < self.acc_high:
            bad("acc_low", "need acc_low < acc_high")
        if self.adaptive_lr and self.lr_decay_from < 1:
            bad("lr_decay_from", "adaptive_lr sets the learning rates too: use one or the other")
        if self.lr_min > self.lr_max:
            bad("lr_min", "must not exceed lr_max")
        if self.diffaugment:
            from .nets.augment_policy import parse_policy  # not nets.augment: it imports torch

            try:
                parse_policy(self.diffaugment)
            except ValueError as e:
                bad("diffaugment", str(e))
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
        return cls(**values)

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        return cls.from_dict(cls.read_file(path))

    @classmethod
    def read_file(cls, path: str | Path) -> dict:
        """A config file's own keys, parsed once and checked (ConfigError saying why it cannot be used)."""
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: [[[[...]]]]
            raise ConfigError(f"{path} is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a JSON object")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:  # the values are checked once, when the caller builds its config over these keys
            raise ConfigError(f"unknown config key(s) in {path}: {', '.join(unknown)}")
        return data


def config_fields() -> list[dataclasses.Field]:
    """TrainConfig's fields with their metadata (help, group, bounds, choices, resume, form)."""
    return list(fields(TrainConfig))


def resume_fields() -> tuple[str, ...]:
    """The fields a resume may change: they change no weights already trained (learning rates,
    smoothing, evaluation settings)."""
    return tuple(f.name for f in fields(TrainConfig) if f.metadata["resume"])


@dataclass
class ModelConfig:
    """The generator's shape: what a reader needs to rebuild G from exported weights."""

    image_size: int
    channels: int
    z_dim: int
    g_width: int
    kernel_size: int
    depth: int = 0  # absent from generator.json files written before it existed

    @classmethod
    def from_train(cls, cfg: TrainConfig) -> "ModelConfig":
        return cls(cfg.image_size, cfg.channels, cfg.z_dim, cfg.g_width, cfg.kernel_size, cfg.depth)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        names = [f.name for f in fields(cls)]
        # fields with a default (depth) came later: generator.json files written before them lack them
        missing = [f.name for f in fields(cls) if f.name not in data and f.default is dataclasses.MISSING]
        if missing:
            raise ConfigError(f"generator config lacks {', '.join(missing)}")
        cfg = cls(**{n: int(data[n]) for n in names if n in data})
        depth_meta = TrainConfig.__dataclass_fields__["depth"].metadata
        if not in_bounds(cfg.depth, depth_meta):  # one module per block: a huge depth would hang the build
            raise ConfigError(f"depth={cfg.depth}: must be {bounds_text(depth_meta)}")
        return cfg

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def field_names() -> list[str]:
    return [f.name for f in fields(TrainConfig)]

