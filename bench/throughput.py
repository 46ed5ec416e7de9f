"""Training throughput, end to end: the project's trainer against the real pytorch/examples dcgan/main.py
(run unmodified from ../shared, as a subprocess) and against the bare model step, interleaved round by round.

- reference: pytorch/examples dcgan/main.py itself, on real MNIST, fp32 (it has no autocast), with its
  default 2 DataLoader workers; its per-step lines are timestamped as they arrive and it is stopped
  after the window. Its G and D always make and take 64x64 images: at 28 px its D fails on the real
  batch, and the row says so with main.py's own error;
- ours: dcgan.training.loop.train, the real trainer with its data, metrics.jsonl, status, snapshots,
  at fp32 and at the recipes' precision "auto" (bf16 where the CPU has AMX, else fp32: then the
  two coincide and auto is not run twice);
- bare: dcgan.training.step.train_step alone on one normalised channels_last batch (nets built by the
  trainer's own Trainer): the convolutions and nothing else, the ceiling for ours.

All run the same number of steps per window after the same warm-up, on the same 64 px nets (TrainConfig's
defaults are main.py's G and D, D ending in logits instead of a sigmoid). Neither window holds a
periodic save: main.py saves its grids after iterations 0, 100, ..., ours its snapshot at the run's
end (see `plan`).
"""
from __future__ import annotations

import math
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from dcgan.config import TrainConfig
from dcgan.training.batches import BatchSource
from dcgan.data import load_dataset
from dcgan.runs.files import read_jsonl
from dcgan.runs.rundir import RunDir
from dcgan.training.loop import Trainer, train
from dcgan.training.step import train_step, uses_bf16

from .report import Row, Target, images_per_s, progress

OURS_VS_BARE = Target(">=", 0.95)
OURS_VS_REFERENCE = Target(">=", 1.5)
MAX_WINDOW_STEPS = 5000
# main.py, unmodified: its --workers default, and its `if i % 100 == 0: save_image(...)` after the
# print of iteration i
REFERENCE_WORKERS = 2
REFERENCE_SAVE_EVERY = 100
# main.py's line per iteration: [epoch/niter][i/len(dataloader)] Loss_D: ...
REFERENCE_STEP_LINE = re.compile(r"^\[(\d+)/\d+\]\[(\d+)/\d+\] Loss_D")
# how long main.py may go without a step line (its start included) before it is taken as stalled
REFERENCE_STALL_S = 300.0


@dataclass(frozen=True)
class DataChoice:
    dataset: str  # "mnist" or "synthetic"
    root: str


def choose_data(wanted: str, root: str) -> DataChoice:
    """MNIST from root when it is there (never downloads); synthetic shapes otherwise, said aloud."""
    if wanted == "synthetic":
        return DataChoice("synthetic", root)
    from torchvision import datasets
    try:
        datasets.MNIST(root, train=True, download=False)
    except RuntimeError:
        if wanted == "mnist":
            raise SystemExit(f"--dataset mnist: no MNIST in {root} (expected {root}/MNIST/raw/)")
        progress(f"NOTICE: no MNIST in {root}; measuring on the synthetic dataset instead")
        return DataChoice("synthetic", root)
    return DataChoice("mnist", root)


def bench_config(data: DataChoice, image_size: int, batch_size: int, precision: str = "fp32") -> TrainConfig:
    # the MNIST model at 28 px, the 64 px DCGAN (z 100, widths 64, grey): TrainConfig's defaults;
    # CPU on purpose, since this measures the machine the project is developed and tested on
    return TrainConfig(run_name="bench", dataset=data.dataset, data_root=data.root, image_size=image_size,
                       batch_size=batch_size, device="cpu", precision=precision)


def auto_is_bf16() -> bool:
    """What precision "auto" picks for the trainer on this machine's CPU (bf16 only with AMX)."""
    return uses_bf16("auto", torch.device("cpu"))


@dataclass(frozen=True)
class Plan:
    warmup: int  # untimed steps first
    steps: int  # timed steps: the window

    @property
    def total(self) -> int:
        return self.warmup + self.steps

    def describe(self) -> str:
        return f"{self.steps} timed steps after {self.warmup} warm-up"


