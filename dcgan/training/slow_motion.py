"""Slow-motion training: a run's G and D copied into memory and trained one sub-step at a time with the
trainer's own phases (step.py), each sub-step's views taken without touching the training state.

The sub-steps are GAN Lab's (Kahng et al. 2018) on images: G draws a batch and D scores it, D's
update, G's update. They are step.py's draw_fakes, d_update and g_update, called in train_step's
order with the same arguments, so a slow-motion step is a trainer's step bit for bit (weights,
optimiser moments, random streams and losses; tests/training/test_slow_motion.py). The views between
them are extra forward passes: in training mode (what the losses see), on the un-augmented images,
with every buffer (BatchNorm's running statistics, spectral norm's vectors) put back afterwards and
the global random stream forked, so taking them changes nothing the next phase reads. The gradient D
sends G through each fake image is the step's own: a hook on the fake batch during G's backward.

Nothing here writes a file: the copy starts from the run's checkpoint (or, for a shipped run without
one, its exported G and discriminator.safetensors) and lives in memory only.
"""
from __future__ import annotations

import contextlib
import copy
import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ..config import ConfigError, TrainConfig
from ..data import DataError, load_dataset, make_synthetic
from ..imaging import to_uint8, upscale
from ..nets.models import Discriminator, Generator
from ..runs.checkpoint import (CheckpointError, discriminator_source, load_run_discriminator, load_run_generator,
                               load_training_state)
from ..runs.rundir import RunDir
from .balance import balance_lrs, decayed_lr, set_lr
from .batches import BatchSource
from .step import DUpdate, StepPlan, autocast, d_update, draw_fakes, g_update, step_stats

# the sub-steps of one training step, in order, and what each is called on the page
SUB_STEPS = ("draw", "d_update", "g_update")
SUB_STEP_TITLES = {
    "draw": "G draws a batch, D scores it",
    "d_update": "D's update",
    "g_update": "G's update",
}
MAX_STEPS_AT_ONCE = 1000  # a request beyond this is refused: at 64 px it would hold the page for minutes


class SlowMotionError(ValueError):
    """Slow-motion training cannot start or go on; the message says why in a sentence."""


class SlowMotionBusy(SlowMotionError):
    """A sub-step was asked for while another one of the same copy is still running."""


def needs_d_message(run: RunDir) -> str | None:
    """The plain sentence for a run slow-motion cannot train (it keeps no D), or None when it can."""
    if discriminator_source(run) is None:
        return (f"Slow-motion training needs the run's discriminator, and **{run.name}** keeps none (an imported "
                "generator, or a run stopped before its first checkpoint). The model overview and Inside G "
                "still work.")
    return None


@dataclass
class TrainingImages:
    """The images a copy draws its real batches from, and, when they are stand-ins, why."""

    images: torch.Tensor  # uint8 (N, C, H, W)
    name: str
    note: str | None  # set when the run's own data is not on this machine


