"""Quality page: the evaluator's figures over training (eval.jsonl) beside the losses, the class
histogram, the full report (eval.json) with its real-data floors, and generated images next to
their nearest training images."""
from __future__ import annotations

import streamlit as st

from dcgan.runs.checkpoint import CheckpointError
from dcgan.data import DataError
from dcgan.evaluation.classifier import run_class_names, run_evaluation_problem
from dcgan.evaluation.evaluate import collapse_warnings
from dcgan.evaluation.report import read_report
from dcgan.evaluation.nearest import nearest_training_images
from explorer.charts import auto_window, loss_figure
from explorer.quality_charts import (class_histogram_figure, coverage_figure, fid_figure, precision_recall_figure,
                                     report_rows)
from explorer.common import show_image, skipped_lines_note
from explorer.health_notes import chart_notes
from explorer.live import run_curves
from explorer.models import chosen_run
from explorer.intro import page_intro

st.title("Quality")
page_intro("quality")
sel = st.session_state["selection"]
run = chosen_run()
records = run.evaluations()
report, report_problem = read_report(run.path)
classes = run_class_names(run)  # the evaluator's own names and count, for every label below
names = list(classes.names) if classes else None

st.subheader("Over training")
if not records:
    why_not = run_evaluation_problem(run)
    if why_not is None:
        st.info("This run was trained without evaluation. Train with **Evaluate every** set (`--eval-every 250`) "
                "to follow FID, coverage, precision and recall here while it learns.")
    else:
        st.info(f"No evaluation during training for this run: {why_not}. The nearest-training-image check "
                "below works for every run.")
skipped_lines_note(run, records)
if records:
    for r in collapse_warnings(records)[-3:]:
        st.warning(f"Step {r['step']}: {r['collapse_warning']}", icon=":material/warning:")
    steps = [r["step"] for r in records]
    step = st.select_slider("Evaluation at step", options=steps, value=steps[-1], key="quality_step")
    record = records[steps.index(step)]
    left, right = st.columns(2)
    with left:
        st.plotly_chart(fid_figure(records, marker_step=step), key="quality_fid")
        st.plotly_chart(precision_recall_figure(records, marker_step=step), key="quality_pr")
    with right:
        metrics = run_curves(run)  # a slider move reruns the page: only new lines are read
        st.plotly_chart(loss_figure(metrics, marker_step=step, smooth=auto_window(len(metrics)), cfg=run.train_config()), key="quality_loss")
        st.plotly_chart(coverage_figure(records, marker_step=step), key="quality_coverage")
    if "class_share" in record:
        st.plotly_chart(class_histogram_figure(record["class_share"], names, title=f"Predicted classes at step {step} "
                                               f"({record.get('images', '?')} images)"), key="quality_hist")
    st.caption("Dashed lines: the same figure for real training images (the floor a perfect generator would "
               "reach). FID uses the evaluator classifier's features, not Inception's.")
    chart_notes(run, records, names)

st.subheader("Full evaluation")
if report_problem:
    st.warning(f"The report cannot be shown: {report_problem}", icon=":material/warning:")
elif report is None:
    st.info(f"No eval.json yet. Run `python -m dcgan evaluate {run.path}` for every figure with its real-data "
            "floor, including memorisation.")
else:
    at = "final model" if report.get("step") is None else f"step {report['step']}"
    st.caption(f"{report.get('samples', '?')} generated images, {at}; `{run.path.name}/eval.json`")
    # every row in sight: the memorisation rows came last, behind the table's own scroll bar
    st.dataframe(report_rows(report, len(classes) if classes else None), hide_index=True, height="content")
    gen = report.get("generated") or {}
    if "class_share" in gen:
        st.plotly_chart(class_histogram_figure(gen["class_share"], names or report.get("class_names"),
                                               report.get("real_class_share")), key="quality_report_hist")

st.subheader("Nearest training images")
st.caption("Top row: generated images; bottom row: the nearest training image of each, in pixels. "
           "Copies would look identical.")
c1, c2, _ = st.columns([1, 1, 3])
count = c1.number_input("Images", min_value=2, max_value=16, value=8, key="quality_nn_count")
seed = c2.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, key="quality_nn_seed")
if st.button("Find nearest training images", key="quality_nn"):
    try:
        with st.spinner("Loading the training set and searching…"):
            strip = nearest_training_images(run.path, sel.step_number, int(count), int(seed))
        st.session_state["quality_strip"] = {"run": run.name, "step": sel.step, "strip": strip}
    except (CheckpointError, DataError, ValueError) as e:
        st.error(f"Cannot search this run's training images: {e}")
made = st.session_state.get("quality_strip")
if made and made["run"] == run.name and made["step"] == sel.step:
    strip = made["strip"]
    show_image(strip.image, caption="distance of each pair: " + ", ".join(f"{d:.2f}" for d in strip.distances))
    st.caption(f"Distance: Euclidean over all {strip.pixels} pixel values on a 0–1 scale, so 0 is an exact copy "
               f"and {strip.pixels ** 0.5:.1f} the most two images can differ; per pixel (RMS) the pairs above "
               f"differ by {min(strip.distances) / strip.pixels ** 0.5:.2f} to "
               f"{max(strip.distances) / strip.pixels ** 0.5:.2f}. The evaluator's memorisation figures "
               "(`python -m dcgan evaluate`) compare such distances with those of real held-out images.")
