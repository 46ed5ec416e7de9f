"""The Invert page's search: the core's inversion run in a thread beside the script, watched by a fragment
with a progress bar and a Stop button, and the found z shown, saved with the run and sent to other pages.

Why a thread: Streamlit answers a button click by rerunning the script, and a rerun interrupts a
search running inside the script at its next progress update, losing the best z so far. The search
therefore runs outside the script (a plain thread; it calls no st.* function), keeping its progress and
result on a SearchJob in st.session_state; the Stop button's callback only sets the job's flag, which
the core's should_stop reads at its next step, and the search returns the best z it has. A refresh
starts a new session, so each found z is saved with the run (latents/) the moment it is found.
"""
from __future__ import annotations

import threading

import numpy as np
import streamlit as st

from dcgan.analysis.inversion import free_latent_name, invert, latent_record, references, save_latent
from dcgan.analysis.semantics import weights_step
from dcgan.imaging import make_grid, upscale
from explorer.common import show_image
from explorer.invert_links import send_buttons

WATCH_EVERY_S = 0.4


class SearchJob:
    """One inversion in a thread: its progress, then its result, references and saved name (or error)."""

    def __init__(self, G, target: dict, run, step: int | None, starts: int, steps: int):
        self.G, self.target, self.run, self.step = G, target, run, step
        self.starts, self.total, self.done = starts, steps, 0
        self.phase = "searching"
        self.stop_requested = False
        self.result = self.references = self.saved = self.save_error = self.error = None
        self.finished = False
        self.thread = threading.Thread(target=self._work, name="inversion", daemon=True)

    def _progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def request_stop(self) -> None:
        self.stop_requested = True

    def _work(self) -> None:
        try:
            self.result = invert(self.G, self.target["image"], starts=self.starts, steps=self.total,
                                 progress=self._progress, should_stop=lambda: self.stop_requested)
            self.phase = "references"  # computed once per model step, then read from the run
            self.references = references(self.G, self.run, self.step)
            record = latent_record(self.result, self.target["source"], weights_step(self.run.path, self.step))
            try:
                name = free_latent_name(self.run, self.target["kind"])
                save_latent(self.run, name, record, self.target["image"])  # the target kept beside its z
                self.saved = name
            except OSError as e:  # a read-only run folder: the z is still shown and can be sent on
                self.save_error = str(e).splitlines()[0]
        except Exception as e:  # shown on the page; the thread must not die silently
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.finished = True


def request_search() -> None:
    """The Invert button's callback: the press, kept for the script run that follows it."""
    st.session_state["inv_requested"] = True


def start(G, target: dict, run, step: int | None, starts: int, steps: int) -> None:
    """Start a search for target (a dict: image, source, kind) unless one is running."""
    job = st.session_state.get("inv_job")
    if job is not None and not job.finished:
        return
    job = SearchJob(G, target, run, step, starts, steps)
    st.session_state["inv_job"] = job
    job.thread.start()


@st.fragment(run_every=WATCH_EVERY_S)
def _watch(job: SearchJob) -> None:
    if job.finished:
        st.rerun()  # the whole page: it shows the result
    text = f"Searching z… step {job.done}/{job.total}" if job.phase == "searching" else \
        "Computing the references (once per model step: G's own images and real ones inverted)…"
    st.progress(min(1.0, job.done / max(job.total, 1)), text=text)
    st.button("Stop", key="inv_stop", on_click=job.request_stop, disabled=job.stop_requested,
              help="end the search now and keep the best z found so far")


def collect() -> bool:
    """Move a finished search's result to inv_result; whether a search is still running."""
    job = st.session_state.get("inv_job")
    if job is None:
        return False
    if not job.finished:
        return True
    del st.session_state["inv_job"]
    if job.error:
        st.session_state["inv_result"] = {"error": job.error}
        return False
    r = job.result
    st.session_state["inv_result"] = {
        "z": r.z, "image": r.image, "error": r.error, "steps": r.steps, "total": job.total, "stopped": r.stopped,
        "seconds": r.seconds, "target": job.target, "references": job.references, "saved": job.saved,
        "save_error": job.save_error}
    return False


def watch() -> None:
    """The running search's progress bar and Stop button, redrawn until it ends."""
    job = st.session_state.get("inv_job")
    if job is not None:
        _watch(job)


def show_result(scale: int) -> None:
    """The last search's target beside G(z), its error beside the references, and where z went."""
    res = st.session_state.get("inv_result")
    if res is None:
        return
    if "error" in res and "z" not in res:
        st.error(f"The search failed: {res['error']}")
        return
    st.subheader("Found")
    pair = make_grid(np.stack([res["target"]["image"], res["image"]]), nrow=2, pad_value=128)
    show_image(upscale(pair, scale), caption=f"left: the target ({res['target']['source']}); right: G(z)")
    refs = res["references"]
    st.markdown(f"**Reconstruction {refs.text(res['error'])}**")
    st.caption(verdict(res["error"], refs))
    how = f"stopped at step {res['steps']} of {res['total']}: the best z so far" if res["stopped"] else \
        f"{res['steps']} steps"
    st.caption(f"{how}, {res['seconds']:.1f} s · |z| = {np.linalg.norm(res['z']):.2f}")
    if res["saved"]:
        st.success(f"Saved with the run as **{res['saved']}** (listed below: a refresh loses nothing).")
    elif res["save_error"]:
        st.warning(f"Not saved with the run (its folder cannot be written): {res['save_error']}")
    send_buttons(res["z"], "inv_result", saved=res["saved"])


def verdict(error: float, refs) -> str:
    """What the error means beside the references, in words."""
    if error <= 1.5 * refs.own:
        return "As close as G gets to its own images: the model can draw this."
    if refs.real is not None and error <= 1.5 * refs.real:
        return "As close as a real held-out image gets: the model knows pictures like this."
    if refs.real is not None and error > 3 * refs.real:
        return "Far above the real images' error: this is something the model cannot draw well."
    return "Between the references: G(z) is like the target, not the same."
