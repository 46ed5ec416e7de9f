"""Progress page: scrub (or play) through every snapshot grid of a run next to its loss curves."""
from __future__ import annotations

import streamlit as st

from dcgan.analysis.views import progression_animation
from dcgan.media import LABEL
from dcgan.evaluation.evaluate import collapse_warnings
from explorer.charts import auto_window, discriminator_figure, loss_figure
from explorer.quality_charts import coverage_figure, fid_figure
from explorer.common import progress_callback, show_image, skipped_lines_note
from explorer.export_options import export_options, format_choice, show_animation
from explorer.health_notes import chart_notes
from explorer.live import run_curves
from explorer.models import chosen_run
from explorer.intro import page_intro

PLAY_EVERY_S = 0.7

st.title("Training progress")
page_intro("progress")
run = chosen_run()
steps = run.snapshot_steps()
if not steps:
    st.error(f"Run **{run.name}** has no snapshots yet; the first one is written when training starts.")
    st.stop()
metrics = run_curves(run)  # buckets, not every record: the charts cost the same at any run length
evaluations = run.evaluations()  # eval.jsonl: empty unless the run was trained with eval_every
skipped_lines_note(run, metrics, evaluations)
for warned in collapse_warnings(evaluations)[-1:]:
    st.warning(f"Step {warned['step']}: {warned['collapse_warning']}. The Quality page has the details.",
               icon=":material/warning:")

if st.session_state.get("progress_run") != run.name or st.session_state.get("progress_step") not in steps:
    st.session_state["progress_run"] = run.name
    st.session_state["progress_step"] = steps[-1]

t1, t2, _ = st.columns([1, 2, 3])  # room for "Smooth curves" in full
playing = t1.toggle("Play", key="progress_play", help="step through the snapshots on a timer")
smooth = auto_window(len(metrics)) if t2.toggle("Smooth curves", value=True, key="progress_smooth",
                                                 help="a running mean over about 1 % of the steps") else 1


@st.fragment(run_every=PLAY_EVERY_S if playing else None)
def viewer() -> None:
    steps = run.snapshot_steps()  # reread: a live run adds snapshots while this plays
    if not steps or not run.path.is_dir():
        st.error(f"Run **{run.name}** is gone (its folder was deleted or moved). Pick another run in the sidebar.")
        return
    if st.session_state.get("progress_step") not in steps:
        st.session_state["progress_step"] = steps[-1]  # the shown snapshot was deleted: the newest one
    if playing:
        # advance before the slider exists in this fragment run; wrap around at the end
        i = steps.index(st.session_state["progress_step"])
        st.session_state["progress_step"] = steps[(i + 1) % len(steps)]
    step = st.select_slider(f"Snapshot step ({len(steps)} snapshots)", options=steps, key="progress_step")
    # the grid as wide as its column (64 px faces were a small square under which the charts ran on):
    # two charts beside it are about its height, the evaluator's two go below both
    left, right = st.columns([3, 2], gap="large")
    with left:
        try:
            grid = run.grid_path(step).read_bytes()
        except OSError:
            st.error(f"The snapshot of step {step} has just disappeared (the run folder changed); "
                     "pick another step.")
        else:
            show_image(grid, width="stretch",
                       caption=f"G(fixed z) at step {step} ({steps.index(step) + 1}/{len(steps)})")
    if not metrics:
        right.info("No metrics recorded yet.")
        return
    right.plotly_chart(loss_figure(metrics, marker_step=step, smooth=smooth, cfg=run.train_config()), key="progress_loss")
    right.plotly_chart(discriminator_figure(metrics, marker_step=step, smooth=smooth), key="progress_d")
    if evaluations:
        e1, e2 = st.columns(2, gap="large")
        e1.plotly_chart(fid_figure(evaluations, marker_step=step), key="progress_fid")
        e2.plotly_chart(coverage_figure(evaluations, marker_step=step), key="progress_coverage")


viewer()
chart_notes(run, evaluations)  # outside the fragment: Play does not redo them

st.divider()
st.subheader("Export the progression")
fmt = format_choice("progress_format")
with st.form("progress_gif_form"):
    choice = export_options("progress", fps=5.0, scale=1, max_scale=4)
    export = st.form_submit_button(f"Make {LABEL[fmt]} of all {len(steps)} snapshots", type="primary")
if export and choice is None:
    st.error("Fix the fields marked above, then make the animation again.")
elif export:
    progress, bar = progress_callback("Collecting snapshots…")
    try:
        data = progression_animation(run, choice.fmt, choice.frame_ms, choice.scale, choice.loop, choice.pingpong,
                                     progress=progress)
    except (OSError, ValueError) as e:
        st.error(f"Cannot make the animation: {e}")
    else:
        st.session_state["progress_gif"] = {"run": run.name, "frames": len(steps), "data": data, "format": choice.fmt,
                                            "loop": choice.loop}
    bar.empty()
made = st.session_state.get("progress_gif")
if made and made["run"] == run.name:
    show_animation(made["data"], made["format"], f"{run.name}_progress", f"{made['frames']} snapshots",
                   key="download_progress_gif", loop=made["loop"], what="progression")
