"""Train page: launch, stop and resume trainer processes, and watch the selected run live.

Training never runs inside the app: dcgan.launch starts `python -m dcgan train` as its own
process, and everything shown here is read back from the run directory, so a refresh or an app
restart picks up exactly where the trainer is.
"""
from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from dcgan.checkpoint import CheckpointError
from dcgan.config import DATASETS, IMAGE_SIZES, ConfigError, TrainConfig
from dcgan.data import DataError
from dcgan.launch import resume_training, start_training, stop_training
from dcgan.presets import PRESETS, SEEDS, preset_values
from dcgan.rundir import ACTIVE_STATES, RunDir, list_runs
from explorer.charts import auto_window, discriminator_figure, format_seconds, loss_figure, lr_figure, run_progress
from explorer.common import PROJECT_ROOT, config_problem, run_config
from explorer.importing import import_form

# While a run is active the page polls its folder. The progress line is cheap (status.json and the
# last lines of metrics.jsonl); charts are not (the whole log, and the browser redrawing plotly), and
# on a 2-core laptop every redraw is taken from the trainer's cores, so they refresh less often.
REFRESH_S = 3.0
CHART_REFRESH_S = 15.0
LOG_TAIL_LINES = 30
DATASET_LABELS = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "stacked-mnist": "Stacked MNIST (RGB, 1000 modes)",
                  "folder": "image folder", "synthetic": "synthetic shapes"}


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


