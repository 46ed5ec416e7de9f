"""The Invert page's analogies: A : B :: C : ? from any three z (seeds, the run's saved z's, the Latent
page's z), shown as the four images (dcgan.analysis.views.analogy_view: z_C + (z_B - z_A))."""
from __future__ import annotations

import numpy as np
import streamlit as st

from dcgan.analysis.views import analogy_view
from dcgan.sampling import z_from_seed
from explorer.common import SEED_MAX, bounded_number, show_image
from explorer.invert_links import send_buttons

SEED = "a seed"
LATENT = "the Latent page's z"
DEFAULT_SEEDS = {"A": 0, "B": 1, "C": 2}


def _slot(column, name: str, G, saved: dict[str, np.ndarray], latent_z) -> np.ndarray | None:
    """One of A, B, C: a seed, a saved z (by name) or the Latent page's z."""
    options = [SEED] + ([LATENT] if latent_z is not None else []) + list(saved)
    with column:
        if st.session_state.get(f"inv_ana_{name}") not in (None, *options):
            del st.session_state[f"inv_ana_{name}"]  # a saved z of another run, or the Latent z gone
        pick = st.selectbox(name, options, key=f"inv_ana_{name}",
                            format_func=lambda o: o if o in (SEED, LATENT) else f"saved: {o}")
        if pick == SEED:
            seed = bounded_number(st, f"Seed {name}", 0, SEED_MAX, DEFAULT_SEEDS[name], key=f"inv_ana_seed_{name}",
                                  step=1)
            return None if seed is None else z_from_seed(int(seed), G.z_dim)[0].numpy()
        return latent_z if pick == LATENT else saved[pick]


def analogy_section(G, saved: dict[str, np.ndarray], scale: int) -> None:
    st.subheader("Analogies: A is to B as C is to ?")
    st.caption("? = C + (B − A): C moved the way A moves to B (the DCGAN paper's vector arithmetic). Try "
               "your drawings: a thin digit as A and the same digit thick as B, then any C.")
    latent_z = st.session_state.get("latent_z")
    if latent_z is not None and latent_z.shape[0] != G.z_dim:
        latent_z = None
    columns = st.columns(3)
    zs = [_slot(c, n, G, saved, latent_z) for c, n in zip(columns, "ABC")]
    if any(z is None for z in zs):
        return  # a seed box says what is allowed
    z_d, images = analogy_view(G, *zs, scale=scale)
    cols = st.columns(4)
    for col, image, label in zip(cols, images, ["A", "B", "C", "? = C + (B − A)"]):
        with col:
            show_image(image, caption=label)
    st.caption(f"|?| = {np.linalg.norm(z_d):.2f}; a typical z has {np.sqrt(G.z_dim):.1f} (three independent z's "
               "give about √3 times that: the answer may look less typical than its parts).")
    send_buttons(z_d, "inv_ana")
