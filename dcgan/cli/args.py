"""The command line's shared pieces: flags made from the config's schema, checked numbers, paths, and
the options every command that writes an animation has."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..config import GROUPS, PROJECT_ROOT, ConfigError, TrainConfig, bounds_text, config_fields

DEFAULT_CHECKPOINTS = "checkpoints"


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake costs one line rather than a screenful of usage."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _field_help(f) -> str:
    """A flag's help from its field's metadata: what it does, what is allowed, its default."""
    meta = f.metadata
    allowed = bounds_text(meta)
    if meta["choices"]:
        allowed = ", ".join(str(c) if c != "" else "''" for c in meta["choices"])
    default = f.default
    return f"{meta['help']}" + (f"; {allowed}" if allowed else "") + f" [{default!r}]".replace("%", "%%")


def _add_field_flag(group, f, default=argparse.SUPPRESS) -> None:
    """One flag for one TrainConfig field; SUPPRESS keeps unset flags out, so a config file's values win."""
    if f.type == "bool":
        group.add_argument(_flag(f.name), action=argparse.BooleanOptionalAction, default=default,
                           help=_field_help(f))
    else:
        conv = {"int": int, "float": float, "str": str}[f.type]
        group.add_argument(_flag(f.name), type=conv, default=default, metavar=f.type.upper(), help=_field_help(f))


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    """Every TrainConfig field as a flag, grouped as the config groups them, with its help text."""
    groups = {name: p.add_argument_group(f"{title} (defaults in brackets)") for name, title in GROUPS.items()}
    for f in config_fields():
        _add_field_flag(groups[f.metadata["group"]], f)


def _add_resume_flags(p: argparse.ArgumentParser) -> None:
    """The fields a resume may change (the schema's resume=True), as flags; unset means unchanged."""
    g = p.add_argument_group("settings a resume may change (unset: as the run had them)")
    for f in config_fields():
        if f.metadata["resume"]:
            _add_field_flag(g, f, default=None)