def parse_float(label: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{label}: {text!r} is not a number (write e.g. 0.0002 or 2e-4)") from None


def resolve_path(text: str) -> str:
    """Relative paths mean relative to the project, whatever folder the app was started from."""
    p = Path(text).expanduser()
    return str(p if p.is_absolute() else (PROJECT_ROOT / p).resolve())


# --- the form for a new run ------------------------------------------------------------------------
# form widget key -> (config field, how the widget holds the value)
PRESET_WIDGETS = {
    "train_dataset": ("dataset", None), "train_image_size": ("image_size", None),
    "train_channels": ("channels", None), "train_steps": ("steps", None), "train_batch_size": ("batch_size", None),
    "train_lr_d": ("lr_d", "{:g}"), "train_lr_g": ("lr_g", "{:g}"), "train_g_steps": ("g_steps", None),
    "train_seed": ("seed", None), "train_adaptive_lr": ("adaptive_lr", None), "train_acc_low": ("acc_low", None),
    "train_acc_high": ("acc_high", None), "train_lr_factor": ("lr_factor", None), "train_lr_min": ("lr_min", "{:g}"),
    "train_lr_max": ("lr_max", "{:g}"), "train_snapshot_every": ("snapshot_every", None),
    "train_snapshot_weights_every": ("snapshot_weights_every", None),
    "train_checkpoint_every": ("checkpoint_every", None), "train_z_dim": ("z_dim", None),
    "train_g_width": ("g_width", None), "train_d_width": ("d_width", None), "train_kernel_size": ("kernel_size", None),
    "train_d_batchnorm": ("d_batchnorm", None), "train_d_dropout": ("d_dropout", None),
    "train_d_dropout_every": ("d_dropout_every", None),
}
NO_PRESET = "(none)"


def apply_preset() -> None:
    """Fill the form with the chosen preset's values (or the defaults); the user may still edit any."""
    name = st.session_state.get("train_preset", NO_PRESET)
    values = {**TrainConfig().to_dict(), **(preset_values(name) if name != NO_PRESET else {})}
    for key, (field, fmt) in PRESET_WIDGETS.items():
        st.session_state[key] = fmt.format(values[field]) if fmt else values[field]


def preset_label(name: str) -> str:
    if name == NO_PRESET:
        return "none (defaults)"
    p = PRESETS[name]
    return f"{name}: seed {SEEDS[name]}, {p['image_size']} px {'RGB' if p['channels'] == 3 else 'grey'}"


def new_run_form(checkpoints: Path, expanded: bool) -> None:
    """The settings of a new run; Start launches its trainer process and selects the run."""
    defaults = TrainConfig()
    with st.expander("New run", expanded=expanded, icon=":material/add:"):
        # outside the form: picking a preset must refill the form at once
        preset = st.selectbox("Preset", (NO_PRESET, *PRESETS), format_func=preset_label, key="train_preset",
                              on_change=apply_preset,
                              help="fills every field with a seed document's settings; edit any of them after")
        with st.form("train_form"):
            c1, c2, c3 = st.columns(3)
            dataset = c1.selectbox("Dataset", DATASETS, format_func=lambda d: DATASET_LABELS.get(d, d),
                                   key="train_dataset")
            data_root = c2.text_input("Data root (MNIST / Fashion-MNIST)", value=default_data_root(),
                                      key="train_data_root")
            image_folder = c3.text_input("Image folder (for 'image folder')", value="", key="train_image_folder",
                                         placeholder="/path/to/images")
            c1, c2, c3, c4 = st.columns(4)
            image_size = c1.selectbox("Image size", IMAGE_SIZES, key="train_image_size")
            channels = c2.selectbox("Channels", (1, 3), format_func=lambda c: {1: "1 (grey)", 3: "3 (RGB)"}[c],
                                    key="train_channels")
            steps = c3.number_input("Steps", min_value=1, max_value=10_000_000, value=defaults.steps, key="train_steps")
            batch_size = c4.number_input("Batch size", min_value=1, max_value=4096, value=defaults.batch_size,
                                         key="train_batch_size")
            c1, c2, c3, c4 = st.columns(4)
            lr_d = c1.text_input("Learning rate D", value=f"{defaults.lr_d:g}", key="train_lr_d")
            lr_g = c2.text_input("Learning rate G", value=f"{defaults.lr_g:g}", key="train_lr_g")
            g_steps = c3.number_input("G steps per D step", min_value=1, max_value=10, value=defaults.g_steps,
                                      key="train_g_steps")
            seed = c4.number_input("Seed", min_value=0, max_value=2**31 - 1, value=defaults.seed, key="train_seed")
            adaptive_lr = st.checkbox("Adaptive learning-rate balancing", value=defaults.adaptive_lr,
                                      key="train_adaptive_lr",
                                      help="speed D up and slow G down while D's accuracy is low, and the "
                                           "opposite while D wins")
            c1, c2, c3, c4, c5 = st.columns(5)
            acc_low = c1.number_input("Accuracy low", 0.0, 1.0, defaults.acc_low, 0.05, key="train_acc_low")
            acc_high = c2.number_input("Accuracy high", 0.0, 1.0, defaults.acc_high, 0.05, key="train_acc_high")
            lr_factor = c3.number_input("lr factor per step", 1.0, 2.0, defaults.lr_factor, 0.001, format="%.3f",
                                        key="train_lr_factor")
            lr_min = c4.text_input("lr min", value=f"{defaults.lr_min:g}", key="train_lr_min")
            lr_max = c5.text_input("lr max", value=f"{defaults.lr_max:g}", key="train_lr_max")
            c1, c2, c3, c4 = st.columns(4)
            snapshot_every = c1.number_input("Snapshot every (steps)", min_value=1, value=defaults.snapshot_every,
                                             key="train_snapshot_every")
            snapshot_weights_every = c2.number_input(
                "Weights with every k-th snapshot", min_value=0, value=defaults.snapshot_weights_every,
                key="train_snapshot_weights_every", help="0 = grids only; weights make a snapshot explorable")
            checkpoint_every = c3.number_input("Checkpoint every (steps)", min_value=1,
                                               value=defaults.checkpoint_every, key="train_checkpoint_every")
            run_name = c4.text_input("Run name", key="train_run_name")
            with st.expander("Model"):
                c1, c2, c3, c4 = st.columns(4)
                z_dim = c1.number_input("z_dim", min_value=1, max_value=1024, value=defaults.z_dim, key="train_z_dim")
                g_width = c2.number_input("G width", min_value=1, max_value=1024, value=defaults.g_width,
                                          key="train_g_width")
                d_width = c3.number_input("D width", min_value=1, max_value=1024, value=defaults.d_width,
                                          key="train_d_width")
                device = c4.selectbox("Device", ("auto", "cpu", "cuda"), key="train_device")
                c1, c2, c3, c4 = st.columns(4)
                kernel_size = c1.selectbox("Kernel size", (4, 5), key="train_kernel_size")
                d_batchnorm = c2.checkbox("BatchNorm in D", value=defaults.d_batchnorm, key="train_d_batchnorm")
                d_dropout = c3.number_input("D dropout", 0.0, 0.9, defaults.d_dropout, 0.05, key="train_d_dropout")
                d_dropout_every = c4.number_input("Dropout after every k-th conv", min_value=1, max_value=8,
                                                  value=defaults.d_dropout_every, key="train_d_dropout_every",
                                                  help="from D's second conv on; seed 000 uses 2")
            with st.expander("Evaluation during training (MNIST, Fashion-MNIST, Stacked MNIST)"):
                c1, c2, _ = st.columns([1, 1, 2])
                eval_every = c1.number_input("Evaluate every (steps, 0 = off)", min_value=0, value=defaults.eval_every,
                                             key="train_eval_every",
                                             help="FID, coverage, precision/recall into eval.jsonl: the Quality page")
                eval_samples = c2.number_input("Images per evaluation", min_value=100, max_value=10_000,
                                               value=defaults.eval_samples, key="train_eval_samples")
            start = st.form_submit_button("Start training", type="primary")

    if start:
        try:
            values = dict(
                run_name=run_name.strip(), dataset=dataset, data_root=resolve_path(data_root.strip() or "data"),
                image_folder=resolve_path(image_folder.strip()) if image_folder.strip() else "",
                image_size=int(image_size), channels=int(channels), steps=int(steps), batch_size=int(batch_size),
                lr_d=parse_float("Learning rate D", lr_d), lr_g=parse_float("Learning rate G", lr_g),
                g_steps=int(g_steps), adaptive_lr=bool(adaptive_lr), acc_low=float(acc_low), acc_high=float(acc_high),
                lr_factor=float(lr_factor), lr_min=parse_float("lr min", lr_min), lr_max=parse_float("lr max", lr_max),
                snapshot_every=int(snapshot_every), snapshot_weights_every=int(snapshot_weights_every),
                checkpoint_every=int(checkpoint_every), seed=int(seed), z_dim=int(z_dim), g_width=int(g_width),
                d_width=int(d_width), device=device, kernel_size=int(kernel_size), d_batchnorm=bool(d_batchnorm),
                d_dropout=float(d_dropout), d_dropout_every=int(d_dropout_every),
                eval_every=int(eval_every), eval_samples=int(eval_samples),
                preset="" if preset == NO_PRESET else preset)
            if values["preset"]:
                # fields the form does not show come from the preset too
                values = {**preset_values(values["preset"]), **values}
            cfg = TrainConfig.from_dict(values)
            start_training(cfg, checkpoints)
        except (ConfigError, DataError, OSError) as e:
            st.error(f"Cannot start: {e}")
        else:
            st.session_state["select_run_next"] = cfg.run_name
            st.session_state["train_started"] = True
            st.rerun()


st.title("Train")
sel = st.session_state["selection"]
checkpoints = sel.checkpoints
# a fresh default name on the first visit and after each start (set before the widget exists)
if st.session_state.pop("train_started", False) or "train_run_name" not in st.session_state:
    st.session_state["train_run_name"] = new_run_name()

runs = list_runs(checkpoints)
if not runs:
    st.info(f"No runs in `{checkpoints}` yet: set one up below.")
    new_run_form(checkpoints, expanded=True)
    import_form(checkpoints)
    st.stop()

# --- the selected run: what matters most while it trains, so it comes first ---------------------------
run = sel.run
status = run.status()
state = status.get("state", "unknown")
cfg = run_config(run)
st.subheader(f"Run {run.name}")
st.caption("The run chosen in the sidebar; every run is listed below.")

b1, b3, b2, _ = st.columns([1, 2, 1, 3], vertical_alignment="bottom")
if b1.button("Stop", disabled=state not in ACTIVE_STATES, help="stop cleanly after the next step, with a checkpoint"):
    try:
        stop_training(checkpoints, run.name)
    except (ConfigError, OSError) as e:
        st.error(f"Cannot stop: {e}")
    else:
        st.toast(f"Asked {run.name} to stop")
more = b3.number_input("More steps", min_value=1, max_value=10_000_000, value=max(1, int(cfg.get("steps", 1000)) // 2),
                       key=f"train_more_steps_{run.name}")
if b2.button("Resume", disabled=state in ACTIVE_STATES or not run.checkpoint_path.is_file(),
             help="continue from the last checkpoint for 'More steps' steps"):
    try:
        resume_training(checkpoints, run.name, int(more))
    except (ConfigError, CheckpointError, DataError, OSError) as e:
        st.error(f"Cannot resume: {e}")
    else:
        st.rerun()

if problem := config_problem(run):
    st.error(f"The config.json of run **{run.name}** is not usable: {problem}")
if state == "interrupted":
    resumable = "Resume continues from its last checkpoint." if run.checkpoint_path.is_file() else \
        "It saved no checkpoint, so it cannot be resumed: start a new run."
    st.warning(f"Run **{run.name}** was interrupted at step {status.get('step')}: its trainer process is gone "
               f"without having said why. {resumable}")
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
    # until the trainer writes its first status, the total comes from the requested config
    prog = run_progress(run.recent_metrics(), {**status, "total_steps": status.get("total_steps") or cfg.get("steps")},
                        cfg.get("batch_size"))
    speed = f"{prog['images_per_s']:.0f} images/s" if prog["images_per_s"] else "measuring speed…"
    eta = f"ETA {format_seconds(prog['eta_s'])}" if status.get("state") in ACTIVE_STATES else status.get("state")
    st.progress(prog["fraction"], text=f"step {prog['step']}/{prog['total']} · {speed} · {eta}")


def live_charts() -> None:
    """Loss and D charts and the newest grid; while active they refresh every CHART_REFRESH_S."""
    metrics = run.metrics()
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
            st.image(run.grid_path(steps[-1]).read_bytes(), width="stretch",
                     caption=f"newest snapshot: step {steps[-1]}")
        else:
            st.info("No snapshot yet.")


active = state in ACTIVE_STATES
if active:
    st.info(f"**{run.name}** is {state}; this view refreshes every {REFRESH_S:g} s "
            f"(the charts every {CHART_REFRESH_S:g} s).")
st.fragment(live_progress, run_every=REFRESH_S if active else None)(active, state, len(run.weight_steps()))
st.fragment(live_charts, run_every=CHART_REFRESH_S if active else None)()

# --- all runs -------------------------------------------------------------------------------------
st.subheader("All runs")
rows = []
for r in runs:
    # own names: the live fragments read `status` and `cfg` of the selected run as globals on its reruns
    r_status, r_cfg = r.status(), run_config(r)
    rows.append({"run": r.name, "state": r_status.get("state", "unknown"),
                 "step": f"{r_status.get('step', 0)}/{r_status.get('total_steps', r_cfg.get('steps', '?'))}",
                 "dataset": "imported" if r_cfg.get("imported_from") else r_cfg.get("dataset", "?"),
                 "image size": r_cfg.get("image_size"),
                 "snapshots": len(r.snapshot_steps())})
st.table(rows, hide_index=True)  # real DOM text: readable, searchable, and few rows
new_run_form(checkpoints, expanded=False)
import_form(checkpoints)
