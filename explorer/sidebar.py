"""The sidebar every page shares: which run and which of its weights (final model or a snapshot) to show."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from dcgan.config import PROJECT_ROOT
from dcgan.runs.rundir import ACTIVE_STATES, RunDir, list_runs, state_label

DEFAULT_RUN = "mnist"
FINAL = "final"  # the step choice that means generator.safetensors
# set by a page that deleted a run itself, and already said so: the sidebar then does not say it again
DELETED_HERE = "run_deleted_here"


def checkpoints_dir() -> Path:
    """checkpoints/ next to streamlit_app.py, or $DCGAN_CHECKPOINTS."""
    return Path(os.environ.get("DCGAN_CHECKPOINTS") or PROJECT_ROOT / "checkpoints")


def step_options(run: RunDir) -> list[str]:
    """'final' (the exported generator) and every snapshot step with weights, newest first: while a
    run trains, its newest snapshot is ahead of the last export, and comes first."""
    options = [(s, str(s)) for s in run.weight_steps()]
    if run.generator_path.is_file():
        # the export is as new as a snapshot of the same step: list it first; of unknown step (a
        # damaged generator.json), first too, so its problem is what the user sees
        step = run.export_step()
        options.append((float("inf") if step is None else step + 0.5, FINAL))
    return [o for _, o in sorted(options, reverse=True)]


def is_finished_model(run: RunDir) -> bool:
    """Whether generator.safetensors is the run's last word (not a checkpoint of a run still
    training or stopped short of its end)."""
    status = run.status()
    return status.get("state") not in ACTIVE_STATES and status.get("step") == status.get("total_steps")


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


def _pick_run(names: list[str]) -> str:
    """The run selectbox; a run this session was looking at whose folder has gone is said once."""
    # a page that just started a run asks for it here, before the widget exists in this script run
    wanted = st.session_state.pop("select_run_next", None)
    if wanted is not None:
        st.session_state["run"] = wanted
    deleted_here = st.session_state.pop(DELETED_HERE, None)
    gone = st.session_state.get("sidebar_run")
    if st.session_state.get("run") not in (None, *names):
        gone = st.session_state.pop("run")
    # The URL names the run (a refresh or a shared link opens it), but only a new session reads it: after
    # that the session's own choice rules and is written back. Streamlit's bind="query-params" read a
    # missing parameter as "the default" on some page switches, and drops the parameter while the value is
    # the default, a default that moved to the newest run: 3 of 20 class sessions exploring mnist were
    # found on a run another session had just started (bench/class_of_20.py).
    if "run" not in st.session_state:
        asked = st.query_params.get("run")
        st.session_state["run"] = asked if asked in names else DEFAULT_RUN if DEFAULT_RUN in names else names[0]
    # its default is its value too: a browser that mounts the box again starts from the default, and the
    # newest run as default put one class session on a training run from its first page (bench/class_of_20.py)
    name = st.selectbox("Run", names, index=names.index(st.session_state["run"]), key="run")
    if st.query_params.get("run") != name:
        st.query_params["run"] = name
    if gone not in (None, deleted_here, *names):
        st.warning(f"Run **{gone}** is gone (its folder was deleted or moved); showing **{name}** instead.",
                   icon=":material/folder_off:")
    # another run: its own newest weights, not the last one's step
    st.session_state["sidebar_new_run"] = st.session_state.get("sidebar_run") not in (None, name)
    st.session_state["sidebar_run"] = name
    return name


def sidebar() -> Selection:
    """Pick the run and the step in the sidebar; both are bound to the URL, so a refresh keeps them."""
    checkpoints = checkpoints_dir()
    runs = list_runs(checkpoints)
    with st.sidebar:
        st.caption(f"Runs in `{checkpoints}`")
        if not runs:
            st.info("No runs yet: start one on the Train page.")
            return Selection(checkpoints, None, None)
        names = [r.name for r in runs]
        run = runs[names.index(_pick_run(names))]
        status = run.status()
        options = step_options(run)
        if not options:
            st.caption(f"state: **{state_label(status)}** · no generator weights yet")
            return Selection(checkpoints, run, None)
        if st.session_state.pop("sidebar_new_run", False) or st.session_state.get("step") not in (None, *options):
            # set, not deleted: the URL keeps the step too (bind="query-params"), and would bring the old
            # run's step back, which the caption would then name
            st.session_state["step"] = options[0]
        step = st.selectbox("Model step", options, index=0, key="step", bind="query-params",
                            format_func=lambda o: step_label(run, o),
                            help="the final model (or, while a run trains, its last checkpoint) or any "
                                 "snapshot that saved generator weights; newest first")
        imported = run.config_values().get("imported_from")
        st.caption(f"state: **{state_label(status)}** · showing {step_text(run, step)}"
                   + (f" · imported from `{imported}`" if imported else ""))
    return Selection(checkpoints, run, step)


def page_signature(sel: Selection) -> tuple:
    """What the sidebar shows that a live view may change without a full rerun: the runs listed, and
    the selected run's state, weights and export step. A fragment that sees it change reruns the page."""
    names = tuple(r.name for r in list_runs(sel.checkpoints))
    run = sel.run
    if run is None:
        return (names,)
    return names, run.status().get("state"), tuple(run.weight_steps()), run.export_step()
