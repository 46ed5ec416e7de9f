"""The generator the sidebar chose, loaded once per weights file and kept (st.cache_resource).

Loading is the core's (dcgan.runs.checkpoint.load_run_generator); this module only caches it and says
on the page why it cannot, so no page module needs to import torch.
"""
from __future__ import annotations

import streamlit as st

from dcgan.runs.checkpoint import CheckpointError, load_run_generator
from dcgan.runs.rundir import RunDir
from explorer.sidebar import Selection

NO_RUNS = "There are no runs yet. Start one on the Train page."


@st.cache_resource(max_entries=8, show_spinner="Loading the generator…")
def _cached_generator(run_path: str, step: int | None, mtime_ns: int):
    # mtime_ns is part of the cache key only: a re-exported generator is a new entry
    return load_run_generator(RunDir.at(run_path), step)


def chosen_run() -> RunDir:
    """The run picked in the sidebar; with no runs at all, the page says so and stops."""
    run = st.session_state["selection"].run
    if run is None:
        st.error(NO_RUNS)
        st.stop()
    return run


def load_generator(sel: Selection):
    """The chosen generator (a torch module), or None after showing st.error (no weights, corrupt file)."""
    if sel.run is None:
        st.error(NO_RUNS)
        return None
    if sel.step is None:
        st.error(f"Run **{sel.run.name}** has no generator weights yet (no final model and no snapshot "
                 "with weights). Wait for its first checkpoint, or pick another run.")
        return None
    step = sel.step_number
    path = sel.run.weights_path(step)
    try:
        return _cached_generator(str(sel.run.path), step, path.stat().st_mtime_ns)
    except FileNotFoundError:
        st.error(f"The weights file {path} has disappeared since the sidebar listed it (a run that keeps only "
                 "its newest snapshot weights deletes older ones as it trains); pick another step.")
    except CheckpointError as e:
        st.error(f"Cannot load the generator of run **{sel.run.name}**: {e}")
    return None


DISPLAY_PX = 280  # a generated image is shown about this wide: 28 px at 10x, 64 px at 4x


def chosen_generator():
    """(the sidebar's Selection, its generator) for a page that shows G's images; the page stops, with the
    reason shown, when there is none to load."""
    sel = st.session_state["selection"]
    G = load_generator(sel)
    if G is None:
        st.stop()
    return sel, G


def display_scale(G) -> int:
    """The integer upscaling that shows G's images about DISPLAY_PX wide (at least 2x)."""
    return max(2, DISPLAY_PX // G.image_size)
