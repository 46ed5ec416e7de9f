"""Helpers every page shares: where runs live, the sidebar's run and step choice, cached models, images.

State that must survive a refresh lives in the run directories (training) or the URL (the chosen
run and step, through widgets bound to query parameters); session_state only holds what a
refresh may lose, such as the z being edited.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
import torch

from dcgan.checkpoint import CheckpointError, load_run_generator
from dcgan.config import ConfigError, TrainConfig
from dcgan.imaging import png_bytes
from dcgan.rundir import RunDir, list_runs, read_json

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUN = "mnist"
FINAL = "final"  # the step choice that means generator.safetensors

# Streamlit scales images in the browser with smoothing; 28 px digits must stay crisp squares.
PIXELATED_CSS = """
<style>
img { image-rendering: pixelated; image-rendering: crisp-edges; }
</style>
"""


def checkpoints_dir() -> Path:
    """checkpoints/ next to streamlit_app.py, or $DCGAN_CHECKPOINTS."""
    return Path(os.environ.get("DCGAN_CHECKPOINTS") or PROJECT_ROOT / "checkpoints")


def run_config(run: RunDir) -> dict:
    """config.json, or the request the app wrote before the trainer started; {} when it is not a
    valid config (config_problem says why), so no page trips over a hostile or broken file."""
    return {} if config_problem(run) else _raw_config(run)


def _raw_config(run: RunDir) -> dict:
    return run.config() or read_json(run.path / "request.json") or {}


def config_problem(run: RunDir) -> str | None:
    """Why the run's config cannot be used (unknown keys, wrong types, values out of range), or None."""
    data = _raw_config(run)
    if not data:
        return None
    try:
        TrainConfig.from_dict(data)
    except (ConfigError, TypeError) as e:
        return str(e)
    return None


def step_options(run: RunDir) -> list[str]:
    """'final' when the exported generator exists, then every snapshot step with weights, newest first."""
    options = [FINAL] if run.generator_path.is_file() else []
    return options + [str(s) for s in reversed(run.weight_steps())]


def step_label(run: RunDir, option: str) -> str:
    # labels are what the URL keeps (bind="query-params"): no step number in the final model's,
    # so a bookmarked link still means "final" after the run is resumed
    return "final model" if option == FINAL else f"snapshot at step {int(option)}"


def final_step(run: RunDir) -> int | None:
    return (read_json(run.generator_config_path) or {}).get("step")


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
        if st.session_state.get("run") not in (None, *names):
            del st.session_state["run"]  # a run deleted since: fall back to the default
        name = st.selectbox("Run", names, index=default, key="run", bind="query-params")
        run = runs[names.index(name)]
        options = step_options(run)
        if not options:
            st.caption("This run has no generator weights yet.")
            return Selection(checkpoints, run, None)
        if st.session_state.get("step") not in (None, *options):
            del st.session_state["step"]
        step = st.selectbox("Model step", options, index=0, key="step", bind="query-params",
                            format_func=lambda o: step_label(run, o),
                            help="the final model or any snapshot that saved generator weights")
        state = run.status().get("state", "unknown")
        final = f" · final model at step {final_step(run)}" if step == FINAL and final_step(run) is not None else ""
        imported = run_config(run).get("imported_from")
        st.caption(f"state: **{state}**{final}" + (f" · imported from `{imported}`" if imported else ""))
    return Selection(checkpoints, run, step)


@st.cache_resource(max_entries=8, show_spinner="Loading the generator…")
def _cached_generator(run_path: str, step: int | None, mtime_ns: int) -> torch.nn.Module:
    # mtime_ns is part of the cache key only: a re-exported generator is a new entry
    return load_run_generator(RunDir(Path(run_path)), step)


def load_generator(sel: Selection) -> torch.nn.Module | None:
    """The chosen generator, or None after showing st.error (no weights, corrupt file)."""
    if sel.run is None:
        st.error("There are no runs yet. Start one on the Train page.")
        return None
    if sel.step is None:
        st.error(f"Run **{sel.run.name}** has no generator weights yet (no final model and no snapshot "
                 "with weights). Wait for its first checkpoint, or pick another run.")
        return None
    step = sel.step_number
    path = sel.run.generator_path if step is None else sel.run.snapshot_weights_path(step)
    try:
        return _cached_generator(str(sel.run.path), step, path.stat().st_mtime_ns)
    except FileNotFoundError:
        st.error(f"The weights file {path} has disappeared; pick another step.")
    except CheckpointError as e:
        st.error(f"Cannot load the generator of run **{sel.run.name}**: {e}")
    return None


def show_image(image, caption: str | None = None) -> None:
    """An (H, W, C) uint8 array or PNG/GIF bytes at its own pixel size, losslessly (no JPEG)."""
    data = image if isinstance(image, bytes) else png_bytes(image)
    st.image(data, caption=caption, width="content")


def progress_callback(label: str):
    """A progress(done, total) function for the core, drawing an st.progress bar."""
    bar = st.progress(0.0, text=label)

    def update(done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=f"{label} {done}/{total}")

    return update, bar
