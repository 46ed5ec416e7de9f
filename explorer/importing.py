"""The Train page's import section: upload a DCGAN generator trained elsewhere and open it as a run.

The page only collects the file and a name; dcgan.importer checks and writes the run.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from dcgan.runs.checkpoint import CheckpointError
from dcgan.config import ConfigError
from dcgan.runs.importer import import_generator

UPLOAD_TYPES = ["pth", "pt", "ckpt", "bin", "safetensors"]


def import_form(checkpoints: Path, expanded: bool = False) -> None:
    """Upload a generator state_dict; on success the new run is selected and the page redrawn.
    A refused file stays in the uploader with the reason right under it."""
    done = st.session_state.pop("import_done", None)
    if done:
        st.success(done)
    # a fresh uploader after each import: the next upload starts empty, a refused one stays
    generation = st.session_state.setdefault("import_generation", 0)
    with st.expander("Import a generator", expanded=expanded or "import_error" in st.session_state,
                     icon=":material/upload:"):
        st.caption("A plain DCGAN generator `state_dict` trained elsewhere, such as pytorch/examples' "
                   "`netG_epoch_24.pth`, or a `.safetensors` file. Only tensors are read (nothing in the "
                   "file runs); the shape is taken from them. Same as `python -m dcgan import PATH`.")
        with st.form("import_form"):
            upload = st.file_uploader("Generator weights", type=UPLOAD_TYPES, key=f"import_file_{generation}")
            run_name = st.text_input("Name for the imported run", key="import_run_name",
                                     placeholder="default: the file's name")
            submitted = st.form_submit_button("Import", type="primary")
        if submitted:
            st.session_state.pop("import_error", None)
            if upload is None:
                st.session_state["import_error"] = "Choose a generator file to import."
            else:
                try:
                    result = import_generator(upload.getvalue(), upload.name, checkpoints, run_name.strip() or None)
                except (ConfigError, CheckpointError, OSError) as e:
                    st.session_state["import_error"] = f"Cannot import {upload.name}: {e}"
                else:
                    st.session_state["select_run_next"] = result.run.name
                    st.session_state["import_generation"] = generation + 1
                    st.session_state["import_done"] = (f"Imported {upload.name} as run **{result.run.name}** "
                                                       f"({result.summary()}).")
                    st.rerun()
        if "import_error" in st.session_state:
            st.error(st.session_state["import_error"])
