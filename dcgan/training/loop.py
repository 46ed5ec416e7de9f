"""The training loop: a Trainer that owns G, D, optimisers, data and the run directory of one run."""
from __future__ import annotations

import collections
import math
import os
from pathlib import Path
import signal
import sys
import time
import traceback
from typing import Callable

import numpy as np
import torch

from .. import faults
from . import distributed, health
from ..config import ConfigError, ModelConfig, TrainConfig
from .batches import BatchSource
from ..data import DataError, dataset_warnings, load_dataset
from ..imaging import make_grid, png_bytes, to_uint8
from ..nets.ema import EMA
from ..nets.models import Discriminator, Generator
from ..runs.checkpoint import (
    CheckpointError, checkpoint_step, export_generator, load_training_state, save_training_state, state_dict_problem
)
from ..runs.files import (
    WriteError, append_line, atomic_write_bytes, atomic_write_json, close_quietly, jsonl_line, npy_bytes
)
from ..runs.rundir import RunDir, RunFolderGone
from .balance import balance_lrs, decayed_lr, set_lr
from .distributed import SINGLE, World
from .step import train_step, uses_bf16
from .threads import ThreadShare


class TrainingFailed(RuntimeError):
    """Training stopped on an unexpected error: a one-line message; the traceback went to the log
    (train.log for a launched trainer) and is this exception's __cause__."""


def check_world(cfg: TrainConfig, world: World) -> None:
    """What a config needs of a torchrun group, checked by every process before any writes."""
    if cfg.batch_size % world.world_size:
        raise ConfigError(f"batch_size={cfg.batch_size} does not split evenly over {world.world_size} "
                          f"processes; use a multiple of {world.world_size}")
    if cfg.sync_batchnorm and world.distributed and resolve_device(cfg.device).type != "cuda":
        raise ConfigError("sync_batchnorm needs CUDA GPUs (PyTorch's SyncBatchNorm has no CPU kernel); "
                          "on CPU each process normalises its own share of the batch")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' but no CUDA GPU is available; use 'auto' or 'cpu'")
    return torch.device(name)


class Stopper:
    """Turns SIGTERM (and the STOP file) into a flag the loop checks at step boundaries."""

    def __init__(self, run: RunDir, install_signal: bool):
        self.run, self.signalled = run, False
        if install_signal:
            # Ctrl-C too: stop cleanly with a checkpoint rather than lose the steps since the last one
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        self.signalled = True

    def requested(self) -> bool:
        return self.signalled or self.run.stop_requested()

    def drop_stale(self, started_at: float) -> bool:
        """Delete a stop request made before this trainer started (one that came too late for an
        earlier trainer); a request made since, while this one was starting, stays. True if dropped."""
        asked = self.run.stop_request_time()
        if asked is None or asked >= started_at:
            return False
        self.run.stop_path.unlink(missing_ok=True)
        return True


