"""Data-parallel training: torchrun with 2 CPU processes on gloo, as a user would launch it."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dcgan.runs.checkpoint import checkpoint_step, resolve_generator
from dcgan.training.batches import BatchSource
from dcgan.training.distributed import World, check_in_step

pytestmark = pytest.mark.slow  # torchrun process groups


ROOT = Path(__file__).resolve().parents[2]

# Installed into every trainer process through PYTHONPATH: records, per rank, each file the process
# opens for writing, renames or deletes under the checkpoints folder (Python's audit events see
# every open(), os.open(), os.replace() and os.remove(), including torch.save's).
AUDIT_HOOK = '''
import os, sys
_root = os.environ["AUDIT_ROOT"]
_log = os.path.join(os.environ["AUDIT_LOG"], "rank%s.txt" % os.environ.get("RANK", "none"))

def _hook(event, args):
    if event == "open":
        path, mode, flags = args
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \\
                 (isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        paths = [path] if writes else []
    elif event in ("os.rename", "os.replace", "os.remove", "os.mkdir", "os.truncate"):
        paths = [args[0]] + ([args[1]] if event in ("os.rename", "os.replace") else [])
    else:
        return
    for p in paths:
        if isinstance(p, (str, bytes, os.PathLike)) and os.fsdecode(p).startswith(_root):
            with open(_log, "a") as f:  # outside _root, so not recorded itself
                f.write(event + " " + os.fsdecode(p) + "\\n")

sys.addaudithook(_hook)
'''


def torchrun(tmp_path: Path, args: list[str], nproc: int = 2) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc_per_node=N -m dcgan ARGS`, with the write audit installed."""
    hook_dir, audit = tmp_path / "hook", tmp_path / "audit"
    hook_dir.mkdir(exist_ok=True)
    audit.mkdir(exist_ok=True)
    (hook_dir / "sitecustomize.py").write_text(AUDIT_HOOK)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hook_dir), str(ROOT)]),
               AUDIT_ROOT=str(tmp_path / "runs"), AUDIT_LOG=str(audit), OMP_NUM_THREADS="1")
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    cmd = (launcher if nproc > 1 else [sys.executable]) + ["-m", "dcgan"] + args
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def written_by(tmp_path: Path, rank: int) -> list[str]:
    log = tmp_path / "audit" / f"rank{rank}.txt"
    return log.read_text().splitlines() if log.exists() else []


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


TRAIN = ["train", "--run-name", "ddp", "--dataset", "synthetic", "--image-size", "28", "--batch-size", "32",
         "--snapshot-every", "4", "--checkpoint-every", "6", "--log-every", "2", "--quiet"]


def test_two_processes_on_gloo_train_a_complete_run_written_by_rank_0_alone(tmp_path):
    runs = tmp_path / "runs"
    done = torchrun(tmp_path, TRAIN + ["--checkpoints", str(runs), "--steps", "12"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "data-parallel on 2 processes (gloo): 16 of each batch of 32 per process" in done.stdout
    assert done.stdout.count("run ddp: finished") == 1  # the other process says nothing

    run = runs / "ddp"
    records = metrics(run)
    assert [r["step"] for r in records] == list(range(1, 13))  # each step once: one writer
    assert all(math.isfinite(r[k]) for r in records for k in ("loss_d", "loss_g"))
    assert json.loads((run / "status.json").read_text())["state"] == "finished"
    assert json.loads((run / "config.json").read_text())["steps"] == 12
    assert (run / "fixed_z.npy").is_file()
    assert sorted(p.name for p in (run / "snapshots").glob("grid_*.png")) == \
        [f"grid_{s:06d}.png" for s in (0, 4, 8, 12)]
    assert checkpoint_step(run / "checkpoint.pt") == 12
    G = resolve_generator(run)
    assert torch.isfinite(G(torch.randn(2, 100))).all()

    # the audit saw rank 0 write the whole run directory, and rank 1 write nothing at all
    rank0 = written_by(tmp_path, 0)
    assert any(p.endswith("metrics.jsonl") for p in rank0) and any("checkpoint.pt" in p for p in rank0)
    assert written_by(tmp_path, 1) == []


def test_a_run_resumes_across_a_change_of_world_size(tmp_path):
    runs = str(tmp_path / "runs")
    first = torchrun(tmp_path, TRAIN + ["--checkpoints", runs, "--steps", "6"])
    assert first.returncode == 0, first.stderr[-3000:]
    # 2 processes -> 1 -> 2: each resume continues from the last checkpoint, whatever the world size
    one = torchrun(tmp_path, ["resume", "ddp", "--checkpoints", runs, "--more", "6", "--quiet"], nproc=1)
    assert one.returncode == 0, one.stderr[-3000:]
    two = torchrun(tmp_path, ["resume", "ddp", "--checkpoints", runs, "--more", "6", "--quiet"])
    assert two.returncode == 0, two.stderr[-3000:]
    assert "data-parallel on 2 processes" in two.stdout
    run = tmp_path / "runs" / "ddp"
    assert [r["step"] for r in metrics(run)] == list(range(1, 19))
    assert checkpoint_step(run / "checkpoint.pt") == 18
    assert json.loads((run / "status.json").read_text())["state"] == "finished"
    assert written_by(tmp_path, 1) == []


def test_sync_batchnorm_on_cpu_and_an_uneven_batch_are_refused_with_a_reason(tmp_path):
    runs = str(tmp_path / "runs")
    sync = torchrun(tmp_path, TRAIN + ["--checkpoints", runs, "--steps", "2", "--sync-batchnorm"])
    assert sync.returncode != 0
    assert "sync_batchnorm needs CUDA GPUs" in sync.stderr
    uneven = torchrun(tmp_path, TRAIN[:-3] + ["--checkpoints", runs, "--steps", "2", "--batch-size", "33"])
    assert uneven.returncode != 0
    assert "batch_size=33 does not split evenly over 2 processes" in uneven.stderr
    assert not (tmp_path / "runs" / "ddp" / "config.json").exists()


def test_the_shards_of_every_process_make_up_the_single_process_batch():
    images = torch.arange(40 * 4, dtype=torch.uint8).view(40, 1, 2, 2)
    single = BatchSource(images, 8, seed=3, device=torch.device("cpu"))
    shards = [BatchSource(images, 8, seed=3, device=torch.device("cpu"), world=World(r, 4, r)) for r in range(4)]
    for step in (0, 4, 5, 11):  # across epochs too (5 batches per epoch)
        assert torch.equal(torch.cat([s.batch(step) for s in shards]), single.batch(step))


def _check_worker(rank: int, init_file: str, result_file: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        layer = torch.nn.Linear(3, 3)
        torch.nn.init.constant_(layer.weight, 1.0 + rank)  # the two processes disagree
        check_in_step(World(rank, 2, rank), layer, device=torch.device("cpu"))
        outcome = "agreed"
    except RuntimeError as e:
        outcome = str(e)
    finally:
        torch.distributed.destroy_process_group()
    Path(f"{result_file}.{rank}").write_text(outcome)


def test_the_weights_check_catches_processes_that_drifted_apart(tmp_path):
    torch.multiprocessing.spawn(_check_worker, args=(str(tmp_path / "init"), str(tmp_path / "out")), nprocs=2)
    for rank in (0, 1):
        assert "weights differ" in (tmp_path / f"out.{rank}").read_text()
