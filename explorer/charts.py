"""Pure figure builders and run summaries: metrics records in, plotly figures or plain dicts out.

Nothing here touches Streamlit, so every builder is tested directly (AppTest sees charts as opaque).
"""
from __future__ import annotations

import plotly.graph_objects as go

MAX_POINTS = 1500  # more points than pixels only slows the browser down

LOSS_KEYS = ("loss_d", "loss_g")
D_KEYS = ("acc_real", "acc_fake", "d_x", "d_g_z")
LR_KEYS = ("lr_d", "lr_g")
LABELS = {
    "loss_d": "loss D", "loss_g": "loss G", "acc_real": "D accuracy (real)", "acc_fake": "D accuracy (fake)",
    "d_x": "D(x)", "d_g_z": "D(G(z))", "lr_d": "lr D", "lr_g": "lr G",
}


def thin(metrics: list[dict], max_points: int = MAX_POINTS) -> list[dict]:
    """Every k-th record so at most about max_points remain; the last record is always kept."""
    if len(metrics) <= max_points:
        return metrics
    k = -(-len(metrics) // max_points)
    kept = metrics[::k]
    return kept if kept[-1] is metrics[-1] else kept + [metrics[-1]]


def running_mean(values: list[float], window: int) -> list[float]:
    """Trailing mean over up to `window` values; the first points average what exists so far."""
    if window <= 1:
        return list(values)
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def auto_window(n: int) -> int:
    """A smoothing window that turns per-step noise into a readable curve: about 1 % of the run."""
    return max(1, n // 100)


def line_figure(metrics: list[dict], keys: tuple[str, ...], title: str, y_title: str = "",
                marker_step: int | None = None, y_range: tuple[float, float] | None = None,
                log_y: bool = False, height: int = 300, smooth: int = 1) -> go.Figure:
    """One line per key against step, each a trailing mean over `smooth` steps (1 = raw);
    a dashed vertical line at marker_step when given."""
    rows = [m for m in metrics if "step" in m]
    fig = go.Figure()
    for key in keys:
        # smooth before thinning, so every step counts in the curve
        points = [(m["step"], m[key]) for m in rows if m.get(key) is not None]
        ys = running_mean([p[1] for p in points], smooth)
        kept = thin([{"step": p[0], "y": y} for p, y in zip(points, ys)])
        fig.add_trace(go.Scatter(x=[k["step"] for k in kept], y=[k["y"] for k in kept], mode="lines",
                                 name=LABELS.get(key, key)))
    if marker_step is not None:
        fig.add_vline(x=marker_step, line_dash="dash", line_color="red",
                      annotation_text=f"step {marker_step}", annotation_position="top left")
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"),
                      xaxis_title="step", yaxis_title=y_title)
    if y_range is not None:
        fig.update_yaxes(range=list(y_range))
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def loss_figure(metrics: list[dict], marker_step: int | None = None, smooth: int = 1) -> go.Figure:
    """loss_d and loss_g against step."""
    return line_figure(metrics, LOSS_KEYS, "Losses", "loss", marker_step, smooth=smooth)


def discriminator_figure(metrics: list[dict], marker_step: int | None = None, smooth: int = 1) -> go.Figure:
    """D's accuracy on real and fake images, and its mean outputs D(x) and D(G(z)), all in [0, 1]."""
    return line_figure(metrics, D_KEYS, "Discriminator", "", marker_step, y_range=(-0.02, 1.02), smooth=smooth)


def lr_figure(metrics: list[dict], marker_step: int | None = None) -> go.Figure:
    """The learning rates, which only move when adaptive_lr is on (never smoothed: they are exact)."""
    return line_figure(metrics, LR_KEYS, "Learning rates", "lr", marker_step, log_y=True)


def run_progress(metrics: list[dict], status: dict, batch_size: int | None = None, window: int = 50) -> dict:
    """Step, total, fraction done, steps/s, images/s and ETA (s) from the newest metrics and status.

    Speed comes from the wall-clock times of the last `window` records rather than the per-step
    images_per_s field, so snapshot and checkpoint pauses count towards the ETA.
    """
    step = int(status.get("step") or (metrics[-1]["step"] if metrics else 0))
    total = int(status.get("total_steps") or 0)
    out = {"step": step, "total": total, "fraction": min(1.0, step / total) if total else 0.0,
           "steps_per_s": None, "images_per_s": None, "eta_s": None}
    recent = [m for m in metrics[-window:] if "time" in m and "step" in m]
    # a stop/resume pause inside the window is not training time: count only what came after it
    gaps = [b["time"] - a["time"] for a, b in zip(recent, recent[1:])]
    if len(gaps) >= 3:
        typical = sorted(gaps)[len(gaps) // 2]
        breaks = [i + 1 for i, g in enumerate(gaps) if g > max(10 * typical, 5.0)]
        if breaks:
            recent = recent[breaks[-1]:]
    if len(recent) >= 2 and recent[-1]["time"] > recent[0]["time"]:
        steps_per_s = (recent[-1]["step"] - recent[0]["step"]) / (recent[-1]["time"] - recent[0]["time"])
        if steps_per_s > 0:
            out["steps_per_s"] = steps_per_s
            out["eta_s"] = max(0.0, (total - step) / steps_per_s) if total else None
            if batch_size:
                out["images_per_s"] = steps_per_s * batch_size
    return out


def format_seconds(seconds: float | None) -> str:
    """1 h 02 min, 3 min 05 s, 12 s, or '?' when unknown."""
    if seconds is None:
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"
