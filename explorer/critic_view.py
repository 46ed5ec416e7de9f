"""The Directions page's "What D believes" section: D's logit for an image, ranked among a seeded
reference of G's images and real ones (dcgan.analysis.critic), for the image shown, an upload, and G's own."""
from __future__ import annotations

import numpy as np
import streamlit as st

from dcgan.analysis.critic import REFERENCE_SEED, REFERENCE_SIZE, image_from_upload, reference, standings
from dcgan.imaging import upscale
from dcgan.runs.checkpoint import CheckpointError, discriminator_source, load_run_discriminator
from dcgan.runs.rundir import RunDir
from explorer.common import show_image
from explorer.sidebar import Selection

PICTURE_MAX_MB = 20  # a photo straight off a camera; its pixels are capped when decoded (dcgan.data)
D_GRID = 16


@st.cache_resource(max_entries=4, show_spinner="Loading the discriminator…")
def _cached_discriminator(run_path: str, mtime_ns: int):
    return load_run_discriminator(RunDir.at(run_path))


@st.cache_data(max_entries=8, show_spinner="Scoring G's images and real ones…")
def _reference(run_path: str, g_file: tuple, d_file: tuple, _G, _D):
    # once per model, not on every slider move: the underscores keep G and D out of the cache key, their
    # files and times stand for them
    return reference(_D, _G, RunDir.at(run_path))


def critic_section(sel: Selection, G, drawn: np.ndarray | None, scale: int) -> None:
    """What D believes about drawn (the page's image, uint8 (H, W, C); None: no image), an uploaded
    picture and 16 of G's images, each ranked among the reference."""
    st.divider()
    st.subheader("What D believes")
    run = sel.run
    source_file = discriminator_source(run)
    d_mtime = source_file.stat().st_mtime_ns if source_file is not None else 0
    try:
        D, d_step = _cached_discriminator(str(run.path), d_mtime)
    except CheckpointError as e:
        st.info(f"No discriminator to ask: {e}")
        return
    g_file = run.weights_path(sel.step_number)
    try:
        g_mtime = g_file.stat().st_mtime_ns
    except FileNotFoundError:  # the snapshot went (a delete, a resume's clean-up) since G was loaded
        st.info(f"The weights file {g_file.name} has gone since this page loaded; pick the step again.")
        return
    ref = _reference(str(run.path), (str(g_file), g_mtime), (str(source_file), d_mtime), G, D)
    loss = run.config_values().get("gan_loss", "an unrecorded")
    st.caption(f"D of {'an unrecorded step' if d_step is None else f'step {d_step}'} (the newest D this run "
               f"keeps), trained with the {loss} loss, gives each image a logit (sigmoid(logit) is its "
               f"probability of \"real\"). Each score is ranked among {REFERENCE_SIZE} of G's images (seed "
               f"{REFERENCE_SEED}) and {REFERENCE_SIZE} held-out real images of the run's data.")
    st.markdown(ref.verdict())
    if drawn is not None:
        mine = standings(D, ref, drawn[None])[0]
        st.metric("D's logit for the image above", f"{mine.logit:.3f}", help=f"sigmoid: {mine.probability:.3f}")
        st.caption(f"The image above scores {mine.text()}.")
    u1, u2 = st.columns([1, 2])
    upload = u1.file_uploader("Ask D about your own picture", type=["png", "jpg", "jpeg", "gif", "bmp", "webp"],
                              key="dir_d_upload", max_upload_size=PICTURE_MAX_MB,
                              help=f"cropped to a square and resized to {G.image_size} px, "
                                   f"{'grey' if G.channels == 1 else 'RGB'}, as D's training images")
    if upload is not None:
        try:
            picture = image_from_upload(upload.getvalue(), G.image_size, G.channels)
        except ValueError as e:
            u2.error(f"{upload.name}: {e}")
        else:
            theirs = standings(D, ref, picture)[0]
            with u2:
                show_image(upscale(picture[0], max(1, scale // 2)),
                           caption=f"{upload.name}: logit {theirs.logit:.3f}, {theirs.text()}")
    st.markdown(f"**{D_GRID} of G's images and D's logit for each**")
    cols = st.columns(8)
    for j, i in enumerate(np.argsort(-ref.fake.logits[:D_GRID])):
        with cols[j % 8]:
            show_image(upscale(ref.fake_images[i], max(1, scale // 3)), caption=f"{ref.fake.logits[i]:.3f}")
    st.caption(f"Sorted from what D finds most real to least: the first {D_GRID} images of the reference, the "
               "same each visit.")
