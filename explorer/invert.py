"""Invert page: your own image in the latent space. A target (drawn, uploaded, or a real test image) is
searched for in z with a live progress bar and a Stop button; its G(z) is shown beside it with the error
and its two references, saved with the run, and sent to the Latent or Interpolate page; analogies below."""
from __future__ import annotations

import streamlit as st

from dcgan.analysis.inversion import DEFAULT_STARTS, DEFAULT_STEPS, MAX_STARTS, MAX_STEPS
from dcgan.imaging import upscale
from explorer.analogy_view import analogy_section
from explorer.common import bounded_number, show_image
from explorer.invert_links import saved_section
from explorer.invert_search import collect, request_search, show_result, start, watch
from explorer.invert_target import target_section
from explorer.models import chosen_generator, display_scale
from explorer.intro import page_intro
from explorer.sidebar import step_text

st.title("Invert")
page_intro("invert")
sel, G = chosen_generator()
run = sel.run
scale = display_scale(G)
if st.session_state.get("inv_model") != (str(run.path), sel.step):
    # another model: the last result and test image were found with the old one
    st.session_state["inv_model"] = (str(run.path), sel.step)
    for key in ("inv_result", "inv_test"):
        st.session_state.pop(key, None)

left, right = st.columns(2, gap="large")
with left:
    target = target_section(G, run)
with right:
    if target is not None:
        show_image(upscale(target["image"], scale),
                   caption=f"the target as the model takes it: {G.image_size} px, "
                           f"{'grey' if G.channels == 1 else 'RGB'} ({target['source']})")
        for note in target["notes"]:
            st.caption(note)
    with st.expander("Search settings"):
        c1, c2 = st.columns(2)
        starts = bounded_number(c1, "Starts", 1, MAX_STARTS, DEFAULT_STARTS, key="inv_starts", step=1,
                                help="random z's searched at once; the best is kept")
        steps = bounded_number(c2, "Steps", 1, MAX_STEPS, DEFAULT_STEPS, key="inv_steps", step=1,
                               help="Adam steps; the references use the defaults")
    running = collect()
    # the press is kept by a callback, not read off the button's return: the canvas sends its last stroke on its
    # own schedule, and a press that lands in that rerun came back False there (seen in the browser test)
    st.button("Invert", type="primary", key="inv_go", disabled=target is None or running or None in (starts, steps),
              help=f"search z for {run.name} · {step_text(run, sel.step)}", on_click=request_search)
    if st.session_state.pop("inv_requested", False) and target is not None and not running and None not in (starts, steps):
        start(G, target, run, sel.step_number, int(starts), int(steps))
    watch()
    show_result(scale)

st.divider()
saved = saved_section(G, run, scale)
st.divider()
analogy_section(G, saved, max(2, scale // 2))
