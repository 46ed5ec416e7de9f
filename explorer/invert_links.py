"""Where a z found on the Invert page goes: the Latent page's sliders, the Interpolate page's start, and
the run's saved z's (listed, previewed, reloaded), which the analogies pick from too."""
from __future__ import annotations

import numpy as np
import streamlit as st

from dcgan.analysis.inversion import saved_latents
from dcgan.analysis.views import render_z
from explorer.common import show_image

# the Interpolate page's own choices (explorer/interpolate.py): its first mode and the Latent page's z
INTERP_MODE = "between two z"
INTERP_FROM_LATENT = "current z (Latent page)"


def make_current(z: np.ndarray) -> None:
    """z becomes the Latent page's z; its sliders are restored from it there (as the Directions page does)."""
    z = np.asarray(z, dtype=np.float32).ravel().copy()
    st.session_state["latent_z"] = z
    for i in range(len(z)):
        st.session_state.pop(f"z_{i}", None)


def to_latent(z: np.ndarray) -> None:
    make_current(z)
    st.switch_page("explorer/latent.py")


def to_interpolate(z: np.ndarray) -> None:
    """The Interpolate page opens between two z, starting at z (as the Latent page's z); the end stays a seed."""
    make_current(z)
    st.session_state["interp_mode"] = INTERP_MODE
    st.session_state["interp_source_Start"] = INTERP_FROM_LATENT
    st.switch_page("explorer/interpolate.py")


def send_buttons(z: np.ndarray, key: str) -> None:
    """Buttons that make z the Latent page's current z, or the Interpolate page's start."""
    b1, b2 = st.columns(2)
    if b1.button("Edit on the Latent page", key=f"{key}_latent", help="its sliders start at this z"):
        to_latent(z)
    if b2.button("Morph on the Interpolate page", key=f"{key}_interp",
                 help="the Interpolate page starts at this z; pick the end (a seed, say the model's 8) there"):
        to_interpolate(z)


def saved_section(G, run, scale: int) -> dict[str, np.ndarray]:
    """The run's saved z's: pick one to see G(z) and send it on. Returns them by name (for the analogies)."""
    saved, skipped = saved_latents(run, G.z_dim)
    st.subheader("Saved z's")
    if skipped:
        st.caption(f":material/warning: {skipped} saved file(s) in latents/ are damaged or for another z size: "
                   "left out.")
    if not saved:
        st.caption(f"None yet: every z found here is saved with run **{run.name}**.")
        return saved
    records = {r["name"]: r for r in run.latents()}
    c1, c2 = st.columns([1, 2])
    name = c1.selectbox("Saved z", list(saved), key="inv_saved_pick",
                        help=f"kept in {run.name}/latents/; `python -m dcgan invert --save-as` adds to them too")
    record = records.get(name, {})
    error = record.get("error")
    with c1:
        show_image(render_z(G, saved[name], scale=scale),
                   caption=f"G(z) · from {record.get('source', '?')}"
                           + (f" · error {error:.4f}" if isinstance(error, (int, float)) else ""))
    with c2:
        send_buttons(saved[name], "inv_saved")
    return saved
