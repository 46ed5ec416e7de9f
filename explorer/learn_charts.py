"""Pure figure builders for the Learn page: the model overview as a Graphviz diagram (DOT text) and D's scores
before and after its update as histograms (a plotly figure). Data in, figure out: tested without Streamlit."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dcgan.analysis.overview import Overview

G_COLOUR, D_COLOUR, DATA_COLOUR = "#dbeafe", "#fde2e2", "#f3f4f6"
REAL_COLOUR, FAKE_COLOUR = "#2563eb", "#dc2626"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def overview_dot(overview: Overview) -> str:
    """The model as a DOT graph: G's blocks down the left (z at the top, the image at the bottom), D's down
    the right (the image's edge into its first block, the score at the bottom), each block with its output
    shape and parameter count. G's blocks before the last are named by their Inside G layer number."""
    lines = ["digraph model {", "  rankdir=TB; nodesep=0.5; ranksep=0.25;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, margin="0.12,0.04"];',
             '  edge [color="#6b7280", arrowsize=0.6];']

    def node(name: str, block, colour: str, title: str | None = None) -> None:
        params = f"\\n{block.parameters:,} parameters" if block.parameters else ""
        head = f"{title}: " if title else ""
        label = f"{head}{block.label}\\n{block.shape_text}{params}".replace('"', "'")
        lines.append(f'  {name} [label="{label}", fillcolor="{colour}"];')

    lines.append(f'  subgraph cluster_g {{ label={_quote(f"G: {overview.g_parameters:,} parameters")}; '
                 'fontname="Helvetica"; color="#93c5fd";')
    node("z", overview.z, DATA_COLOUR)
    for i, block in enumerate(overview.g):
        node(f"g{i}", block, G_COLOUR, f"layer {i + 1}" if i < len(overview.g) - 1 else None)
    node("image", overview.image, DATA_COLOUR)
    lines.append("  }")
    chain = ["z", *(f"g{i}" for i in range(len(overview.g))), "image"]
    lines += [f"  {a} -> {b};" for a, b in zip(chain, chain[1:])]
    if overview.d:
        lines.append(f'  subgraph cluster_d {{ label={_quote(f"D: {overview.d_parameters:,} parameters")}; '
                     'fontname="Helvetica"; color="#fca5a5";')
        for i, block in enumerate(overview.d):
            node(f"d{i}", block, D_COLOUR)
        node("score", overview.score, DATA_COLOUR)
        lines.append("  }")
        d_chain = [*(f"d{i}" for i in range(len(overview.d))), "score"]
        lines += [f"  {a} -> {b};" for a, b in zip(d_chain, d_chain[1:])]
        # the image feeds D's first block without ranking it below the image: D's column starts at the top
        lines.append('  image -> d0 [constraint=false, color="#111827", penwidth=1.4];')
    lines.append("}")
    return "\n".join(lines)


def score_histograms(real_before: np.ndarray, fake_before: np.ndarray, real_after: np.ndarray | None,
                     fake_after: np.ndarray | None, kind: str, height: int = 280) -> go.Figure:
    """D's scores of the step's real and fake batches before its update and (when given) after, as
    overlaid histograms side by side on shared bins."""
    from plotly.subplots import make_subplots
    panels = [("before D's update", real_before, fake_before)]
    if real_after is not None and fake_after is not None:
        panels.append(("after D's update", real_after, fake_after))
    values = np.concatenate([np.asarray(v, dtype=np.float64) for _, r, f in panels for v in (r, f)])
    low, high = (0.0, 1.0) if kind == "probability" else (float(values.min()), float(values.max()))
    if high <= low:
        low, high = low - 0.5, high + 0.5
    bins = dict(start=low, end=high, size=(high - low) / 20)
    fig = make_subplots(rows=1, cols=len(panels), shared_yaxes=True, subplot_titles=[p[0] for p in panels])
    for col, (_, real, fake) in enumerate(panels, start=1):
        for name, data, colour in (("real", real, REAL_COLOUR), ("fake (G's)", fake, FAKE_COLOUR)):
            fig.add_trace(go.Histogram(x=np.asarray(data, dtype=np.float64), xbins=bins, name=name, opacity=0.6,
                                       marker_color=colour, legendgroup=name, showlegend=col == 1), row=1, col=col)
        fig.update_xaxes(title_text="D's probability of real" if kind == "probability" else "D's score (logit)",
                         row=1, col=col)
    fig.update_yaxes(title_text="images", row=1, col=1)
    fig.update_layout(barmode="overlay", height=height, margin=dict(l=50, r=10, t=40, b=40),
                      legend=dict(orientation="h", y=-0.3))
    return fig
