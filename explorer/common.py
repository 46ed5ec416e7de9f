"""Helpers every page shares: images shown losslessly, bounded number boxes, progress bars, notes.

State that must survive a refresh lives in the run directories (training) or the URL (the chosen
run and step, through widgets bound to query parameters); session_state only holds what a
refresh may lose, such as the z being edited.
"""
from __future__ import annotations

import base64
import io

# Imported whole before any page runs. Plotly looks pandas up in sys.modules without importing it; while
# another script thread is still importing pandas (st.table on the Train page, say) that finds a
# half-initialised module, and a chart fails with "partially initialized module 'pandas' has no attribute
# 'Series'" (seen on a loaded machine). Every session's first run imports this module first, so a page
# never meets pandas half-way.
import pandas  # noqa: F401
import plotly.graph_objects  # noqa: F401
import streamlit as st
from PIL import Image

from dcgan.config import bounds_text, in_bounds
from dcgan.imaging import png_bytes
from dcgan.runs.rundir import RunDir

# Streamlit scales images in the browser with smoothing; 28 px digits must stay crisp squares. An image
# given its pixel width (show_image) keeps it even in a narrower column, over the column beside it: capped
# at the column's width, it shrinks instead (the Latent page's 640 px faces in a 450 px half). Streamlit
# puts the width on the image's containers too, so they need the cap as well as the img (tried: without it
# the faces browser test finds the image overflowing).
PIXELATED_CSS = """
<style>
img { image-rendering: pixelated; image-rendering: crisp-edges; }
[data-testid="stImage"], [data-testid="stImageContainer"] { max-width: 100%; }
[data-testid="stImage"] img { max-width: 100%; height: auto; }
</style>
"""


def image_url(data: bytes) -> str:
    """PNG, GIF or WebP bytes as a data: URL, which st.image passes to the browser as it is.

    Bytes given to st.image are served as media files that Streamlit deletes when the next run of
    the script ends; a browser that asks for one after that (a slider dragged quickly, a loaded
    machine) gets a 404 and shows a broken image until the next change. A data: URL travels with
    the element, so the image shown is always the one the run drew.
    """
    # an animated WebP says so in its header; an APNG is a PNG to the browser
    mime = "image/gif" if data[:4] == b"GIF8" else "image/webp" if data[8:12] == b"WEBP" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


STRETCH_ABOVE_PX = 700  # the main column of the wide layout is about 940 px at 1400 px; halves of it ~450
INLINE_MAX_BYTES = 2_000_000  # larger images (a long GIF) go as media files: inlined, each rerun would resend them


def show_image(image, caption: str | None = None, width: int | str = "content") -> None:
    """An (H, W, C) uint8 array or PNG/GIF bytes, losslessly (no JPEG), at its own pixel size by default
    (never wider than its column: PIXELATED_CSS caps it)."""
    data = image if isinstance(image, bytes) else png_bytes(image)
    if len(data) > INLINE_MAX_BYTES:
        st.image(data, caption=caption, width=width)
        return
    if width == "content":
        # a data: URL gives Streamlit no size (it would fill the column): say it, unless the picture is
        # wider than a column can be, where filling it (sharp: pixelated CSS) keeps it on the page
        with Image.open(io.BytesIO(data)) as im:
            width = im.width if im.width <= STRETCH_ABOVE_PX else "stretch"
    st.image(image_url(data), caption=caption, width=width)


def progress_callback(label: str):
    """A progress(done, total) function for the core, drawing an st.progress bar."""
    bar = st.progress(0.0, text=label)

    def update(done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=f"{label} {done}/{total}")

    return update, bar


SEED_MAX = 2**31 - 1  # seeds everywhere in the app; a training seed must stay well inside torch's 64 bits


def bounded_number(container, label: str, low: float, high: float, value: float | None = None, key: str | None = None,
                   help: str | None = None, **kwargs):
    """A number box that takes any number and says next to it, in words, when it lies outside
    [low, high]: a number_input's own min/max only outlines the box in red, silently.

    Returns the value, or None when it is out of range (the message is already shown)."""
    meta = dict(low=low, high=high, low_open=False, high_open=False)
    allowed = bounds_text(meta)
    text = f"{help} Allowed: {allowed}." if help else f"Allowed: {allowed}."
    # a value set through session_state must not be given twice; but Streamlit drops a disabled box's state on
    # a rerun (nobody can have typed in it), and without value= it would fall to 0: the Train page's "Resume to
    # step" of a training run showed "must be 1 to 10,000,000" after the live view reran the page
    if value is not None and (kwargs.get("disabled") or key is None or key not in st.session_state):
        kwargs["value"] = value
    value = container.number_input(label, key=key, help=text, **kwargs)
    if value is None or not in_bounds(value, meta):
        container.error(f"**{label}** must be {allowed}.", icon=":material/error:")
        return None
    return value


def skipped_lines_note(run: RunDir, *logs) -> None:
    """Say how many malformed lines the readers skipped in a run's logs (a power cut can leave NUL
    bytes at the end of an appended file): the charts are then missing those steps."""
    skipped = sum(getattr(records, "skipped", 0) for records in logs)
    if skipped:
        st.caption(f":material/warning: {skipped} malformed line(s) in the logs of run **{run.name}** were "
                   "skipped (damaged or not written by the trainer); their steps are missing from the charts.")
