"""Latent page: one image's z, edited component by component, plus sweeps of chosen components."""
from __future__ import annotations

import numpy as np
import streamlit as st

from dcgan.analysis.views import Z_UPLOAD_MAX_BYTES, image_png, render_z, z_from_upload, z_json, z_npy
from dcgan.imaging import upscale
from dcgan.sampling import z_from_seed
from dcgan.analysis.sensitivity import heatmap, heatmap_image, sensitivity, sensitivity_order
from explorer.quality_charts import sensitivity_figure
from explorer.common import SEED_MAX, bounded_number, show_image
from explorer.models import chosen_generator
from explorer.intro import page_intro
from explorer.sidebar import step_text
from explorer.sweep_view import sweep_section

Z_LIMIT = 3.5  # slider range; a standard normal component lies within it 99.95 % of the time
COMPONENTS_PER_GROUP = 20
SLIDER_COLUMNS = 4
IMAGE_SCALE = 10

st.title("Latent space")
page_intro("latent")
sel, G = chosen_generator()
z_dim = G.z_dim
model_key = (str(sel.run.path), sel.step)


def set_z(z: np.ndarray) -> None:
    """Make z current and move every slider to it (called before the sliders exist in a run)."""
    st.session_state["latent_z"] = np.asarray(z, dtype=np.float32).ravel().copy()
    for i, v in enumerate(st.session_state["latent_z"]):
        st.session_state[f"z_{i}"] = float(np.clip(round(float(v), 2), -Z_LIMIT, Z_LIMIT))


def from_seed() -> None:
    seed = st.session_state["latent_seed"]
    if seed is None or not 0 <= seed <= SEED_MAX:
        return  # the box says what is allowed; z stays as it was
    seed = int(seed)
    st.session_state["latent_seed_value"] = seed  # outlives the widget when another page is shown
    set_z(z_from_seed(seed, z_dim)[0].numpy())


def random_seed() -> None:
    st.session_state["latent_seed"] = int(np.random.default_rng().integers(0, 2**31 - 1))
    from_seed()


def z_uploaded() -> None:
    """A z file (this page's JSON or NPY download) becomes the current z; a bad one is an error."""
    upload = st.session_state.get("latent_upload")
    st.session_state.pop("latent_upload_error", None)
    if upload is None:
        return
    try:
        set_z(z_from_upload(upload.getvalue(), z_dim))
    except ValueError as e:
        st.session_state["latent_upload_error"] = f"{upload.name}: {e}"


def slider_moved(i: int) -> None:
    # only the moved component changes: the others keep their exact (unrounded) seed values
    st.session_state["latent_z"][i] = st.session_state[f"z_{i}"]


if "latent_seed" not in st.session_state:  # first visit, or back from another page
    st.session_state["latent_seed"] = st.session_state.get("latent_seed_value", 0)
z = st.session_state.get("latent_z")
if z is None or z.shape[0] != z_dim:  # first visit, or a model with another z_dim
    from_seed()
    z = st.session_state.get("latent_z")
    if z is None or z.shape[0] != z_dim:
        # the seed box holds no valid seed (from_seed left z alone): the last valid seed's z, at this size
        set_z(z_from_seed(st.session_state.get("latent_seed_value", 0), z_dim)[0].numpy())
for i in range(z_dim):
    # widgets of a page not shown are forgotten: restore the sliders from the stored z
    if f"z_{i}" not in st.session_state:
        st.session_state[f"z_{i}"] = float(np.clip(round(float(st.session_state["latent_z"][i]), 2),
                                                   -Z_LIMIT, Z_LIMIT))
z = st.session_state["latent_z"]

