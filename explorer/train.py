"""Train page: launch, stop and resume trainer processes, and watch the selected run live.

Training never runs inside the app: dcgan.launch starts `python -m dcgan train` as its own
process, and everything shown here is read back from the run directory, so a refresh or an app
restart picks up exactly where the trainer is.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from dcgan.runs.checkpoint import CheckpointError
from dcgan.config import ConfigError
from dcgan.data import DataError
from dcgan.runs.rundir import ACTIVE_STATES
from dcgan.training.launch import delete_run, is_protected, resume_training, stop_training
from dcgan.training.resume import default_resume_target
from explorer.common import bounded_number
from explorer.importing import import_form
from explorer.intro import page_intro
from explorer.live import live_views, runs_table
from explorer.new_run import new_run_form
from explorer.sidebar import DELETED_HERE

LOG_TAIL_BYTES = 3000  # about the last 30 lines of train.log: a crash's last words


def confirm_delete(checkpoints: Path, name: str) -> None:
    """The second step of Delete: say what goes, then delete or cancel."""
    box = st.container(border=True)
    box.warning(f"Delete run **{name}** and every file in its folder (weights, snapshots, logs)? "
                "This cannot be undone.", icon=":material/delete:")
    c1, c2, _ = box.columns([1, 1, 4])
    if c1.button("Delete for good", type="primary", key="train_delete_confirm"):
        st.session_state.pop("train_confirm_delete", None)
        try:
            delete_run(checkpoints, name)
        except (ConfigError, OSError) as e:
            st.error(f"Cannot delete: {e}")
            return
        st.session_state["train_deleted"] = name
        st.session_state[DELETED_HERE] = name  # this page says so: the sidebar need not
        st.rerun()
    if c2.button("Cancel", key="train_delete_cancel"):
        st.session_state.pop("train_confirm_delete", None)
        st.rerun()


st.title("Train")
page_intro("train")
sel = st.session_state["selection"]
checkpoints = sel.checkpoints
if deleted := st.session_state.pop("train_deleted", None):
    st.success(f"Deleted run **{deleted}**.")

# first on the page: what a newcomer comes here for
new_run_form(checkpoints, expanded=sel.run is None)
if sel.run is None:
    st.info(f"No runs in `{checkpoints}` yet: set one up above.")
    import_form(checkpoints)
    st.stop()

# --- the selected run: what matters most while it trains ------------------------------------------
run = sel.run
status = run.status()
state = status.get("state", "unknown")
cfg = run.config_values()
imported = cfg.get("imported_from")
st.subheader(f"Run {run.name}")
st.caption("The run chosen in the sidebar; every run is listed below.")

no_checkpoint = None if run.checkpoint_path.is_file() else (
    "this run has no training checkpoint: shipped and imported models come as a generator only, so they can be "
    "explored but not trained further (start a new run, e.g. from a Preset, instead)")
b1, b3, b2, b4, _ = st.columns([1, 2, 1, 1, 2], vertical_alignment="bottom")
if b1.button("Stop", disabled=state not in ACTIVE_STATES,
             help="stop cleanly after the next step, with a checkpoint" if state in ACTIVE_STATES
             else f"the run is not training (it is {state})"):
    try:
        stop_training(checkpoints, run.name)
    except (ConfigError, OSError) as e:
        st.error(f"Cannot stop: {e}")
    else:
        st.toast(f"Asked {run.name} to stop")
resume_blocked = "it is training now" if state in ACTIVE_STATES else no_checkpoint
target = bounded_number(b3, "Resume to step", 1, 10_000_000, default_resume_target(run),
                        key=f"train_resume_to_{run.name}", step=1, disabled=resume_blocked is not None,
                        help=f"the total to train to; the configured end is {cfg.get('steps', '?')}.")
if b2.button("Resume", disabled=resume_blocked is not None,
             help=f"Cannot resume: {resume_blocked}" if resume_blocked else "continue from the last checkpoint to "
                                                                            "'Resume to step'"):
    try:
        if target is None:
            raise ConfigError("fix 'Resume to step' first")
        resume_training(checkpoints, run.name, steps=int(target))
    except (ConfigError, CheckpointError, DataError, OSError) as e:
        st.error(f"Cannot resume: {e}")
    else:
        st.rerun()
protected = is_protected(run) or ("it is training now: stop it first" if state in ACTIVE_STATES else None)
if b4.button("Delete", disabled=protected is not None, icon=":material/delete:",
             help=f"Cannot delete: {protected}" if protected else "delete this run's folder (asks first)"):
    st.session_state["train_confirm_delete"] = run.name
if st.session_state.get("train_confirm_delete") == run.name and protected is None:
    confirm_delete(checkpoints, run.name)
if no_checkpoint and state not in ACTIVE_STATES:
    st.caption(f"Resume is off: {no_checkpoint}.")

if problem := run.config_problem():
    st.error(f"The config.json of run **{run.name}** is not usable: {problem}")
if state == "unknown":
    st.warning(f"The state of run **{run.name}** is unknown: {status.get('error') or 'its status.json is missing or unreadable'}. "
               "Its files can still be explored; a resume rewrites the status.")
if state == "interrupted":
    resumable = "Resume continues from its last checkpoint." if run.checkpoint_path.is_file() else \
        "It saved no checkpoint, so it cannot be resumed: start a new run."
    st.warning(f"Run **{run.name}** was interrupted at step {status.get('step')}: its trainer process is gone "
               f"without having said why. {resumable}")
if diverged := status.get("diverged"):
    st.error(f"Run **{run.name}** diverged at step {diverged.get('step')}: {diverged.get('why')}. Its later "
             "snapshots are not worth exploring; resume from an earlier checkpoint with lower learning rates, or "
             "start again with another recipe.", icon=":material/trending_down:")
for warning in status.get("warnings") or []:
    st.warning(warning, icon=":material/warning:")
if state in ("failed", "interrupted"):
    if state == "failed":
        st.error(f"Run **{run.name}** failed: {status.get('error') or 'no error recorded'}")
    tail = run.log_tail(LOG_TAIL_BYTES).strip()
    if tail:
        st.caption("End of train.log")
        st.code(tail, language=None)


if imported:
    st.info(f"Run **{run.name}** is a generator imported from `{imported}`: it was not trained here, so there "
            "are no losses or progress to show. Explore it on the Latent and Interpolate pages.")
else:
    live_views(sel, active=state in ACTIVE_STATES)

st.subheader("All runs")
runs_table(sel)
import_form(checkpoints)
