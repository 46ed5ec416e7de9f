"""Pure figure builders and run summaries: metrics records in, plotly figures or plain dicts out.

Nothing here touches Streamlit, so every builder is tested directly (AppTest sees charts as opaque).
"""
from __future__ import annotations

import math

import plotly.graph_objects as go

from dcgan.analysis.curves import losses_mirrored
from dcgan.analysis.stats_chart import running_mean
from dcgan.config import TrainConfig

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


def auto_window(n: int) -> int:
    """A smoothing window that turns per-step noise into a readable curve: about 1 % of the run."""
    return max(1, n // 100)


def _lay_out(fig: go.Figure, title: str, height: int, y_title: str, y_range: tuple[float, float] | None = None,
             log_y: bool = False, x_title: str = "step") -> go.Figure:
    # the legend goes in its own band under the title: beside it, in a half-width column, the two
    # overlapped (seen on the Quality page)
    fig.update_layout(title=dict(text=title, y=0.97, yanchor="top"), height=height + 30,
                      margin=dict(l=10, r=10, t=70, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, xanchor="left"),
                      xaxis_title=x_title, yaxis_title=y_title)
    if y_range is not None:
        fig.update_yaxes(range=list(y_range))
    if log_y:
        ticks = log_ticks([y for trace in fig.data for y in (() if trace.y is None else trace.y) if y is not None])
        # plotly labels a log axis's 2s and 5s with the bare digit ("2" above "100" means 200: plotly.js
        # issue 2554); whole numbers at 1-2-5 steps read at a glance
        fig.update_yaxes(type="log", **(dict(tickvals=ticks, ticktext=[f"{v:g}" for v in ticks]) if ticks else {}))
    return fig


def log_ticks(values: list[float]) -> list[float]:
    """1, 2, 5 × powers of ten spanning the positive values (none where there are none)."""
    positive = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v) and v > 0]
    if not positive:
        return []
    low, high = min(positive), max(positive)
    ticks = [m * 10.0 ** k for k in range(math.floor(math.log10(low)) - 1, math.floor(math.log10(high)) + 2)
             for m in (1, 2, 5)]
    inside = [t for t in ticks if low / 2 <= t <= high * 2]
    return [float(f"{t:.3g}") for t in inside]


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
    return _lay_out(fig, title, height, y_title, y_range, log_y)


def loss_figure(metrics: list[dict], marker_step: int | None = None, smooth: int = 1,
                cfg: TrainConfig | None = None) -> go.Figure:
    """loss_d and loss_g against step; one panel each when the run's loss makes them mirror images
    (one line would lie over the other: dcgan.analysis.curves.losses_mirrored)."""
    if cfg is None or not losses_mirrored(cfg):
        return line_figure(metrics, LOSS_KEYS, "Losses", "loss", marker_step, smooth=smooth)
    from plotly.subplots import make_subplots
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    for row, key in enumerate(LOSS_KEYS, start=1):
        for trace in line_figure(metrics, (key,), "", smooth=smooth).data:
            fig.add_trace(trace.update(showlegend=False), row=row, col=1)
        fig.update_yaxes(title_text=LABELS[key], row=row, col=1)
    if marker_step is not None:
        fig.add_vline(x=marker_step, line_dash="dash", line_color="red")
    fig = _lay_out(fig, "Losses (one panel each)", 420, LABELS[LOSS_KEYS[0]])
    return fig.update_xaxes(title_text="", row=1, col=1).update_xaxes(title_text="step", row=2, col=1)


def discriminator_figure(metrics: list[dict], marker_step: int | None = None, smooth: int = 1) -> go.Figure:
    """D's accuracy on real and fake images, and its mean outputs D(x) and D(G(z)), all in [0, 1]."""
    return line_figure(metrics, D_KEYS, "Discriminator", "", marker_step, y_range=(-0.02, 1.02), smooth=smooth)


def lr_figure(metrics: list[dict], marker_step: int | None = None) -> go.Figure:
    """The learning rates, which only move when adaptive_lr is on (never smoothed: they are exact)."""
    return line_figure(metrics, LR_KEYS, "Learning rates", "lr", marker_step, log_y=True)

