"""Interpolate page: frames from one z to another, shown as a frame grid and an animated GIF."""
from __future__ import annotations

import numpy as np
import streamlit as st

from dcgan.analysis.semantics import MAX_REACH, direction_endpoints, saved_directions
from dcgan.analysis.views import interpolation
from dcgan.sampling import MAX_FRAMES, z_from_seed
from explorer.common import SEED_MAX, bounded_number, progress_callback, show_image
from explorer.models import load_generator

st.title("Interpolate")
sel = st.session_state["selection"]
G = load_generator(sel)
if G is None:
    st.stop()
model_key = (str(sel.run.path), sel.step)

latent_z = st.session_state.get("latent_z")
if latent_z is not None and latent_z.shape[0] != G.z_dim:
    latent_z = None  # edited for a model with another z_dim
SOURCES = ["seed", "current z (Latent page)"]


def endpoint(column, name: str, default_seed: int) -> np.ndarray | None:
    """One endpoint's z from a seed or from the Latent page."""
    with column:
        st.markdown(f"**{name}**")
        source = st.radio("From", SOURCES, key=f"interp_source_{name}", horizontal=True,
                          label_visibility="collapsed")
        if source == SOURCES[0]:
            seed = bounded_number(st, "Seed", 0, SEED_MAX, default_seed, key=f"interp_seed_{name}", step=1)
            return None if seed is None else z_from_seed(int(seed), G.z_dim)[0].numpy()
        if latent_z is None:
            st.error("There is no current z yet: open the Latent page first, or use a seed.")
            return None
        st.caption(f"the Latent page's z (|z| = {np.linalg.norm(latent_z):.2f})")
        return latent_z


mode = st.radio("Animate", ["between two z", "along a saved direction"], horizontal=True, key="interp_mode",
                help="along a direction: from z − a·d to z + a·d, a straight line through z, with a direction the "
                     "Directions page (or `python -m dcgan directions`) saved with this run")
along = None
if mode == "between two z":
    a, b = st.columns(2)
    z0 = endpoint(a, "Start", 0)
    z1 = endpoint(b, "End", 1)
else:
    saved, problems = saved_directions(sel.run.path, G.z_dim)
    for why in problems.values():
        st.warning(f"A saved directions file cannot be used: {why}")
    choices = [(m, i) for m, d in saved.items() for i in range(len(d))]
    if not choices:
        st.info("This run keeps no directions yet: find and save some on the Directions page.")
        st.stop()
    a, b = st.columns(2)
    z = endpoint(a, "Through", 0)
    with b:
        m, i = st.selectbox("Direction", choices, key="interp_direction",
                            format_func=lambda c: saved[c[0]].names[c[1]] + ("" if c[0] == "sefa" else f" ({c[0]})"))
        reach = bounded_number(st, "Reach a", 0.5, MAX_REACH, 4.0, key="interp_reach", step=0.5,
                               help="how far to go each way, in units of z (a typical z has length "
                                    f"{np.sqrt(G.z_dim):.0f})")
    along = saved[m].names[i]
    z0 = z1 = None
    if z is not None and reach is not None:
        z0, z1 = direction_endpoints(z, saved[m].vector(i), reach)

def form_key(*parts) -> tuple:
    """What a result was made from (model, mode, direction, endpoints): a result is shown only under the
    form that made it, never under one changed since (another mode, direction, seed or reach)."""
    return tuple(p.tobytes() if isinstance(p, np.ndarray) else p for p in parts)


current = form_key(*model_key, mode, along, z0, z1)

with st.form("interp_form"):
    c1, c2, c3, c4 = st.columns(4)
    frames = bounded_number(c1, "Frames", 2, MAX_FRAMES, 64, key="interp_frames", step=1,
                            help="images from start to end, both included.")
    if along is None:
        method = c2.radio("Path", ["slerp", "lerp"], horizontal=True, key="interp_method",
                          help="slerp follows the sphere Gaussian z vectors live on; lerp cuts through the middle")
    else:
        method = "lerp"
        c2.caption("Path: a straight line along the direction")
    # browsers play GIF delays under 20 ms at 100 ms: 10 ms would be slower than 20
    frame_ms = bounded_number(c3, "Frame duration (ms)", 20, 5000, 80, key="interp_frame_ms", step=10)
    scale = bounded_number(c4, "Output scale", 1, 16, 6, key="interp_scale", step=1,
                           help="nearest-neighbour upscaling of each frame.")
    o1, o2, _ = st.columns([1, 1, 2])
    loop = o1.checkbox("Loop", value=True)
    pingpong = o2.checkbox("Ping-pong", value=False, help="play forward, then back")
    go = st.form_submit_button("Interpolate", type="primary")

if go and None in (frames, frame_ms, scale):
    st.error("Fix the fields marked above, then interpolate again.")
elif go and z0 is not None and z1 is not None:
    progress, bar = progress_callback("Rendering frames…")
    try:
        result = interpolation(G, z0, z1, frames=int(frames), method=method, frame_ms=int(frame_ms), loop=loop,
                               pingpong=pingpong, scale=int(scale), progress=progress)
    except ValueError as e:  # too many frames x pixels for one GIF
        bar.empty()
        st.error(str(e))
        st.stop()
    bar.empty()
    st.session_state["interp_result"] = {"frames": result.frame_count, "gif": result.gif, "made_from": current,
                                         "grid_png": result.grid_png,
                                         "method": method if along is None else f"along {along}",
                                         "gif_frames": result.gif_frames}

result = st.session_state.get("interp_result")
if result and result.get("made_from") != current:
    st.caption("The settings above changed since the last animation: press Interpolate to make theirs.")
elif result:
    g1, g2 = st.columns(2, gap="large")
    with g1:
        st.subheader("Animation")
        played = result.get("gif_frames", result["frames"])
        back = f" ({result['frames']} forward, {played - result['frames']} back)" if played != result["frames"] else ""
        show_image(result["gif"], caption=f"{played} GIF frames{back}, {result['method']}")
        st.download_button("Download GIF", result["gif"], file_name="interpolation.gif", mime="image/gif",
                           key="download_gif", on_click="ignore")
    with g2:
        st.subheader("Frames")
        show_image(result["grid_png"], caption="every frame, row by row")
        st.download_button("Download frame grid PNG", result["grid_png"], file_name="interpolation_grid.png",
                           mime="image/png", key="download_grid", on_click="ignore")
