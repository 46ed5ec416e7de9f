"""Pure figure builders and run summaries: metrics records in, plotly figures or plain dicts out.

Nothing here touches Streamlit, so every builder is tested directly (AppTest sees charts as opaque).
"""
from __future__ import annotations

import math

import plotly.graph_objects as go

from dcgan.analysis.stats_chart import running_mean

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


# --- quality over training (eval.jsonl records, eval.json reports) ---------------------------------

def _eval_points(records: list[dict], key: str) -> tuple[list[int], list[float]]:
    rows = [r for r in records if r.get(key) is not None and "step" in r]
    return [r["step"] for r in rows], [r[key] for r in rows]


def _floor_value(records: list[dict], key: str) -> float | None:
    """The real-data floor of a figure: the same in every record of a run; the last one wins."""
    for r in reversed(records):
        if (r.get("floor") or {}).get(key) is not None:
            return r["floor"][key]
    return None


def eval_figure(records: list[dict], keys: tuple[str, ...], title: str, y_title: str = "",
                marker_step: int | None = None, y_range: tuple[float, float] | None = None,
                log_y: bool = False, height: int = 300) -> go.Figure:
    """Evaluation figures against step, each with its real-data floor as a dashed line of the same
    colour; red crosses where a record carries a mode-collapse warning."""
    colours = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")
    fig = go.Figure()
    for key, colour in zip(keys, colours):
        xs, ys = _eval_points(records, key)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=EVAL_LABELS.get(key, key),
                                 line=dict(color=colour)))
        floor = _floor_value(records, key)
        if floor is not None and xs:
            fig.add_trace(go.Scatter(x=[xs[0], xs[-1]], y=[floor, floor], mode="lines",
                                     name=f"{EVAL_LABELS.get(key, key)}: real data",
                                     line=dict(color=colour, dash="dash")))
    warned = [r for r in records if r.get("collapse_warning") and keys[0] in r]
    if warned:
        fig.add_trace(go.Scatter(x=[r["step"] for r in warned], y=[r[keys[0]] for r in warned], mode="markers",
                                 name="mode-collapse warning", marker=dict(color="red", symbol="x", size=12),
                                 text=[r["collapse_warning"] for r in warned]))
    if marker_step is not None:
        fig.add_vline(x=marker_step, line_dash="dash", line_color="red")
    return _lay_out(fig, title, height, y_title, y_range, log_y)


EVAL_LABELS = {"fid": "FID (domain classifier)", "precision": "precision", "recall": "recall",
               "classes_covered": "classes covered", "modes_covered": "modes covered (of 1000)",
               "class_kl": "KL to real classes", "modes_kl": "KL to uniform modes"}


def fid_figure(records: list[dict], marker_step: int | None = None) -> go.Figure:
    """FID (domain classifier) over training, log scale: it falls by orders of magnitude."""
    return eval_figure(records, ("fid",), "FID (domain classifier)", "FID", marker_step, log_y=True)


def coverage_figure(records: list[dict], marker_step: int | None = None) -> go.Figure:
    """Classes (or Stacked MNIST modes) covered over training: a drop is mode collapse."""
    key = "modes_covered" if any("modes_covered" in r for r in records) else "classes_covered"
    return eval_figure(records, (key,), "Coverage", "covered", marker_step)


def precision_recall_figure(records: list[dict], marker_step: int | None = None) -> go.Figure:
    """Improved precision (realism) and recall (diversity) over training."""
    return eval_figure(records, ("precision", "recall"), "Precision and recall (k=3)", "", marker_step,
                       y_range=(-0.02, 1.02))


def class_histogram_figure(shares: list[float], names: list[str] | None = None,
                           real_shares: list[float] | None = None, title: str = "Predicted classes") -> go.Figure:
    """Share of generated images per predicted class, beside the real test set's shares."""
    names = names or [str(i) for i in range(len(shares))]
    fig = go.Figure(go.Bar(x=names, y=shares, name="generated"))
    if real_shares is not None:
        fig.add_trace(go.Bar(x=names, y=real_shares, name="real test set", opacity=0.5))
    # category axis: digit names would otherwise make a numeric axis labelled 0, 2, 4, ...
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category", tickmode="array", tickvals=names, ticktext=names)
    return _lay_out(fig, title, 300, "share", x_title="")


def sensitivity_figure(values, chosen: int | None = None, title: str = "Sensitivity at this z") -> go.Figure:
    """One bar per z component: how far the image moves per unit of it (|dG/dz_i|); the chosen one in red."""
    names = [str(i) for i in range(len(values))]
    colours = ["#d62728" if i == chosen else "#1f77b4" for i in range(len(values))]
    fig = go.Figure(go.Bar(x=names, y=[float(v) for v in values], marker_color=colours,
                           hovertemplate="z[%{x}]: %{y:.3g}<extra></extra>"))
    fig.update_xaxes(type="category", showticklabels=len(values) <= 32)
    return _lay_out(fig, title, 220, "|dG/dz_i|", x_title="z component")


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def report_rows(report: dict) -> list[dict]:
    """eval.json as table rows of text (one type per column, as Arrow wants): figure, generated
    value, real-data floor."""
    rows = []
    gen, real = report.get("generated") or {}, report.get("real") or {}
    for key, label in (("fid", "FID (domain classifier)"), ("precision", "precision (k=3)"), ("recall", "recall (k=3)"),
                       ("classes_covered", "classes covered (of 10)"), ("class_kl", "KL to real classes"),
                       ("modes_covered", "modes covered (of 1000)"), ("modes_kl", "KL to uniform modes"),
                       ("classifier_score", "classifier score (max 10)"),
                       ("confident_fraction", "confidently classified")):
        if key in gen:
            rows.append({"figure": label, "generated": _fmt(gen[key]), "real (floor)": _fmt(real.get(key))})
    for space, m in (report.get("memorisation") or {}).items():
        rows.append({"figure": f"memorisation ({space}): median NN distance ratio",
                     "generated": _fmt(m["median_ratio"]), "real (floor)": _fmt(m["floor_median_ratio"])})
        rows.append({"figure": f"memorisation ({space}): near-copy share", "generated": _fmt(m["near_copy_share"]),
                     "real (floor)": _fmt(m["floor_near_copy_share"])})
        rows.append({"figure": f"memorisation ({space}): memorised", "generated": "yes" if m["memorised"] else "no",
                     "real (floor)": "no"})
    return rows
