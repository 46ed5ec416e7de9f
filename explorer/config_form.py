"""The Train page's form for a new run, built from TrainConfig's schema (dcgan.config).

Each field's widget, help text, bounds and choices come from its metadata; only the layout (which
fields share a row, which sit in an expander) and the labels are written here. A field the layout
does not place still gets a widget, under "Other settings", so a new config field needs no edit here.
"""
from __future__ import annotations

from dataclasses import Field

import streamlit as st

from dcgan.config import ConfigError, TrainConfig, bounds_text, config_fields, in_bounds
from dcgan.config import DATASET_SPECS

KEY_PREFIX = "train_"
DATASET_LABELS = {s.name: s.label + (f" (RGB, {s.modes} modes)" if s.modes else "") for s in DATASET_SPECS.values()}
EVALUATED = ", ".join([s.label for s in DATASET_SPECS.values() if s.evaluator]
                      + [f"a labelled {s.label} with its evaluator" for s in DATASET_SPECS.values() if s.folder])
LABELS = {
    "dataset": "Dataset", "data_root": "Data root (MNIST / Fashion-MNIST)",
    "image_folder": "Image folder (for 'image folder')", "image_size": "Image size", "channels": "Channels",
    "steps": "Steps", "batch_size": "Batch size", "lr_d": "Learning rate D", "lr_g": "Learning rate G",
    "lr_decay_from": "Learning-rate decay from (share of steps, 1 = off)",
    "g_steps": "G steps per D step", "seed": "Seed", "adaptive_lr": "Adaptive learning-rate balancing",
    "acc_low": "Accuracy low", "acc_high": "Accuracy high", "lr_factor": "lr factor per step", "lr_min": "lr min",
    "lr_max": "lr max", "snapshot_every": "Snapshot every (steps)",
    "snapshot_weights_every": "Weights every k snapshots", "checkpoint_every": "Checkpoint every (steps)",
    "keep_snapshot_weights": "Snapshot weights kept (0 = all)",
    "run_name": "Run name", "z_dim": "z_dim", "g_width": "G width", "d_width": "D width", "device": "Device",
    "kernel_size": "Kernel size", "depth": "Depth (3x3 blocks per size)", "d_batchnorm": "BatchNorm in D",
    "d_dropout": "D dropout",
    "d_dropout_every": "Dropout after every k-th conv", "eval_every": "Evaluate every (steps, 0 = off)",
    "eval_samples": "Images per evaluation", "beta1": "Adam beta1", "beta2": "Adam beta2",
    "label_smoothing": "Label smoothing", "log_every": "Log every (steps)", "grid_size": "Images per snapshot",
    "holdout": "Held-out share (folders)", "precision": "Precision", "compile": "torch.compile",
    "sync_batchnorm": "SyncBatchNorm (torchrun, GPUs)", "gan_loss": "GAN loss", "d_spectral_norm": "Spectral norm in D",
    "d_mbstd": "Minibatch std-dev in D", "g_topk": "G's top-k share of fakes (1 = all)",
    "r1_gamma": "R1 gamma (0 = off)", "r1_every": "R1 every (steps)",
    "diffaugment": "DiffAugment policy", "ema_decay": "EMA decay of G (0 = off)", "ema_start": "EMA start (step)",
}
FORMATS = {"dataset": lambda d: DATASET_LABELS.get(d, d), "channels": lambda c: {1: "1 (grey)", 3: "3 (RGB)"}.get(c, c)}
# (expander title, or None for the top of the form; rows of fields)
LAYOUT = [
    (None, [("dataset", "data_root", "image_folder"), ("image_size", "channels", "steps", "batch_size"),
            ("lr_d", "lr_g", "g_steps", "seed"),
            ("snapshot_every", "snapshot_weights_every", "checkpoint_every", "run_name")]),
    ("Model", [("z_dim", "g_width", "d_width", "depth"),
               ("kernel_size", "d_batchnorm", "d_dropout", "d_dropout_every"), ("device",)]),
    ("Optimisation and stabilisers", [("beta1", "beta2", "lr_decay_from", "label_smoothing"),
                                      ("gan_loss", "d_spectral_norm", "d_mbstd", "g_topk"),
                                      ("r1_gamma", "r1_every", "diffaugment"), ("ema_decay", "ema_start"),
                                      ("adaptive_lr",), ("acc_low", "acc_high", "lr_factor", "lr_min", "lr_max")]),
    (f"Evaluation during training ({EVALUATED})", [("eval_every", "eval_samples")]),
    ("Outputs and speed", [("log_every", "grid_size", "holdout", "keep_snapshot_weights"),
                           ("precision", "compile", "sync_batchnorm")]),
]
INVALID = object()  # what a widget holds when its text is not a usable value (its message is shown)


