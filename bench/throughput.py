"""Training throughput, end to end: the project's trainer against a pytorch/examples-style loop and
against the bare model step, on the same nets, interleaved round by round.

- reference: pytorch/examples dcgan/main.py's loop (torchvision dataset, per-sample PIL transforms,
  DataLoader with 2 workers, NCHW, two D backwards, `.item()` and a print per step, save_image of
  the real batch and of G(fixed noise)), with this project's G and D, BCE on logits, Adam(2e-4, 0.5);
- ours: dcgan.training.loop.train, the real trainer with its data, metrics.jsonl, status, snapshots;
- bare: dcgan.training.step.train_step alone on one normalised channels_last batch (nets built by the
  trainer's own Trainer): the convolutions and nothing else, the ceiling for ours.

All three run the same number of steps per window, after the same warm-up, and save their fixed-z
grid once in each window (see save_every in `plan`).
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn as nn

from dcgan.config import TrainConfig
from dcgan.training.batches import BatchSource
from dcgan.data import load_dataset
from dcgan.nets.models import Discriminator, Generator
from dcgan.runs.files import read_jsonl
from dcgan.runs.rundir import RunDir
from dcgan.training.loop import Trainer, train
from dcgan.training.step import train_step

from .report import Row, Target, images_per_s, progress

OURS_VS_BARE = Target(">=", 0.95)
OURS_VS_REFERENCE = Target(">=", 1.5)
# pytorch/examples' default --workers
REFERENCE_WORKERS = 2
MAX_WINDOW_STEPS = 5000


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


def bench_config(data: DataChoice, image_size: int, batch_size: int) -> TrainConfig:
    # the MNIST model at 28 px, the 64 px DCGAN (z 100, widths 64, grey): TrainConfig's defaults;
    # CPU on purpose, since this measures the machine the project is developed and tested on
    return TrainConfig(run_name="bench", dataset=data.dataset, data_root=data.root, image_size=image_size,
                       batch_size=batch_size, device="cpu")


@dataclass(frozen=True)
class Plan:
    warmup: int  # untimed steps first
    steps: int  # timed steps: the window
    save_every: int  # one fixed-z grid save falls inside every window

    def describe(self) -> str:
        return f"{self.steps} timed steps after {self.warmup} warm-up, grid saved every {self.save_every}"


def plan(seconds_per_step: float, window_s: float, warmup_s: float, min_steps: int) -> Plan:
    """Windows of about window_s. The grid is saved every `steps` steps in ours and the reference
    alike (defaults: 200 for ours, 100 in pytorch/examples), so exactly one save lands in each
    window; a short window charges that save to fewer steps than real training would."""
    steps = min(MAX_WINDOW_STEPS, max(min_steps, math.ceil(window_s / seconds_per_step)))
    warmup = min(steps, max(1, math.ceil(warmup_s / seconds_per_step)))
    return Plan(warmup, steps, steps)


# --- reference: the pytorch/examples loop ------------------------------------------------------

class PILImages(torch.utils.data.Dataset):
    """uint8 images served one PIL image at a time, as torchvision's MNIST serves them."""

    def __init__(self, images: torch.Tensor, transform):
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int):
        from PIL import Image
        return self.transform(Image.fromarray(self.images[index, 0].numpy(), mode="L")), 0


def reference_dataset(cfg: TrainConfig):
    import torchvision.transforms as T
    from torchvision import datasets
    resize = [T.Resize(cfg.image_size)] if cfg.image_size != 28 else []
    transform = T.Compose(resize + [T.ToTensor(), T.Normalize((0.5,), (0.5,))])
    if cfg.dataset == "mnist":
        return datasets.MNIST(cfg.data_root, train=True, download=False, transform=transform)
    return PILImages(load_dataset("synthetic", 28, 1).images, transform)


def reference_images_per_s(cfg: TrainConfig, p: Plan, out_dir: Path, sink) -> float:
    """pytorch/examples dcgan/main.py's training loop, line for line where it matters for speed."""
    import torchvision.utils as vutils
    loader = torch.utils.data.DataLoader(reference_dataset(cfg), batch_size=cfg.batch_size, shuffle=True,
                                         num_workers=REFERENCE_WORKERS)
    torch.manual_seed(cfg.seed)
    netG, netD = Generator.from_config(cfg), Discriminator.from_config(cfg)
    criterion = nn.BCEWithLogitsLoss()  # our D returns logits; the example's ends in a sigmoid + BCELoss
    fixed_noise = torch.randn(cfg.batch_size, cfg.z_dim, 1, 1)
    real_label, fake_label = 1.0, 0.0
    optimizerD = torch.optim.Adam(netD.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    total = p.warmup + p.steps
    i, images, start = 0, 0, None
    epoch = 0
    while i < total:
        for data in loader:
            netD.zero_grad()
            real_cpu = data[0]
            batch_size = real_cpu.size(0)
            label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype)
            output = netD(real_cpu)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = torch.sigmoid(output).mean().item()
            noise = torch.randn(batch_size, cfg.z_dim, 1, 1)
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach())
            errD_fake = criterion(output, label)
            errD_fake.backward()
            D_G_z1 = torch.sigmoid(output).mean().item()
            errD = errD_real + errD_fake
            optimizerD.step()
            netG.zero_grad()
            label.fill_(real_label)
            output = netD(fake)
            errG = criterion(output, label)
            errG.backward()
            D_G_z2 = torch.sigmoid(output).mean().item()
            optimizerG.step()
            print('[%d][%d/%d] Loss_D: %.4f Loss_G: %.4f D(x): %.4f D(G(z)): %.4f / %.4f'
                  % (epoch, i, len(loader), errD.item(), errG.item(), D_x, D_G_z1, D_G_z2), file=sink)
            if i % p.save_every == 0:
                vutils.save_image(real_cpu, out_dir / "real_samples.png", normalize=True)
                fake = netG(fixed_noise)
                vutils.save_image(fake.detach(), out_dir / f"fake_samples_epoch_{epoch:03d}.png", normalize=True)
            if start is not None:
                images += batch_size
            i += 1
            if i == p.warmup:
                start = time.perf_counter()
            if i == total:
                end = time.perf_counter()  # before the loop ends: shutting the workers down is not training
                break
        epoch += 1
    return images / (end - start)


