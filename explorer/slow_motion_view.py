"""The Learn page's slow-motion training: a copy of the run's G and D held in this session (never its files),
stepped one sub-step at a time or 1, 10 or 100 whole steps (dcgan.training.slow_motion), each step's real and
fake batches shown with D's scores, its histograms, the gradient D sends G and G's images after its update."""
from __future__ import annotations

import streamlit as st

from dcgan.runs.rundir import RunDir
from dcgan.training.slow_motion import (SUB_STEP_TITLES, SlowMotion, SlowMotionError, batch_figure, gradient_images,
                                        needs_d_message, start_state, training_images)
from explorer.common import progress_callback, show_image
from explorer.learn_charts import score_histograms

COPY = "learn_copy"  # (run path, SlowMotion): the copy this session trains
RUNNING = "learn_running"  # set while whole steps run; still set on the next run: they were interrupted
SAY = "learn_say"  # (st function name, text): what a callback has to say
SHOWN = 16  # images of each batch on the page
COLUMNS = 4  # of them in a row: "0.41 -> 0.37" under each stays legible in half the page
AT_ONCE = (1, 10, 100)

EXPLAIN = {
    "draw": "G turned a batch of random z's into images (right); on the left, the real batch the trainer draws "
            "for this step. The number under each image is D's score before it learns from this batch: "
            "higher means \"more real\".",
    "d_update": "D took one optimiser step on its loss, which pushes the real scores up and the fake ones down. "
                "Each number now reads before -> after; the histograms show both batches, before and after.",
    "d_update relativistic": "D took one optimiser step on its loss, which pushes each real image's score above "
                             "its fake partner's: under this run's relativistic loss only that gap counts, so "
                             "both batches may move the same way. Each number now reads before -> after; the "
                             "histograms show both batches, before and after.",
    "g_update": "G took one optimiser step to raise D's scores of its images. The heat maps are the gradient D "
                "sends back through each fake image (-∂loss_G/∂x, where G's update pushes each pixel): red, "
                "make this pixel lighter; blue, darker; white, D has no opinion. Pixel by pixel it looks "
                "noisy: G cannot paint pixels, it can only move its weights, so it follows what these maps "
                "agree on across the batch. Beside them, the same z's drawn by the updated G.",
}
SCORES = {
    "probability": "Scores are D's probability that an image is real (this run's BCE loss).",
    "logit": "Scores are D's raw logit: this run's {loss} loss gives no calibrated probability, so compare "
             "scores with each other (real against fake, before against after), not with 0.5.",
}


@st.cache_resource(max_entries=2, show_spinner="Loading the run's training images…")
def _images(key: tuple, _cfg):
    # key: the config fields the images depend on (the TrainConfig itself stays out of the hash)
    return training_images(_cfg)


def _new_copy(run: RunDir) -> SlowMotion:
    start = start_state(run)
    cfg = start.cfg
    images = _images((cfg.dataset, cfg.image_size, cfg.channels, cfg.data_root, cfg.image_folder, cfg.seed,
                      cfg.holdout), cfg)
    return SlowMotion(start, images)


def _held_copy(run: RunDir) -> SlowMotion | None:
    """This session's copy of the run (made on the first visit), or None with the reason shown."""
    held = st.session_state.get(COPY)
    if held is not None and held[0] == str(run.path):
        return held[1]
    try:
        with st.spinner("Copying the run's G and D into this session…"):
            copy = _new_copy(run)
    except SlowMotionError as e:
        st.warning(str(e))
        return None
    st.session_state[COPY] = (str(run.path), copy)
    st.session_state.pop(RUNNING, None)
    return copy


def _held() -> SlowMotion | None:
    held = st.session_state.get(COPY)
    return None if held is None else held[1]


def _say(kind: str, text: str) -> None:
    """A message for this run of the page, from a callback (which runs before the page is drawn)."""
    st.session_state[SAY] = (kind, text)


def _on_sub_step() -> None:
    copy = _held()
    if copy is None:
        return
    try:
        copy.sub_step()
    except SlowMotionError as e:
        _say("warning", str(e))


def _on_reset() -> None:
    held = st.session_state.get(COPY)
    if held is None:
        return
    interrupted = st.session_state.pop(RUNNING, None)
    if held[1].busy or interrupted:
        _say("info", "The steps that were running were stopped; the copy is back at the run's weights.")
    st.session_state[COPY] = (held[0], held[1].fresh())


