"""The Train page's live views: the progress line, the loss and D charts with the newest grid, and the
table of every run. While a run trains they refresh themselves as fragments (st.fragment(run_every=...)).

A fragment redraws only itself; when what the rest of the page and the sidebar show has changed (a
run's state, new weights or a new export, a run deleted), it reruns the whole page instead.
"""
from __future__ import annotations

import threading

import streamlit as st

from dcgan.analysis.curves import loss_notes
from dcgan.analysis.downsample import CurveBuckets, RunCurves
from dcgan.runs.progress import progress_text
from dcgan.runs.rundir import ACTIVE_STATES, RunDir, list_runs, state_label
from explorer.charts import CHART_KEYS, auto_window, discriminator_figure, loss_figure, lr_figure
from explorer.common import show_image, skipped_lines_note
from explorer.health_notes import chart_notes
from explorer.sidebar import Selection, page_signature

# On a 2-core laptop every redraw is taken from the trainer's cores, most of it by the browser, not the
# server (bench: Chromium 0.08-0.1 core, the server 0.01, at a 3 s progress line and 15 s charts: the
# trainer at 0.90x of headless; at 5 s and 30 s 0.96x). The progress line and the newest grid are cheap
# to redraw (an unchanged image is not sent again); the plotly charts and the table of runs are not.
REFRESH_S = 5.0
CHART_REFRESH_S = 30.0
LONG_READ_BYTES = 20_000_000  # a first look at a run this long takes seconds: say so (about 90,000 steps)


@st.cache_resource(max_entries=32, show_spinner=False)
def _run_curves(path: str, _run: RunDir) -> tuple[RunCurves, threading.Lock]:
    return RunCurves(_run, CHART_KEYS), threading.Lock()  # cached by the run's path (_run is not hashed)


def run_curves(run: RunDir) -> CurveBuckets:
    """The run's loss and D curves (at most ~1500 buckets each, dcgan.analysis.downsample), brought up to
    date by reading only what metrics.jsonl gained since the last call, from any page or session: one
    server-wide copy per run, so a refresh, a reload or a second viewer costs the new lines only, and
    a 200 MB log is read once. A resume's new file is read again from its start (runs.follow)."""
    curves, lock = _run_curves(str(run.path), run)
    with lock:  # each session runs in its own thread: one reader at a time, each drawing its own copy
        unread = curves.follower.unread_bytes()
        if unread < LONG_READ_BYTES:
            return curves.update().copy()
        with st.spinner(f"Reading this run's {unread / 1e6:,.0f} MB of training statistics (once)…"):
            return curves.update().copy()


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
    """Loss and D charts; while active they refresh every CHART_REFRESH_S."""
    metrics = run_curves(run)
    skipped_lines_note(run, metrics)
    cfg = run.train_config()
    if metrics:
        smooth = auto_window(len(metrics))  # per-step values are too noisy to read
        st.plotly_chart(loss_figure(metrics, smooth=smooth, cfg=cfg), key="train_loss")
        for note in loss_notes(cfg) if cfg is not None else ():
            st.caption(note)
        st.plotly_chart(discriminator_figure(metrics, smooth=smooth), key="train_d")
        if cfg is not None and cfg.adaptive_lr:
            st.plotly_chart(lr_figure(metrics), key="train_lr")
        chart_notes(run)  # what the curves say, in this run's numbers
    else:
        st.info("Waiting for the first training step…")


def live_grid(run: RunDir) -> None:
    """The newest snapshot grid; while active it refreshes every REFRESH_S, as the progress line does."""
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
                f"(the charts and the table of runs every {CHART_REFRESH_S:g} s).")
    st.fragment(live_progress, run_every=REFRESH_S if active else None)(sel, signature)
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.fragment(live_charts, run_every=CHART_REFRESH_S if active else None)(sel.run)
    with right:  # what G draws now: it should not wait for the charts
        st.fragment(live_grid, run_every=REFRESH_S if active else None)(sel.run)


def runs_table(sel: Selection) -> None:
    """All runs, refreshed every CHART_REFRESH_S while any of them trains."""
    runs = list_runs(sel.checkpoints)
    any_active = any(r.status().get("state") in ACTIVE_STATES for r in runs)
    st.fragment(all_runs, run_every=CHART_REFRESH_S if any_active else None)(sel, page_signature(sel))
