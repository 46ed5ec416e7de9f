"""A run's training-stats figure as a PNG: losses, D's accuracies and both learning rates.

matplotlib (Agg) rather than the app's plotly: a static image needs no browser, so the CLI can
make it on a headless machine and the README can show it.
"""
from __future__ import annotations

import io
from pathlib import Path

from ..runs.rundir import RunDir


def running_mean(values: list[float], window: int) -> list[float]:
    """Trailing mean over up to `window` values (the first points average what exists so far):
    per-step GAN statistics are too noisy to read raw."""
    if window <= 1:
        return list(values)
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def stats_png(metrics: list[dict], title: str = "", smooth: int | None = None) -> bytes:
    """Three stacked panels against step; `smooth` = trailing-mean window (default ~1 % of the run)."""
    import matplotlib
    matplotlib.use("Agg")  # no display here, and no GUI backend wanted
    import matplotlib.pyplot as plt

    rows = [m for m in metrics if "step" in m]
    if not rows:
        raise ValueError("no training metrics to plot")
    window = smooth or max(1, len(rows) // 100)
    steps = [m["step"] for m in rows]

    def series(key: str) -> list[float]:
        return running_mean([float(m.get(key, float("nan"))) for m in rows], window)

    fig, axes = plt.subplots(3, 1, figsize=(8, 8), sharex=True, dpi=100)
    panels = [
        (axes[0], [("loss_d", "loss D"), ("loss_g", "loss G")], "loss", False),
        (axes[1], [("acc_real", "D accuracy on real"), ("acc_fake", "D accuracy on fake")], "accuracy", False),
        (axes[2], [("lr_d", "lr D"), ("lr_g", "lr G")], "learning rate", True),
    ]
    for ax, keys, label, log in panels:
        for key, name in keys:
            ax.plot(steps, series(key) if not log else [float(m.get(key, float("nan"))) for m in rows],
                    label=name, linewidth=1.2)
        ax.set_ylabel(label)
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    axes[1].set_ylim(-0.02, 1.02)
    axes[-1].set_xlabel("step")
    fig.suptitle(title + (f" (trailing mean over {window} steps)" if window > 1 else ""), fontsize=11)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def run_stats_png(run_path: str | Path, smooth: int | None = None) -> bytes:
    """The stats figure of a run directory."""
    run = RunDir.at(run_path)
    metrics = run.metrics()
    if not metrics:
        raise ValueError(f"{run_path} has no metrics.jsonl records to plot")
    return stats_png(metrics, title=f"{run.name}: losses, D accuracies, learning rates", smooth=smooth)
