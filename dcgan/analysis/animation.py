"""An animation through latent space as a file in any format (media.ANIMATION_FORMATS), and its session
file: a small JSON naming the model by the sha256 of its weights file, the z's (or the seeds that make
them), the path, frames, timing, size and format, from which `python -m dcgan render` makes the same file
again, byte for byte.

Byte identity holds because the export and the render run the one function (animate) on the same float32
z's (a session stores each component as the shortest decimal that reads back as that float32) with
deterministic writers; it is promised for the same software on the same kind of processor: another torch,
ffmpeg or CPU may round G's last bit differently.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..imaging import make_grid, png_bytes, upscale
from ..media import ANIMATION_FORMATS, animation_bytes, animation_format, check_options, played
from ..runs.files import NonFiniteJSON, strict_loads
from ..runs.rundir import RunDir, file_sha256
from ..sampling import MAX_FRAMES, MIN_LOOP_Z, check_z, generate, interpolate, loop_path, z_from_seed

Progress = Callable[[int, int], None]

SESSION_TAG = "dcgan-animation/1"  # the value of a session's "session" key: what the file is, and its version
PATHS = ("slerp", "lerp", "loop")  # start -> end (2 z), or the closed slerp loop through 3 or more
MAX_LOOP_Z = 64
SEED_LIMIT = 2**63  # torch.Generator.manual_seed takes any int below
MAX_SESSION_BYTES = 2_000_000
MAX_MEGAPIXELS = 200  # frames x upscaled pixels: beyond this an animation is too big to make or to show
KEYS = ("session", "model_sha256", "step", "model", "path", "seeds", "z", "frames", "frame_ms", "loop", "pingpong",
        "scale", "size", "format")


class SessionError(ValueError):
    """A session file that cannot be rendered, or not with this model: one line saying why."""


@dataclass(frozen=True)
class ModelRef:
    """Which generator an animation was made with: the sha256 of its weights file, the run's step
    (None: the exported generator) and where it was (a hint for render; the hash decides)."""
    sha256: str
    step: int | None = None
    where: str = ""


def model_ref(model: str | Path, step: int | None = None) -> ModelRef:
    """The ModelRef of a run directory at a step, or of a single .safetensors file (as resolve_generator
    takes them); SessionError when the weights are not there."""
    p = Path(model)
    try:
        sha = RunDir(p).weights_sha256(step) if p.is_dir() else file_sha256(p)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        what = f"step {step} of {model}" if step is not None else str(model)
        raise SessionError(f"the model {what} is not there (no generator weights)") from None
    return ModelRef(sha, step, str(model))


@dataclass(frozen=True)
class Session:
    """What an animation was made from; KEYS are its JSON keys, with session = SESSION_TAG."""
    model_sha256: str
    step: int | None
    model: str
    path: str
    seeds: tuple[int, ...] | None
    z: tuple[tuple[float, ...], ...] | None
    frames: int
    frame_ms: int
    loop: bool
    pingpong: bool
    scale: int
    size: tuple[int, int]  # (width, height) of the file's frames
    format: str

    def to_json(self) -> str:
        """The session file's text: one key a line, compact values, the z's exact (float32 round trip)."""
        data = {"session": SESSION_TAG, **asdict(self)}
        data["format"] = self.format.lower()
        lines = [f"  {json.dumps(k)}: {json.dumps(v, allow_nan=False)}" for k, v in data.items()]
        return "{\n" + ",\n".join(lines) + "\n}\n"

    def zs(self, z_dim: int) -> list[torch.Tensor]:
        """The path's key z's for a generator taking z_dim values; SessionError for a wrong length."""
        if self.seeds is not None:
            return [z_from_seed(s, z_dim)[0] for s in self.seeds]
        try:
            return [check_z(list(z), z_dim) for z in self.z]
        except ValueError as e:
            raise SessionError(f"the session's z: {e}") from None


@dataclass
class Animation:
    """An animation made by animate(): the file's bytes in its format, its frames as a grid PNG, and the
    session that makes it again (None when the model was not named)."""
    frame_count: int  # images along the path
    data: bytes
    format: str
    grid_png: bytes
    played_frames: int  # frames in the file: ping-pong plays them back too
    session: Session | None = field(default=None)

    @property
    def gif(self) -> bytes:
        if self.format != "GIF":
            raise ValueError(f"this animation is an {self.format}, not a GIF")
        return self.data

    @property
    def gif_frames(self) -> int:
        return self.played_frames


def frame_size(image_size: int, scale: int, fmt: str) -> tuple[int, int]:
    """(width, height) of the frames an animation file holds: G's size times scale, made even for MP4."""
    side = image_size * scale
    if animation_format(fmt) == "MP4":
        side += side % 2
    return side, side


def check_size(frames: int, image_size: int, scale: int) -> None:
    megapixels = frames * (image_size * scale) ** 2 / 1e6
    if megapixels > MAX_MEGAPIXELS:
        raise ValueError(f"{frames} frames at {image_size * scale} px are {megapixels:.0f} megapixels; "
                         f"keep frames x size^2 under {MAX_MEGAPIXELS} (fewer frames or a smaller scale)")


