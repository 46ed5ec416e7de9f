"""Animations out: frames (uint8 H x W x C) as the bytes of a GIF, an MP4 (H.264), an animated WebP, an
APNG or a ZIP of PNG frames, all with one set of options (frame duration, loop, ping-pong, nearest-neighbour
scale), and read back into frames and timings, which is how the tests and a user's check know a file
holds what it says.

Every writer is deterministic (same frames and options -> same bytes, in any process on the same
software), which is what makes a session file (analysis.animation) reproduce its export byte for byte.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from .imaging import OUTPUT_FORMATS, gif_bytes, output_format, png_bytes, to_pil, upscale

# every format an animation can be written in (OUTPUT_FORMATS' names), the first the default
ANIMATION_FORMATS = ("GIF", "MP4", "WEBP", "APNG", "ZIP")
MIME = {"GIF": "image/gif", "MP4": "video/mp4", "WEBP": "image/webp", "APNG": "image/apng",
        "ZIP": "application/zip"}
LABEL = {"GIF": "GIF", "MP4": "MP4 (H.264)", "WEBP": "WebP (lossless)", "APNG": "APNG",
         "ZIP": "ZIP of PNG frames"}
# browsers play GIF delays under 20 ms at 100 ms, so 10 ms would be slower than 20; past 10 s is a slideshow
MIN_FRAME_MS, MAX_FRAME_MS = 20, 10_000
MAX_SCALE = 16
# the ZIP's own note of how to play its frames (PNG files carry no timing)
ZIP_TIMING_NAME = "animation.json"
# MP4: one encoder thread and bit-exact muxing, so the same frames give the same bytes on any machine
# with this ffmpeg (x264's output depends on its thread count; the muxer otherwise stamps its version).
# crf 18 with 4:2:0 chroma: visually lossless for G's images; the grey ones lose nothing to chroma. Preset
# veryfast: 64 faces frames at 256 px encode in 0.24 s against medium's 0.36 s, for a file 10 % larger.
MP4_PARAMS = ["-preset", "veryfast", "-crf", "18", "-threads", "1", "-x264-params", "threads=1",
              "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1", "-movflags", "+faststart"]
# WebP: lossless; libwebp's method 0 of 6 at effort (quality) 50: on 64 faces frames at 256 px 0.15 s and
# 279 kB, where method 1 took 0.49 s for 221 kB, and method 6 took minutes on noisy frames
WEBP_METHOD, WEBP_EFFORT = 0, 50


def animation_format(name: str) -> str:
    """The canonical name (ANIMATION_FORMATS) of a format given as 'mp4', 'WebP', '.gif' ...;
    ValueError naming the choices for anything else."""
    key = str(name).strip().lstrip(".").upper()
    for fmt in ANIMATION_FORMATS:
        if key == fmt or "." + key.lower() in OUTPUT_FORMATS[fmt]:
            return fmt
    raise ValueError(f"an animation is written as {', '.join(f.lower() for f in ANIMATION_FORMATS)}, not {name!r}")


def animation_file_format(path: str | Path, flag: str = "--out") -> str:
    """The animation format a file name asks for by its suffix; ValueError, one line naming every
    suffix that can be written, for any other."""
    return output_format(path, ANIMATION_FORMATS, flag)


def suffix(fmt: str) -> str:
    return OUTPUT_FORMATS[animation_format(fmt)][0]


def check_options(frame_ms: int, scale: int) -> None:
    """ValueError, one line, for a frame duration or a scale no file here is written with."""
    if isinstance(frame_ms, bool) or not isinstance(frame_ms, (int, np.integer)) \
            or not MIN_FRAME_MS <= frame_ms <= MAX_FRAME_MS:
        raise ValueError(f"frame duration must be a whole number of ms from {MIN_FRAME_MS} to {MAX_FRAME_MS} "
                         f"(50 to 0.1 fps), not {frame_ms!r}")
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or not 1 <= scale <= MAX_SCALE:
        raise ValueError(f"scale must be a whole number from 1 to {MAX_SCALE}, not {scale!r}")


def frame_ms_from_fps(fps: float) -> int:
    """Frames per second as the whole-ms frame duration every format stores (30 fps -> 33 ms)."""
    if not (isinstance(fps, (int, float)) and np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, not {fps!r}")
    return max(1, round(1000 / fps))


def played(frames, pingpong: bool = False) -> list[np.ndarray]:
    """The frames in the order they play: ping-pong plays forward then back without repeating either
    end (a, b, c, d -> a, b, c, d, c, b), so a looped ping-pong never shows a frame twice in a row."""
    frames = [np.asarray(f) for f in frames]
    if not frames:
        raise ValueError("an animation needs at least one frame")
    for f in frames:
        if f.dtype != np.uint8 or f.ndim != 3 or f.shape[-1] not in (1, 3) or f.shape != frames[0].shape:
            raise ValueError("frames must be uint8 images of one size, (H, W, 1) or (H, W, 3), "
                             f"not {f.dtype} {f.shape} beside {frames[0].shape}")
    return frames + frames[-2:0:-1] if pingpong and len(frames) > 2 else frames


def rgb(frame: np.ndarray) -> np.ndarray:
    return np.repeat(frame, 3, axis=-1) if frame.shape[-1] == 1 else frame


def even(frame: np.ndarray) -> np.ndarray:
    """yuv420p stores colour per 2 x 2 block, so H.264 needs even sides: an odd side gets one more row or
    column repeating its last (edge padding), never a rescale, which would blur the crisp pixels."""
    h, w = frame.shape[:2]
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge") if h % 2 or w % 2 else frame


def animation_bytes(frames, fmt: str = "GIF", frame_ms: int = 80, loop: bool = True, pingpong: bool = False,
                    scale: int = 1) -> bytes:
    """frames as one animation file's bytes in fmt (ANIMATION_FORMATS), each frame frame_ms long,
    looping forever or played once, ping-pong or not, upscaled scale times (nearest neighbour).

    MP4 keeps no loop flag (a player loops it or not); its frames are RGB, padded to even sides (even()).
    GIF stores durations in 10 ms units (85 ms plays as 80), the others in ms. GIF, WebP and APNG store
    consecutive identical frames as one frame shown for their summed time (their encoders do)."""
    fmt = animation_format(fmt)
    check_options(frame_ms, scale)
    frames = [upscale(f, scale) for f in played(frames, pingpong)]
    return WRITERS[fmt](frames, int(frame_ms), bool(loop))


def _gif(frames, frame_ms, loop):
    return gif_bytes(frames, frame_ms, loop=loop)


class ExportError(OSError):
    """An animation the encoder could not finish (its temporary file's disk full, ffmpeg failed): no bytes
    are returned, so nothing half-made is saved or offered."""

    def __str__(self) -> str:
        return self.strerror  # the sentence alone, as WriteError's: no "[Errno 28]" before it


def _mp4(frames, frame_ms, loop):
    import imageio.v3 as iio
    stack = np.stack([even(rgb(f)) for f in frames])
    # the rate as a fraction (80 ms -> 25/2 fps), so a frame lasts exactly frame_ms in the file
    data = iio.imwrite("<bytes>", stack, extension=".mp4", plugin="FFMPEG", fps=Fraction(1000, frame_ms),
                       codec="libx264", quality=None, pixelformat="yuv420p", macro_block_size=1,
                       output_params=list(MP4_PARAMS), ffmpeg_log_level="error")
    if not mp4_complete(data):
        raise _mp4_failed(len(data))
    return data


def mp4_complete(data: bytes) -> bool:
    """Whether data is a whole MP4: top-level boxes that end exactly at its end, with the movie's index
    (moov) and its frames (mdat). imageio reads back ffmpeg's temporary file without asking how ffmpeg
    ended, so a disk that fills up mid-encode gives a cut-off file (measured: 64 KiB of a tmpfs of 64
    KiB, "No space left on device" on ffmpeg's stderr, no exception); a cut falls inside a box."""
    at, seen = 0, set()
    while at + 8 <= len(data):
        size, kind = int.from_bytes(data[at:at + 4], "big"), data[at + 4:at + 8]
        if size == 1 and at + 16 <= len(data):  # a 64-bit size follows the type
            size = int.from_bytes(data[at + 8:at + 16], "big")
        if size < 8:  # 0 (to the end of the file) is never written by ffmpeg's mp4 muxer; < 8 is no box
            return False
        seen.add(kind)
        at += size
    return at == len(data) and {b"moov", b"mdat"} <= seen


def _mp4_failed(size: int) -> ExportError:
    import errno
    import shutil
    import tempfile
    where = tempfile.gettempdir()
    try:
        full = shutil.disk_usage(where).free < 16 * 2**20
    except OSError:
        full = False
    code = errno.ENOSPC if full else errno.EIO
    why = f"the disk of the temporary folder {where} is full" if full else \
        "ffmpeg stopped before the end of the file"
    return ExportError(code, f"the MP4 could not be made: the encoder left an incomplete file ({size:,} bytes); "
                             f"{why}. Nothing was saved")


def _webp(frames, frame_ms, loop):
    images = [Image.fromarray(rgb(f)) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="WEBP", save_all=True, append_images=images[1:], duration=frame_ms,
                   loop=0 if loop else 1, lossless=True, method=WEBP_METHOD, quality=WEBP_EFFORT)
    return buf.getvalue()


def _apng(frames, frame_ms, loop):
    images = [to_pil(f) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="PNG", save_all=True, append_images=images[1:], duration=frame_ms,
                   loop=0 if loop else 1, disposal=0, blend=0, default_image=False)
    return buf.getvalue()


def _zip(frames, frame_ms, loop):
    buf = io.BytesIO()
    # a fixed date on every entry (ZIP's earliest): the same frames make the same archive on any day
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:  # PNG is compressed already
        for i, frame in enumerate(frames):
            archive.writestr(zipfile.ZipInfo(f"frame_{i:04d}.png", (1980, 1, 1, 0, 0, 0)), png_bytes(frame))
        timing = {"frames": len(frames), "frame_ms": frame_ms, "fps": round(1000 / frame_ms, 4), "loop": loop}
        archive.writestr(zipfile.ZipInfo(ZIP_TIMING_NAME, (1980, 1, 1, 0, 0, 0)), json.dumps(timing, indent=2))
    return buf.getvalue()


WRITERS = {"GIF": _gif, "MP4": _mp4, "WEBP": _webp, "APNG": _apng, "ZIP": _zip}


@dataclass
class Decoded:
    """An animation file read back: its frames (H, W, C uint8, C as stored), each frame's duration in ms,
    and whether it loops (None where the format keeps no such flag: MP4)."""
    frames: list[np.ndarray]
    frame_ms: list[float]
    loop: bool | None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of its frames."""
        return self.frames[0].shape[1], self.frames[0].shape[0]


def read_animation(data: bytes, fmt: str) -> Decoded:
    """An animation's bytes decoded: every frame, its duration and the loop flag (a check of what a
    writer made; WebP and APNG are read with Pillow's seek, frame by frame)."""
    fmt = animation_format(fmt)
    if fmt == "MP4":
        import imageio.v3 as iio
        meta = iio.immeta(data, extension=".mp4", plugin="FFMPEG")
        frames = [np.asarray(f) for f in iio.imiter(data, extension=".mp4", plugin="FFMPEG")]
        return Decoded(frames, [1000 / meta["fps"]] * len(frames), None)
    if fmt == "ZIP":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            timing = json.loads(archive.read(ZIP_TIMING_NAME))
            names = sorted(n for n in archive.namelist() if n.startswith("frame_"))
            frames = [_array(Image.open(io.BytesIO(archive.read(n)))) for n in names]
        return Decoded(frames, [float(timing["frame_ms"])] * len(frames), bool(timing["loop"]))
    frames, durations = [], []
    with Image.open(io.BytesIO(data)) as im:
        loop = "loop" in im.info and im.info["loop"] == 0
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            frames.append(_array(im))
            durations.append(float(im.info.get("duration", 0)))
    return Decoded(frames, durations, loop)


def _array(im: Image.Image) -> np.ndarray:
    if im.mode == "L":
        return np.asarray(im)[..., None]
    return np.asarray(im.convert("RGB"))
