"""Helpers every page shares: where runs live, the sidebar's run and step choice, cached models, images.

State that must survive a refresh lives in the run directories (training) or the URL (the chosen
run and step, through widgets bound to query parameters); session_state only holds what a
refresh may lose, such as the z being edited.
"""
from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass
from pathlib import Path

# Imported whole before any page runs. Plotly looks pandas up in sys.modules without importing it; while
# another script thread is still importing pandas (st.table on the Train page, say) that finds a
# half-initialised module, and a chart fails with "partially initialized module 'pandas' has no attribute
# 'Series'" (seen on a loaded machine). Every session's first run imports this module first, so a page
# never meets pandas half-way.
import pandas  # noqa: F401
import plotly.graph_objects  # noqa: F401
import streamlit as st
import torch
from PIL import Image

from dcgan.runs.checkpoint import CheckpointError, load_run_generator
from dcgan.config import bounds_text, in_bounds
from dcgan.imaging import png_bytes
from dcgan.runs.rundir import ACTIVE_STATES, RunDir, list_runs, state_label

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUN = "mnist"
FINAL = "final"  # the step choice that means generator.safetensors

# Streamlit scales images in the browser with smoothing; 28 px digits must stay crisp squares. An image
# given its pixel width (show_image) keeps it even in a narrower column, over the column beside it: capped
# at the column's width, it shrinks instead (the Latent page's 640 px faces in a 450 px half). Streamlit
# puts the width on the image's containers too, so they need the cap as well as the img (tried: without it
# the faces browser test finds the image overflowing).
PIXELATED_CSS = """
<style>
img { image-rendering: pixelated; image-rendering: crisp-edges; }
[data-testid="stImage"], [data-testid="stImageContainer"] { max-width: 100%; }
[data-testid="stImage"] img { max-width: 100%; height: auto; }
</style>
"""


def checkpoints_dir() -> Path:
    """checkpoints/ next to streamlit_app.py, or $DCGAN_CHECKPOINTS."""
    return Path(os.environ.get("DCGAN_CHECKPOINTS") or PROJECT_ROOT / "checkpoints")


def step_options(run: RunDir) -> list[str]:
    """'final' (the exported generator) and every snapshot step with weights, newest first: while a
    run trains, its newest snapshot is ahead of the last export, and comes first."""
    snapshots = run.weight_steps()
    options = [(s, str(s)) for s in snapshots]
    if run.generator_path.is_file():
        # the export is as new as a snapshot of the same step: list it first; of unknown step (a
        # damaged generator.json), first too, so its problem is what the user sees
        step = run.export_step()
        options.append((float("inf") if step is None else step + 0.5, FINAL))
    return [o for _, o in sorted(options, reverse=True)]


def is_finished_model(run: RunDir) -> bool:
    """Whether generator.safetensors is the run's last word (not a checkpoint of a run still
    training or stopped short of its end)."""
    st_ = run.status()
    return st_.get("state") not in ACTIVE_STATES and st_.get("step") == st_.get("total_steps")


def step_label(run: RunDir, option: str) -> str:
    # labels are what the URL keeps (bind="query-params"): no step number in the exported model's,
    # so a bookmarked link still means "final" after the run is resumed
    if option != FINAL:
        return f"snapshot at step {int(option)}"
    return "final model" if is_finished_model(run) else "last checkpoint"


def step_text(run: RunDir, option: str | None) -> str:
    """What a caption says about the chosen weights, always with their step."""
    if option in (None, FINAL):
        return f"{step_label(run, FINAL)} (step {run.export_step()})"
    return f"step {int(option)}"


@dataclass
class Selection:
    """What the sidebar chose: a run and a step option ('final' or a step number as text)."""

    checkpoints: Path
    run: RunDir | None
    step: str | None

    @property
    def step_number(self) -> int | None:
        """None for the final model, else the snapshot step."""
        return None if self.step in (None, FINAL) else int(self.step)


def sidebar() -> Selection:
    """Pick the run and the step in the sidebar; both are bound to the URL, so a refresh keeps them."""
    checkpoints = checkpoints_dir()
    runs = list_runs(checkpoints)
    # a page that just started a run asks for it here, before the widget exists in this script run
    wanted = st.session_state.pop("select_run_next", None)
    if wanted is not None:
        st.session_state["run"] = wanted
    with st.sidebar:
        st.caption(f"Runs in `{checkpoints}`")
        if not runs:
            st.info("No runs yet: start one on the Train page.")
            return Selection(checkpoints, None, None)
        names = [r.name for r in runs]
        default = names.index(DEFAULT_RUN) if DEFAULT_RUN in names else 0
        # the run this session was looking at, if its folder has gone since: say so, never show
        # another run under its name
        gone = st.session_state.get("sidebar_run")
        if st.session_state.get("run") not in (None, *names):
            gone = st.session_state["run"]
            del st.session_state["run"]
        name = st.selectbox("Run", names, index=default, key="run", bind="query-params")
        if gone not in (None, *names):
            st.warning(f"Run **{gone}** is gone (its folder was deleted or moved); showing **{name}** instead.",
                       icon=":material/folder_off:")
        if st.session_state.get("sidebar_run") not in (None, name):
            st.session_state.pop("step", None)  # another run: its own newest weights, not the last one's step
        st.session_state["sidebar_run"] = name
        run = runs[names.index(name)]
        status = run.status()
        options = step_options(run)
        if not options:
            st.caption(f"state: **{state_label(status)}** · no generator weights yet")
            return Selection(checkpoints, run, None)
        if st.session_state.get("step") not in (None, *options):
            del st.session_state["step"]
        step = st.selectbox("Model step", options, index=0, key="step", bind="query-params",
                            format_func=lambda o: step_label(run, o),
                            help="the final model (or, while a run trains, its last checkpoint) or any "
                                 "snapshot that saved generator weights; newest first")
        imported = run.config_values().get("imported_from")
        st.caption(f"state: **{state_label(status)}** · showing {step_text(run, step)}"
                   + (f" · imported from `{imported}`" if imported else ""))
    return Selection(checkpoints, run, step)