def path_z(zs: list, path: str, frames: int) -> torch.Tensor:
    """Every frame's z: start to end (slerp or lerp, both ends included) or the closed loop through all."""
    if path not in PATHS:
        raise ValueError(f"path must be one of {', '.join(PATHS)}, not {path!r}")
    if path == "loop":
        return loop_path(zs, frames, "slerp")
    if len(zs) != 2:
        raise ValueError(f"a {path} path goes from one z to another: 2 z, not {len(zs)}")
    return interpolate(zs[0], zs[1], frames, path)


def animate(G: torch.nn.Module, zs: list, path: str = "slerp", frames: int = 64, fmt: str = "GIF",
            frame_ms: int = 80, loop: bool = True, pingpong: bool = False, scale: int = 4,
            seeds: list[int] | None = None, model: ModelRef | None = None,
            progress: Progress | None = None) -> Animation:
    """G's images along a path through zs as one animation file in fmt, with its frame grid and, when
    model names the generator, its session (storing seeds when given: they are zs' seeds)."""
    fmt = animation_format(fmt)
    check_options(frame_ms, scale)
    check_size(frames, G.image_size, scale)
    zs = [check_z(z, G.z_dim) for z in zs]
    images = generate(G, path_z(zs, path, frames), batch_size=32, progress=progress)
    data = animation_bytes(images, fmt, frame_ms, loop, pingpong, scale)
    grid = make_grid(images, nrow=int(np.ceil(np.sqrt(frames))))
    session = None
    if model is not None:
        stored = {"seeds": tuple(int(s) for s in seeds), "z": None} if seeds is not None else \
            {"seeds": None, "z": tuple(tuple(float(v) for v in z.numpy()) for z in zs)}
        session = Session(model.sha256, model.step, model.where, path, frames=frames, frame_ms=int(frame_ms),
                          loop=bool(loop), pingpong=bool(pingpong), scale=int(scale),
                          size=frame_size(G.image_size, scale, fmt), format=fmt, **stored)
    return Animation(len(images), data, fmt, png_bytes(upscale(grid, max(1, scale // 2))),
                     len(played(images, pingpong)), session)


def seed_list(text: str) -> list[int]:
    """'1, 7, 3' -> [1, 7, 3]: the seeds of a seamless loop (MIN_LOOP_Z to MAX_LOOP_Z of them, each from 0);
    ValueError saying what is wrong."""
    try:
        seeds = [int(part) for part in str(text).replace(" ", "").split(",")]
    except ValueError:
        raise ValueError(f"seeds are whole numbers separated by commas, such as 1,7,3, not {text!r}") from None
    if not MIN_LOOP_Z <= len(seeds) <= MAX_LOOP_Z or min(seeds) < 0 or max(seeds) >= SEED_LIMIT:
        raise ValueError(f"a seamless loop goes through {MIN_LOOP_Z} to {MAX_LOOP_Z} seeds from 0 (for two, use "
                         f"ping-pong), not {text!r}")
    return seeds


# --- session files in -------------------------------------------------------------------------------

def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def read_session(data: bytes | str) -> Session:
    """A session file's text checked key by key; SessionError, one line, for anything else: not JSON,
    NaN or Infinity, unknown or missing keys, values of the wrong kind or out of range."""
    size = len(data)
    if size > MAX_SESSION_BYTES:
        raise SessionError(f"a session file is at most {MAX_SESSION_BYTES:,} bytes; this one has {size:,}")
    try:
        obj = strict_loads(data)
    except NonFiniteJSON as e:
        raise SessionError(f"the session holds {e}, which is no number (JSON has no NaN or Infinity)") from None
    except (ValueError, RecursionError) as e:
        raise SessionError(f"not a session file (JSON): {str(e).splitlines()[0][:100]}") from None
    if not isinstance(obj, dict):
        raise SessionError("not a session file: a JSON object is expected")
    unknown = [k for k in obj if k not in KEYS]
    if unknown:
        raise SessionError(f"unknown key(s) {', '.join(map(repr, unknown))} in the session (it has: {', '.join(KEYS)})")
    if obj.get("session") != SESSION_TAG:
        raise SessionError(f"not a session file of this version: 'session' must be {SESSION_TAG!r}, "
                           f"not {obj.get('session')!r}")
    optional = {"seeds", "z", "model"}
    missing = [k for k in KEYS if k not in obj and k not in optional]
    if missing:
        raise SessionError(f"the session lacks {', '.join(map(repr, missing))}")
    return Session(**_checked(obj))


def _checked(obj: dict) -> dict:
    def fail(key, what):
        raise SessionError(f"session key {key!r} must be {what}, not {json.dumps(obj.get(key))[:60]}")

    if not (isinstance(obj["model_sha256"], str) and re.fullmatch(r"[0-9a-f]{64}", obj["model_sha256"])):
        fail("model_sha256", "64 lowercase hex digits (a sha256)")
    if obj["step"] is not None and not (_is_int(obj["step"]) and obj["step"] >= 0):
        fail("step", "null (the exported generator) or a step number")
    if not isinstance(obj.get("model", ""), str):
        fail("model", "the model's path as text")
    if obj["path"] not in PATHS:
        fail("path", " or ".join(map(repr, PATHS)))
    seeds, z = obj.get("seeds"), obj.get("z")
    if (seeds is None) == (z is None):
        raise SessionError("the session must give either 'seeds' or 'z' (one of them, not both)")
    keys = seeds if seeds is not None else z
    if not isinstance(keys, list):
        fail("seeds" if seeds is not None else "z", "a list")
    count = (MIN_LOOP_Z, MAX_LOOP_Z) if obj["path"] == "loop" else (2, 2)
    if not count[0] <= len(keys) <= count[1]:
        raise SessionError(f"a {obj['path']} path goes through " + (f"{count[0]} to {count[1]}" if count[0] != count[1]
                           else "2") + f" z, not {len(keys)}")
    if seeds is not None:
        if not all(_is_int(s) and 0 <= s < SEED_LIMIT for s in seeds):
            fail("seeds", "whole numbers from 0 to 2^63 - 1")
    else:
        rows = []
        for i, row in enumerate(z):
            try:
                rows.append(tuple(float(v) for v in check_z(row).numpy()))
            except ValueError as e:
                raise SessionError(f"the session's z {i}: {e}") from None
            if len(rows[-1]) != len(rows[0]):
                raise SessionError(f"the session's z have different lengths ({len(rows[0])} and {len(rows[-1])})")
        z = tuple(rows)
    low = len(keys) if obj["path"] == "loop" else 2
    if not (_is_int(obj["frames"]) and low <= obj["frames"] <= MAX_FRAMES):
        fail("frames", f"a whole number from {low} to {MAX_FRAMES}")
    for key in ("loop", "pingpong"):
        if not isinstance(obj[key], bool):
            fail(key, "true or false")
    try:
        check_options(obj["frame_ms"], obj["scale"])
        if not isinstance(obj["format"], str):
            fail("format", "text")
        fmt = animation_format(obj["format"])
    except ValueError as e:
        raise SessionError(f"the session's {e}") from None
    size = obj["size"]
    if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) and v > 0 for v in size)):
        fail("size", "[width, height] in pixels")
    return dict(model_sha256=obj["model_sha256"], step=obj["step"], model=obj.get("model", ""), path=obj["path"],
                seeds=tuple(seeds) if seeds is not None else None, z=z, frames=obj["frames"],
                frame_ms=obj["frame_ms"], loop=obj["loop"], pingpong=obj["pingpong"], scale=obj["scale"],
                size=tuple(size), format=fmt)