def slow_motion_section(run: RunDir) -> None:
    st.subheader("Slow-motion training")
    st.caption("One training step of this run, taken apart the way GAN Lab does: G draws a batch and D scores it, "
               "D learns, G learns. It runs on a copy of G and D held in this browser session: the run's files "
               "are never written, and Reset brings the copy back to the run's weights.")
    message = needs_d_message(run)
    if message:
        st.info(message)
        return
    copy = _held_copy(run)
    if copy is None:
        return
    said = st.session_state.pop(SAY, None)
    if said:
        getattr(st, said[0])(said[1])
    interrupted = st.session_state.pop(RUNNING, None)
    if interrupted:
        st.info(f"The {interrupted} steps asked for were interrupted (another click reran the page); the copy "
                f"stopped between two steps, at step {copy.step:,}.")

    buttons = st.columns([2.2, 1, 1, 1, 1])
    # whole steps run here, in the page, with a progress bar; the sub-step and Reset buttons act in callbacks,
    # before the page is drawn, and the sub-step button is drawn last, so its label names the part that is next
    whole = [buttons[i + 1].button(f"{n} step{'s' if n > 1 else ''}", key=f"learn_steps_{n}",
                                   help=f"{n} whole training step{'s' if n > 1 else ''} (a step begun is finished "
                                        "first); only the last one's views are drawn")
             for i, n in enumerate(AT_ONCE)]
    buttons[4].button("Reset", key="learn_reset", help="Back to the run's weights", on_click=_on_reset)
    try:
        for n, pressed in zip(AT_ONCE, whole):
            if pressed:
                st.session_state[RUNNING] = n
                update, bar = progress_callback(f"Training {n} step{'s' if n > 1 else ''}…")
                copy.run_steps(n, progress=update if n > 1 else None)
                bar.empty()
                st.session_state.pop(RUNNING, None)
    except SlowMotionError as e:
        st.session_state.pop(RUNNING, None)
        st.warning(str(e))
    buttons[0].button(f"Next sub-step: {SUB_STEP_TITLES[copy.next_phase]}", key="learn_next", type="primary",
                      on_click=_on_sub_step)

    cfg = copy.cfg
    st.caption(" ".join(copy.notes) + f" Batches of {cfg.batch_size} at {cfg.image_size} px; the first {SHOWN} "
               f"of each are shown. {SCORES[copy.score_kind].format(loss=cfg.gan_loss)}")
    view = copy.view
    taken = copy.steps_done
    where = f"The copy is at step {copy.step:,} ({taken} step{'s' if taken != 1 else ''} taken here)"
    if view is None or view.phase == "g_update" and view.step != copy.step:
        st.markdown(f"{where}. Press **Next sub-step** to watch the next step part by part.")
        return
    phase_no = list(SUB_STEP_TITLES).index(view.phase) + 1
    explain = EXPLAIN.get(f"{view.phase} {cfg.gan_loss}", EXPLAIN[view.phase])
    if view.phase == "g_update" and cfg.diffaugment:
        explain += (f" White squares or bands in a map: DiffAugment ({cfg.diffaugment}) hid those pixels from D in "
                    "this step, so D says nothing about them.")
    st.markdown(f"**Step {view.step:,}, part {phase_no} of 3: {SUB_STEP_TITLES[view.phase]}.** {explain}")
    st.caption(f"{where}. Learning rates: D {view.lr_d:.2g}, G {view.lr_g:.2g}.")
    real_col, fake_col = st.columns(2)
    with real_col:
        st.markdown("**Real images**")
        show_image(batch_figure(view.real, view.real_before, view.real_after, view.score_kind, columns=COLUMNS,
                                count=SHOWN))
    with fake_col:
        st.markdown("**G's images**")
        show_image(batch_figure(view.fake, view.fake_before, view.fake_after, view.score_kind, columns=COLUMNS,
                                count=SHOWN))
    st.plotly_chart(score_histograms(view.real_before, view.fake_before, view.real_after, view.fake_after,
                                     view.score_kind), key="learn_histograms")
    if view.phase != "g_update":
        return
    grad_col, after_col = st.columns(2)
    with grad_col:
        st.markdown("**Where D tells G to change** (red: lighter, blue: darker)")
        if view.gradient is not None:
            show_image(batch_figure(gradient_images(view.gradient), columns=COLUMNS, count=SHOWN))
    with after_col:
        st.markdown("**The same z's after G's update**")
        show_image(batch_figure(view.fake_images_after, columns=COLUMNS, count=SHOWN))
    s = view.stats or {}
    accuracy = (f"the share of real-fake pairs D ranks the right way round {s.get('acc_real', 0):.2f}"
                if cfg.gan_loss == "relativistic" else
                f"D's accuracy on real {s.get('acc_real', 0):.2f} and on fakes {s.get('acc_fake', 0):.2f}")
    st.caption(f"The trainer's own figures for this step: loss_D {s.get('loss_d', float('nan')):.3f}, "
               f"loss_G {s.get('loss_g', float('nan')):.3f}, {accuracy}"
               + (f", R1 {s['r1']:.3g}" if "r1" in s else "") + ".")
