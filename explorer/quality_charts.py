"""Pure figure builders for evaluation records: eval.jsonl and eval.json in, plotly figures or rows out.

Nothing here touches Streamlit, so every builder is tested directly (AppTest sees charts as opaque).
"""
from __future__ import annotations

import plotly.graph_objects as go

from dcgan.config import DATASET_SPECS
from explorer.charts import _lay_out


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
    return "–" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def report_rows(report: dict, classes: int | None = None) -> list[dict]:
    """eval.json as table rows of text (one type per column, as Arrow wants): figure, generated
    value, real-data floor. classes: how many the evaluator knows (dcgan.evaluation.classifier's
    run_class_names), else as many as the report has class shares."""
    rows = []
    gen, real = report.get("generated") or {}, report.get("real") or {}
    classes = classes or len(gen.get("class_share") or []) or "?"
    spec = DATASET_SPECS.get(report.get("dataset"))
    modes = spec.modes if spec is not None and spec.modes else "?"
    for key, label in (("fid", "FID (domain classifier)"), ("precision", "precision (k=3)"), ("recall", "recall (k=3)"),
                       ("classes_covered", f"classes covered (of {classes})"), ("class_kl", "KL to real classes"),
                       ("modes_covered", f"modes covered (of {modes})"), ("modes_kl", "KL to uniform modes"),
                       ("classifier_score", f"classifier score (max {classes})"),
                       ("confident_fraction", "confidently classified")):
        if key in gen:
            rows.append({"figure": label, "generated": _fmt(gen[key]), "real (floor)": _fmt(real.get(key))})
    for space, m in (report.get("memorisation") or {}).items():
        # a report missing a figure shows a dash for it, as the other rows do: never a KeyError on the page
        rows.append({"figure": f"memorisation ({space}): median NN distance ratio",
                     "generated": _fmt(m.get("median_ratio")), "real (floor)": _fmt(m.get("floor_median_ratio"))})
        rows.append({"figure": f"memorisation ({space}): near-copy share", "generated": _fmt(m.get("near_copy_share")),
                     "real (floor)": _fmt(m.get("floor_near_copy_share"))})
        memorised = {True: "yes", False: "no"}.get(m.get("memorised"), "–")
        rows.append({"figure": f"memorisation ({space}): memorised", "generated": memorised, "real (floor)": "no"})
    return rows
