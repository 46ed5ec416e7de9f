"""Quality per minute: each training recipe for the same wall-clock budget, scored by the project's evaluator.

    python bench/ablation.py --dataset mnist --minutes 10                  # every variant, one at a time
    python bench/ablation.py --dataset stacked-mnist --minutes 60
    python bench/ablation.py --dataset mnist --minutes 10 --parallel 2     # two at a time, one core each
    python bench/ablation.py --dataset mnist --only plain,recipe --table docs/ablation-mnist.md
    python bench/ablation.py --dataset mnist --only recipe,recipe-mbstd     # a follow-up beside the recipe

Each variant is a real `python -m dcgan train` process (with --eval-every, so its FID over wall time
is in its eval.jsonl), stopped by SIGTERM when its budget since launch is spent (the trainer then
saves a checkpoint and exports its generator, EMA's when on), then scored by
`python -m dcgan evaluate --json` (FID with its real-data floor, precision / recall, class coverage,
confidently classified share; modes and KL over 26,000 samples for Stacked MNIST).

Results go to --results (one JSON object per variant, written after each one): a run interrupted part
way picks up at the first variant without a result. --table writes the markdown table and --plot
the FID-over-wall-time curves from those results.

The budget is wall time, so the machine must be otherwise quiet. --parallel 2 runs two variants at
once with one torch thread each: every variant still gets the same share of the machine, but that is
one core each, not two (the table says which).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.report import cpu_model, machine, machine_text, progress
from bench.throughput import bare_seconds_per_step, normalised_batch, plan
from dcgan.config import TrainConfig, dataset_spec
from dcgan.evaluation.evaluate import default_samples
from dcgan.presets import RECIPES, preset_values
from dcgan.runs.rundir import RunDir

ROOT = Path(__file__).resolve().parent.parent

# Each variant: what it adds, and the config fields it sets over the plain DCGAN (TrainConfig's
# defaults, which are pytorch/examples' settings). Cumulative down to "depth1"; R1, minibatch std-dev
# and DiffAugment are then each tried alone on top of that; "recipe" is the preset a new run starts
# from (dcgan/presets.py RECIPES: depth1 with the relativistic loss and R1 in place of hinge + SN + TTUR;
# since the follow-ups of 2026-12-03, with depth 2 on MNIST and Fashion-MNIST and minibatch std-dev on
# Stacked MNIST). The follow-ups change that preset, so on MNIST "recipe-depth2", and on Stacked MNIST
# "recipe-mbstd", is now "recipe" itself.
EMA = dict(ema_decay=0.999)
SN_HINGE = dict(gan_loss="hinge", d_spectral_norm=True, d_batchnorm=False)
TTUR = dict(lr_g=1e-4, lr_d=4e-4, beta1=0.0, beta2=0.9)
SMALL = dict(batch_size=32, g_width=32, d_width=32)
DEEP = dict(EMA, **SN_HINGE, **TTUR, **SMALL, depth=1)
VARIANTS: dict[str, tuple[str, dict]] = {
    "plain": ("plain DCGAN: BCE, BatchNorm in D, Adam 2e-4 β (0.5, 0.999), batch 128, widths 64", {}),
    "ema": ("+ EMA of G, decay 0.999", dict(EMA)),
    "hinge-sn": ("+ hinge loss, spectral norm in D (no BatchNorm)", dict(EMA, **SN_HINGE)),
    "ttur": ("+ TTUR: lr G 1e-4, D 4e-4, β (0, 0.9)", dict(EMA, **SN_HINGE, **TTUR)),
    "batch32": ("+ batch 32", dict(EMA, **SN_HINGE, **TTUR, batch_size=32)),
    "width32": ("+ widths 32", dict(EMA, **SN_HINGE, **TTUR, **SMALL)),
    "depth1": ("+ one 3x3 block per inner resolution (depth 1)", DEEP),
    "r1": ("depth1 + R1, γ 1 every 8 steps", dict(DEEP, r1_gamma=1.0, r1_every=8)),
    "mbstd": ("depth1 + minibatch std-dev in D", dict(DEEP, d_mbstd=True)),
    "diffaugment": ("depth1 + DiffAugment translation, cutout", dict(DEEP, diffaugment="translation,cutout")),
    "recipe": ("the recipe preset: depth1 with the relativistic loss + R1 (γ 1 every 8) in place of hinge + SN + "
               "TTUR (no SN, lr 2e-4, β (0, 0.99)); depth 2 on (Fashion-)MNIST, + mbstd on Stacked",
               {}),  # its fields: dcgan.presets per dataset
}
# Follow-ups, run by name with --only (not in the default list): the recipe with one change each, to
# find what closes its remaining gaps on MNIST (precision and the confidently classified share).
FOLLOW_UPS: dict[str, tuple[str, dict]] = {
    "recipe-depth2": ("the recipe with two 3x3 blocks per inner resolution (depth 2)", dict(depth=2)),
    "recipe-width48": ("the recipe with widths 48 in G and D", dict(g_width=48, d_width=48)),
    "recipe-g48": ("the recipe with G's width 48 (D's stays 32)", dict(g_width=48)),
    "recipe-mbstd": ("the recipe with minibatch std-dev in D", dict(d_mbstd=True)),
    "recipe-topk": ("the recipe with G learning from the half of its fakes D rates most real (top-k)",
                    dict(g_topk=0.5)),
    "recipe-depth2-mbstd": ("the recipe with depth 2 and minibatch std-dev in D", dict(depth=2, d_mbstd=True)),
    "recipe-depth3": ("the recipe with three 3x3 blocks per inner resolution (depth 3)", dict(depth=3)),
    # the recipe's precision is "auto" (bf16 on CPUs with AMX): this row is the recipe in fp32 everywhere
    "recipe-fp32": ("the recipe in fp32 (its precision \"auto\" is bf16 where the CPU has AMX)",
                    dict(precision="fp32")),
}
EVERY_VARIANT = {**VARIANTS, **FOLLOW_UPS}
# images between live evaluations: the same share of the budget for every batch size
EVAL_EVERY_IMAGES = 32_000
FIGURES = ("fid", "precision", "recall", "coverage", "confident_fraction", "classes_covered", "modes_covered",
           "modes_kl", "class_kl")


def speed_probe(threads: int, seconds: float = 10.0) -> float:
    """Steps/s of the plain DCGAN's bare training step (28 px, batch 128, one synthetic batch) on
    `threads` torch threads, alone: this machine's speed at this hour. Sessions have run about 3x
    slower in one hour than in another, and on different CPUs from one day to the next
    (docs/quality.md), so rows trained apart are compared by this figure and their steps, not by
    their wall time alone."""
    import tempfile

    import torch
    cfg = TrainConfig(run_name="probe", dataset="synthetic", image_size=28, device="cpu")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory(prefix="ablation-probe-") as tmp:
            batch = normalised_batch(cfg)
            window = plan(bare_seconds_per_step(cfg, batch, 2, 3, Path(tmp)), seconds, 0.5, 3)
            return 1.0 / bare_seconds_per_step(cfg, batch, window.warmup, window.steps, Path(tmp))
    finally:
        torch.set_num_threads(before)


def variant_config(name: str, dataset: str, data_root: str, run_name: str, eval_samples: int,
                   seed: int | None = None) -> dict:
    description, fields = EVERY_VARIANT[name]
    if name == "recipe" or name in FOLLOW_UPS:
        fields = {**{k: v for k, v in preset_values(RECIPES[dataset]).items()
                     if k not in ("steps", "dataset", "run_name", "data_root")}, **fields}
    channels = dataset_spec(dataset).channels
    cfg = dict(fields, dataset=dataset, data_root=data_root, run_name=run_name, channels=channels,
               image_size=28, steps=10_000_000, eval_samples=eval_samples)
    if seed is not None:  # another draw of the same variant: weights, noise and data order
        cfg["seed"] = seed
    cfg["eval_every"] = max(1, EVAL_EVERY_IMAGES // cfg.get("batch_size", 128))
    # snapshots and checkpoints as a user's run has them, so the budget pays for what a run writes
    cfg.setdefault("snapshot_every", 250)
    cfg.setdefault("checkpoint_every", 1000)
    cfg["snapshot_weights_every"] = 0  # nobody explores these runs: keep the disk light
    return cfg


def train_for(cfg: dict, work: Path, seconds: float, threads: int) -> subprocess.Popen:
    """Start `python -m dcgan train` on cfg; the caller stops it when its budget is spent."""
    config_file = work / f"{cfg['run_name']}.config.json"
    config_file.write_text(json.dumps(cfg))
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    log = open(work / f"{cfg['run_name']}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "dcgan", "train", "--config", str(config_file),
                             "--checkpoints", str(work), "--quiet"], stdout=log, stderr=subprocess.STDOUT,
                            env=env, cwd=ROOT)


def evaluate(run: Path, threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-m", "dcgan", "evaluate", str(run), "--json", "--no-save",
                          "--no-memorisation"], capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode:
        raise RuntimeError(f"evaluate {run} failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout)


def curve(run: RunDir, started: float) -> list[dict]:
    """The live evaluations (500 samples each) against minutes since the trainer was launched."""
    times = {r["step"]: r["time"] for r in run.metrics()}
    points = []
    for r in run.evaluations():
        t = times.get(r["step"], started)  # step 0 is evaluated before the first step's record
        points.append({"minutes": round((t - started) / 60, 3), "step": r["step"], "fid": r["fid"],
                       "floor_fid": r["floor"]["fid"]})
    return points


def summary(report: dict) -> dict:
    gen, real = report.get("generated", {}), report.get("real", {})
    return {"generated": {k: gen[k] for k in FIGURES if k in gen}, "floor": {k: real[k] for k in FIGURES if k in real}}


def run_batch(names: list[str], args, work: Path, threads: int) -> list[dict]:
    """Train these variants side by side for the budget, stop them, then evaluate each."""
    probe_before = round(speed_probe(threads), 2)
    started_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    progress(f"speed probe: the plain DCGAN step at {probe_before} steps/s on {threads} thread(s)")
    procs = {}
    for name in names:
        cfg = variant_config(name, args.dataset, args.data_root, f"ablation-{args.dataset}-{name}", args.eval_samples,
                             args.seed)
        run = RunDir(work / cfg["run_name"])
        if run.path.exists():  # a previous, interrupted attempt: start that variant over
            subprocess.run(["rm", "-rf", str(run.path)], check=True)
        procs[name] = (cfg, train_for(cfg, work, args.minutes * 60, threads), time.time())
        progress(f"{name}: training for {args.minutes:g} min ({EVERY_VARIANT[name][0]})")
    for name, (cfg, proc, started) in procs.items():
        try:
            proc.wait(timeout=max(0.0, started + args.minutes * 60 - time.time()))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)  # the trainer stops after its step, with a checkpoint
        if proc.wait() != 0:
            raise RuntimeError(f"{name}: the trainer exited with {proc.returncode}; see {work}/{cfg['run_name']}.log")
    probe = {"before": probe_before, "after": round(speed_probe(threads), 2)}
    progress(f"speed probe after the batch: {probe['after']} steps/s")
    results = []
    for name, (cfg, proc, started) in procs.items():
        run = RunDir(work / cfg["run_name"])
        status = run.status()
        report = evaluate(run.path, os.cpu_count() or 1)
        result = {"variant": name, "description": EVERY_VARIANT[name][0], "config": {k: v for k, v in cfg.items()
                  if k not in ("data_root", "run_name", "steps")}, "minutes": args.minutes, "threads": threads,
                  "parallel": len(names), "started": started_at, "cpu": cpu_model(), "probe": probe,
                  "steps": status.get("step"),
                  "images": status.get("step", 0) * cfg.get("batch_size", 128), **summary(report),
                  "curve": curve(run, started)}
        progress(f"{name}: {result['steps']} steps, FID {result['generated'].get('fid')} "
                 f"(floor {result['floor'].get('fid')})")
        results.append(result)
    return results


def plot_title(results: list[dict], dataset: str) -> str:
    """The plot's title, with the budgets the rows ran with (not --minutes: --report-only need not repeat it)."""
    budgets = " / ".join(f"{m:g}" for m in sorted({r["minutes"] for r in results}))
    return f"{dataset}: FID over wall time, {budgets} min per variant"


