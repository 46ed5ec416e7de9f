"""Pure figure builders and run summaries: metrics records (or the chart buckets explorer.live.run_curves
keeps of them) in, plotly figures or plain dicts out.

Nothing here touches Streamlit, so every builder is tested directly (AppTest sees charts as opaque).
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from dcgan.analysis.curves import losses_mirrored
from dcgan.analysis.downsample import CurveBuckets, buckets_of
from dcgan.config import TrainConfig

LOSS_KEYS = ("loss_d", "loss_g")
D_KEYS = ("acc_real", "acc_fake", "d_x", "d_g_z")
LR_KEYS = ("lr_d", "lr_g")
CHART_KEYS = LOSS_KEYS + D_KEYS + LR_KEYS  # what the app's curves keep of each metrics record
LABELS = {
    "loss_d": "loss D", "loss_g": "loss G", "acc_real": "D accuracy (real)", "acc_fake": "D accuracy (fake)",
    "d_x": "D(x)", "d_g_z": "D(G(z))", "lr_d": "lr D", "lr_g": "lr G",
}
# Streamlit's own chart colours, in its order: a line's min..max band must be its colour, so a banded
# chart names every colour (a band is a trace, and unnamed colours go by trace number); a chart without
# bands names none and looks as it always did
COLORS = ("#0068c9", "#83c9ff", "#ff2b2b", "#ffabab", "#29b09d", "#7defa1", "#ff8700", "#ffd16a", "#6d3fc0")
BAND_OPACITY = 0.2


def _faint(color: str) -> str:
    """#rrggbb as rgba at BAND_OPACITY: the band behind a line."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{BAND_OPACITY})"


def curves_of(metrics: "list[dict] | CurveBuckets") -> CurveBuckets:
    """What every builder draws from: buckets kept as the run goes (explorer.live.run_curves), or built
    here from a list of records."""
    return metrics if isinstance(metrics, CurveBuckets) else buckets_of(metrics, CHART_KEYS)


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


def line_figure(metrics: "list[dict] | CurveBuckets", keys: tuple[str, ...], title: str, y_title: str = "",
                marker_step: int | None = None, y_range: tuple[float, float] | None = None,
                log_y: bool = False, height: int = 300, smooth: int = 1, first_color: int = 0) -> go.Figure:
    """One line per key against step, each a trailing mean over `smooth` steps (1 = raw), drawn from at
    most ~1500 buckets (dcgan.analysis.downsample); when a bucket holds several steps, a faint band
    under each line spans the buckets' raw min..max, so a spike the mean flattens still shows. A dashed
    vertical line at marker_step when given."""
    curves = curves_of(metrics)
    fig = go.Figure()
    for i, key in enumerate(keys):
        series = curves.series(key, smooth)
        # float32 is plenty for a chart and halves what the browser is sent (plotly sends arrays as binary)
        y, low, high = (v.astype(np.float32) for v in (series.y, series.low, series.high))
        name = LABELS.get(key, key)
        color = COLORS[(first_color + i) % len(COLORS)] if curves.banded else None
        if curves.banded:  # high first, then low filled up to it ("tonexty": to the trace before)
            band = dict(mode="lines", line=dict(width=0, color=color), showlegend=False, hoverinfo="skip",
                        legendgroup=key)
            fig.add_trace(go.Scatter(x=series.x, y=high, name=f"{name} max", **band))
            fig.add_trace(go.Scatter(x=series.x, y=low, name=f"{name} min", fill="tonexty",
                                     fillcolor=_faint(color), **band))
        fig.add_trace(go.Scatter(x=series.x, y=y, mode="lines", name=name, legendgroup=key,
                                 line=dict(color=color) if color else None))
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
    curves = curves_of(metrics)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    for row, key in enumerate(LOSS_KEYS, start=1):
        for trace in line_figure(curves, (key,), "", smooth=smooth, first_color=row - 1).data:
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

