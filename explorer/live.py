"""The Train page's live views: the progress line, the loss and D charts with the newest grid, and the
table of every run. While a run trains they refresh themselves as fragments (st.fragment(run_every=...)).

A fragment redraws only itself; when what the rest of the page and the sidebar show has changed (a
run's state, new weights or a new export, a run deleted), it reruns the whole page instead.
"""
from __future__ import annotations

import streamlit as st

from dcgan.analysis.curves import loss_notes
from dcgan.runs.progress import progress_text
from dcgan.runs.rundir import ACTIVE_STATES, RunDir, list_runs, state_label
from explorer.charts import auto_window, discriminator_figure, loss_figure, lr_figure
from explorer.common import show_image, skipped_lines_note
from explorer.sidebar import Selection, page_signature

# The progress line is cheap (status.json and the last lines of metrics.jsonl); charts are not (the
# whole log, and the browser redrawing plotly), and on a 2-core laptop every redraw is taken from the
# trainer's cores, so they refresh less often.
REFRESH_S = 3.0
CHART_REFRESH_S = 15.0


def _rerun_page_if_changed(sel: Selection, signature: tuple) -> None:
    if page_signature(sel) != signature:
        st.rerun()


def live_progress(sel: Selection, signature: tuple) -> None:
    """The progress line; while the run is active it refreshes itself every REFRESH_S."""
    _rerun_page_if_changed(sel, signature)
    status = sel.run.status()
    prog = sel.run.progress(status)
    st.progress(prog["fraction"], text=progress_text(prog, status.get("state") in ACTIVE_STATES,
                                                     state_label(status)))


def live_charts(run: RunDir) -> None:
    """Loss and D charts and the newest grid; while active they refresh every CHART_REFRESH_S."""
    metrics = run.metrics()
    skipped_lines_note(run, metrics)
    cfg = run.train_config()
    left, right = st.columns([3, 2], gap="large")
    with left:
        if metrics:
            smooth = auto_window(len(metrics))  # per-step values are too noisy to read
            st.plotly_chart(loss_figure(metrics, smooth=smooth, cfg=cfg), key="train_loss")
            for note in loss_notes(cfg) if cfg is not None else ():
                st.caption(note)
            st.plotly_chart(discriminator_figure(metrics, smooth=smooth), key="train_d")
            if cfg is not None and cfg.adaptive_lr:
                st.plotly_chart(lr_figure(metrics), key="train_lr")
        else:
            st.info("Waiting for the first training step…")
    with right:
        steps = run.snapshot_steps()
        if steps:
            try:
                show_image(run.grid_path(steps[-1]).read_bytes(), width="stretch",
                           caption=f"newest snapshot: step {steps[-1]}")
            except FileNotFoundError:  # deleted since it was listed: the next refresh says what is there
                st.info("The newest snapshot has just gone.")
        else:
            st.info("No snapshot yet.")


def all_runs(sel: Selection, signature: tuple) -> None:
    """Every run with its state, step, speed and ETA: the rows `python -m dcgan runs` prints."""
    _rerun_page_if_changed(sel, signature)
    # text in every cell: a column of numbers with one gap would be floats (28.0000) beside "nan"
    st.table([r.summary() for r in list_runs(sel.checkpoints)], hide_index=True)


def live_views(sel: Selection, active: bool) -> None:
    """The selected run's progress and charts, live while it trains."""
    signature = page_signature(sel)
    if active:
        st.info(f"**{sel.run.name}** is {sel.run.status().get('state')}; this view refreshes every {REFRESH_S:g} s "
                f"(the charts every {CHART_REFRESH_S:g} s).")
    st.fragment(live_progress, run_every=REFRESH_S if active else None)(sel, signature)
    st.fragment(live_charts, run_every=CHART_REFRESH_S if active else None)(sel.run)


def runs_table(sel: Selection) -> None:
    """All runs, refreshed while any of them trains."""
    runs = list_runs(sel.checkpoints)
    any_active = any(r.status().get("state") in ACTIVE_STATES for r in runs)
    st.fragment(all_runs, run_every=REFRESH_S if any_active else None)(sel, page_signature(sel))