def form_fields() -> list[Field]:
    """The config fields the form offers (all but those only the trainer or importer sets)."""
    return [f for f in config_fields() if f.metadata["form"]]


def layout() -> list[tuple[str | None, list[tuple[str, ...]]]]:
    """LAYOUT, plus an 'Other settings' section with every form field it does not place."""
    placed = {name for _, rows in LAYOUT for row in rows for name in row}
    rest = [f.name for f in form_fields() if f.name not in placed]
    return LAYOUT + ([("Other settings", [tuple(rest[i:i + 4]) for i in range(0, len(rest), 4)])] if rest else [])


def label(f: Field) -> str:
    return LABELS.get(f.name, f.name.replace("_", " ").capitalize())


def widget_value(f: Field):
    """The form's value for a field: its widget's contents, parsed (text floats)."""
    value = st.session_state.get(KEY_PREFIX + f.name)
    if f.type == "float":
        try:
            return float(str(value).strip())
        except ValueError:
            return INVALID
    return value


def form_text(f: Field, value) -> object:
    """A config value as its widget holds it: floats as text, so 2e-4 can be typed and shown."""
    return f"{value:g}" if f.type == "float" else value


def fill(values: dict) -> None:
    """Put config values into the form's widgets (a preset, or the defaults)."""
    for f in form_fields():
        if f.name in values:
            st.session_state[KEY_PREFIX + f.name] = form_text(f, values[f.name])


def fill_missing(values: dict) -> None:
    """Defaults for widgets the session has not seen yet (first visit, or a field added since)."""
    for f in form_fields():
        if KEY_PREFIX + f.name not in st.session_state:
            st.session_state[KEY_PREFIX + f.name] = form_text(f, values[f.name])


def field_widget(container, f: Field):
    """One field's widget from its metadata; returns the value, or INVALID after showing, right
    under the widget, what is wrong with it."""
    meta, key, text = f.metadata, KEY_PREFIX + f.name, label(f)
    allowed = bounds_text(meta)
    help_text = meta["help"] + (f". Allowed: {allowed}." if allowed else "")
    if meta["choices"]:
        options = list(meta["choices"])
        if st.session_state.get(key) not in options:
            st.session_state[key] = options[0]
        container.selectbox(text, options, key=key, help=help_text, format_func=FORMATS.get(f.name, str))
    elif f.type == "bool":
        container.checkbox(text, key=key, help=help_text)
    elif f.type == "int":
        container.number_input(text, key=key, step=1, help=help_text)
    else:
        # value= as well as the key's state: a text box the browser mounts again (a collapsed expander opened
        # after a rerun) starts from the element's default, and without one it came back empty ('' is not a
        # number) when Start was pressed soon after the page opened (tests/browser, CI)
        container.text_input(text, value=st.session_state.get(key, ""), key=key, help=help_text)
    value = widget_value(f)
    if value is INVALID:
        container.error(f"**{text}**: {st.session_state.get(key)!r} is not a number (write e.g. 0.0002 or 2e-4)")
    elif f.type in ("int", "float") and (value is None or not in_bounds(value, meta)):
        container.error(f"**{text}** must be {allowed}.")
        return INVALID
    return value


def config_form(form_key: str = "train_form", defaults: dict | None = None) -> tuple[dict | None, bool]:
    """The whole form, its widgets first filled from defaults (TrainConfig's when None); returns (field
    values, or None when a field is invalid; whether it was submitted)."""
    fill_missing(defaults or TrainConfig().to_dict())
    fields = {f.name: f for f in form_fields()}
    values = {}
    with st.form(form_key):
        for title, rows in layout():
            box = st.expander(title) if title else st.container()
            with box:
                for row in rows:
                    for column, name in zip(box.columns(len(row)), row):
                        values[name] = field_widget(column, fields[name])
        submitted = st.form_submit_button("Start training", type="primary")
    if any(v is INVALID for v in values.values()):
        return None, submitted
    return values, submitted


def config_from_form(values: dict, base: dict) -> TrainConfig:
    """The form's values over base (defaults and a preset's fields), validated."""
    try:
        return TrainConfig.from_dict({**base, **values})
    except TypeError as e:  # a widget held a value of another type than its field
        raise ConfigError(str(e)) from None
