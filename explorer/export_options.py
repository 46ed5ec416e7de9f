"""What every animation export in the app offers and shows: the format (GIF, MP4, WebP, APNG, ZIP of PNGs),
frames per second, loop, ping-pong and scale as widgets, and a made animation shown in its format with its
downloads (and its session file, where there is one). The Interpolate and Progress pages share them."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from dcgan.analysis.animation import Animation, ModelRef
from dcgan.media import ANIMATION_FORMATS, LABEL, MIME, frame_ms_from_fps, suffix
from explorer.common import bounded_number, show_image

MAX_FPS = 50.0  # a frame of 20 ms: browsers play shorter GIF delays at 100 ms


@dataclass(frozen=True)
class ExportChoice:
    fmt: str
    frame_ms: int
    loop: bool
    pingpong: bool
    scale: int


def format_choice(key: str) -> str:
    """The format selectbox (outside a form, so a label that names the format follows it at once)."""
    return st.selectbox("Format", ANIMATION_FORMATS, format_func=LABEL.get, key=key,
                        help="MP4 is H.264 (plays everywhere, smallest; a player decides whether it loops); WebP is "
                             "lossless; ZIP holds one PNG per frame and animation.json with the timing")


def export_options(prefix: str, fps: float, scale: int, max_scale: int = 16) -> ExportChoice | None:
    """fps, scale, loop and ping-pong widgets (inside the caller's form), with the format chosen by
    format_choice(prefix + '_format'); None when a number is out of range (its message is shown)."""
    c1, c2, c3, c4 = st.columns(4)
    rate = bounded_number(c1, "Frames per second", 0.1, MAX_FPS, fps, key=f"{prefix}_fps", step=0.5,
                          help="each frame lasts 1000 / fps ms, whole ms (GIF: tens of ms).")
    size = bounded_number(c2, "Output scale", 1, max_scale, scale, key=f"{prefix}_scale", step=1,
                          help="nearest-neighbour upscaling of each frame.")
    loop = c3.checkbox("Loop", value=True, key=f"{prefix}_loop")
    pingpong = c4.checkbox("Ping-pong", value=False, key=f"{prefix}_pingpong", help="play forward, then back")
    if None in (rate, size):
        return None
    return ExportChoice(st.session_state.get(f"{prefix}_format", "GIF"), frame_ms_from_fps(float(rate)), loop,
                        pingpong, int(size))


def show_animation(data: bytes, fmt: str, name: str, caption: str, key: str, loop: bool = True,
                   what: str = "") -> None:
    """The animation as the browser plays it (MP4 as a video, a ZIP by its caption only) and its download
    ('Download <what> <format>')."""
    if fmt == "MP4":
        st.video(data, format="video/mp4", loop=loop, autoplay=True, muted=True)
        st.caption(caption)
    elif fmt == "ZIP":
        st.caption(f"{caption}: a ZIP of PNG frames, to download")
    else:
        show_image(data, caption=caption)
    # the bytes themselves, not made on the click (deferred data): a deferred file is asked for over the
    # session's websocket, and with 20 sessions on one 2-core server 36 of 76 GIF downloads were cancelled
    # or never began (bench/class_of_20.py, 2026-12-07); bytes given here went through in every class run
    st.download_button(f"Download {what + ' ' if what else ''}{LABEL[fmt].split(' (')[0]}", data,
                       file_name=name + suffix(fmt), mime=MIME[fmt], key=key, on_click="ignore")


def model_of(sel) -> ModelRef:
    """The sidebar's model as a session names it: its weights' sha256 (RunDir's), step and folder. A
    snapshot's weights deleted since the page loaded G (keep_snapshot_weights, a resume) stop the page with
    the reason."""
    try:
        return ModelRef(sel.run.weights_sha256(sel.step_number), sel.step_number, str(sel.run.path))
    except FileNotFoundError:
        st.error(f"The weights of {'the final model' if sel.step_number is None else f'step {sel.step_number}'} "
                 "have been deleted since this page loaded them (a run keeping only its newest snapshot weights "
                 "deletes older ones as it trains); pick another step in the sidebar.")
        st.stop()


def kept(result: Animation, made_from, what: str) -> dict:
    """An animation as session_state keeps it between reruns, with what made it (a form, a session file)."""
    return {"frames": result.frame_count, "data": result.data, "format": result.format, "made_from": made_from,
            "grid_png": result.grid_png, "method": what, "played": result.played_frames, "loop": result.session.loop,
            "session": result.session.to_json()}
