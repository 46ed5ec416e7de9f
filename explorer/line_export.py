"""The animation export under a direction's strip (Directions page) and a component's sweep (Latent page):
format, frames and the shared export options, a button, and the made animation with its session file,
shown only while the settings that made it are still the ones on screen."""
from __future__ import annotations

import re
from typing import Callable

import streamlit as st

from dcgan.analysis.animation import Animation
from dcgan.analysis.line_animations import DEFAULT_FRAMES
from dcgan.media import LABEL
from dcgan.sampling import MAX_FRAMES
from explorer.common import bounded_number, progress_callback
from explorer.export_options import ExportChoice, export_options, format_choice, kept, show_animation

# make(frames, choice, progress) -> Animation: the page's one core call, with its own arguments bound
Make = Callable[[int, ExportChoice, Callable[[int, int], None]], Animation]


def file_stem(*parts) -> str:
    """A download's file name from what it shows ('mnist', 'toward 7' -> 'mnist_toward_7')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "_".join(map(str, parts))).strip("_") or "animation"


def line_export(prefix: str, title: str, made_from: tuple, make: Make, name: str, scale: int = 4) -> None:
    """An expander offering the animation; the result is kept in session_state[prefix + '_result'] with
    made_from (what it shows: model, z, direction or component, range), and shown only under the same."""
    with st.expander(title, expanded=st.session_state.get(f"{prefix}_result") is not None):
        fmt = format_choice(f"{prefix}_format")
        with st.form(f"{prefix}_form"):
            frames = bounded_number(st, "Frames", 2, MAX_FRAMES, DEFAULT_FRAMES, key=f"{prefix}_frames", step=1,
                                    help="images from one end to the other, both included")
            choice = export_options(prefix, fps=12.5, scale=scale)
            go = st.form_submit_button(f"Make the {LABEL[fmt]}", type="primary")
        if go and (frames is None or choice is None):
            st.error("Fix the fields marked above, then make the animation again.")
        elif go:
            progress, bar = progress_callback("Rendering frames…")
            try:
                result = make(int(frames), choice, progress)
            except (ValueError, OSError) as e:  # too big to make; the MP4 encoder's disk full
                st.error(f"Cannot make the animation: {e}")
                st.session_state.pop(f"{prefix}_result", None)  # an older one would pass for this one
            else:
                st.session_state[f"{prefix}_result"] = kept(result, made_from, name)
            bar.empty()
        result = st.session_state.get(f"{prefix}_result")
        if result and result["made_from"] != made_from:
            st.caption("The settings above changed since the last animation: make it again for them.")
        elif result:
            back = f" ({result['frames']} forward, {result['played'] - result['frames']} back)" \
                if result["played"] != result["frames"] else ""
            show_animation(result["data"], result["format"], name, f"{result['played']} frames{back}",
                           key=f"{prefix}_download", loop=result["loop"])
            st.download_button("Download session file", result["session"], file_name=f"{name}_session.json",
                               mime="application/json", key=f"{prefix}_session", on_click="ignore",
                               help=f"`python -m dcgan render {name}_session.json` makes this file again, byte for "
                                    "byte; the Interpolate page renders it too")
