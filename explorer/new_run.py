"""The Train page's New-run section: a preset box, the form from the config's schema, and Start."""
from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from dcgan.config import PROJECT_ROOT, ConfigError, TrainConfig
from dcgan.data import DataError, default_data_root
from dcgan.presets import PRESETS, RECIPES, preset_summary, preset_values
from dcgan.training.launch import start_training
from explorer.config_form import config_form, config_from_form, fill

NO_PRESET = "(none)"
OPEN_KEY = "train_new_run_open"  # the expander's open state, which Start closes


def new_run_name() -> str:
    return time.strftime("run-%Y%m%d-%H%M%S")


def resolve_path(text: str) -> str:
    """Relative paths mean relative to the project, whatever folder the app was started from."""
    p = Path(text).expanduser()
    return str(p if p.is_absolute() else (PROJECT_ROOT / p).resolve())


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


def prepare_session() -> None:
    """Before any widget: a fresh default run name on the first visit and after each Start, and the
    form closed after a Start, so the run just started is what the page shows first."""
    if st.session_state.pop("train_started", False):
        st.session_state[OPEN_KEY] = False
        st.session_state["train_run_name"] = new_run_name()
    st.session_state.setdefault("train_run_name", new_run_name())
    st.session_state.setdefault("train_data_root", default_data_root())
    # a new user who just presses Start gets the recipe on MNIST; the plain DCGAN presets are one pick away
    st.session_state.setdefault("train_preset", RECIPES["mnist"])


def new_run_form(checkpoints: Path, expanded: bool) -> None:
    """The settings of a new run (every field from the config's schema); Start checks what can be
    checked, launches the trainer process and selects the run."""
    prepare_session()
    st.session_state.setdefault(OPEN_KEY, expanded)
    # stateful (a key and on_change): the server knows whether it is open, and can close it
    with st.expander("New run", key=OPEN_KEY, on_change="rerun", icon=":material/add:"):
        # outside the form: picking a preset must refill the form at once
        preset = st.selectbox("Preset", (NO_PRESET, *PRESETS), format_func=preset_label, key="train_preset",
                              on_change=apply_preset,
                              help="fills every field: the recipe for MNIST / Fashion-MNIST / Stacked MNIST (the "
                                   "best quality per minute measured here), or a plain DCGAN preset (faces64, anime64, mnist28, fashion28); edit any "
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
            cfg = config_from_form(values, form_defaults(preset))
            start_training(cfg, checkpoints)
        except (ConfigError, DataError, OSError) as e:
            st.error(f"Cannot start: {e}")
            return
    st.session_state["select_run_next"] = cfg.run_name
    st.session_state["train_started"] = True
    st.rerun()