def load_results(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    return {r["variant"]: r for r in json.loads(path.read_text())["results"]}


def save_results(path: Path, results: dict[str, dict], info: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"machine": info, "results": list(results.values())}, indent=1))
    os.replace(tmp, path)


def cell(value, digits: int = 2) -> str:
    return "" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def how_run(r: dict) -> str:
    threads = f"{r['threads']} thread{'s' if r['threads'] > 1 else ''}"
    return f"{threads}, alone" if r["parallel"] == 1 else f"{threads}, {r['parallel']} at once"


def probe_text(r: dict) -> str:
    """The day a row was trained, on which CPU, and the machine's speed then (mean of its probes)."""
    probe = r.get("probe") or {}
    cpu = " ".join(w for w in r.get("cpu", "").replace("(R)", "").split() if w != "Processor")
    speed = f": {sum(probe.values()) / len(probe):.1f}" if probe else ""
    return ", ".join(x for x in (r.get("started", "")[:10], cpu) if x) + speed


def markdown_table(results: list[dict], dataset: str) -> str:
    stacked = bool(dataset_spec(dataset).modes)
    # rows run on different shares of the machine, or on days of different speed, are not comparable
    # by wall time alone: say so in the row
    optional = [("ran", how_run)] if len({how_run(r) for r in results}) > 1 else []
    if any(r.get("probe") or r.get("started") for r in results):
        optional.append(("day, CPU: speed probe (plain steps/s)", probe_text))
    cols = ["variant", "what it adds", *(name for name, _ in optional), "steps", "FID", "precision", "recall",
            *(["modes", "KL", "all three confident"] if stacked else ["classes", "confident"])]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]

    def figures(g: dict) -> list[str]:
        cells = [cell(g.get("fid")), cell(g.get("precision")), cell(g.get("recall"))]
        cells += [cell(g.get("modes_covered")), cell(g.get("modes_kl"), 3)] if stacked else [
            cell(g.get("classes_covered"))]
        share = g.get("confident_fraction")
        return cells + ["" if share is None else f"{100 * share:.1f} %"]

    for r in results:
        lines.append("| " + " | ".join([r["variant"], r["description"], *(text(r) for _, text in optional),
                                        f"{r['steps']:,}", *figures(r["generated"])]) + " |")
    floor = results[0]["floor"] if results else {}
    lines.append("| " + " | ".join(["real data (floor)", "as many real training images, scored the same way",
                                    *[""] * len(optional), "", *figures(floor)]) + " |")
    return "\n".join(lines)


