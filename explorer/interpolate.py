"""Interpolate page: frames from one z to another, or a seamless loop through seeds, shown as a frame grid and
an animation in the chosen format, downloaded with its session file; a session file loaded renders again."""
from __future__ import annotations

import numpy as np
import streamlit as st

from dcgan.analysis.inversion import saved_latents
from dcgan.analysis.semantics import MAX_REACH, direction_endpoints, saved_directions
from dcgan.analysis.animation import MAX_SESSION_BYTES, SessionError, seed_list, session_animation
from dcgan.analysis.views import interpolation
from dcgan.sampling import MAX_FRAMES, z_from_seed
from explorer.common import SEED_MAX, bounded_number, progress_callback, show_image
from explorer.export_options import export_options, format_choice, kept, model_of, show_animation
from explorer.models import chosen_generator
from explorer.intro import page_intro

st.title("Interpolate")
page_intro("interpolate")
sel, G = chosen_generator()
model_key = (str(sel.run.path), sel.step)

latent_z = st.session_state.get("latent_z")
if latent_z is not None and latent_z.shape[0] != G.z_dim:
    latent_z = None  # edited for a model with another z_dim
SOURCES = ["seed", "current z (Latent page)", "a saved z"]
saved_zs, _ = saved_latents(sel.run, G.z_dim)  # the run's z's found on the Invert page, the newest first


def saved_endpoint(name: str) -> np.ndarray | None:
    """One of the run's saved z's (latents/), the newest picked unless another is chosen."""
    key = f"interp_saved_{name}"
    if not saved_zs:
        st.error(f"Run {sel.run.name} keeps no saved z yet: find one on the Invert page, or use a seed.")
        return None
    if st.session_state.get(key) not in (None, *saved_zs):
        st.warning(f"The saved z {st.session_state.pop(key)} is gone from {sel.run.name}: pick another.")
    pick = st.selectbox("Saved z", list(saved_zs), key=key, label_visibility="collapsed",
                        help=f"z's found on the Invert page (or by `python -m dcgan invert --save-as`), kept in "
                             f"{sel.run.name}/latents/, newest first; the session file holds the z itself")
    st.caption(f"{pick}: a z saved with {sel.run.name} (|z| = {np.linalg.norm(saved_zs[pick]):.2f})")
    return saved_zs[pick]


def endpoint(column, name: str, default_seed: int) -> np.ndarray | None:
    """One endpoint's z from a seed, the Latent page or one of the run's saved z's."""
    with column:
        st.markdown(f"**{name}**")
        source = st.radio("From", SOURCES, key=f"interp_source_{name}", horizontal=True,
                          label_visibility="collapsed")
        if source == SOURCES[0]:
            seed = bounded_number(st, "Seed", 0, SEED_MAX, default_seed, key=f"interp_seed_{name}", step=1)
            return None if seed is None else z_from_seed(int(seed), G.z_dim)[0].numpy()
        if source == SOURCES[2]:
            return saved_endpoint(name)
        if latent_z is None:
            st.error("There is no current z yet: open the Latent page first, or use a seed.")
            return None
        st.caption(f"the Latent page's z (|z| = {np.linalg.norm(latent_z):.2f})")
        return latent_z


MODES = ["between two z", "along a saved direction", "seamless loop through seeds"]
mode = st.radio("Animate", MODES, horizontal=True, key="interp_mode",
                help="along a direction: from z − a·d to z + a·d, a straight line through z, with a direction the "
                     "Directions page (or `python -m dcgan directions`) saved with this run. A seamless loop: "
                     "slerp through every seed's z and back to the first, its last frame leading into the first")
along = through = seeds = None
if mode == MODES[0]:
    a, b = st.columns(2)
    z0 = endpoint(a, "Start", 0)
    z1 = endpoint(b, "End", 1)
    sources = (st.session_state.get("interp_source_Start"), st.session_state.get("interp_source_End"))
    if z0 is not None and z1 is not None and all(src in (None, SOURCES[0]) for src in sources):  # kept as seeds
        seeds = [int(st.session_state.get(f"interp_seed_{n}", d)) for n, d in (("Start", 0), ("End", 1))]
