"""Directions page: what did the model learn? Directions in z that mean something (SeFa, labelled by the
evaluator's classifier, local at this z), where in the image the chosen one acts, and what D believes."""
from __future__ import annotations

import numpy as np
import streamlit as st

from dcgan.analysis.directions import move, strip
from dcgan.analysis.labelled import NoClassifierError
from dcgan.imaging import make_grid, upscale
from dcgan.sampling import z_from_seed
from dcgan.analysis.semantics import (METHOD_LABELS, classifier_note, find_directions, labelled_summary,
                                     save_run_directions, saved_directions, weights_step)
from dcgan.analysis.sensitivity import heatmap, heatmap_image
from dcgan.analysis.views import render_z
from dcgan.analysis.line_animations import direction_animation
from explorer.critic_view import critic_section
from explorer.export_options import model_of
from explorer.line_export import file_stem, line_export
from explorer.common import SEED_MAX, bounded_number, progress_callback, show_image
from explorer.models import chosen_generator, display_scale
from explorer.intro import page_intro
from explorer.sidebar import step_text

AMOUNT_LIMIT = 8.0  # |z| of a typical z is about sqrt(z_dim) = 10: 8 is a long way, still on the shell
STRIP_COLUMNS = 9

st.title("Directions")
page_intro("directions")
sel, G = chosen_generator()
run = sel.run
scale = display_scale(G)

# --- the z the directions start from ---------------------------------------------------------------
latent_z = st.session_state.get("latent_z")
if latent_z is not None and latent_z.shape[0] != G.z_dim:
    latent_z = None
c1, c2 = st.columns([2, 1])
# a choice of one is no choice: the radio appears once the Latent page has a z to offer
source = c1.radio("Start from", ["the Latent page's z", "a seed"], horizontal=True, key="dir_source") \
    if latent_z is not None else "a seed"
if source == "a seed":
    seed = bounded_number(c2, "Seed", 0, SEED_MAX, 0, key="dir_seed", step=1)
    if seed is None:
        st.stop()  # the box says what is allowed
    z0 = z_from_seed(int(seed), G.z_dim)[0].numpy()
else:
    z0 = latent_z
step = weights_step(run.path, sel.step_number)  # the training step of the weights shown


# a full Jacobian: drawn again when the model or the z changes, not on every move of the Amount slider
# (the underscored arguments stay out of the cache key)
@st.cache_data(max_entries=16, show_spinner=False)
def _local(run_path: str, step: int | None, z_bytes: bytes, _G, _z):
    return find_directions(_G, run_path, "local", z=_z, model_step=step)


# --- which directions ------------------------------------------------------------------------------
method = st.radio("Method", list(METHOD_LABELS), format_func=METHOD_LABELS.get, horizontal=True, key="dir_method",
                  help="SeFa: the directions G's first layer stretches most (closed form, no labels). Labelled: "
                       "the normal of a linear boundary between classes, as the evaluator's classifier labels "
                       "G's images (InterFaceGAN). Local: the directions the image changes fastest along at this z.")
saved, problems = saved_directions(run.path, G.z_dim)
for m, why in problems.items():
    st.warning(f"A saved {METHOD_LABELS[m]} file cannot be used: {why}")
directions = None
if method == "sefa":
    directions = find_directions(G, run.path, "sefa")
elif method == "local":
    directions = _local(str(run.path), step, np.asarray(z0, np.float32).tobytes(), G, z0)
else:
    directions = saved.get("labels")
    note = classifier_note(run.path) if directions is None else None
    if note:
        st.info(note)
    else:
        f1, f2, _ = st.columns([1, 1, 2])
        samples = bounded_number(f1, "Samples", 500, 50_000, 5000, key="dir_samples", step=500,
                                 help="images of G the classifier labels; more give steadier boundaries")
        again = directions is not None
        if f2.button("Find them again" if again else "Find labelled directions", key="dir_find",
                     disabled=samples is None, help="label G's images with the evaluator's classifier, fit one "
                                                    "boundary per class, and save the directions with the run"):
            progress, bar = progress_callback("Labelling G's images…")
            try:
                found = find_directions(G, run.path, "labels", samples=int(samples), progress=progress,
                                        model_step=step)
            except (NoClassifierError, ValueError) as e:
                st.error(f"No labelled directions: {e}")
            else:
                save_run_directions(run.path, found)
                directions = found
            bar.empty()
    if directions is not None:
        origin, stale, skipped = labelled_summary(directions, step)
        st.caption(origin)
        if stale:
            st.warning(stale)
        for line in skipped:
            st.caption(line)

if directions is not None:
    names = [f"{n} · {s:.3g}" for n, s in zip(directions.names, directions.scores)]
    left, right = st.columns([1, 1], gap="large")
    with left:
        pick = st.selectbox(f"Direction ({directions.score_name})", range(len(names)), format_func=names.__getitem__,
                            key=f"dir_pick_{method}")
        amount = st.slider("Amount along it", -AMOUNT_LIMIT, AMOUNT_LIMIT, 0.0, step=0.1, key="dir_amount",
                           help="z + amount x the unit direction; a typical z has length "
                                f"{np.sqrt(G.z_dim):.0f}")
        vector = directions.vector(pick)
        z = move(z0, vector, amount).numpy()
        drawn = render_z(G, z, scale=1)  # G(z) once: shown, under the heat map, and to D
        image = upscale(drawn, scale)
        show_image(image, caption=f"G(z + {amount:g} · {directions.names[pick]}) · {run.name} · "
                                  f"{step_text(run, sel.step)}")
        b1, b2 = st.columns(2)
        if b1.button("Edit this z on the Latent page", key="dir_to_latent"):
            st.session_state["latent_z"] = z.astype(np.float32)
            for i in range(G.z_dim):
                st.session_state.pop(f"z_{i}", None)  # the Latent page restores its sliders from latent_z
            st.switch_page("explorer/latent.py")
        if method != "labels" and b2.button("Save with the run", key="dir_save",
                                            help=f"{run.name}/directions_{method}.json, for the Interpolate page "
                                                 "and `python -m dcgan interpolate --direction`"):
            path = save_run_directions(run.path, directions)
            st.success(f"Saved {path.name}")
    with right:
        heat = heatmap(G, z, vector)
        show_image(upscale(heatmap_image(heat, drawn), scale),
                   caption="where it acts at this z: |change of each pixel| along the direction, brightest = most")
    reach = st.slider("Strip from −a to +a", 0.5, AMOUNT_LIMIT, 4.0, step=0.5, key="dir_reach")
    frames = strip(G, z0, vector, -reach, reach, STRIP_COLUMNS)
    show_image(upscale(make_grid(frames, nrow=STRIP_COLUMNS), max(1, round(100 / G.image_size))),
               caption=f"{directions.names[pick]} from −{reach:g} to +{reach:g}, the start z in the middle")
    line_export("dir_anim", "Animate the strip: GIF, MP4, WebP, APNG or ZIP, with its session file",
                (str(run.path), sel.step, np.asarray(z0, np.float32).tobytes(), np.asarray(vector).tobytes(), reach),
                lambda n, c, progress: direction_animation(G, z0, vector, reach, n, c.fmt, c.frame_ms, c.loop,
                                                           c.pingpong, c.scale, model_of(sel), progress),
                file_stem(run.name, directions.names[pick]))

# --- the discriminator's view ------------------------------------------------------------------------
critic_section(sel, G, drawn if directions is not None else None, scale)
