"""Train page: launch, stop and resume trainer processes, and watch the selected run live.

Training never runs inside the app: dcgan.launch starts `python -m dcgan train` as its own
process, and everything shown here is read back from the run directory, so a refresh or an app
restart picks up exactly where the trainer is.
"""
from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from dcgan.runs.checkpoint import CheckpointError
from dcgan.config import ConfigError, TrainConfig
from dcgan.data import DataError
from dcgan.training.launch import delete_run, is_protected, resume_training, start_training, stop_training
from dcgan.presets import PRESETS, RECIPES, preset_summary, preset_values
from dcgan.runs.rundir import ACTIVE_STATES, RunDir, list_runs, state_label
from explorer.charts import auto_window, discriminator_figure, format_seconds, loss_figure, lr_figure, run_progress
from explorer.common import PROJECT_ROOT, bounded_number, show_image, skipped_lines_note
from explorer.config_form import config_form, config_from_form, fill
from explorer.importing import import_form

# While a run is active the page polls its folder. The progress line is cheap (status.json and the
# last lines of metrics.jsonl); charts are not (the whole log, and the browser redrawing plotly), and
# on a 2-core laptop every redraw is taken from the trainer's cores, so they refresh less often.
REFRESH_S = 3.0
CHART_REFRESH_S = 15.0
LOG_TAIL_LINES = 30


def default_data_root() -> str:
    shared = PROJECT_ROOT.parent / "shared" / "datasets"
    return "../shared/datasets" if shared.is_dir() else "data"


def new_run_name() -> str:
    return time.strftime("run-%Y%m%d-%H%M%S")


