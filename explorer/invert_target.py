"""The Invert page's target: a drawing on a canvas sized for the model, an uploaded picture, or a real
held-out image picked at random. The core prepares each (dcgan.analysis.inversion.prepare_target: the
one upload preparer) and refuses what cannot be a target with a one-line reason, shown here as it is.

A drawing for a 28 px grey model that draws on black (MNIST, Fashion-MNIST) is re-framed by the core as
the data set's images were made (imaging.reframe: a digit drawn small in a corner comes out the size and
place of MNIST's), unless the user turns that off; the prepared target is shown beside the canvas.

The canvas is streamlit-drawable-canvas 0.13 rather than a small st.components.v2 canvas of our own:
it is itself a components.v2 component (so it works with this Streamlit), and it brings freehand strokes
for mouse, pen and touch, undo / redo / clear, and the drawing back as a PNG (return_image_data=True),
which here would be a hundred lines of JavaScript to write, test and keep working.
"""
from __future__ import annotations

import streamlit as st

from dcgan.analysis.inversion import model_background, prepare_target, random_held_out, target_framing
from dcgan.data import DataError
from dcgan.imaging import UPLOAD_FORMATS

SOURCES = ["draw", "upload", "real test image"]
CANVAS_PX = 280  # the canvas's side: 28 px digits drawn at 10x, 64 px faces at 4x
STROKE_MODEL_PX = 2.2  # the pen's width in the model's pixels: MNIST's strokes are 2 to 3 px wide at 28 px
UPLOAD_MAX_MB = 20  # a photo straight off a camera; the core refuses over 50 megapixels from the header


def canvas_scale(image_size: int) -> int:
    return max(1, CANVAS_PX // image_size)


def _drawn(G, run) -> dict | None:
    from streamlit_drawable_canvas import st_canvas  # only here: its import needs a running Streamlit
    scale = canvas_scale(G.image_size)
    dark = model_background(G) == "dark"
    ink, paper = ("#ffffff", "#000000") if dark else ("#000000", "#ffffff")
    framing = target_framing(G, run)
    what = "a digit or a garment " if G.image_size == 28 else ""
    st.caption(f"Draw {what}{'white on black' if dark else 'black on white'}"
               + (", any size, anywhere: it is framed as the model's images were" if framing else
                  ", large and centred as the model's images are")
               + f" ({G.image_size} px, shown {scale}x). The toolbar under the canvas undoes, redoes and clears.")
    result = st_canvas(stroke_width=round(STROKE_MODEL_PX * scale), stroke_color=ink, background_color=paper,
                       width=G.image_size * scale, height=G.image_size * scale, drawing_mode="freedraw",
                       return_image_data=True, key=f"inv_canvas_{G.image_size}_{paper}")
    reframe = framing is not None and st.toggle(
        f"Frame it as {framing.name}'s images are", value=True, key="inv_reframe",
        help=f"the ink's box scaled to {framing.box} px (aspect kept) and placed "
             f"{'by its centre of mass' if framing.centre == 'mass' else 'in the middle'} of the "
             f"{framing.frame} px frame, as the data set was made: a drawing small or off-centre then fits the model")
    data = result.image_bytes
    if data is None:
        st.info("Nothing drawn yet.")
        return None
    try:
        prepared = prepare_target(G, data, framing if reframe else None)
    except ValueError as e:
        st.error(f"Cannot invert the drawing: {e}")
        return None
    return {"image": prepared.image, "notes": prepared.notes, "source": "your drawing", "kind": "drawn"}


def _uploaded(G) -> dict | None:
    upload = st.file_uploader(f"A picture ({', '.join(UPLOAD_FORMATS)})", key="inv_upload",
                              type=["png", "jpg", "jpeg", "webp", "gif", "bmp"], max_upload_size=UPLOAD_MAX_MB,
                              help=f"converted, centre-cropped and resized to {G.image_size} px, "
                                   f"{'grey' if G.channels == 1 else 'RGB'}, as the model draws")
    if upload is None:
        return None
    try:
        prepared = prepare_target(G, upload.getvalue())
    except ValueError as e:
        st.error(f"Cannot invert {upload.name}: {e}")
        return None
    return {"image": prepared.image, "notes": prepared.notes, "source": f"upload {upload.name}", "kind": "upload"}


def _test_image(G, run) -> dict | None:
    picked = st.session_state.get("inv_test")
    if picked is not None and (picked["run"], picked["image"].shape) != (str(run.path), (G.image_size,) * 2 + (G.channels,)):
        picked = None  # picked for another run or model size
    if st.button("Pick a random test image" if picked is None else "Pick another", key="inv_pick_test",
                 help="a real held-out image of the run's data (MNIST / Fashion-MNIST: the test split; a folder "
                      "run: its held-out share), which G never trained on"):
        try:
            index, image = random_held_out(run, G.image_size, G.channels)
        except (DataError, OSError, ValueError) as e:
            st.error(f"No real test images here: {str(e).splitlines()[0]}")
            return None
        picked = {"run": str(run.path), "image": image, "notes": [], "source": f"test image {index}", "kind": "test"}
        st.session_state["inv_test"] = picked
    return picked


def target_section(G, run) -> dict | None:
    """The chosen target as a dict (image: uint8 (H, W, C) at G's size; notes; source; kind), or None."""
    source = st.radio("Target", SOURCES, horizontal=True, key="inv_source",
                      format_func={"draw": "draw it", "upload": "upload a picture",
                                   "real test image": "a real test image"}.get)
    if source == "draw":
        return _drawn(G, run)
    if source == "upload":
        return _uploaded(G)
    return _test_image(G, run)