elif mode == MODES[2]:
    text = st.text_input("Seeds", "0, 1, 2", key="interp_loop_seeds", help="3 or more, separated by commas")
    try:
        seeds = seed_list(text)
    except ValueError as e:
        st.error(str(e))
        st.stop()
    z0, z1, *through = [z_from_seed(s, G.z_dim)[0].numpy() for s in seeds]
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


current = form_key(*model_key, mode, along, z0, z1, *(through or []))
format_choice("interp_format")

with st.form("interp_form"):
    c1, c2 = st.columns(2)
    frames = bounded_number(c1, "Frames", 2, MAX_FRAMES, 64, key="interp_frames", step=1,
                            help="images from start to end, both included (a loop: all the way round).")
    if mode == MODES[0]:
        method = c2.radio("Path", ["slerp", "lerp"], horizontal=True, key="interp_method",
                          help="slerp follows the sphere Gaussian z vectors live on; lerp cuts through the middle")
    else:
        method = "lerp" if along else "slerp"
        c2.caption("Path: a straight line along the direction" if along else "Path: slerp, round the loop")
    choice = export_options("interp", fps=12.5, scale=6)
    go = st.form_submit_button("Interpolate", type="primary")
upload = st.file_uploader("Or load a session file (JSON)", type=["json"], key="interp_session",
                          max_upload_size=2,  # MB: what the uploader says is the app's own limit (MAX_SESSION_BYTES)
                          help=f"made with an animation below; it renders again with the model chosen in the sidebar, "
                               f"which must be the one it was made with; at most {MAX_SESSION_BYTES:,} bytes")


if go and (frames is None or choice is None):
    st.error("Fix the fields marked above, then interpolate again.")
elif go and z0 is not None and z1 is not None:
    progress, bar = progress_callback("Rendering frames…")
    try:
        result = interpolation(G, z0, z1, frames=int(frames), method=method, frame_ms=choice.frame_ms, loop=choice.loop,
                               pingpong=choice.pingpong, scale=choice.scale, progress=progress, fmt=choice.fmt,
                               through=through, seeds=seeds, model=model_of(sel))
    except (ValueError, OSError) as e:  # too many frames x pixels, fewer frames than seeds; the MP4 encoder's disk full
        bar.empty()
        st.error(str(e))
        st.stop()
    bar.empty()
    st.session_state["interp_result"] = kept(result, current, method if along is None else f"along {along}")
elif upload is not None and st.session_state.get("interp_result", {}).get("made_from") != ("session", upload.file_id):
    try:
        made = session_animation(upload.getvalue(), G, model_of(sel))
        st.session_state["interp_result"] = kept(made, ("session", upload.file_id), "from the session file")
    except SessionError as e:
        st.error(f"This session cannot be rendered here: {e}")

result = st.session_state.get("interp_result")
loaded = upload is not None and result and result.get("made_from") == ("session", upload.file_id)
if result and result.get("made_from") != current and not loaded:
    st.caption("The settings above changed since the last animation: press Interpolate to make theirs.")
elif result:
    g1, g2 = st.columns(2, gap="large")
    with g1:
        st.subheader("Animation")
        played, fmt = result["played"], result["format"]
        back = f" ({result['frames']} forward, {played - result['frames']} back)" if played != result["frames"] else ""
        show_animation(result["data"], fmt, "interpolation", f"{played} {fmt} frames{back}, {result['method']}",
                       key="download_animation", loop=result["loop"])
        st.download_button("Download session file", result["session"], file_name="interpolation_session.json",
                           mime="application/json", key="download_session", on_click="ignore",
                           help="`python -m dcgan render interpolation_session.json` makes this file again, byte "
                                "for byte; or load it above")
    with g2:
        st.subheader("Frames")
        show_image(result["grid_png"], caption="every frame, row by row")
        st.download_button("Download frame grid PNG", result["grid_png"], file_name="interpolation_grid.png",
                           mime="image/png", key="download_grid", on_click="ignore")
