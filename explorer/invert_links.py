"""Where a z found on the Invert page goes: the Latent page's sliders, the Interpolate page's start, and
the run's saved z's (listed, shown beside the target each was found for, reloaded, deleted), which the
analogies and the Interpolate page's endpoints pick from too."""
from __future__ import annotations

import numpy as np
import streamlit as st

from dcgan.analysis.inversion import saved_latents, saved_view
from explorer.common import show_image

# the Interpolate page's own choices (explorer/interpolate.py): its first mode, the Latent page's z, a saved z
INTERP_MODE = "between two z"
INTERP_FROM_LATENT = "current z (Latent page)"
INTERP_FROM_SAVED = "a saved z"


def make_current(z: np.ndarray) -> None:
    """z becomes the Latent page's z; its sliders are restored from it there (as the Directions page does)."""
    z = np.asarray(z, dtype=np.float32).ravel().copy()
    st.session_state["latent_z"] = z
    for i in range(len(z)):
        st.session_state.pop(f"z_{i}", None)


def to_latent(z: np.ndarray) -> None:
    make_current(z)
    st.switch_page("explorer/latent.py")


def to_interpolate(z: np.ndarray, saved: str | None = None) -> None:
    """The Interpolate page opens between two z, starting at z: the run's saved z of that name when it was
    saved, else as the Latent page's z; the end stays a seed."""
    st.session_state["interp_mode"] = INTERP_MODE
    if saved is None:
        make_current(z)
        st.session_state["interp_source_Start"] = INTERP_FROM_LATENT
    else:
        st.session_state["interp_source_Start"] = INTERP_FROM_SAVED
        st.session_state["interp_saved_Start"] = saved
    st.switch_page("explorer/interpolate.py")


def send_buttons(z: np.ndarray, key: str, saved: str | None = None) -> None:
    """Buttons that make z the Latent page's current z, or the Interpolate page's start (by its saved name,
    when it is one of the run's saved z's)."""
    b1, b2 = st.columns(2)
    if b1.button("Edit on the Latent page", key=f"{key}_latent", help="its sliders start at this z"):
        to_latent(z)
    if b2.button("Morph on the Interpolate page", key=f"{key}_interp",
                 help="the Interpolate page starts at this z; pick the end (a seed, say the model's 8) there"):
        to_interpolate(z, saved)


def _delete(run, name: str) -> None:
    """The Delete button's callback: the saved z and its target image go; the list falls to the newest left."""
    try:
        run.delete_latent(name)
    except OSError as e:
        st.session_state["inv_saved_problem"] = f"Cannot delete {name}: {str(e).splitlines()[0]}"
    st.session_state.pop("inv_saved_pick", None)


def saved_section(G, run, scale: int) -> dict[str, np.ndarray]:
    """The run's saved z's: pick one to see G(z) and send it on. Returns them by name (for the analogies)."""
    saved, skipped = saved_latents(run, G.z_dim)
    st.subheader("Saved z's")
    if skipped:
        st.caption(f":material/warning: {skipped} saved file(s) in latents/ are damaged or for another z size: "
                   "left out.")
    if problem := st.session_state.pop("inv_saved_problem", None):
        st.error(problem)
    if not saved:
        st.caption(f"None yet: every z found here is saved with run **{run.name}**.")
        return saved
    if st.session_state.get("inv_saved_pick") not in (None, *saved):
        del st.session_state["inv_saved_pick"]  # deleted, or a name of another run
    c1, c2 = st.columns([1, 2])
    name = c1.selectbox("Saved z", list(saved), key="inv_saved_pick",
                        help=f"kept in {run.name}/latents/, newest first; `python -m dcgan invert --save-as` adds "
                             "to them too")
    view = saved_view(G, run, name, saved[name], scale)
    with c2:
        show_image(view.image, caption=view.caption)
    c1.button("Delete this z", key="inv_saved_delete", on_click=_delete, args=(run, name), icon=":material/delete:",
              help=f"removes latents/{name}.json and its target image from {run.name}")
    send_buttons(saved[name], "inv_saved", saved=name)  # full width: the two buttons keep their labels whole
    return saved
