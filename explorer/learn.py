"""Learn page: watch this run's own GAN at work. The model drawn from its networks, one training step taken apart
on a copy (slow motion), and what the units inside G draw (after GAN Dissection)."""
from __future__ import annotations

import streamlit as st

from dcgan.analysis.overview import model_overview
from dcgan.runs.checkpoint import CheckpointError, discriminator_source, load_run_discriminator
from dcgan.runs.rundir import RunDir
from explorer.inside_g_view import inside_g_section
from explorer.learn_charts import overview_dot
from explorer.models import chosen_generator
from explorer.intro import page_intro
from explorer.slow_motion_view import slow_motion_section


@st.cache_data(max_entries=8, show_spinner=False)
def _overview(run_path: str, weights: tuple, d_file: tuple, _G):
    # the files and their times stand for G and D, which stay out of the hash
    run = RunDir.at(run_path)
    if discriminator_source(run) is None:
        return model_overview(_G, None, "this run keeps no discriminator (an imported generator, or a run "
                                        "stopped before its first checkpoint)")
    try:
        D, _ = load_run_discriminator(run)
    except CheckpointError as e:
        return model_overview(_G, None, str(e))
    return model_overview(_G, D)


st.title("Learn")
page_intro("learn")
sel, G = chosen_generator()
run = sel.run
weights_file = run.weights_path(sel.step_number)
try:
    weights = (str(weights_file), weights_file.stat().st_mtime_ns)
except FileNotFoundError:
    st.error(f"The weights file {weights_file.name} has gone since this page loaded; pick the step again.")
    st.stop()
d_source = discriminator_source(run)
d_file = (str(d_source), d_source.stat().st_mtime_ns) if d_source is not None else None

st.subheader("The model")
overview = _overview(str(run.path), weights, d_file, G)
st.caption(f"z ({G.z_dim} numbers) goes down G's blocks, each with the shape it outputs and its parameters, to "
           f"an image; D reads an image down its own blocks to one score. G has {overview.g_parameters:,} "
           "parameters" + (f", D {overview.d_parameters:,}." if overview.d else f"; no D: {overview.d_note}."))
st.graphviz_chart(overview_dot(overview))

st.divider()
slow_motion_section(run)
st.divider()
inside_g_section(sel, G, weights)