class Trainer:
    """Owns G, D, optimisers, data and the run directory of one run."""

    def __init__(self, cfg: TrainConfig, run: RunDir, log: Callable[[str], None] = print, world: World = SINGLE):
        self.cfg, self.run, self.world = cfg, run, world
        self.main = world.is_main  # the one process that writes the run directory
        self.log = log if self.main else (lambda message: None)
        self.device = resolve_device(cfg.device)
        if self.device.type == "cuda" and world.distributed:
            self.device = torch.device("cuda", world.local_rank)
            torch.cuda.set_device(self.device)
        torch.manual_seed(cfg.seed)
        self.G = Generator.from_config(cfg).to(self.device)
        self.D = Discriminator.from_config(cfg).to(self.device)
        if cfg.sync_batchnorm and world.distributed:
            # batch statistics over the global batch, as one process would compute them; the state
            # dict keys stay those of BatchNorm, so checkpoints load either way
            self.G = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.G)
            self.D = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.D)
        if self.device.type == "cpu":
            # NHWC convolutions are measurably faster on CPU (bench/run.py measures the step)
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
        self.z_gen = torch.Generator(self.device).manual_seed(cfg.seed + 1)
        # DiffAugment's own random stream: saved in the checkpoint, so a resume draws what an
        # uninterrupted run would (and the other streams are the same with or without it)
        self.aug_gen = torch.Generator(self.device).manual_seed(cfg.seed + 3)
        # the averaged G (cfg.ema_decay > 0): what snapshots, the export and the evaluator use
        self.ema = EMA(self.G, cfg.ema_decay, cfg.ema_start) if cfg.ema_decay > 0 else None
        self.step = 0
        self.model_cfg = ModelConfig.from_train(cfg)
        self.fixed_z = None
        self.data: BatchSource | None = None
        self.evaluator = None  # dcgan.evaluation.evaluate.TrainingEvaluator when cfg.eval_every > 0
        self._last_status_write = 0.0
        # kept in every status write: what the dataset makes doubtful, and a divergence once seen
        self.warnings: list[str] = []
        self.diverged: dict | None = None
        self._divergence_window = health.divergence_window(cfg.steps)
        self._recent = collections.deque(maxlen=self._divergence_window)  # the newest metrics records

    # --- run-directory writes ---------------------------------------------------------------------
    def write_status(self, state: str, error: str | None = None, force: bool = True) -> None:
        if not self.main:
            return
        now = time.time()
        if not force and now - self._last_status_write < 1.0:
            return  # the heartbeat needs no more than one write a second
        self._last_status_write = now
        self.run.write_status(state, self.step, self.cfg.steps, error, self.warnings, self.diverged)

    def watch_health(self, record: dict) -> None:
        """Flag the run (status.json "diverged") the first time its statistics show a divergence."""
        self._recent.append(record)
        if self.diverged or not health.collapsed(record):
            return
        self.diverged = health.divergence(self._recent, self._divergence_window)
        if self.diverged:
            self.log(f"warning: training diverged at step {self.diverged['step']}: {self.diverged['why']}")
            self.write_status("running")

    @property
    def step_precision(self) -> str:
        """What the steps run in: cfg.precision with "auto" resolved for this device."""
        return "bf16" if uses_bf16(self.cfg.precision, self.device) else "fp32"

    @property
    def sample_G(self) -> Generator:
        """The G to sample from: the EMA's average when cfg.ema_decay > 0, else G itself."""
        return self.ema.module if self.ema is not None else self.G

    def snapshot(self) -> None:
        """The fixed-z grid PNG and (optionally) fp16 G weights for this step (the EMA's, when on)."""
        if not self.main:
            return
        self.run.check_claimed()
        G = self.sample_G
        was_training = G.training  # the EMA copy stays in eval mode
        G.eval()
        with torch.no_grad():
            images = to_uint8(G(self.fixed_z.to(self.device)))
        G.train(was_training)
        # the trainer's writes make no parent folders: a run folder deleted since the check above is not made
        # again (the write fails, and the trainer stops with RunFolderGone)
        self.run.snapshots_dir.mkdir(exist_ok=True)
        atomic_write_bytes(self.run.grid_path(self.step), png_bytes(make_grid(images)), make_parents=False)
        k = self.cfg.snapshot_weights_every
        if k and ((self.step // self.cfg.snapshot_every) % k == 0 or self.step == self.cfg.steps):
            export_generator(self.run.snapshot_weights_path(self.step), None, G, self.model_cfg, half=True,
                             make_parents=False)
            if self.cfg.keep_snapshot_weights:  # only once the new file is whole: never fewer than N on disk
                pruned = self.run.prune_snapshot_weights(self.cfg.keep_snapshot_weights, self.step)
                if pruned:
                    self.log(f"snapshot weights of step(s) {', '.join(map(str, pruned))} deleted "
                             f"(keep_snapshot_weights={self.cfg.keep_snapshot_weights}; their grids stay)")

    def checkpoint(self) -> None:
        # every process takes part in the check; the main one alone writes
        distributed.check_in_step(self.world, self.G, self.D, device=self.device)
        if not self.main:
            return
        self.run.check_claimed()
        state = {
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "step": self.step, "config": self.cfg.to_dict(),
            "torch_rng": torch.get_rng_state(), "z_rng": self.z_gen.get_state(),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        if self.cfg.diffaugment:
            state["aug_rng"] = self.aug_gen.get_state()
        if self.ema is not None:
            state["G_ema"] = self.ema.state_dict()
        save_training_state(self.run.checkpoint_path, state, make_parents=False)
        export_generator(self.run.generator_path, self.run.generator_config_path, self.sample_G, self.model_cfg,
                         extra={"step": self.step, "run_name": self.cfg.run_name, "dataset": self.cfg.dataset,
                                "weights": "ema" if self.ema is not None else "G",
                                # what "auto" became on this machine (a run resumed elsewhere: its last part's)
                                "precision": self.step_precision}, make_parents=False)

    # --- set-up ------------------------------------------------------------------------------------
    def start_fresh(self) -> None:
        g = torch.Generator().manual_seed(self.cfg.seed + 2)
        self.fixed_z = torch.randn(self.cfg.grid_size, self.cfg.z_dim, generator=g)
        if not self.main:
            return
        self.run.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.run.config_path, self.cfg.to_dict(), make_parents=False)
        atomic_write_bytes(self.run.fixed_z_path, npy_bytes(self.fixed_z.numpy()), make_parents=False)
        atomic_write_bytes(self.run.metrics_path, b"", make_parents=False)

    def restore(self) -> None:
        if self.main:
            self.run.remove_temp_files()  # half-written files of a trainer killed mid-write
        state = load_training_state(self.run.checkpoint_path)
        try:
            self.G.load_state_dict(state["G"])
            self.D.load_state_dict(state["D"])
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
            if self.ema is not None:
                # a checkpoint from before EMA was on: the average starts from the restored G
                self.ema.load_state_dict(state["G_ema"] if "G_ema" in state else self.G.state_dict())
        except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise CheckpointError(f"{self.run.checkpoint_path} does not fit this run's config (another "
                                  f"architecture or image size?): {state_dict_problem(e)}") from None
        try:
            self._restore_counters(state)
        except (RuntimeError, ValueError, KeyError, TypeError, AttributeError):
            # a file that has the right keys but not what this trainer writes under them
            raise CheckpointError(f"{self.run.checkpoint_path} is not a training checkpoint of this project "
                                  "(its step, config or random states are not what the trainer saves)") from None
        if not self.main:
            return  # the rest tidies the run directory, which is the main process's to write
        self.fixed_z = torch.from_numpy(np.load(self.run.fixed_z_path, allow_pickle=False))
        # steps done after the checkpoint (a crash) will be redone: drop their snapshots, then their
        # metrics (in this order, so no snapshot ever shows a step the metrics do not have)
        for step in self.run.snapshot_steps():
            if step > self.step:
                self.run.snapshot_weights_path(step).unlink(missing_ok=True)
                self.run.grid_path(step).unlink(missing_ok=True)
        if self.cfg.keep_snapshot_weights:  # the rule holds from the resume on (one given now frees space at once)
            self.run.prune_snapshot_weights(self.cfg.keep_snapshot_weights, newest=-1)
        # damaged lines (junk, NUL bytes, a string for a loss) are dropped here rather than kept forever
        metrics = self.run.metrics()
        kept = [r for r in metrics if r["step"] <= self.step]
        self._drop_note(metrics.skipped, "metrics.jsonl")
        atomic_write_bytes(self.run.metrics_path, "".join(jsonl_line(r) for r in kept).encode(), make_parents=False)
        # the divergence flag follows the metrics kept: a resume from before the divergence clears it
        self.diverged = health.divergence(kept, self._divergence_window)
        self._recent.extend(kept[-self._divergence_window:])
        if self.run.eval_log_path.exists():
            evaluations = self.run.evaluations()
            self._drop_note(evaluations.skipped, "eval.jsonl")
            kept = [r for r in evaluations if r["step"] <= self.step]
            atomic_write_bytes(self.run.eval_log_path, "".join(jsonl_line(r) for r in kept).encode(),
                               make_parents=False)
        atomic_write_json(self.run.config_path, self.cfg.to_dict(), make_parents=False)

    def _restore_counters(self, state: dict) -> None:
        step = state["step"]
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise ValueError("step")
        self.step = step
        # learning rates changed for the resume (after a divergence, say) win over the saved ones
        for opt, key in ((self.opt_d, "lr_d"), (self.opt_g, "lr_g")):
            if getattr(self.cfg, key) != state["config"].get(key):
                set_lr(opt, getattr(self.cfg, key))
        torch.set_rng_state(state["torch_rng"])
        self.z_gen.set_state(state["z_rng"])
        if "aug_rng" in state:  # absent from checkpoints without DiffAugment: the seeded stream goes on
            self.aug_gen.set_state(state["aug_rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)

    def _drop_note(self, skipped: int, name: str) -> None:
        if skipped:
            self.log(f"dropped {skipped} malformed line(s) from {name} (not JSON records the trainer wrote)")

    def load_data(self) -> None:
        cfg = self.cfg
        # folders: the held-out share stays unseen, for the evaluator's memorisation check
        images = load_dataset(cfg.dataset, cfg.image_size, cfg.channels, cfg.data_root, cfg.image_folder, cfg.seed,
                              split="train", holdout=cfg.holdout)
        if images.skipped:
            self.log(f"skipped {images.skipped} unreadable image file(s)")
        classes = f", classes {', '.join(images.classes)}" if images.classes else ""
        self.log(f"dataset {images.name}: {len(images)} images at {cfg.image_size}px, "
                 f"{cfg.channels} channel(s){classes}")
        self.warnings = dataset_warnings(len(images), cfg.batch_size)
        for warning in self.warnings:
            self.log(f"warning: {warning}")
        if self.warnings:
            self.write_status("running")
        self.data = BatchSource(images.images, cfg.batch_size, cfg.seed, self.device, self.world)
        if self.world.distributed:
            self.log(f"data-parallel on {self.world.world_size} processes ({torch.distributed.get_backend()}): "
                     f"{cfg.batch_size // self.world.world_size} of each batch of {cfg.batch_size} per process"
                     f"{', SyncBatchNorm' if cfg.sync_batchnorm else ''}")
        if cfg.eval_every and self.main:
            from ..evaluation.evaluate import TrainingEvaluator, coverage_key
            self.evaluator = TrainingEvaluator(cfg, self.device, self.log)
            previous = self.run.evaluations()
            if previous:  # a resumed run warns against its best coverage before the stop too
                self.evaluator.best_coverage = max(r.get(coverage_key(r), 0) for r in previous)
            self.log(f"evaluating {cfg.eval_samples} samples every {cfg.eval_every} steps into eval.jsonl "
                     f"(real-data floor: {self.evaluator.floor})")

    def evaluate(self, eval_file) -> None:
        """One periodic evaluation, appended to eval.jsonl as one flushed line."""
        record = self.evaluator(self.sample_G, self.step)
        append_line(eval_file, self.run.eval_log_path, jsonl_line(record))
        cover = record.get("modes_covered", record.get("classes_covered"))
        self.log(f"eval step {self.step}: FID {record['fid']:.2f} (floor {record['floor']['fid']:.2f}) "
                 f"coverage {cover} precision {record['precision']:.2f} recall {record['recall']:.2f}")

    # --- the loop ----------------------------------------------------------------------------------
    def run_loop(self, stopper: Stopper, step_fn=train_step, progress: bool = True) -> str:
        """Train until cfg.steps or a stop request; returns the final state."""
        cfg = self.cfg
        bar = _progress_bar(self.step, cfg.steps, progress and self.main)
        metrics_file = open(self.run.metrics_path, "a", buffering=1) if self.main else None
        eval_file = open(self.run.eval_log_path, "a", buffering=1) if self.evaluator else None
        # what the step runs: G and D themselves, or their DDP wrappers under torchrun
        G, D = (distributed.wrap(m, self.world, self.device) for m in (self.G, self.D))
        if cfg.compile:  # the step's modules only: checkpoints and snapshots keep plain state dicts
            G, D = torch.compile(G), torch.compile(D)
        if cfg.precision == "auto":
            self.log(f"precision auto: {self.step_precision} on this {self.device.type} "
                     f"({'it has' if self.step_precision == 'bf16' else 'no'} fast bf16 units)")
        threads = ThreadShare(self.run, self.device, self.world.distributed, self.log)
        try:
            if self.world.share(self.step == 0 and not self.run.grid_path(0).exists()):
                self.snapshot()  # step 0: what G makes before any training
                self.checkpoint()  # so even a run that diverges at once can be resumed
                if eval_file:
                    self.evaluate(eval_file)
            while self.step < cfg.steps:
                if self.world.any(stopper.requested(), self.device):
                    if not self.run.grid_path(self.step).exists():
                        self.snapshot()  # the Progress page's last frame is where the run stopped
                    self.checkpoint()
                    if self.main:
                        self.run.check_claimed()
                        self.run.stop_path.unlink(missing_ok=True)
                    self.write_status("stopped")
                    self.log(f"stopped at step {self.step} (checkpoint saved)")
                    return "stopped"

                threads.update()
                t0 = time.perf_counter()
                if cfg.lr_decay_from < 1:  # from the step count alone, so a resume takes up the same rates
                    for opt, base in ((self.opt_d, cfg.lr_d), (self.opt_g, cfg.lr_g)):
                        set_lr(opt, decayed_lr(base, self.step, cfg.steps, cfg.lr_decay_from))
                real = self.data.batch(self.step)
                if self.device.type == "cpu":
                    real = real.contiguous(memory_format=torch.channels_last)
                stats = step_fn(G, D, self.opt_g, self.opt_d, real, self.z_gen, cfg, self.world, self.aug_gen,
                                self.step)
                if self.ema is not None:  # after the step's G updates, counted in steps
                    self.ema.update(self.G, self.step + 1)
                if faults.armed:
                    faults.hit("step")
                bad = [k for k in ("loss_d", "loss_g") if not math.isfinite(stats[k])]
                if bad:
                    last = (self.run.export_step() or 0)
                    msg = (f"{bad[0]} became {stats[bad[0]]} at step {self.step + 1}: training diverged. "
                           f"The last good checkpoint (step {last}) is kept; resume from it with lower "
                           "learning rates (resume --lr-d/--lr-g) or label smoothing.")
                    self.write_status("failed", msg)
                    self.log(msg)
                    return "failed"
                self.step += 1

                lr_d, lr_g = self.opt_d.param_groups[0]["lr"], self.opt_g.param_groups[0]["lr"]
                if cfg.adaptive_lr:
                    new_d, new_g = balance_lrs(lr_d, lr_g, stats["acc_real"], stats["acc_fake"], cfg)
                    set_lr(self.opt_d, new_d)
                    set_lr(self.opt_g, new_g)
                seconds = time.perf_counter() - t0
                record = {"step": self.step, "epoch": round(self.data.epoch_of(self.step), 4),
                          "time": round(time.time(), 3), **{k: round(v, 6) for k, v in stats.items()},
                          "lr_d": lr_d, "lr_g": lr_g, "images_per_s": round(cfg.batch_size / seconds, 1)}
                if self.main:
                    append_line(metrics_file, self.run.metrics_path, jsonl_line(record))
                    self.watch_health(record)

                if self.step % cfg.snapshot_every == 0 or self.step == cfg.steps:
                    self.snapshot()
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                    self.checkpoint()
                if eval_file and (self.step % cfg.eval_every == 0 or self.step == cfg.steps):
                    self.evaluate(eval_file)
                self.write_status("running", force=False)
                if bar is not None:
                    bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    line = (f"step {self.step}/{cfg.steps} epoch {record['epoch']:.2f} "
                            f"loss_d {stats['loss_d']:.3f} loss_g {stats['loss_g']:.3f} D(x) {stats['d_x']:.2f} "
                            f"D(G(z)) {stats['d_g_z']:.2f} acc {stats['acc_real']:.2f}/{stats['acc_fake']:.2f} "
                            f"lr {lr_d:.2e}/{lr_g:.2e} {record['images_per_s']:.0f} img/s")
                    bar.write(line) if bar is not None else self.log(line)
            self.write_status("finished")
            return "finished"
        finally:
            threads.restore()
            # a stop asked for too late to honour must not stop the next resume at once (but a folder
            # that is no longer this run's keeps its files)
            if self.main:
                if self.run.still_claimed():
                    self.run.stop_path.unlink(missing_ok=True)
                close_quietly(metrics_file)
            if eval_file:
                close_quietly(eval_file)
            if bar is not None:
                bar.close()


def _progress_bar(start: int, total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    # a bar only on a terminal: in train.log it would be thousands of carriage returns
    if not sys.stderr.isatty():
        return None
    return tqdm(total=total, initial=start, unit="step", dynamic_ncols=True)


def train(cfg: TrainConfig, checkpoints: str | Path = "checkpoints", resume: bool = False,
          step_fn=train_step, progress: bool = True, handle_sigterm: bool = False,
          log: Callable[[str], None] = print, started_at: float | None = None) -> str:
    """Run (or resume) a training run in checkpoints/<cfg.run_name>; returns its final state.

    A run that cannot be started (name taken, no checkpoint, already running) raises and is left
    as it was; any error after that is recorded in status.json as 'failed' and re-raised (an
    unexpected one as TrainingFailed, its traceback logged). A stop request older than started_at
    (default: now; the CLI passes its process's start) is stale and dropped.
    """
    started_at = time.time() if started_at is None else started_at
    run = RunDir.of(checkpoints, cfg.run_name)
    log = output_log(log, run)
    world = distributed.world_from_env()  # under torchrun: this process's rank among world_size
    check_world(cfg, world)
    lock = None
    if world.is_main:  # the other processes of a torchrun group write nothing
        try:
            lock = run.lock()  # two trainers started at once for one run: the second stops here
        except OSError as e:
            raise WriteError(run.path, e) from None
    try:
        distributed.start(world, resolve_device(cfg.device))
        state = _train_locked(cfg, checkpoints, run, resume, step_fn, progress, handle_sigterm, log, world,
                              started_at)
        # a process that tears the gloo group down while a peer is still in its last collective makes that
        # peer abort (SIGABRT, "terminate called without an active exception"): leave together
        world.barrier()
        return state
    finally:
        distributed.stop(world)
        if lock is not None:
            os.close(lock)


def _train_locked(cfg: TrainConfig, checkpoints: str | Path, run: RunDir, resume: bool, step_fn, progress: bool,
                  handle_sigterm: bool, log: Callable[[str], None], world: World = SINGLE,
                  started_at: float = 0.0) -> str:
    # the main process checks; should it refuse, torchrun stops the others
    if not world.is_main:
        pass
    elif resume:
        if not run.checkpoint_path.is_file():
            raise ConfigError(f"run {cfg.run_name!r} has no checkpoint to resume from")
    elif run.exists():
        raise ConfigError(f"run {cfg.run_name!r} already exists in {checkpoints}; pick another name or resume it")
    # before the first status write makes our pid public, so a stop request is never a kill
    stopper = Stopper(run, handle_sigterm)
    if world.is_main and stopper.drop_stale(started_at):
        log("ignored a stop request made before this trainer started")
    world.barrier()  # no process reads the run folder before the main one has checked it
    trainer = None
    try:
        trainer = Trainer(cfg, run, log, world)
        if resume:
            trainer.restore()
        else:
            trainer.start_fresh()
        trainer.write_status("running")
        trainer.load_data()
        return trainer.run_loop(stopper, step_fn, progress)
    except BaseException as e:
        if not world.is_main:
            raise
        if isinstance(e, RunFolderGone):  # nothing to record: the folder is another's now, or nobody's
            raise
        if isinstance(e, OSError) and not run.still_claimed():
            run.check_claimed()  # a write failed because the folder went (a write never makes it again): say so
        storage = isinstance(e, OSError) and not isinstance(e, WriteError) and e.errno in WriteError.HINTS
        if storage:  # a write that is not one of the run's named ones (each of those raises WriteError)
            e = WriteError(Path(e.filename or run.path), e)
        expected = isinstance(e, (DataError, ConfigError, CheckpointError, WriteError))
        error = str(e) if expected else f"training failed: {one_line(e)}"
        if isinstance(e, WriteError):
            error = f"{e}. Nothing half-written replaced a good file: {_what_was_kept(run)}"
        elif isinstance(e, Exception) and not expected:
            # users get one line in status.json; whoever debugs it gets the traceback in the log
            error += " (the traceback is in train.log, or the trainer's output)"
            try:
                log(f"error: {error}\n{traceback.format_exc()}")
            except OSError:
                pass  # the output's disk is full too: status.json below still says it
        try:
            run.write_status("failed", trainer.step if trainer else run.status().get("step", 0), cfg.steps, error,
                         trainer.warnings if trainer else None, trainer.diverged if trainer else None)
        except OSError:
            pass  # nothing can be written there: the error reaches stderr (train.log) alone
        if storage:
            raise e from None
        if isinstance(e, Exception) and not expected:
            raise TrainingFailed(error) from e
        raise


def output_log(log: Callable[[str], None], run: RunDir) -> Callable[[str], None]:
    """log, with a full disk or read-only folder under the trainer's output raised as a WriteError naming
    it (train.log when the app launched the trainer), as every other write of the run names its file."""
    def logged(message: str) -> None:
        try:
            if faults.armed:  # tests only: the output's disk fills
                faults.hit("append:train.log")
            log(message)
        except OSError as e:
            if isinstance(e, WriteError) or e.errno not in WriteError.HINTS:
                raise
            raise WriteError(_output_name(run), e) from None
    return logged


def _output_name(run: RunDir) -> Path | str:
    """train.log when it is this process's stdout (the launcher's redirect), else the output by its name."""
    try:
        out, log = os.fstat(sys.stdout.fileno()), os.stat(run.log_path)
        if (out.st_dev, out.st_ino) == (log.st_dev, log.st_ino):
            return run.log_path
    except (OSError, ValueError, AttributeError):  # no file behind stdout (pytest's capture, a closed stream)
        pass
    return "the trainer's output (stdout)"


def one_line(error: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message."""
    first = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    return f"{type(error).__name__}: {first[:300]}" if first else type(error).__name__


def _what_was_kept(run: RunDir) -> str:
    """What a run that could not write has kept, and what to do: the end of its one-line error."""
    try:
        step = checkpoint_step(run.checkpoint_path)
    except CheckpointError:
        return ("no checkpoint was saved yet, so it cannot be resumed; free space or make the folder writable, "
                "then delete the run and start it again")
    return f"the last checkpoint (step {step}) is kept; free space or make the folder writable, then resume from it"