# --- ours: the project's trainer ---------------------------------------------------------------

def ours_images_per_s(cfg: TrainConfig, p: Plan, checkpoints: Path, run_name: str, sink) -> tuple[float, float]:
    """img/s from metrics.jsonl's wall-clock "time" over the window (its per-step images_per_s
    leaves out snapshots and status writes); also the seconds the run's end took (final snapshot
    and checkpoint), which the window leaves out."""
    run_cfg = replace(cfg, run_name=run_name, steps=p.warmup + p.steps, snapshot_every=p.save_every)
    train(run_cfg, checkpoints, progress=False, log=lambda line: print(line, file=sink))
    ended = time.time()
    run = RunDir.of(checkpoints, run_name)
    window = [r for r in read_jsonl(run.metrics_path) if p.warmup <= r["step"] <= p.warmup + p.steps]
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

def measure(data: DataChoice, sizes: list[int], batch_sizes: list[int], rounds: int, window_s: float,
            warmup_s: float, min_steps: int) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp, open(os.devnull, "w") as sink:
        scratch = Path(tmp)
        for size in sizes:
            batch = normalised_batch(bench_config(data, size, max(batch_sizes)))
            for batch_size in batch_sizes:
                cfg = bench_config(data, size, batch_size)
                label = f"{size} px, batch {batch_size}"
                p = plan(bare_seconds_per_step(cfg, batch, 1, 2, scratch), window_s, warmup_s, min_steps)
                progress(f"throughput {label}: {p.describe()}, {rounds} round(s)")
                found = {"reference": [], "ours": [], "bare": []}
                run_end_s = []
                for r in range(rounds):  # interleaved, so drift in the machine's load hits all three alike
                    found["reference"].append(reference_images_per_s(cfg, p, scratch, sink))
                    ours, end_s = ours_images_per_s(cfg, p, scratch / "checkpoints", f"ours-{size}-{batch_size}-{r}",
                                                    sink)
                    found["ours"].append(ours)
                    run_end_s.append(end_s)
                    found["bare"].append(cfg.batch_size / bare_seconds_per_step(cfg, batch, p.warmup, p.steps, scratch))
                    progress(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in found.items())
                             + " img/s")
                rows += section_rows(label, data, p, found, run_end_s)
    return rows


def section_rows(label: str, data: DataChoice, p: Plan, found: dict[str, list[float]],
                 run_end_s: list[float]) -> list[Row]:
    # the best round: the one least disturbed by anything else on the machine
    best = {k: max(v) for k, v in found.items()}
    rounds = {k: f"{data.dataset}; best of {len(v)} round(s) " + "/".join(f"{x:,.0f}" for x in v)
              for k, v in found.items()}
    part = f"throughput {label}"
    return [
        Row(part, "reference loop (pytorch/examples)", best["reference"], "img/s",
            detail=f"{rounds['reference']}; DataLoader {REFERENCE_WORKERS} workers, PIL transforms, NCHW",
            extra={"rounds": found["reference"], "plan": vars(p)}),
        Row(part, "bare train_step", best["bare"], "img/s",
            detail=f"{rounds['bare']}; one in-memory channels_last batch",
            extra={"rounds": found["bare"], "plan": vars(p)}),
        Row(part, "ours (dcgan.training.loop.train) vs bare", best["ours"], "img/s", best["bare"], "bare",
            OURS_VS_BARE, f"{rounds['ours']}; {p.describe()}; checkpoint every 1000 (outside the window; the "
                          f"run's final snapshot + checkpoint took {max(run_end_s):.2f} s)",
            extra={"rounds": found["ours"], "plan": vars(p), "run_end_s": run_end_s}),
        Row(part, "ours vs reference", best["ours"], "img/s", best["reference"], "reference", OURS_VS_REFERENCE,
            f"best rounds of the two rows above ({data.dataset})"),
    ]