def plan(seconds_per_step: float, window_s: float, warmup_s: float, min_steps: int,
         max_total: int | None = None) -> Plan:
    """Windows of about window_s after about warmup_s; with max_total, warm-up and window together
    take at most that many steps (the window shrinks first, the warm-up keeps at least one)."""
    steps = min(MAX_WINDOW_STEPS, max(min_steps, math.ceil(window_s / seconds_per_step)))
    warmup = min(steps, max(1, math.ceil(warmup_s / seconds_per_step)))
    if max_total is not None and warmup + steps > max_total:
        warmup = max(1, min(warmup, max_total // 10))
        steps = max_total - warmup
    return Plan(warmup, steps)


# --- reference: pytorch/examples dcgan/main.py, unmodified, in its own process ---------------------

@dataclass(frozen=True)
class Reference:
    """The unmodified pytorch/examples dcgan/main.py and the MNIST folder it reads."""

    script: Path
    data_root: str

    def command(self, image_size: int, batch_size: int, out_dir: Path, seed: int) -> list[str]:
        # -u: its print per step reaches the pipe as it happens instead of in 8 KB blocks
        return [sys.executable, "-u", str(self.script), "--dataset", "mnist", "--dataroot", self.data_root,
                "--imageSize", str(image_size), "--batchSize", str(batch_size), "--niter", "1",
                "--workers", str(REFERENCE_WORKERS), "--outf", str(out_dir), "--manualSeed", str(seed)]


def find_reference(script: Path, data: DataChoice) -> tuple[Reference | None, str]:
    """The reference when it can run here, else None and why not."""
    if not script.is_file():
        return None, f"skipped: no {script} (pytorch/examples' main.py is read from ../shared, absent here)"
    if data.dataset != "mnist":
        return None, "skipped: it runs on real MNIST only, and this run measures the synthetic dataset"
    return Reference(script, data.root), ""


def _timestamped_lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put((time.perf_counter(), line))
    into.put((time.perf_counter(), None))


def _stop(proc: subprocess.Popen, reader: threading.Thread) -> None:
    """End main.py and its DataLoader workers: the process group this benchmark started for it."""
    if proc.poll() is None or reader.is_alive():  # main.py, or a worker still holding its pipe
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # its group: the workers too, should main.py have ended
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # the pipe ends when the last process holding it does; closing it under a reader still inside
    # readline would block, so it is closed only once the reader has seen its end
    reader.join(timeout=15)
    if not reader.is_alive():
        proc.stdout.close()


def last_error_line(stderr: str) -> str:
    """The exception line of a traceback (its last non-blank line), shortened for a table cell."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return (lines[-1] if lines else "no message")[:200]


@dataclass(frozen=True)
class ReferenceRun:
    images_per_s: float | None  # None: it ended or stalled before its window did
    why: str  # then why, with main.py's own error
    steps_seen: int


def reference_images_per_s(ref: Reference, image_size: int, batch_size: int, seed: int, p: Plan,
                           scratch: Path) -> ReferenceRun:
    """main.py's img/s from the arrival of its lines for iterations warmup and warmup+steps: the
    steps in between, in its own process, timed from outside."""
    out_dir = Path(tempfile.mkdtemp(prefix="reference-", dir=scratch))
    # the same intra-op threads as ours (each DataLoader worker sets its own to 1)
    env = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()))
    times: dict[int, float] = {}
    with open(out_dir / "stderr.txt", "w+") as err:
        proc = subprocess.Popen(ref.command(image_size, batch_size, out_dir, seed), cwd=out_dir, env=env,
                                stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True)
        lines: queue.Queue = queue.Queue()
        reader = threading.Thread(target=_timestamped_lines, args=(proc.stdout, lines), daemon=True)
        reader.start()
        try:
            while p.total not in times:
                try:
                    arrived, line = lines.get(timeout=REFERENCE_STALL_S)
                except queue.Empty:
                    return ReferenceRun(None, f"main.py printed no step for {REFERENCE_STALL_S:.0f} s", len(times))
                if line is None:
                    proc.wait()
                    err.seek(0)
                    return ReferenceRun(None, f"main.py exited with status {proc.returncode} after {len(times)} "
                                              f"step(s): {last_error_line(err.read())}", len(times))
                m = REFERENCE_STEP_LINE.match(line)
                if m and m.group(1) == "0":  # epoch 0: --niter 1 and a window far shorter than an epoch
                    times[int(m.group(2))] = arrived
        finally:
            _stop(proc, reader)
    shutil.rmtree(out_dir, ignore_errors=True)
    return ReferenceRun(p.steps * batch_size / (times[p.total] - times[p.warmup]), "", len(times))


# --- ours: the project's trainer ---------------------------------------------------------------

def ours_images_per_s(cfg: TrainConfig, p: Plan, checkpoints: Path, run_name: str, sink) -> tuple[float, float]:
    """img/s from metrics.jsonl's wall-clock "time" over the window (its per-step images_per_s
    leaves out snapshots and status writes); also the seconds the run's end took (final snapshot
    and checkpoint), which the window leaves out."""
    # one snapshot, at the end, as main.py's window holds none (ours are every 200 steps by default)
    run_cfg = replace(cfg, run_name=run_name, steps=p.total, snapshot_every=p.total)
    train(run_cfg, checkpoints, progress=False, log=lambda line: print(line, file=sink))
    ended = time.time()
    run = RunDir.of(checkpoints, run_name)
    window = [r for r in read_jsonl(run.metrics_path) if p.warmup <= r["step"] <= p.total]
    shutil.rmtree(run.path)
    return images_per_s(window, cfg.batch_size), ended - window[-1]["time"]


# --- bare: the model step alone ------------------------------------------------------------------

def normalised_batch(cfg: TrainConfig) -> torch.Tensor:
    images = load_dataset(cfg.dataset, cfg.image_size, cfg.channels, cfg.data_root).images
    batch = BatchSource(images, cfg.batch_size, cfg.seed, torch.device("cpu")).batch(0)
    return batch.contiguous(memory_format=torch.channels_last)


def bare_seconds_per_step(cfg: TrainConfig, batch: torch.Tensor, warmup: int, steps: int, scratch: Path) -> float:
    trainer = Trainer(cfg, RunDir.of(scratch, "bare"), log=lambda line: None)  # builds nets only
    args = (trainer.G, trainer.D, trainer.opt_g, trainer.opt_d, batch[:cfg.batch_size], trainer.z_gen, cfg)
    for _ in range(warmup):
        train_step(*args)
    start = time.perf_counter()
    for _ in range(steps):
        train_step(*args)
    return (time.perf_counter() - start) / steps


# --- one table section ---------------------------------------------------------------------------

def precisions() -> list[str]:
    """fp32, and auto where it is not fp32 on this CPU (else its rows reuse fp32's figures)."""
    return ["fp32", "auto"] if auto_is_bf16() else ["fp32"]


def measure(data: DataChoice, sizes: list[int], batch_sizes: list[int], rounds: int, window_s: float,
            warmup_s: float, min_steps: int, reference_script: Path) -> list[Row]:
    rows: list[Row] = []
    ref, ref_skipped = find_reference(reference_script, data)
    if ref is None:
        progress(f"NOTICE: throughput: reference {ref_skipped}")
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp, open(os.devnull, "w") as sink:
        scratch = Path(tmp)
        for size in sizes:
            batch = normalised_batch(bench_config(data, size, max(batch_sizes)))
            cannot_run = ""  # main.py's failure before its first step at this size holds for every batch size
            for batch_size in batch_sizes:
                configs = {prec: bench_config(data, size, batch_size, prec) for prec in precisions()}
                label = f"{size} px, batch {batch_size}"
                # the reference is held to iterations 1..100 (no save in its window): so is ours
                p = plan(bare_seconds_per_step(configs["fp32"], batch, 1, 2, scratch), window_s, warmup_s, min_steps,
                         REFERENCE_SAVE_EVERY if ref else None)
                progress(f"throughput {label}: {p.describe()}, {rounds} round(s)")
                found: dict[str, list[float]] = {"reference": []}
                found.update({f"{k} {prec}": [] for prec in configs for k in ("ours", "bare")})
                run_end_s: list[float] = []
                ref_why = ref_skipped or cannot_run
                for r in range(rounds):  # interleaved, so drift in the machine's load hits every side alike
                    if not ref_why:
                        got = reference_images_per_s(ref, size, batch_size, configs["fp32"].seed, p, scratch)
                        if got.images_per_s is None:
                            progress(f"  reference: {got.why}")
                            ref_why, found["reference"] = got.why, []  # one failure: no figure for this row
                            if got.steps_seen == 0:
                                cannot_run = got.why
                        else:
                            found["reference"].append(got.images_per_s)
                    for prec, cfg in configs.items():
                        ours, end_s = ours_images_per_s(cfg, p, scratch / "checkpoints",
                                                        f"ours-{size}-{batch_size}-{prec}-{r}", sink)
                        found[f"ours {prec}"].append(ours)
                        run_end_s.append(end_s)
                        found[f"bare {prec}"].append(cfg.batch_size / bare_seconds_per_step(cfg, batch, p.warmup,
                                                                                            p.steps, scratch))
                    progress(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in found.items() if v)
                             + " img/s")
                rows += section_rows(label, data, p, found, run_end_s, ref_why)
    return rows