def training_images(cfg: TrainConfig) -> TrainingImages:
    """The run's training split (as its trainer loads it), or synthetic shapes with a note when its data is
    not on this machine."""
    try:
        data = load_dataset(cfg.dataset, cfg.image_size, cfg.channels, cfg.data_root, cfg.image_folder, cfg.seed,
                            split="train", holdout=cfg.holdout)
        return TrainingImages(data.images, data.name, None)
    except (DataError, OSError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        synthetic = make_synthetic(cfg.image_size, cfg.channels, seed=cfg.seed)
        return TrainingImages(synthetic.images, synthetic.name,
                              f"the run's own data is not on this machine ({first}); the real batches are "
                              "synthetic shapes instead, which D has never seen")


@dataclass
class StartState:
    """Where a copy starts: the run's weights, optimiser moments and random streams as plain state
    dicts and tensors (a reset starts again from these), the config and the step they are at."""

    cfg: TrainConfig
    step: int
    G: dict
    D: dict
    opt_g: dict | None  # None: the run keeps no optimiser state, Adam starts from zero moments
    opt_d: dict | None
    z_rng: torch.Tensor | None
    torch_rng: torch.Tensor | None
    aug_rng: torch.Tensor | None
    source: str  # "checkpoint" or "export"
    notes: list[str] = field(default_factory=list)


def start_state(run: RunDir) -> StartState:
    """Read a run's training state (never written): its checkpoint.pt when it has one, else its exported G
    with discriminator.safetensors (a shipped run). SlowMotionError, in a sentence, when there is no D or
    the files cannot be used."""
    message = needs_d_message(run)
    if message:
        raise SlowMotionError(message.replace("**", ""))
    try:
        if run.checkpoint_path.is_file():
            state = load_training_state(run.checkpoint_path)
            cfg = TrainConfig.from_dict(state["config"])
            notes = [f"The copy starts from the run's checkpoint at step {state['step']}: G and D as the trainer "
                     "left them, with Adam's moments and the random streams."]
            return StartState(cfg, int(state["step"]), state["G"], state["D"], state["opt_g"], state["opt_d"],
                              state["z_rng"], state["torch_rng"], state.get("aug_rng"), "checkpoint", notes)
        cfg = run.train_config()
        if cfg is None:
            raise SlowMotionError(f"run {run.name!r} has no usable config: {run.config_problem()}")
        G = load_run_generator(run)
        D, d_step = load_run_discriminator(run)
        step = run.export_step() or d_step or 0
        weights = run.generator_info().get("weights")
        notes = [f"This run keeps no training checkpoint, so the copy starts from its exported model at step "
                 f"{step}: G is the exported generator{' (the averaged, EMA weights)' if weights == 'ema' else ''}, "
                 "D is discriminator.safetensors (stored in half precision). Adam starts from zero moments "
                 "and the z stream from the run's seed, so the first steps are not the ones its trainer "
                 "would have taken."]
        return StartState(cfg, int(step), G.state_dict(), D.state_dict(), None, None, None, None, None, "export",
                          notes)
    except (CheckpointError, ConfigError, KeyError, TypeError, ValueError, OSError) as e:
        if isinstance(e, SlowMotionError):
            raise
        raise SlowMotionError(f"cannot start slow-motion training on {run.name!r}: "
                              f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


@dataclass
class StepView:
    """What the page shows of the current step, filled in as its sub-steps are taken. Scores are D's
    probability of "real" under the BCE loss, else its raw logit (hinge and relativistic have no calibrated
    probability); images are uint8 (N, H, W, C)."""

    step: int  # the step these views are of: 1 + the steps done before it
    phase: str  # the last sub-step taken (SUB_STEPS)
    score_kind: str  # "probability" or "logit"
    real: np.ndarray
    fake: np.ndarray  # G's images before G's update (the batch D's update saw)
    real_before: np.ndarray  # D's scores before its update
    fake_before: np.ndarray
    real_after: np.ndarray | None = None  # after D's update
    fake_after: np.ndarray | None = None
    fake_images_after: np.ndarray | None = None  # the same z's images after G's update
    gradient: np.ndarray | None = None  # (N, H, W): -d loss_G / d x summed over channels: where G's update pushes
    stats: dict | None = None  # the trainer's statistics of the step, once it is whole
    lr_d: float = 0.0
    lr_g: float = 0.0


class SlowMotion:
    """A copy of a run's G and D trained in memory one sub-step at a time (or whole steps at once)."""

    def __init__(self, start: StartState, images: TrainingImages, device: str | torch.device = "cpu"):
        self.start, self.images_info = start, images
        self.cfg = cfg = start.cfg
        self.device = torch.device(device)
        with torch.random.fork_rng(devices=[]):  # D's initialisation (overwritten below) draws from the global stream
            self.G = Generator.from_config(cfg, init_weights=False).to(self.device)
            self.D = Discriminator.from_config(cfg).to(self.device)
        if self.device.type == "cpu":  # as the Trainer does: NHWC is its layout on CPU, and the numbers follow it
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
        self.G.load_state_dict(start.G)
        self.D.load_state_dict(start.D)
        if start.opt_g is not None:
            self.opt_g.load_state_dict(copy.deepcopy(start.opt_g))
            self.opt_d.load_state_dict(copy.deepcopy(start.opt_d))
        self.G.train()
        self.D.train()
        self.z_gen = torch.Generator(self.device).manual_seed(cfg.seed + 1)
        self.aug_gen = torch.Generator(self.device).manual_seed(cfg.seed + 3)
        if start.z_rng is not None:
            self.z_gen.set_state(start.z_rng)
        if start.aug_rng is not None:
            self.aug_gen.set_state(start.aug_rng)
        # the trainer's global stream (D's dropout draws from it), kept apart from the app's own
        self.torch_rng = start.torch_rng.clone() if start.torch_rng is not None else \
            torch.Generator().manual_seed(cfg.seed).get_state()
        self.data = BatchSource(images.images, cfg.batch_size, cfg.seed, self.device)
        self.step = start.step  # whole steps done
        self.phase = "g_update"  # the last sub-step taken: the next one starts a step
        self.view: StepView | None = None
        self.broken: str | None = None
        self._lock = threading.Lock()
        self._plan: StepPlan | None = None
        self._real = self._z = self._fake = None
        self._d: DUpdate | None = None

    @classmethod
    def from_run(cls, run: RunDir, images: TrainingImages | None = None,
                 device: str | torch.device = "cpu") -> "SlowMotion":
        """A copy of a run, its real batches from images (default: the run's own training split)."""
        start = start_state(run)
        return cls(start, images if images is not None else training_images(start.cfg), device)

    def fresh(self) -> "SlowMotion":
        """A new copy at the run's weights again (a reset), sharing this one's images."""
        return SlowMotion(self.start, self.images_info, self.device)

    @property
    def notes(self) -> list[str]:
        """Where the copy started from and what is not as the trainer had it, in sentences."""
        notes = list(self.start.notes)
        if self.images_info.note:
            notes.append(f"Note: {self.images_info.note}.")
        return notes

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    @property
    def next_phase(self) -> str:
        return SUB_STEPS[(SUB_STEPS.index(self.phase) + 1) % len(SUB_STEPS)]

    @property
    def steps_done(self) -> int:
        """Whole steps this copy has taken since it started from the run."""
        return self.step - self.start.step

    @contextlib.contextmanager
    def _running(self):
        if self.broken:
            raise SlowMotionError(f"the copy stopped in the middle of a step ({self.broken}); reset it")
        if not self._lock.acquire(blocking=False):
            raise SlowMotionBusy("a step of this copy is still running; wait for it to end, or reset")
        try:
            yield
        finally:
            self._lock.release()

    # --- the sub-steps ------------------------------------------------------------------------------
    def sub_step(self, views: bool = True) -> StepView:
        """Take the next sub-step (SUB_STEPS, in a cycle) and return the current step's view."""
        with self._running():
            self._sub_step(views)
        return self.view

    def run_steps(self, n: int, views: bool = True, progress: Callable[[int, int], None] | None = None) -> StepView:
        """n whole steps; a step already begun is finished first and counts as the first. Only the last one's
        views are taken. progress(done, n) is called between whole steps, never inside one, so a page that
        is interrupted there leaves the copy on a step boundary."""
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_STEPS_AT_ONCE:
            raise SlowMotionError(f"steps at once must be a whole number from 1 to {MAX_STEPS_AT_ONCE}, not {n!r}")
        with self._running():
            for i in range(n):
                last = i == n - 1
                while True:
                    self._sub_step(views and last)
                    if self.phase == SUB_STEPS[-1]:
                        break
                if progress is not None and not last:
                    progress(i + 1, n)
        return self.view

    def _sub_step(self, views: bool) -> None:
        phase = self.next_phase
        try:
            {"draw": self._draw, "d_update": self._d_update, "g_update": self._g_update}[phase](views)
        except BaseException as e:
            # a phase that did not finish leaves weights and streams half-way: no later step can be the trainer's
            self.broken = f"{SUB_STEP_TITLES[phase]}: {type(e).__name__}"
            raise
        self.phase = phase

    @contextlib.contextmanager
    def _trainer_rng(self):
        """The trainer's global random stream in place of the app's for one phase (D's dropout)."""
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.set_rng_state(self.torch_rng)
            yield
            self.torch_rng = torch.get_rng_state()

    def _draw(self, views: bool) -> None:
        cfg = self.cfg
        if cfg.lr_decay_from < 1:  # as the loop sets it before each step; past the run's end, its last rate
            for opt, base in ((self.opt_d, cfg.lr_d), (self.opt_g, cfg.lr_g)):
                set_lr(opt, decayed_lr(base, min(self.step, cfg.steps - 1), cfg.steps, cfg.lr_decay_from))
        real = self.data.batch(self.step)
        if self.device.type == "cpu":
            real = real.contiguous(memory_format=torch.channels_last)
        self._plan = StepPlan.of(cfg, real.device, self.z_gen, aug_gen=self.aug_gen, step=self.step)
        with self._trainer_rng():
            self._z = self._plan.sample_z(real.shape[0])
            self._fake = draw_fakes(self.G, self._plan, self._z)
        self._real, self._d = real, None
        if views:
            real_scores, fake_scores = self._scores()
            self.view = StepView(self.step + 1, "draw", self.score_kind, to_uint8(real.float()),
                                 to_uint8(self._fake.detach().float()),
                                 real_scores, fake_scores, lr_d=self.opt_d.param_groups[0]["lr"],
                                 lr_g=self.opt_g.param_groups[0]["lr"])
        else:
            self.view = None

    def _d_update(self, views: bool) -> None:
        with self._trainer_rng():
            self._d = d_update(self.D, self.opt_d, self._real, self._fake, self._plan)
        if views and self.view is not None:
            self.view.real_after, self.view.fake_after = self._scores()
            self.view.phase = "d_update"

    def _g_update(self, views: bool) -> None:
        grads: list[torch.Tensor] = []
        with self._trainer_rng():
            g = g_update(self.G, self.D, self.opt_g, self._real, self._fake, self._plan,
                         fake_grad=(lambda grad: grads.append(grad.detach().float().clone())) if views else None)
        stats = step_stats(self._plan, self._d, g)
        self.step += 1
        if self.cfg.adaptive_lr:  # after the step, from its accuracies, as the loop does
            lr_d, lr_g = balance_lrs(self.opt_d.param_groups[0]["lr"], self.opt_g.param_groups[0]["lr"],
                                     stats["acc_real"], stats["acc_fake"], self.cfg)
            set_lr(self.opt_d, lr_d)
            set_lr(self.opt_g, lr_g)
        if views and self.view is not None:
            self.view.stats = stats
            if grads:  # descent moves each pixel along -gradient: that is where D tells G to go
                self.view.gradient = (-grads[0]).sum(1).cpu().numpy().astype(np.float32)
            with self._untouched(self.G), torch.no_grad(), autocast(self.device, self.cfg):
                self.view.fake_images_after = to_uint8(self.G(self._z).float())
            self.view.phase = "g_update"
        self._real = self._fake = self._z = None  # the graph through G is spent
        self._d = None

    # --- views without side effects -----------------------------------------------------------------
    @property
    def score_kind(self) -> str:
        return "probability" if self.cfg.gan_loss == "bce" else "logit"

    @contextlib.contextmanager
    def _untouched(self, *modules: torch.nn.Module):
        """Forward passes inside leave the modules' buffers and every random stream as they were."""
        saved = [[(b, b.detach().clone()) for b in m.buffers()] for m in modules]
        try:
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                yield
        finally:
            with torch.no_grad():
                for pairs in saved:
                    for buffer, value in pairs:
                        buffer.copy_(value)

    def _scores(self) -> tuple[np.ndarray, np.ndarray]:
        """D's scores of the step's real and fake batches as it is now, each batch on its own as the trainer
        feeds them, in training mode."""
        with self._untouched(self.D), torch.no_grad(), autocast(self.device, self.cfg):
            logits = [self.D(x.detach()).float() for x in (self._real, self._fake)]
        if self.score_kind == "probability":
            logits = [torch.sigmoid(x) for x in logits]
        return tuple(x.double().cpu().numpy() for x in logits)


def gradient_images(gradient: np.ndarray) -> np.ndarray:
    """Gradient maps (N, H, W) as RGB uint8 (N, H, W, 3) on one scale shared by the batch (so the fakes D cares
    most about stand out): red where G's update makes a pixel lighter, blue where darker, the strength the
    colour's depth (full at the batch's 99th percentile and beyond); white where D asks for nothing."""
    g = np.nan_to_num(np.asarray(gradient, dtype=np.float64))
    # the scale: the 99th percentile of the sizes, so a few extreme pixels do not leave the rest white
    top = float(np.percentile(np.abs(g), 99)) if g.size else 0.0
    top = top if top > 0 else (float(np.abs(g).max()) if g.size else 0.0)
    t = (g / top if top > 0 else g).clip(-1, 1)
    fade = 1 - np.abs(t)  # white fading to the full colour
    rgb = np.stack([np.where(t > 0, 1.0, fade), fade, np.where(t < 0, 1.0, fade)], axis=-1)
    return (rgb * 255).round().astype(np.uint8)


def score_text(value: float, kind: str) -> str:
    """A score as the page writes it: a probability to two places, a logit with its sign."""
    return f"{value:.2f}" if kind == "probability" else f"{value:+.2f}"


def batch_figure(images: np.ndarray, scores: np.ndarray | None = None, after: np.ndarray | None = None,
                 kind: str = "logit", columns: int = 8, count: int = 16, cell_px: int = 56) -> np.ndarray:
    """The first count images (N, H, W, C uint8) of a batch in a grid, RGB uint8, each with D's score under it
    ("0.62", or "0.62 -> 0.41" once D has been updated); without scores, the images alone."""
    from PIL import Image, ImageDraw, ImageFont
    images = images[:count]
    scale = max(1, cell_px // images.shape[1])
    side = images.shape[1] * scale
    label_h = 16 if scores is not None else 0
    font = ImageFont.load_default(size=11)
    width = max(side, 78 if after is not None else 40) + 6
    columns = max(1, min(columns, len(images)))
    rows = -(-len(images) // columns)
    canvas = Image.new("RGB", (columns * width, rows * (side + label_h + 6)), "white")
    draw = ImageDraw.Draw(canvas)
    for i, im in enumerate(images):
        im = upscale(im if im.shape[2] == 3 else np.repeat(im, 3, axis=2), scale)
        x = (i % columns) * width + (width - side) // 2
        y = (i // columns) * (side + label_h + 6) + 3
        canvas.paste(Image.fromarray(im), (x, y))
        if scores is not None:
            text = score_text(scores[i], kind)
            if after is not None:
                text += f" -> {score_text(after[i], kind)}"  # the default font has no arrow glyph
            draw.text((x + side // 2, y + side + 2), text, fill="black", font=font, anchor="mt")
    return np.asarray(canvas)
