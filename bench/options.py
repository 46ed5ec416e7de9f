"""The trainer's speed options on this machine: fp32 against bf16 autocast and torch.compile, and one
process against a 2-process torchrun (gloo) group, each the real trainer end to end.

    python bench/options.py --data-root ../shared/datasets --steps 120

Prints images/s per variant and the ratio to plain fp32 in one process, measured in the same run
(synthetic data when MNIST is absent). On a GPU box pass --device cuda.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.report import images_per_s
from dcgan.runs.rundir import RunDir

ROOT = Path(__file__).resolve().parent.parent


def train(args, name: str, extra: list[str], nproc: int, checkpoints: Path) -> float:
    dataset = ["--dataset", "mnist", "--data-root", args.data_root] if args.mnist else ["--dataset", "synthetic"]
    cmd = ["-m", "dcgan", "train", "--checkpoints", str(checkpoints), "--run-name", name, *dataset,
           "--image-size", str(args.image_size), "--batch-size", str(args.batch_size), "--steps", str(args.steps),
           "--device", args.device, "--quiet", "--preset", "", *extra]
    if nproc > 1:
        cmd = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *cmd]
    env = dict(os.environ)
    if nproc > 1:  # share the cores out, as torchrun itself would
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 2) // nproc))
    subprocess.run([sys.executable, *cmd], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    # global images/s (all processes), after the warm-up steps
    return images_per_s(RunDir(checkpoints / name).metrics()[args.warmup - 1:], args.batch_size)


VARIANTS = {  # name: (extra flags, processes)
    "fp32, 1 process": ([], 1),
    "bf16 autocast": (["--precision", "bf16"], 1),
    "torch.compile": (["--compile"], 1),
    "fp32, torchrun 2 processes": ([], 2),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default="../shared/datasets")
    ap.add_argument("--image-size", type=int, default=28)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--warmup", type=int, default=20, help="steps left out of the timing (compilation, caches)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = ap.parse_args()
    args.data_root = str(Path(args.data_root).resolve())
    args.mnist = (Path(args.data_root) / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    print(f"{args.image_size} px, batch {args.batch_size}, {args.steps} steps ({args.warmup} warm-up), "
          f"{'MNIST' if args.mnist else 'synthetic'}, device {args.device}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(args.variants):
            extra, nproc = VARIANTS[name]
            results[name] = train(args, f"v{i}", extra, nproc, Path(tmp))
            base = results.get("fp32, 1 process")
            ratio = f"{results[name] / base:5.2f}x" if base else ""
            print(f"{name:<28s} {results[name]:8.1f} img/s  {ratio}", flush=True)


if __name__ == "__main__":
    main()