REFERENCE_DOES = (f"pytorch/examples dcgan/main.py unmodified, fp32: torchvision MNIST with per-sample PIL "
                  f"Resize/ToTensor/Normalize in {REFERENCE_WORKERS} DataLoader workers, NCHW, 5 .item() and a "
                  f"print per step, save_image every {REFERENCE_SAVE_EVERY} (none in the window)")


def section_rows(label: str, data: DataChoice, p: Plan, found: dict[str, list[float]], run_end_s: list[float],
                 ref_why: str) -> list[Row]:
    # the best round: the one least disturbed by anything else on the machine
    best = {k: max(v) for k, v in found.items() if v}
    rounds = {k: f"{data.dataset}; best of {len(v)} round(s) " + "/".join(f"{x:,.0f}" for x in v)
              for k, v in found.items() if v}
    part = f"throughput {label}"
    ref = best.get("reference")
    if ref is None:
        rows = [Row(part, "reference: pytorch/examples main.py", None, "img/s",
                    detail=f"not measured: {ref_why}")]
    else:
        rows = [Row(part, "reference: pytorch/examples main.py", ref, "img/s",
                    detail=f"{rounds['reference']}; {p.describe()}; {REFERENCE_DOES}",
                    extra={"rounds": found["reference"], "plan": vars(p)})]
    auto = "bf16" if auto_is_bf16() else "fp32"
    for prec in [k.split()[1] for k in found if k.startswith("ours ")]:
        name = "fp32" if prec == "fp32" else f"auto={auto}"
        ours, bare = best[f"ours {prec}"], best[f"bare {prec}"]
        rows += [
            Row(part, f"bare train_step, {name}", bare, "img/s",
                detail=f"{rounds[f'bare {prec}']}; one in-memory channels_last batch",
                extra={"rounds": found[f"bare {prec}"], "plan": vars(p)}),
            Row(part, f"ours {name} vs bare", ours, "img/s", bare, "bare", OURS_VS_BARE,
                f"{rounds[f'ours {prec}']}; {p.describe()}; dcgan.training.loop.train: preloaded uint8 MNIST "
                f"sliced per batch, channels_last, a metrics.jsonl line and a status check per step, snapshot "
                f"and checkpoint outside the window (the run's end took {max(run_end_s):.2f} s)",
                extra={"rounds": found[f"ours {prec}"], "plan": vars(p), "run_end_s": run_end_s}),
        ]
        if ref is not None:
            rows.append(Row(part, f"ours {name} vs reference", ours, "img/s", ref, "reference", OURS_VS_REFERENCE,
                            f"best rounds of the rows above ({data.dataset})"))
    if auto == "fp32":  # the recipes' precision, said in its own row though it was not run twice
        same = "auto picks fp32 on this CPU (no AMX): the fp32 figure, not run twice"
        rows.append(Row(part, "ours auto=fp32" + (" vs reference" if ref is not None else ""), best["ours fp32"],
                        "img/s", ref,
                        "reference" if ref is not None else "", OURS_VS_REFERENCE if ref is not None else None,
                        same if ref is not None else f"{same}; no reference to hold it against"))
    return rows