@st.cache_resource(max_entries=8, show_spinner="Loading the generator…")
def _cached_generator(run_path: str, step: int | None, mtime_ns: int) -> torch.nn.Module:
    # mtime_ns is part of the cache key only: a re-exported generator is a new entry
    return load_run_generator(RunDir.at(run_path), step)


NO_RUNS = "There are no runs yet. Start one on the Train page."


def chosen_run() -> RunDir:
    """The run picked in the sidebar; with no runs at all, the page says so and stops."""
    run = st.session_state["selection"].run
    if run is None:
        st.error(NO_RUNS)
        st.stop()
    return run


def load_generator(sel: Selection) -> torch.nn.Module | None:
    """The chosen generator, or None after showing st.error (no weights, corrupt file)."""
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
        st.error(f"The weights file {path} has disappeared; pick another step.")
    except CheckpointError as e:
        st.error(f"Cannot load the generator of run **{sel.run.name}**: {e}")
    return None


def image_url(data: bytes) -> str:
    """PNG or GIF bytes as a data: URL, which st.image passes to the browser as it is.

    Bytes given to st.image are served as media files that Streamlit deletes when the next run of
    the script ends; a browser that asks for one after that (a slider dragged quickly, a loaded
    machine) gets a 404 and shows a broken image until the next change. A data: URL travels with
    the element, so the image shown is always the one the run drew.
    """
    mime = "image/gif" if data[:4] == b"GIF8" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


STRETCH_ABOVE_PX = 700  # the main column of the wide layout is about 940 px at 1400 px; halves of it ~450
INLINE_MAX_BYTES = 2_000_000  # larger images (a long GIF) go as media files: inlined, each rerun would resend them


def show_image(image, caption: str | None = None, width: int | str = "content") -> None:
    """An (H, W, C) uint8 array or PNG/GIF bytes, losslessly (no JPEG), at its own pixel size by default
    (never wider than its column: PIXELATED_CSS caps it)."""
    data = image if isinstance(image, bytes) else png_bytes(image)
    if len(data) > INLINE_MAX_BYTES:
        st.image(data, caption=caption, width=width)
        return
    if width == "content":
        # a data: URL gives Streamlit no size (it would fill the column): say it, unless the picture is
        # wider than a column can be, where filling it (sharp: pixelated CSS) keeps it on the page
        with Image.open(io.BytesIO(data)) as im:
            width = im.width if im.width <= STRETCH_ABOVE_PX else "stretch"
    st.image(image_url(data), caption=caption, width=width)


def progress_callback(label: str):
    """A progress(done, total) function for the core, drawing an st.progress bar."""
    bar = st.progress(0.0, text=label)

    def update(done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=f"{label} {done}/{total}")

    return update, bar


SEED_MAX = 2**31 - 1  # seeds everywhere in the app; a training seed must stay well inside torch's 64 bits


def bounded_number(container, label: str, low: float, high: float, value: float | None = None, key: str | None = None,
                   help: str | None = None, **kwargs):
    """A number box that takes any number and says next to it, in words, when it lies outside
    [low, high]: a number_input's own min/max only outlines the box in red, silently.

    Returns the value, or None when it is out of range (the message is already shown)."""
    meta = dict(low=low, high=high, low_open=False, high_open=False)
    allowed = bounds_text(meta)
    text = f"{help} Allowed: {allowed}." if help else f"Allowed: {allowed}."
    if value is not None and not (key is not None and key in st.session_state):
        kwargs["value"] = value  # a value set through session_state must not be given twice
    value = container.number_input(label, key=key, help=text, **kwargs)
    if value is None or not in_bounds(value, meta):
        container.error(f"**{label}** must be {allowed}.", icon=":material/error:")
        return None
    return value


def skipped_lines_note(run: RunDir, *logs) -> None:
    """Say how many malformed lines the readers skipped in a run's logs (a power cut can leave NUL
    bytes at the end of an appended file): the charts are then missing those steps."""
    skipped = sum(getattr(records, "skipped", 0) for records in logs)
    if skipped:
        st.caption(f":material/warning: {skipped} malformed line(s) in the logs of run **{run.name}** were "
                   "skipped (damaged or not written by the trainer); their steps are missing from the charts.")