left, right = st.columns([2, 3], gap="large")
with left:
    # the seed box on its own row: wide enough for the ten digits a Random seed can have
    bounded_number(st, "Seed", 0, SEED_MAX, key="latent_seed", step=1, on_change=from_seed,
                   help="the same seed gives the same z on every page and in the CLI.")
    c2, c3, _ = st.columns([1, 1, 1])
    c2.button("Random", on_click=random_seed, help="a new random seed", width="stretch")
    c3.button("Reset", on_click=from_seed, help="back to the seed's z", width="stretch")
    drawn = render_z(G, z, scale=1)  # G(z) once: shown, and under the sensitivity heat map
    image = upscale(drawn, IMAGE_SCALE)
    show_image(image, caption=f"G(z) · {sel.run.name} · {step_text(sel.run, sel.step)}")
    st.caption(f"|z| = {np.linalg.norm(z):.2f} (a typical z has |z| ≈ {np.sqrt(z_dim):.1f}). "
               "The Interpolate page can start or end at this z.")
    # downloads never rerun the page: there is nothing to recompute. Their files are made on the click
    # (deferred), not on every slider move: a file made per run is released by the next move's run,
    # and the browser's check of the button's URL then met a 404 (bench/class_of_20.py, 5 sessions under load)
    d1, d2, d3 = st.columns(3)
    shown_z = z.copy()  # the z drawn now: slider moves change the session's array in place
    d1.download_button("PNG", lambda: image_png(image), file_name="z_image.png", mime="image/png",
                       icon=":material/download:", width="stretch", help="the image as shown", on_click="ignore")
    d2.download_button("JSON", lambda: z_json(shown_z), file_name="z.json", mime="application/json",
                       icon=":material/download:", width="stretch", help="z as a JSON list", on_click="ignore")
    d3.download_button("NPY", lambda: z_npy(shown_z), file_name="z.npy", mime="application/octet-stream",
                       icon=":material/download:", width="stretch", help="z as a NumPy .npy file", on_click="ignore")
    # Streamlit's uploader counts in whole MB; the page says the app's own limit, in bytes
    st.file_uploader("Load a z (JSON or NPY, as downloaded here)", type=["json", "npy"], key="latent_upload",
                     on_change=z_uploaded, max_upload_size=1, help=f"at most {Z_UPLOAD_MAX_BYTES:,} bytes")
    if "latent_upload_error" in st.session_state:
        st.error(f"Cannot use that z: {st.session_state['latent_upload_error']}")

def sort_by_sensitivity() -> None:
    """Freeze the slider order at this z: re-ordering while a slider is dragged would move it away."""
    if st.session_state.get("latent_order_by") == "sensitivity":
        order = sensitivity_order(sensitivity(G, st.session_state["latent_z"]))
        st.session_state["latent_order"] = {"model": model_key, "order": order}


with right:
    st.subheader(f"z components ({z_dim})")
    s1, s2 = st.columns([3, 1])
    order_by = s1.radio("Order", ["index", "sensitivity"], horizontal=True, key="latent_order_by",
                        on_change=sort_by_sensitivity,
                        format_func={"index": "by index", "sensitivity": "most sensitive first"}.get,
                        help="most sensitive first: the components that move the image most at this z lead "
                             "(the order is taken when chosen; Re-sort takes it again)")
    order = list(range(z_dim))
    if order_by == "sensitivity":
        frozen = st.session_state.get("latent_order")
        if s2.button("Re-sort", help="order by the sensitivity at the current z") or not frozen \
                or frozen["model"] != model_key:
            sort_by_sensitivity()
        order = st.session_state["latent_order"]["order"]
    show_sensitivity = st.toggle("Sensitivity at this z", key="latent_show_sensitivity",
                                 help="how far the image moves per unit of each component (|dG/dz_i|, after "
                                      "GAN-Geometry), and where in the image one component acts")
    if show_sensitivity:
        values = sensitivity(G, z)
        h1, h2 = st.columns([3, 1])
        chosen = h2.selectbox("Where does it act?", order, key="latent_heat_component",
                              format_func=lambda i: f"z[{i}]", help="a heat map of |dG/dz_i| per pixel")
        h1.plotly_chart(sensitivity_figure(values, chosen), key="latent_sensitivity")
        with h2:
            heat = heatmap(G, z, int(chosen))
            show_image(upscale(heatmap_image(heat, drawn), max(2, 140 // G.image_size)),
                       caption=f"z[{chosen}]: {values[chosen]:.3g}; {int((values == 0).sum())} of {z_dim} "
                               "components do nothing here")
    for g0 in range(0, z_dim, COMPONENTS_PER_GROUP):
        group = order[g0:g0 + COMPONENTS_PER_GROUP]
        title = f"components {g0}–{g0 + len(group) - 1}" if order_by == "index" else \
            f"most sensitive {g0 + 1}–{g0 + len(group)}"
        with st.expander(title, expanded=g0 == 0):
            cols = st.columns(SLIDER_COLUMNS)
            for j, i in enumerate(group):
                # value= is never shown (the key's state, set above, is) but saves Streamlit a scan of the
                # whole session state per slider to learn that a slider with no value is not a range:
                # 100 such scans were most of a slider move's server time
                cols[j % SLIDER_COLUMNS].slider(
                    f"z[{i}]", -Z_LIMIT, Z_LIMIT, value=0.0, step=0.05, key=f"z_{i}", on_change=slider_moved,
                    args=(i,))

sweep_section(G, z, model_key, sel)