def _config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults, then the preset, then the config file's own keys, then flags: each wins over the last.
    With neither --preset nor --config, a dataset with a recipe (MNIST, Fashion-MNIST, Stacked MNIST)
    starts from it: pressing Start should give the best model we know how to train in the time."""
    from ..presets import default_preset, preset_values
    file_values = {}
    if args.config:
        file_values = TrainConfig.read_file(args.config)
    preset = args.preset if hasattr(args, "preset") else file_values.get("preset")
    if preset is None and not args.config:
        preset = default_preset(getattr(args, "dataset", TrainConfig.dataset))
    from ..data import default_data_root
    # as the Train form: the project's default data folder (a config's paths are the project folder's)
    data = dict(TrainConfig().to_dict(), data_root=default_data_root())
    if preset:
        data.update(preset_values(preset))
    data.update(file_values)
    for f in config_fields():
        if hasattr(args, f.name):
            data[f.name] = getattr(args, f.name)
            if f.name in PATH_FIELDS and data[f.name]:
                data[f.name] = _project_relative(data[f.name])
    return TrainConfig.from_dict(data)


PATH_FIELDS = ("data_root", "image_folder")


def _project_relative(path: str) -> str:
    """A path typed on the command line (relative to the current folder) as a run's config keeps it:
    relative to the project folder, which every reader and trainer resolves it from (config.project_path)."""
    return path if Path(path).is_absolute() else os.path.relpath(Path.cwd() / path, PROJECT_ROOT)


def _from_here(path: str | None) -> str | None:
    """A path typed on the command line for a one-off command, made absolute from the current folder."""
    return str(Path(path).absolute()) if path else path


def _positive(name: str, value: int, low: int = 1, high: int = 100_000) -> int:
    if not low <= value <= high:
        raise ConfigError(f"--{name} must be between {low} and {high}")
    return value


def _generator_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a run directory (e.g. checkpoints/mnist) or a generator .safetensors file")
    p.add_argument("--step", type=int, default=None, help="a snapshot step of the run (default: latest generator)")


def _animation_flags(p: argparse.ArgumentParser, what: str) -> None:
    """--animate OUT and its options, for a command that can also write its walk through z as an animation."""
    g = p.add_argument_group(f"animation (--animate: {what})")
    g.add_argument("--animate", default=None, metavar="OUT",
                   help="also write it as an animation; the suffix picks the format: .gif .mp4 .webp .apng .zip")
    g.add_argument("--frames", type=int, default=None, help="--animate's frames, both ends included [32]")
    timing = g.add_mutually_exclusive_group()
    timing.add_argument("--frame-ms", type=int, default=None, help="each frame's duration, 20 to 10000 ms [80]")
    timing.add_argument("--fps", type=float, default=None, help="frames per second instead (0.1 to 50)")
    g.add_argument("--no-loop", action="store_true", help="play once instead of looping (MP4 keeps no such flag)")
    g.add_argument("--pingpong", action="store_true", help="play forward then back")
    g.add_argument("--session-out", default=None, metavar="JSON",
                   help="also write its session file: `render` makes the same animation from it, byte for byte")


def _frame_ms(args) -> int:
    """--frame-ms or --fps as the whole-ms frame duration every format stores (80 when neither is given)."""
    from ..media import frame_ms_from_fps
    frame_ms = 80 if args.frame_ms is None and args.fps is None else args.frame_ms
    if args.fps is not None:
        if not 0.1 <= args.fps <= 50:
            raise ConfigError("--fps must be between 0.1 and 50 (frames of 20 ms to 10 s)")
        frame_ms = frame_ms_from_fps(args.fps)
    return _positive("frame-ms", frame_ms, 20, 10_000)


def _animation_args(args) -> str | None:
    """The format --animate's suffix names, with every animation flag checked, before any work; None
    without --animate (and then an animation flag is a mistake, said in one line)."""
    from ..imaging import output_format
    from ..media import animation_file_format
    if args.animate is None:
        given = [flag for flag, value in (("--frames", args.frames), ("--frame-ms", args.frame_ms), ("--fps", args.fps),
                                          ("--no-loop", args.no_loop), ("--pingpong", args.pingpong),
                                          ("--session-out", args.session_out)) if value not in (None, False)]
        if given:
            raise ConfigError(f"{given[0]} is an option of --animate; add --animate OUT (.gif .mp4 .webp .apng .zip)")
        return None
    fmt = animation_file_format(args.animate, "--animate")
    if args.session_out:
        output_format(args.session_out, ("JSON",), "--session-out")
    args.frames = _positive("frames", 32 if args.frames is None else args.frames, 2, 1000)
    args.frame_ms = _frame_ms(args)
    return fmt


def _write_animation(args, result, what: str) -> None:
    """--animate's file and, with --session-out, its session, each written whole or not at all."""
    from ..runs.files import atomic_write_bytes
    atomic_write_bytes(Path(args.animate), result.data)
    back = f", {result.played_frames} played with ping-pong" if result.played_frames != result.frame_count else ""
    print(f"wrote {args.animate} ({result.format}, {result.frame_count} frames of {args.frame_ms} ms{back}, {what})")
    if args.session_out:
        atomic_write_bytes(Path(args.session_out), result.session.to_json().encode())
        print(f"wrote {args.session_out} (render it: python -m dcgan render {args.session_out})")


def _seed_list(text: str) -> list[int]:
    """--loop-through's seeds: '1,7,3' -> [1, 7, 3]."""
    from ..analysis.animation import seed_list
    try:
        return seed_list(text)
    except ValueError as e:
        raise ConfigError(f"--loop-through: {e}") from None


def _direction_key(text: str | None):
    """--direction as an index (digits) or a name; None: the first."""
    if text is None:
        return 0
    return int(text) if text.strip().isdigit() else text


def _run_of(model: str) -> Path:
    """The run a model belongs to (its dataset names the classifier): the directory itself, or the
    run holding a generator file (<run>/generator.safetensors, <run>/snapshots/*.safetensors)."""
    p = Path(model)
    if p.is_dir():
        return p
    from ..runs.rundir import RunDir
    return next((q for q in (p.parent, p.parent.parent) if RunDir(q).exists()), p.parent)
