"""The Learn page's Inside G (after GAN Dissection): for one z, a layer's units as feature maps ranked by how much
switching each off changes the image; units switched off by number, as the top k for a region of the image, or
as the units that most change the evaluator's class (dcgan.analysis.units)."""
from __future__ import annotations

import streamlit as st

from dcgan.analysis.labelled import NoClassifierError
from dcgan.analysis.units import (check_units, class_units, inside_view, layers, parse_units, region_units,
                                  run_classifier, units_figure)
from dcgan.runs.rundir import RunDir
from dcgan.sampling import z_from_seed
from explorer.common import SEED_MAX, bounded_number, show_image
from explorer.sidebar import Selection

OFF = "learn_off"  # the units-off text box
LAST = "learn_inside_last"  # (layer index, InsideView) of the last run, for the region button's callback
NOTE = "learn_inside_note"  # what a callback has to say on the next run
CLASS_TOP = 8


@st.cache_data(max_entries=32, show_spinner="Switching each unit off in turn…")
def _view(weights: tuple, seed: int, layer: int, off: tuple, _G):
    # weights (the file and its time) stand for G, which stays out of the hash
    return inside_view(_G, z_from_seed(seed, _G.z_dim)[0], layer, off)


@st.cache_data(max_entries=16, show_spinner="Asking the evaluator's classifier about each unit…")
def _class_effect(weights: tuple, run_path: str, seed: int, layer: int, _G):
    label_fn, names = run_classifier(RunDir.at(run_path))
    return class_units(_G, z_from_seed(seed, _G.z_dim)[0], layer, label_fn, names, top=CLASS_TOP)


def _switch_off_region(box_rows: tuple, box_cols: tuple, k: int) -> None:
    """Callback: the top k units for the region go into the units-off box (before the box is drawn)."""
    last = st.session_state.get(LAST)
    if last is None:
        return
    try:
        units = region_units(last[1], (box_rows[0], box_cols[0], box_rows[1], box_cols[1]), k)
    except ValueError as e:
        st.session_state[NOTE] = str(e)
        return
    st.session_state[OFF] = ", ".join(map(str, units))


def _switch_off(units: list[int]) -> None:
    st.session_state[OFF] = ", ".join(map(str, units))


def inside_g_section(sel: Selection, G, weights: tuple) -> None:
    st.subheader("Inside G")
    st.caption("After GAN Dissection (Bau et al. 2019), on this run's own G. A layer is the output of one of G's "
               "blocks (after its BatchNorm and ReLU); each unit is one channel, drawn as a small map (white: "
               "strongly on, black: off, on one scale for the layer). Units are ranked by how much switching "
               "each one off on its own changes the image. Switch units off to see what they draw.")
    all_layers = layers(G)
    c1, c2, c3 = st.columns([1, 2, 2])
    seed = bounded_number(c1, "Seed", 0, SEED_MAX, 0, key="learn_seed", step=1)
    if seed is None:
        return
    default = {} if "learn_layer" in st.session_state else {"index": len(all_layers) // 2}
    layer = c2.selectbox("Layer", [layer.index for layer in all_layers], key="learn_layer",
                         format_func=lambda i: all_layers[i - 1].name, **default)
    text = c3.text_input("Units off", key=OFF, placeholder="e.g. 3, 7",
                         help="Unit numbers, separated by commas; empty for none")
    note = st.session_state.pop(NOTE, None)
    if note:
        st.warning(note)
    chosen = all_layers[layer - 1]
    try:
        off = check_units(chosen, parse_units(text))
    except ValueError as e:
        st.error(f"{e}. The image is shown with no units off.")
        off = ()
    seed = int(seed)
    view = _view(weights, seed, layer, off, G)
    st.session_state[LAST] = (layer, view)
    figure = st.container()  # filled once the region below is known: it is outlined on G(z)
    order = view.order
    st.caption("The most effective units here: " + ", ".join(f"{u} ({view.effect[u]:.2f})" for u in order[:8])
               + ". The figure in brackets is how far the image moves (L2 over its pixels in [-1, 1]) with that "
               "unit alone switched off.")

    h = view.image.shape[0]
    st.markdown("**Switch off the units that draw one region** (outlined in yellow on G(z))")
    r1, r2, r3 = st.columns([2, 2, 1])
    rows = r1.slider("Rows (top to bottom)", 0, h, (h // 4, h // 2), key="learn_region_rows")
    cols = r2.slider("Columns (left to right)", 0, h, (h // 4, 3 * h // 4), key="learn_region_cols")
    k = r3.number_input("k", 1, chosen.channels, min(3, chosen.channels), key="learn_region_k")
    st.button(f"Switch off the top {int(k)} units for rows {rows[0]}–{rows[1]}, columns {cols[0]}–{cols[1]}",
              key="learn_region_go", on_click=_switch_off_region, args=(rows, cols, int(k)))
    with figure:
        show_image(units_figure(view, f" (seed {seed})", box=(rows[0], cols[0], rows[1], cols[1])))

    st.markdown("**Units that change the class**")
    if st.button("Find them", key="learn_class_go",
                 help="Each unit of this layer switched off alone, the result shown to the evaluator's classifier"):
        st.session_state["learn_class_for"] = (weights, seed, layer)
    if st.session_state.get("learn_class_for") == (weights, seed, layer):
        try:
            effect = _class_effect(weights, str(sel.run.path), seed, layer, G)
        except NoClassifierError as e:
            st.info(str(e))
            return
        st.caption(f"The classifier calls G(z) **{effect.label}**; it gives **{effect.target}** "
                   f"{effect.score:.2f}. Switched off alone, these units lower that the most:")
        st.dataframe([{"unit": u.unit, f"P({effect.target}) after": round(u.score, 3),
                       "classified as": u.label} for u in effect.units], hide_index=True)
        top3 = [u.unit for u in effect.units[:3]]
        st.button(f"Switch off units {', '.join(map(str, top3))} together", key="learn_class_off",
                  on_click=_switch_off, args=(top3,))