def plot(results: list[dict], out: Path, title: str, final_samples: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for r in results:
        pts = [p for p in r["curve"] if p["step"] > 0]
        bold = r["variant"] == "recipe"
        # follow-ups dashed: past ten rows the colour cycle repeats, and they are the recipe's variations
        line, = ax.plot([p["minutes"] for p in pts], [p["fid"] for p in pts], marker="o" if bold else None,
                        markersize=3, linewidth=2.4 if bold else 1.2, label=r["variant"], zorder=3 if bold else 2,
                        color="black" if bold else None, linestyle="--" if r["variant"] in FOLLOW_UPS else "-")
        # the end of the budget, scored by `evaluate` (2,000 samples, 26,000 on Stacked MNIST: more samples
        # than the live check's 500, so a lower figure than the line's last point, on its own floor)
        ax.plot([r["minutes"]], [r["generated"]["fid"]], marker="*", markersize=9, color=line.get_color(),
                linestyle="none", zorder=4)
    floors = [p["floor_fid"] for r in results for p in r["curve"]]
    if floors:
        ax.axhline(floors[0], color="grey", linestyle="--", linewidth=1, label="real-data floor (live)")
    ax.set_yscale("log")
    ax.set_xlabel("wall-clock minutes since launch")
    ax.set_ylabel(f"FID (lines: 500 samples live; ★: evaluate, {final_samples:,})")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="mnist", choices=tuple(RECIPES))
    p.add_argument("--minutes", type=float, default=10.0, help="wall-clock budget of each variant")
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "datasets"))
    p.add_argument("--work", default=None, help="folder for the runs (default /tmp/dcgan-ablation-DATASET)")
    p.add_argument("--only", default=None, help="comma-separated variants (default: all but the follow-ups "
                   f"{', '.join(FOLLOW_UPS)})")
    p.add_argument("--seed", type=int, default=None,
                   help="train every variant from this seed (default: the preset's or TrainConfig's); "
                        "keep each seed's rows in their own --results file")
    p.add_argument("--parallel", type=int, default=1, choices=(1, 2), help="variants trained at once")
    p.add_argument("--eval-samples", type=int, default=500, help="images per live evaluation")
    p.add_argument("--results", default=None, help="JSON results (default: WORK/results.json)")
    p.add_argument("--table", default=None, help="write the markdown table here")
    p.add_argument("--plot", default=None, help="write the FID-over-time PNG here")
    p.add_argument("--report-only", action="store_true", help="only write --table/--plot from --results")
    args = p.parse_args(argv)
    names = args.only.split(",") if args.only else list(VARIANTS)
    unknown = [n for n in names if n not in EVERY_VARIANT]
    if unknown:
        p.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(EVERY_VARIANT)}")
    work = Path(args.work or f"/tmp/dcgan-ablation-{args.dataset}")
    work.mkdir(parents=True, exist_ok=True)
    results_path = Path(args.results) if args.results else work / "results.json"
    results = load_results(results_path)
    info = machine()
    if not args.report_only:
        progress(machine_text(info))
        todo = [n for n in names if n not in results]
        threads = max(1, (os.cpu_count() or 1) // args.parallel)
        for i in range(0, len(todo), args.parallel):
            for result in run_batch(todo[i:i + args.parallel], args, work, threads):
                results[result["variant"]] = result
                save_results(results_path, results, info)
    ordered = [results[n] for n in EVERY_VARIANT if n in results and n in names]
    text = markdown_table(ordered, args.dataset)
    print(text)
    if args.table:
        Path(args.table).write_text(text + "\n")
    if args.plot:
        plot(ordered, Path(args.plot), plot_title(ordered, args.dataset), default_samples(args.dataset))
    return 0


if __name__ == "__main__":
    sys.exit(main())
