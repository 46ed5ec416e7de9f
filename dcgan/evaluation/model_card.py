"""A short model card for a run, written from its own files: config, metrics, status and eval.json.

Every figure on the card is read from the run directory, so the card cannot drift from the model.
"""
from __future__ import annotations

import statistics
from pathlib import Path

from .report import load_report
from ..runs.files import atomic_write_bytes
from ..runs.progress import paused_spans
from ..runs.rundir import RunDir, state_label

DATA_NOTES = {
    "mnist": "MNIST training split (60,000 digits, 28x28 grey; LeCun, Cortes, Burges; CC BY-SA 3.0).",
    "fashion-mnist": "Fashion-MNIST training split (60,000 garments, 28x28 grey; Zalando Research; MIT).",
    "stacked-mnist": "Stacked MNIST: three MNIST training digits as the R, G and B channels (1000 modes).",
    "synthetic": "The project's synthetic shapes (drawn on the fly).",
}

def training_figures(metrics: list[dict]) -> dict:
    """Steps, epochs, training wall time (pauses left out, as the progress line finds them) and images/s
    from metrics.jsonl."""
    rows = [m for m in metrics if "step" in m and "time" in m]
    if not rows:
        return {}
    pauses = set(paused_spans(rows))
    gaps = [b["time"] - a["time"] for a, b in zip(rows, rows[1:]) if (a["step"], b["step"]) not in pauses]
    speeds = [m["images_per_s"] for m in rows if m.get("images_per_s")]
    return {"steps": rows[-1]["step"], "epochs": rows[-1].get("epoch"),
            "wall_s": sum(g for g in gaps if g >= 0),
            "median_images_per_s": statistics.median(speeds) if speeds else None}


def _fmt(x, digits: int = 3) -> str:
    return "–" if x is None else (f"{x:.{digits}g}" if isinstance(x, float) else str(x))


def stabilisers(cfg: dict) -> str:
    """', R1 gamma 1 every 8, EMA of G 0.999, ...': the stabilisers a config turns on."""
    on = []
    if cfg.get("r1_gamma"):
        on.append(f"R1 γ {cfg['r1_gamma']:g} every {cfg.get('r1_every', 1)}")
    if cfg.get("d_spectral_norm"):
        on.append("spectral norm in D")
    if cfg.get("d_mbstd"):
        on.append("minibatch std-dev in D")
    if cfg.get("diffaugment"):
        on.append(f"DiffAugment {cfg['diffaugment']}")
    if cfg.get("g_topk", 1.0) < 1:
        on.append(f"G learns from the top {cfg['g_topk']:.0%} of its fakes")
    if cfg.get("ema_decay"):
        on.append(f"EMA of G {cfg['ema_decay']:g} (what is sampled)")
    return "".join(", " + s for s in on)


def decay_note(cfg: dict) -> str:
    """', decaying linearly to 0 from 50% of the steps' when the learning rates decay, else ''."""
    share = cfg.get("lr_decay_from", 1.0)
    return f", decaying linearly to 0 from {share:.0%} of the steps" if share < 1 else ""


def model_card(run_path: str | Path, data_note: str = "", notes: str = "") -> str:
    """The card as Markdown."""
    run = RunDir.at(run_path)
    cfg = run.config_values()  # every default filled in, from the schema
    status = run.status()
    fig = training_figures(run.metrics())
    report = load_report(run.path) or {}  # None for a damaged eval.json too: the card leaves it out
    dataset = cfg.get("dataset", "?")
    data = data_note or DATA_NOTES.get(dataset, f"images from `{cfg.get('image_folder', '?')}`")
    lines = [f"# Model card: `{run.name}`", "",
             f"- **Data:** {data}",
             f"- **Model:** DCGAN, {cfg.get('image_size')} px, {cfg.get('channels')} channel(s), z_dim "
             f"{cfg.get('z_dim')}, G width {cfg.get('g_width')}, D width {cfg.get('d_width')}, kernel "
             f"{cfg.get('kernel_size')}, depth {cfg.get('depth', 0)}, BatchNorm in D "
             f"{'on' if cfg.get('d_batchnorm') else 'off'}, D dropout {cfg.get('d_dropout')}"
             + (f" (preset `{cfg['preset']}`)" if cfg.get("preset") else ""),
             f"- **Training:** this project's trainer, {cfg.get('gan_loss', 'bce')} loss{stabilisers(cfg)}, batch "
             f"{cfg.get('batch_size')}, Adam lr D {cfg.get('lr_d')} / G {cfg.get('lr_g')} β ({cfg.get('beta1')}, "
             f"{cfg.get('beta2')}){decay_note(cfg)}, g_steps {cfg.get('g_steps')}, adaptive lr "
             f"{'on' if cfg.get('adaptive_lr') else 'off'}, seed {cfg.get('seed')}; full settings in `config.json`"]
    if fig:
        # generator.json says what "auto" became; runs from before it was recorded have only config.json's
        precision = run.generator_info().get("precision") or (
            cfg.get("precision") if cfg.get("precision") != "auto" else None)
        lines.append(f"- **Run:** {fig['steps']:,} steps ({_fmt(fig['epochs'])} epochs), state "
                     f"`{state_label(status)}`, {fig['wall_s'] / 60:.0f} min of training wall time, median "
                     f"{fig['median_images_per_s']:.0f} images/s" + (f", in {precision}" if precision else ""))
    if report:
        gen, real = report.get("generated", {}), report.get("real", {})
        lines += ["", f"## Evaluator ({report.get('samples')} samples at step {report.get('step')}; "
                      "real training images beside them; memorisation: unseen test images)", "",
                  "| figure | generated | real |", "|---|---|---|"]
        for key, label in (("fid", "FID (domain classifier)"), ("precision", "precision"), ("recall", "recall"),
                           ("classes_covered", "classes covered"), ("class_kl", "class KL"),
                           ("confident_fraction", "classified with ≥ 0.9 confidence")):
            if key in gen or key in real:
                lines.append(f"| {label} | {_fmt(gen.get(key))} | {_fmt(real.get(key))} |")
        for space, m in (report.get("memorisation") or {}).items():
            if isinstance(m, dict) and "median_ratio" in m:
                lines.append(f"| memorisation ({space}): median nearest-train distance, generated / held-out | "
                             f"{_fmt(m.get('median_ratio'))} | {_fmt(m.get('floor_median_ratio'))} |")
                lines.append(f"| near copies ({space}) | {_fmt(m.get('near_copy_share'))} | "
                             f"{_fmt(m.get('floor_near_copy_share'))} |")
    if notes:
        lines += ["", notes.strip()]
    return "\n".join(lines) + "\n"


def write_model_card(run_path: str | Path, data_note: str = "", notes: str = "") -> Path:
    out = RunDir.at(run_path).model_card_path
    atomic_write_bytes(out, model_card(run_path, data_note, notes).encode())
    return out