def log_tail(run: RunDir, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = run.log_path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def resolve_path(text: str) -> str:
    """Relative paths mean relative to the project, whatever folder the app was started from."""
    p = Path(text).expanduser()
    return str(p if p.is_absolute() else (PROJECT_ROOT / p).resolve())


# --- the form for a new run ------------------------------------------------------------------------
NO_PRESET = "(none)"


def apply_preset() -> None:
    """Fill the form with the chosen preset's values (or the defaults); the user may still edit any."""
    values = form_defaults(st.session_state.get("train_preset", NO_PRESET))
    for own in ("run_name", "data_root", "image_folder"):  # where the data is and the name stay the user's
        values.pop(own)
    fill(values)


def preset_label(name: str) -> str:
    return "none (defaults: the plain DCGAN)" if name == NO_PRESET else preset_summary(name)


def form_defaults(name: str) -> dict:
    """Every field's value for a preset name (or NO_PRESET: the config's defaults)."""
    return {**TrainConfig().to_dict(), **(preset_values(name) if name != NO_PRESET else {})}


def new_run_form(checkpoints: Path, expanded: bool) -> None:
    """The settings of a new run (every field from the config's schema); Start checks what can be
    checked, launches the trainer process and selects the run."""
    st.session_state.setdefault("train_data_root", default_data_root())
    # a new user who just presses Start gets the recipe on MNIST; the seeds' models are one pick away
    st.session_state.setdefault("train_preset", RECIPES["mnist"])
    with st.expander("New run", expanded=expanded, icon=":material/add:"):
        # outside the form: picking a preset must refill the form at once
        preset = st.selectbox("Preset", (NO_PRESET, *PRESETS), format_func=preset_label, key="train_preset",
                              on_change=apply_preset,
                              help="fills every field: the recipe for MNIST / Fashion-MNIST / Stacked MNIST (the "
                                   "best quality per minute measured here), or a seed document's model; edit any "
                                   "field after")
        values, start = config_form(defaults=form_defaults(preset))
        if not start:
            return
        if values is None:
            st.error("Cannot start: fix the fields marked above.")
            return
        try:
            values = dict(values, run_name=values["run_name"].strip(),
                          data_root=resolve_path(values["data_root"].strip() or "data"),
                          image_folder=resolve_path(values["image_folder"].strip()) if values["image_folder"].strip()
                          else "", preset="" if preset == NO_PRESET else preset)
            # fields the form does not show come from the preset too
            base = form_defaults(preset)
            cfg = config_from_form(values, base)
            start_training(cfg, checkpoints)
        except (ConfigError, DataError, OSError) as e:
            st.error(f"Cannot start: {e}")
            return
    st.session_state["select_run_next"] = cfg.run_name
    st.session_state["train_started"] = True
    st.rerun()


def run_step(run: RunDir, status: dict, cfg: dict) -> dict:
    """Step, total and speed of a run: one source for the progress line and the runs table (the
    newest of status.json and the tail of metrics.jsonl; until the trainer writes its first
    status, the total comes from the requested config)."""
    return run_progress(run.recent_metrics(), {**status, "total_steps": status.get("total_steps") or cfg.get("steps")},
                        cfg.get("batch_size"))


def resume_target(status: dict, cfg: dict) -> int:
    """Resume's default: the configured end, or half as many steps again for a run already there."""
    end, done = int(cfg.get("steps") or 1), int(status.get("step") or 0)
    return end if done < end else done + max(1, end // 2)


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
        st.rerun()
    if c2.button("Cancel", key="train_delete_cancel"):
        st.session_state.pop("train_confirm_delete", None)
        st.rerun()


st.title("Train")
sel = st.session_state["selection"]
checkpoints = sel.checkpoints
# a fresh default name on the first visit and after each start (set before the widget exists)
if st.session_state.pop("train_started", False) or "train_run_name" not in st.session_state:
    st.session_state["train_run_name"] = new_run_name()
if deleted := st.session_state.pop("train_deleted", None):
    st.success(f"Deleted run **{deleted}**.")

runs = list_runs(checkpoints)
# first on the page: what a newcomer comes here for
new_run_form(checkpoints, expanded=not runs)
if not runs:
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
target = bounded_number(b3, "Resume to step", 1, 10_000_000, resume_target(status, cfg), key=f"train_resume_to_{run.name}",
                        step=1, help=f"the total to train to; the configured end is {cfg.get('steps', '?')}.")
resume_blocked = "it is training now" if state in ACTIVE_STATES else no_checkpoint
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
    tail = log_tail(run)
    if tail:
        st.caption("End of train.log")
        st.code(tail, language=None)


def live_progress(active: bool, page_state: str, page_weight_steps: int) -> None:
    """The progress line; while active it refreshes itself every REFRESH_S."""
    status = run.status()
    if active and (status.get("state") != page_state or len(run.weight_steps()) != page_weight_steps):
        # the state changed (the banner, buttons and errors outside this fragment depend on it) or
        # new weights appeared (the sidebar's step list): redraw the whole page
        st.rerun()
    prog = run_step(run, status, cfg)
    speed = f"{prog['images_per_s']:.0f} images/s" if prog["images_per_s"] else "measuring speed…"
    eta = f"ETA {format_seconds(prog['eta_s'])}" if status.get("state") in ACTIVE_STATES else state_label(status)
    st.progress(prog["fraction"], text=f"step {prog['step']}/{prog['total']} · {speed} · {eta}")


def live_charts() -> None:
    """Loss and D charts and the newest grid; while active they refresh every CHART_REFRESH_S."""
    metrics = run.metrics()
    skipped_lines_note(run, metrics)
    left, right = st.columns([3, 2], gap="large")
    with left:
        if metrics:
            smooth = auto_window(len(metrics))  # per-step values are too noisy to read
            st.plotly_chart(loss_figure(metrics, smooth=smooth), key="train_loss")
            st.plotly_chart(discriminator_figure(metrics, smooth=smooth), key="train_d")
            if cfg.get("adaptive_lr"):
                st.plotly_chart(lr_figure(metrics), key="train_lr")
        else:
            st.info("Waiting for the first training step…")
    with right:
        steps = run.snapshot_steps()
        if steps:
            show_image(run.grid_path(steps[-1]).read_bytes(), width="stretch",
                       caption=f"newest snapshot: step {steps[-1]}")
        else:
            st.info("No snapshot yet.")


def all_runs() -> None:
    """Every run with its state and step, from the same reader as the progress line."""
    rows = []
    for r in list_runs(checkpoints):
        # own names: the live fragments read `status` and `cfg` of the selected run as globals on its reruns
        r_status, r_cfg = r.status(), r.config_values()
        prog = run_step(r, r_status, r_cfg)
        rows.append({"run": r.name, "state": state_label(r_status), "step": f"{prog['step']}/{prog['total'] or '?'}",
                     "dataset": "imported" if r_cfg.get("imported_from") else r_cfg.get("dataset", "?"),
                     "image size": r_cfg.get("image_size"), "snapshots": len(r.snapshot_steps())})
    st.table(rows, hide_index=True)  # real DOM text: readable, searchable, and few rows


active = state in ACTIVE_STATES
if imported:
    st.info(f"Run **{run.name}** is a generator imported from `{imported}`: it was not trained here, so there "
            "are no losses or progress to show. Explore it on the Latent and Interpolate pages.")
else:
    if active:
        st.info(f"**{run.name}** is {state}; this view refreshes every {REFRESH_S:g} s "
                f"(the charts every {CHART_REFRESH_S:g} s).")
    st.fragment(live_progress, run_every=REFRESH_S if active else None)(active, state, len(run.weight_steps()))
    st.fragment(live_charts, run_every=CHART_REFRESH_S if active else None)()

# --- all runs -------------------------------------------------------------------------------------
st.subheader("All runs")
any_active = any(r.status().get("state") in ACTIVE_STATES for r in runs)
st.fragment(all_runs, run_every=REFRESH_S if any_active else None)()
import_form(checkpoints)