def check_model(session: Session, model: ModelRef) -> None:
    """SessionError naming both hashes when the model is not the one the session was made with."""
    if model.sha256 != session.model_sha256:
        raise SessionError(f"this session was made with the generator whose weights have sha256 "
                           f"{session.model_sha256}, but {model.where or 'this model'} has "
                           f"{model.sha256} (another model, or one trained further since)")


def render_session(session: Session, G: torch.nn.Module, model: ModelRef,
                   progress: Progress | None = None) -> Animation:
    """The animation a session describes, made with G (whose weights model names); SessionError when
    they are not the session's, when its z's do not fit G, or the size it promises is not G's."""
    check_model(session, model)
    size = frame_size(G.image_size, session.scale, session.format)
    if tuple(session.size) != size:
        raise SessionError(f"the session promises {session.size[0]} x {session.size[1]} px frames; this model at "
                           f"scale {session.scale} makes {size[0]} x {size[1]}")
    zs = session.zs(G.z_dim)
    try:
        return animate(G, zs, session.path, session.frames, session.format, session.frame_ms, session.loop,
                       session.pingpong, session.scale, seeds=list(session.seeds) if session.seeds else None,
                       model=ModelRef(model.sha256, session.step, session.model), progress=progress)
    except SessionError:
        raise
    except ValueError as e:
        raise SessionError(f"the session cannot be rendered: {e}") from None


def render_file(data: bytes | str, model: str | Path | None = None, progress: Progress | None = None) -> Animation:
    """A session file's animation, with the model it names (a run directory or .safetensors file) or
    the one given instead; SessionError, one line, before G is loaded when the model is missing or
    its weights are not the session's."""
    from ..runs.checkpoint import resolve_generator
    session = read_session(data)
    where = model if model is not None else session.model
    if not where:
        raise SessionError("the session names no model: say which one (a run directory or .safetensors file)")
    ref = model_ref(where, session.step)
    check_model(session, ref)
    return render_session(session, resolve_generator(where, session.step), ref, progress)


def session_animation(data: bytes | str, G: torch.nn.Module, model: ModelRef,
                      progress: Progress | None = None) -> Animation:
    """A session file's animation made with a generator already loaded (the app's), model naming it."""
    return render_session(read_session(data), G, model, progress)


__all__ = ["ANIMATION_FORMATS", "Animation", "ModelRef", "Session", "SessionError", "animate", "check_model",
           "frame_size", "model_ref", "read_session", "render_file", "render_session", "seed_list", "session_animation"]
