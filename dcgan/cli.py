"""Command line: python -m dcgan {train,resume,stop,runs,sample,interpolate,render,sweep,directions,sensitivity,evaluate,...}."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .config import (DATASET_SPECS, GROUPS, IMAGE_SIZES, PROJECT_ROOT, ConfigError, TrainConfig, bounds_text, config_fields,
                     dataset_spec, project_path, resume_fields)

DEFAULT_CHECKPOINTS = "checkpoints"
PROCESS_IMPORTED_AT = time.time()  # where /proc cannot say when this process started


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
    from .presets import default_preset, preset_values
    file_values = {}
    if args.config:
        file_values = TrainConfig.read_file(args.config)
    preset = args.preset if hasattr(args, "preset") else file_values.get("preset")
    if preset is None and not args.config:
        preset = default_preset(getattr(args, "dataset", TrainConfig.dataset))
    from .data import default_data_root
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
    from .media import frame_ms_from_fps
    frame_ms = 80 if args.frame_ms is None and args.fps is None else args.frame_ms
    if args.fps is not None:
        if not 0.1 <= args.fps <= 50:
            raise ConfigError("--fps must be between 0.1 and 50 (frames of 20 ms to 10 s)")
        frame_ms = frame_ms_from_fps(args.fps)
    return _positive("frame-ms", frame_ms, 20, 10_000)


def _animation_args(args) -> str | None:
    """The format --animate's suffix names, with every animation flag checked, before any work; None
    without --animate (and then an animation flag is a mistake, said in one line)."""
    from .imaging import output_format
    from .media import animation_file_format
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
    from .runs.files import atomic_write_bytes
    atomic_write_bytes(Path(args.animate), result.data)
    back = f", {result.played_frames} played with ping-pong" if result.played_frames != result.frame_count else ""
    print(f"wrote {args.animate} ({result.format}, {result.frame_count} frames of {args.frame_ms} ms{back}, {what})")
    if args.session_out:
        atomic_write_bytes(Path(args.session_out), result.session.to_json().encode())
        print(f"wrote {args.session_out} (render it: python -m dcgan render {args.session_out})")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m dcgan", description="Train and explore DCGANs.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="start a new run")
    p.add_argument("--config", help="JSON file with config fields; flags override it")
    p.add_argument("--checkpoints", default=DEFAULT_CHECKPOINTS, help="folder that holds run directories")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_config_flags(p)

    p = sub.add_parser("resume", help="continue a stopped or finished run")
    p.add_argument("run_name")
    p.add_argument("--checkpoints", default=DEFAULT_CHECKPOINTS)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--steps", type=int, help="new total number of steps")
    group.add_argument("--more", type=int, help="this many steps beyond the last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_resume_flags(p)

    p = sub.add_parser("stop", help="ask a running run to stop after its next step")
    p.add_argument("run_name")
    p.add_argument("--checkpoints", default=DEFAULT_CHECKPOINTS)

    p = sub.add_parser("runs", help="list runs and their state")
    p.add_argument("--checkpoints", default=DEFAULT_CHECKPOINTS)

    p = sub.add_parser("delete", help="delete a run folder and all its files (not the shipped models)")
    p.add_argument("run_name")
    p.add_argument("--checkpoints", default=DEFAULT_CHECKPOINTS)
    p.add_argument("--yes", action="store_true", help="really delete it (required)")

    p = sub.add_parser("sample", help="PNG grid of G(z) for consecutive seeds")
    _generator_arg(p)
    p.add_argument("--seed", type=int, default=0, help="first seed; image i uses seed+i")
    p.add_argument("-n", "--count", type=int, default=64)
    p.add_argument("--nrow", type=int, default=None)
    p.add_argument("--scale", type=int, default=2, help="nearest-neighbour upscaling factor")
    p.add_argument("--out", default="samples.png")

    p = sub.add_parser("interpolate", help="animation (GIF, MP4, WebP, APNG, ZIP of PNGs) from one seed's z to "
                                           "another's, or a seamless loop through several")
    _generator_arg(p)
    p.add_argument("--seed-a", type=int, default=0)
    p.add_argument("--seed-b", type=int, default=1)
    p.add_argument("--loop-through", default=None, metavar="SEEDS",
                   help="instead of seed-a -> seed-b: a seamless slerp loop through these seeds' z and back to "
                        "the first, e.g. 1,7,3 (3 or more; the last frame leads into the first)")
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--method", choices=["slerp", "lerp"], default=None, help="the path [slerp; lerp with --direction]")
    timing = p.add_mutually_exclusive_group()
    timing.add_argument("--frame-ms", type=int, default=None, help="each frame's duration, 20 to 10000 ms [80]")
    timing.add_argument("--fps", type=float, default=None, help="frames per second instead (0.1 to 50)")
    p.add_argument("--no-loop", action="store_true", help="play once instead of looping (MP4 keeps no such flag)")
    p.add_argument("--pingpong", action="store_true", help="play forward then backward")
    p.add_argument("--scale", type=int, default=4, help="nearest-neighbour upscaling factor, 1 to 16")
    p.add_argument("--session-out", default=None, metavar="JSON",
                   help="also write the session file: `render` makes the same animation from it, byte for byte")
    p.add_argument("--direction", default=None, metavar="NAME",
                   help="instead of seed-a -> seed-b: along a direction the run keeps (`directions`), from "
                        "seed-a's z - reach x d to z + reach x d, e.g. 'toward 7' or 'SeFa 1'")
    p.add_argument("--reach", type=float, default=4.0, help="--direction: how far each way, in units of z")
    p.add_argument("--out", default="interpolation.gif", help="the suffix picks the format: .gif .mp4 .webp .apng "
                                                              ".zip (PNG frames)")

    p = sub.add_parser("render", help="make the animation a session file describes (interpolate --session-out), "
                                      "byte for byte")
    p.add_argument("session", help="the session JSON file")
    p.add_argument("--model", default=None, help="the model, if not where the session says (the hash must match)")
    p.add_argument("--out", default=None, help="the file to write [the session's name with its format's suffix]")

    p = sub.add_parser("sweep", help="grid: rows = z components, columns = values (others fixed)")
    _generator_arg(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--components", default=None, help="comma-separated indices [0,1,...,7; with --animate: 0]")
    p.add_argument("--most-sensitive", type=int, default=None, metavar="N",
                   help="instead of --components: the N components that move G(z) most at this seed's z, "
                        "most first (the Latent page's 'most sensitive first')")
    p.add_argument("--low", type=float, default=-3.0)
    p.add_argument("--high", type=float, default=3.0)
    p.add_argument("--columns", type=int, default=12)
    p.add_argument("--scale", type=int, default=None, help="nearest-neighbour upscaling, 1 to 16 [grid 2; --animate 4]")
    p.add_argument("--out", default=None, help="the grid PNG [sweep.png; with --animate, only if given]")
    _animation_flags(p, "one component from --low to --high, the others held: the one --components names, or "
                        "with --most-sensitive the most sensitive")

    p = sub.add_parser("directions", help="directions in z that mean something (SeFa, labelled by the evaluator's "
                                          "classifier, local at one z), saved with the run")
    _generator_arg(p)
    p.add_argument("--method", choices=["sefa", "labels", "local"], default="sefa",
                   help="sefa: closed form from the first layer; labels: 'toward <class>' boundaries "
                        "(MNIST, Fashion-MNIST, labelled folders); local: fastest-changing at --z-seed's z [sefa]")
    p.add_argument("--k", type=int, default=10, help="how many directions (sefa, local; at most z_dim)")
    p.add_argument("--samples", type=int, default=5000, help="labels: generated images the boundaries are fitted on")
    p.add_argument("--seed", type=int, default=0, help="labels: seed of the sampled z")
    p.add_argument("--z-seed", type=int, default=0, help="the z of local directions and of --strip")
    p.add_argument("--out", default=None, help="directions JSON file (default: <run>/directions_<method>.json)")
    p.add_argument("--strip", default=None, metavar="PNG", help="also write a strip of one direction as a PNG")
    p.add_argument("--direction", default=None, help="--strip's direction: its name or index [0]")
    p.add_argument("--reach", type=float, default=4.0, help="--strip goes from -reach to +reach along it")
    p.add_argument("--columns", type=int, default=9, help="--strip's images")
    p.add_argument("--scale", type=int, default=4, help="--strip's and --animate's upscaling, 1 to 16 [4]")
    _animation_flags(p, "--direction at --z-seed's z from -reach to +reach")

    p = sub.add_parser("sensitivity", help="which z components change G(z) most at one z; "
                                           "a heat map of where one acts")
    _generator_arg(p)
    p.add_argument("--seed", type=int, default=0, help="the z: z_from_seed(seed)")
    p.add_argument("--top", type=int, default=10, help="how many components to list")
    p.add_argument("--heatmap", type=int, default=None, metavar="COMPONENT",
                   help="also write where this component acts, over G(z), as a PNG")
    p.add_argument("--out", default=None, help="--heatmap's PNG [heatmap.png]")

    p = sub.add_parser("units", help="inside G (GAN Dissection): a layer's units as feature maps, ranked by how much "
                                     "switching each off changes G(z), and G(z) with chosen units off, as a PNG")
    _generator_arg(p)
    p.add_argument("--seed", type=int, default=0, help="the z: z_from_seed(seed) [0]")
    p.add_argument("--layer", type=int, required=True, help="G's layer, 1 to its number of blocks (the output of "
                                                            "each block's ReLU; a layer out of range lists them)")
    p.add_argument("--off", default="", metavar="UNITS", help="units to switch off together, e.g. 3,7")
    p.add_argument("--top", type=int, default=10, help="how many of the most effective units to list [10]")
    p.add_argument("--class-units", action="store_true",
                   help="also list the units whose removal most lowers the evaluator's class (faces: the smile "
                        "score)")
    p.add_argument("--out", default="units.png", help="the figure, as the Learn page draws it [units.png]")

    p = sub.add_parser("invert", help="find the z whose G(z) looks most like an image (yours, or a real test "
                                      "image); prints its error beside G's own and real images'")
    p.add_argument("run", help="a run directory, e.g. checkpoints/mnist")
    p.add_argument("image", nargs="?", default=None, help="PNG, JPEG, WebP, GIF or BMP (any size: centre-cropped, "
                                                          "resized, grey or RGB as the model is)")
    p.add_argument("--test-image", type=int, default=None, metavar="K",
                   help="instead of IMAGE: the run's real held-out image K (MNIST / Fashion: the test split)")
    p.add_argument("--step", type=int, default=None, help="a snapshot step of the run (default: latest generator)")
    p.add_argument("--out", default="z.json", help="the z as JSON, as the Latent page's upload reads it [z.json]")
    p.add_argument("--starts", type=int, default=8, help="random starts searched at once [8]")
    p.add_argument("--steps", type=int, default=200, help="Adam steps [200]")
    p.add_argument("--seed", type=int, default=0, help="seed of the starts [0]")
    p.add_argument("--candidates", type=int, default=256, metavar="N",
                   help="random z's scored before the search, which starts from the best of them; 0: random "
                        "starts [256]")
    p.add_argument("--feature-weight", type=float, default=0.0, metavar="W",
                   help="add W x the evaluator classifier's feature error to the pixel error, 0 to 10 (MNIST, "
                        "Fashion-MNIST, labelled folders; 0.1 kept 19 of 20 real garments' class against 16) [0]")
    p.add_argument("--reframe", action="store_true",
                   help="frame IMAGE as the data set's images were made (28 px grey models that draw on black): "
                        "the ink's box fitted to 20 px and centred by its centre of mass (MNIST), or fitted to "
                        "28 px and centred (Fashion-MNIST); for a digit drawn small or off-centre")
    p.add_argument("--save-as", default=None, metavar="NAME",
                   help="also keep the z with the run as latents/NAME.json, its target image as latents/NAME.png")
    p.add_argument("--png", default=None, help="also write the target beside G(z) as a PNG")

    p = sub.add_parser("stats", help="PNG chart of a run's losses, D accuracies and learning rates")
    p.add_argument("run", help="a run directory, e.g. checkpoints/faces")
    p.add_argument("--smooth", type=int, default=None, help="trailing-mean window in steps (default ~1 %% of the run)")
    p.add_argument("--out", default="stats.png")

    p = sub.add_parser("card", help="write MODEL_CARD.md into a run from its config, metrics and eval.json")
    p.add_argument("run", help="a run directory, e.g. checkpoints/faces")
    p.add_argument("--data-note", default="", help="where the training data came from (default: by dataset)")
    p.add_argument("--notes", default="", help="free text appended to the card")

    p = sub.add_parser("evaluate", help="FID (domain classifier), coverage, precision/recall, memorisation; "
                                        "writes eval.json into the run")
    _generator_arg(p)
    p.add_argument("--samples", type=int, default=None,
                   help="generated images (default 2000; 26000 for stacked-mnist, as in PacGAN)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated images' z and the real subsets")
    p.add_argument("--evaluator", default=None, help="classifier .safetensors (default: shipped one for the run's dataset)")
    p.add_argument("--data-root", default=None, help="the real data (default: the run's)")
    p.add_argument("--no-memorisation", action="store_true", help="skip the nearest-training-image search")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--no-save", action="store_true", help="do not write eval.json into the run directory")
    p.add_argument("--save", action="store_true",
                   help="rewrite eval.json even when it already holds these figures (by default it is then "
                        "left as it was, so evaluating a shipped model changes none of a clone's files)")

    p = sub.add_parser("import", help="make a run from a DCGAN generator state_dict trained elsewhere")
    p.add_argument("path", help="e.g. pytorch/examples' netG_epoch_24.pth, or a .safetensors file")
    p.add_argument("--run-name", default=None, help="default: the file's name without its suffix")
    p.add_argument("--checkpoints", default=DEFAULT_CHECKPOINTS)

    p = sub.add_parser("train-evaluator", help="train the evaluator's classifier on real MNIST / Fashion-MNIST, "
                                               "or on a labelled image folder (the faces' smiling / not smiling)")
    p.add_argument("--dataset", choices=[name for name, s in DATASET_SPECS.items() if s.per_image_class],
                   default="mnist")
    p.add_argument("--data-root", default="data")
    p.add_argument("--image-folder", default="", help="for --dataset folder: one sub-folder per class")
    p.add_argument("--name", default=None, help="for --dataset folder: the evaluator's file name, e.g. faces")
    p.add_argument("--image-size", type=int, default=32, choices=IMAGE_SIZES,
                   help="for --dataset folder: the classifier's input size (images of any size are resized to it)")
    p.add_argument("--epochs", type=int, default=None,
                   help="default: what the shipped ones used (2 MNIST, 3 Fashion, 8 faces)")
    return parser


def _positive(name: str, value: int, low: int = 1, high: int = 100_000) -> int:
    if not low <= value <= high:
        raise ConfigError(f"--{name} must be between {low} and {high}")
    return value


def _check_start(cfg: TrainConfig) -> None:
    """What the app checks before it starts a trainer, checked before the run folder exists, so a start
    that cannot work leaves no half-made run whose name the next try finds taken. Unlike the app, the
    CLI first downloads an MNIST-style set that is missing (when online)."""
    from .data import load_torchvision, torchvision_files_present
    from .training.launch import check_launch
    name = dataset_spec(cfg.dataset).files  # the torchvision set it reads (Stacked MNIST: MNIST's)
    if name and not torchvision_files_present(name, project_path(cfg.data_root)):
        load_torchvision(name, str(project_path(cfg.data_root)), 28, 1)  # offline: a DataError naming the files
    check_launch(cfg)


def cmd_train(args) -> int:
    from .training.distributed import world_from_env
    from .training.loop import train
    cfg = _config_from_args(args)
    _check_start(cfg)
    state = train(cfg, args.checkpoints, progress=not args.quiet, handle_sigterm=True, started_at=_started_at())
    if world_from_env().is_main:
        print(f"run {cfg.run_name}: {state} -> {Path(args.checkpoints) / cfg.run_name}")
    return 0 if state in ("finished", "stopped") else 1


def cmd_resume(args) -> int:
    from .training.distributed import world_from_env
    from .training.resume import resume_config
    from .training.loop import train
    cfg = resume_config(args.checkpoints, args.run_name, args.steps, args.more,
                        **{name: getattr(args, name) for name in resume_fields()})
    _check_start(cfg)  # a stopped run with its data gone stays stopped, rather than turning 'failed'
    state = train(cfg, args.checkpoints, resume=True, progress=not args.quiet, handle_sigterm=True,
                  started_at=_started_at())
    if world_from_env().is_main:
        print(f"run {cfg.run_name}: {state} at {cfg.steps} steps")
    return 0 if state in ("finished", "stopped") else 1


def _started_at() -> float | None:
    # this process's start, not the moment training begins: a Stop pressed while the trainer was
    # still importing torch is a request to this trainer, and is honoured
    from .runs.processes import process_started_at
    return process_started_at() or PROCESS_IMPORTED_AT


def cmd_stop(args) -> int:
    from .training.launch import stop_training
    stop_training(args.checkpoints, args.run_name)
    print(f"asked {args.run_name} to stop; it will save a checkpoint first")
    return 0


def cmd_runs(args) -> int:
    from .runs.rundir import list_runs
    for run in list_runs(args.checkpoints):
        row = run.summary()  # the app's "All runs" table reads the same
        live = f" · {row['speed']} · ETA {row['ETA']}" if row["ETA"] != "–" else ""
        print(f"{row['run']:24s} {row['state']:9s} step {row['step']}{live}")
    return 0


def cmd_delete(args) -> int:
    from .training.launch import delete_run
    if not args.yes:
        raise ConfigError(f"this deletes run {args.run_name!r} and all its files; add --yes to do it")
    delete_run(args.checkpoints, args.run_name)
    print(f"deleted run {args.run_name}")
    return 0


def cmd_sample(args) -> int:
    from .runs.checkpoint import resolve_generator
    from .imaging import make_grid, output_format, png_bytes, upscale
    from .sampling import generate, z_from_seed
    import torch
    output_format(args.out, ("PNG",))
    _positive("count", args.count, 1, 1024)
    G = resolve_generator(args.model, args.step)
    z = torch.cat([z_from_seed(args.seed + i, G.z_dim) for i in range(args.count)])
    grid = upscale(make_grid(generate(G, z), args.nrow), _positive("scale", args.scale, 1, 16))
    Path(args.out).write_bytes(png_bytes(grid))
    print(f"wrote {args.out} ({args.count} images, seeds {args.seed}..{args.seed + args.count - 1})")
    return 0


def cmd_interpolate(args) -> int:
    from .runs.checkpoint import resolve_generator
    from .analysis.animation import model_ref
    from .analysis.views import interpolation
    from .imaging import output_format
    from .media import animation_file_format
    from .runs.files import atomic_write_bytes
    from .sampling import z_from_seed
    fmt = animation_file_format(args.out)
    if args.session_out:
        output_format(args.session_out, ("JSON",), "--session-out")
    _positive("frames", args.frames, 2, 1000)
    frame_ms = _frame_ms(args)
    _positive("scale", args.scale, 1, 16)
    seeds = [args.seed_a, args.seed_b]
    if args.loop_through is not None:
        seeds = _seed_list(args.loop_through)
        if args.direction is not None or args.method == "lerp":
            raise ConfigError("--loop-through is a slerp loop through seeds: leave out --direction and --method lerp")
    G = resolve_generator(args.model, args.step)
    zs = [z_from_seed(s, G.z_dim)[0] for s in seeds]
    path = f"{args.method or 'slerp'}, seed {args.seed_a} -> {args.seed_b}"
    if args.loop_through is not None:
        path = f"seamless loop through seeds {', '.join(map(str, seeds))}"
    if args.direction is not None:
        from .analysis.semantics import direction_endpoints, saved_direction
        if args.method == "slerp":
            raise ConfigError("--direction goes along a straight line: leave out --method (or use lerp)")
        zs = list(direction_endpoints(zs[0], saved_direction(_run_of(args.model), G.z_dim, args.direction), args.reach))
        seeds = None  # the endpoints are no seed's z: the session keeps them as numbers
        args.method, path = "lerp", f"along {args.direction!r} through seed {args.seed_a}'s z, ±{args.reach:g}"
    model = model_ref(args.model, args.step) if args.session_out else None
    result = interpolation(G, zs[0], zs[1], frames=args.frames, method=args.method or "slerp", frame_ms=frame_ms,
                           loop=not args.no_loop, pingpong=args.pingpong, scale=args.scale, fmt=fmt,
                           through=zs[2:], seeds=seeds, model=model)
    atomic_write_bytes(Path(args.out), result.data)
    print(f"wrote {args.out} ({fmt}, {args.frames} frames of {frame_ms} ms, {path})")
    if args.session_out:
        atomic_write_bytes(Path(args.session_out), result.session.to_json().encode())
        print(f"wrote {args.session_out} (render it: python -m dcgan render {args.session_out})")
    return 0


def _seed_list(text: str) -> list[int]:
    """--loop-through's seeds: '1,7,3' -> [1, 7, 3]."""
    from .analysis.animation import seed_list
    try:
        return seed_list(text)
    except ValueError as e:
        raise ConfigError(f"--loop-through: {e}") from None


def cmd_render(args) -> int:
    from .analysis.animation import SessionError, read_session, render_file
    from .media import animation_file_format, suffix
    from .runs.files import atomic_write_bytes
    try:
        data = Path(args.session).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"session file {args.session} is not there") from None
    except IsADirectoryError:
        raise ConfigError(f"{args.session} is a folder, not a session file") from None
    try:
        fmt = read_session(data).format  # the file name is checked before any work, as every command does
        out = Path(args.out) if args.out else Path(args.session).with_suffix(suffix(fmt))
        if animation_file_format(out) != fmt:
            raise ConfigError(f"--out {out}: the session's format is {fmt}; name the file *{suffix(fmt)}")
        result = render_file(data, args.model)
    except SessionError as e:
        raise ConfigError(f"{args.session}: {e}") from None
    atomic_write_bytes(out, result.data)
    print(f"wrote {out} ({result.format}, {result.played_frames} frames, {len(result.data):,} bytes)")
    return 0


def cmd_sweep(args) -> int:
    import numpy as np
    from .runs.checkpoint import resolve_generator
    from .imaging import make_grid, output_format, png_bytes, upscale
    from .runs.files import atomic_write_bytes
    from .sampling import generate, sweep, z_from_seed
    fmt = _animation_args(args)  # every file name is checked before any work
    grid_out = args.out if args.out is not None else None if fmt is not None else "sweep.png"
    if grid_out is not None:
        output_format(grid_out, ("PNG",))
    scale = _positive("scale", args.scale if args.scale is not None else 2 if fmt is None else 4, 1, 16)
    if args.components is None:  # the grid's eight rows; an animation alone sweeps one
        args.components = "0,1,2,3,4,5,6,7" if grid_out is not None else "0"
    if fmt is not None:
        if not (np.isfinite(args.low) and np.isfinite(args.high) and args.low < args.high):
            raise ConfigError(f"--low must be below --high (finite numbers), not {args.low} and {args.high}")
        if args.most_sensitive is None and "," in args.components.strip(" ,") and grid_out is None:
            raise ConfigError(f"--animate sweeps one component; --components {args.components!r} names several "
                              "(give one, e.g. --components 3, or add --out PNG for their grid: the first is animated)")
    G = resolve_generator(args.model, args.step)
    z0 = z_from_seed(args.seed, G.z_dim)
    if args.most_sensitive is not None:
        from .analysis.sensitivity import sensitivity, sensitivity_order
        top = _positive("most-sensitive", args.most_sensitive, 1, 64)  # before the Jacobian, not after
        components = [int(c) for c in sensitivity_order(sensitivity(G, z0[0]))[:top]]
    else:
        try:
            components = [int(c) for c in args.components.split(",") if c.strip()]
        except ValueError:
            raise ConfigError(f"--components must be comma-separated integers, not {args.components!r}") from None
    if grid_out is not None:
        values = np.linspace(args.low, args.high, _positive("columns", args.columns, 2, 64))
        z = sweep(z0, components, values)
        grid = upscale(make_grid(generate(G, z), nrow=len(values)), scale)
        atomic_write_bytes(Path(grid_out), png_bytes(grid))  # a full disk leaves no half PNG
        print(f"wrote {grid_out} (components {','.join(map(str, components))} x {len(values)} values)")
    if fmt is not None:
        from .analysis.animation import model_ref
        from .analysis.line_animations import sweep_animation
        if not components:
            raise ConfigError("--components names no component to animate")
        result = sweep_animation(G, z0[0], components[0], args.low, args.high, args.frames, fmt, args.frame_ms,
                                 not args.no_loop, args.pingpong, scale,
                                 model=model_ref(args.model, args.step) if args.session_out else None)
        _write_animation(args, result, f"z[{components[0]}] from {args.low:g} to {args.high:g} at seed {args.seed}")
    return 0


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
    from .runs.rundir import RunDir
    return next((q for q in (p.parent, p.parent.parent) if RunDir(q).exists()), p.parent)


def cmd_directions(args) -> int:
    import math
    from .runs.checkpoint import resolve_generator
    from .analysis.directions import save_directions, strip
    from .imaging import make_grid, output_format, png_bytes, upscale
    from .sampling import z_from_seed
    from .analysis.semantics import find_directions, save_run_directions, weights_step
    if args.out is not None:
        output_format(args.out, ("JSON",))
    if args.strip is not None:
        output_format(args.strip, ("PNG",), "--strip")
    fmt = _animation_args(args)
    _positive("k", args.k, 1, 10_000)
    _positive("samples", args.samples, 20, 200_000)
    _positive("scale", args.scale, 1, 16)
    if args.strip is not None:
        _positive("columns", args.columns, 2, 64)
    if args.strip is not None or fmt is not None:
        from .analysis.semantics import MAX_REACH
        if not (math.isfinite(args.reach) and 0 < args.reach <= MAX_REACH):
            raise ConfigError(f"--reach must be above 0 and at most {MAX_REACH:g}, not {args.reach}")
    elif args.direction is not None:
        raise ConfigError("--direction chooses --strip's or --animate's direction; add --strip PNG or --animate OUT")
    if args.out is None and Path(args.model).is_file():
        raise ConfigError(f"{args.model} is not a run directory: add --out PATH for the directions file")
    G = resolve_generator(args.model, args.step)
    z = z_from_seed(args.z_seed, G.z_dim)[0]

    said = set()

    def progress(done: int, total: int) -> None:  # two lines: halfway, and done
        mark = "done" if done >= total else "half" if done * 2 >= total else None
        if mark and mark not in said:
            said.add(mark)
            print(f"labelled {done}/{total} generated images with the evaluator's classifier", file=sys.stderr)

    run = _run_of(args.model)
    d = find_directions(G, run, args.method, k=args.k, z=z, samples=args.samples, seed=args.seed,
                        progress=progress, model_step=weights_step(run, args.step) if Path(args.model).is_dir()
                        else args.step)
    path = save_directions(args.out, d) if args.out is not None else save_run_directions(args.model, d)
    width = max(len(n) for n in d.names)
    print(f"{'#':>3}  {'name':{width}s}  {d.score_name}")
    for i, (name, score) in enumerate(zip(d.names, d.scores)):
        print(f"{i:>3}  {name:{width}s}  {score:.4g}")
    for name, why in d.metadata.get("skipped", {}).items():
        print(f"skipped {name}: {why}")
    print(f"wrote {path} ({len(d)} {args.method} directions)")
    if args.strip is None and fmt is None:
        return 0
    key = _direction_key(args.direction)
    if isinstance(key, int) and not 0 <= key < len(d):
        raise ConfigError(f"--direction {key} is outside 0..{len(d) - 1}")
    try:
        vector = d.vector(key)
    except KeyError as e:
        raise ConfigError(str(e.args[0])) from None
    name = d.names[key] if isinstance(key, int) else key
    if args.strip is not None:
        from .runs.files import atomic_write_bytes
        images = strip(G, z, vector, -args.reach, args.reach, args.columns)
        atomic_write_bytes(Path(args.strip), png_bytes(upscale(make_grid(images, nrow=args.columns), args.scale)))
        print(f"wrote {args.strip} ({name!r}, {args.columns} images from -{args.reach:g} to +{args.reach:g}, "
              f"z seed {args.z_seed})")
    if fmt is not None:
        from .analysis.animation import model_ref
        from .analysis.line_animations import direction_animation
        result = direction_animation(G, z, vector, args.reach, args.frames, fmt, args.frame_ms, not args.no_loop,
                                     args.pingpong, args.scale,
                                     model=model_ref(args.model, args.step) if args.session_out else None)
        _write_animation(args, result, f"{name!r} from -{args.reach:g} to +{args.reach:g} at z seed {args.z_seed}")
    return 0


def cmd_sensitivity(args) -> int:
    from .runs.checkpoint import resolve_generator
    from .imaging import output_format, png_bytes, upscale
    from .sampling import generate, z_from_seed
    from .analysis.sensitivity import heatmap, heatmap_image, sensitivity, sensitivity_order
    _positive("top", args.top, 1, 100_000)
    if args.heatmap is None and args.out is not None:
        raise ConfigError("--out is where --heatmap's PNG goes; add --heatmap COMPONENT")
    args.out = args.out or "heatmap.png"
    if args.heatmap is not None:
        output_format(args.out, ("PNG",))
    G = resolve_generator(args.model, args.step)
    if args.heatmap is not None and not 0 <= args.heatmap < G.z_dim:
        raise ConfigError(f"--heatmap {args.heatmap} is outside 0..{G.z_dim - 1}")
    z = z_from_seed(args.seed, G.z_dim)
    s = sensitivity(G, z[0])
    order = sensitivity_order(s)[:args.top]
    print(f"|dG(z)/dz_i| at seed {args.seed}, the top {len(order)}:")
    print(f"{'component':>9}  sensitivity")
    for i in order:
        print(f"{int(i):>9}  {s[i]:.4g}")
    print(f"{len(s)} components, {int((s == 0).sum())} exactly 0 (ignored by G)")
    if args.heatmap is not None:
        heat = heatmap(G, z[0], args.heatmap)
        image = heatmap_image(heat, image=generate(G, z)[0])
        Path(args.out).write_bytes(png_bytes(upscale(image, 8)))
        print(f"wrote {args.out} (where component {args.heatmap} acts at seed {args.seed})")
    return 0


def cmd_units(args) -> int:
    from .analysis.units import class_units, inside_view, layers, parse_units, run_classifier, units_figure
    from .imaging import output_format, png_bytes
    from .runs.checkpoint import resolve_generator
    from .runs.rundir import RunDir
    from .sampling import z_from_seed
    _positive("top", args.top, 1, 100_000)
    output_format(args.out, ("PNG",))
    G = resolve_generator(args.model, args.step)
    z = z_from_seed(args.seed, G.z_dim)[0]
    try:
        view = inside_view(G, z, args.layer, parse_units(args.off))
    except ValueError as e:
        names = "; ".join(layer.name for layer in layers(G))
        raise ConfigError(f"{e}. G's layers: {names}") from None
    Path(args.out).write_bytes(png_bytes(units_figure(view, f" (seed {args.seed})")))
    order = view.order[:args.top]
    print(f"{view.layer.name}, seed {args.seed}: the {len(order)} units whose removal changes G(z) most")
    print(f"{'unit':>5}  change (L2, pixels in [-1, 1])")
    for u in order:
        print(f"{u:>5}  {view.effect[u]:.4g}")
    if view.off:
        print(f"switched off: {', '.join(map(str, view.off))}")
    if args.class_units:
        if not Path(args.model).is_dir():
            raise ConfigError("--class-units needs a run directory (its dataset names the evaluator)")
        label_fn, names = run_classifier(RunDir.at(args.model))
        effect = class_units(G, z, view.layer.index, label_fn, names, top=args.top)
        print(f"the classifier calls G(z) {effect.label!r}, P({effect.target}) = {effect.score:.3f}; "
              "switched off alone, these units lower it most:")
        print(f"{'unit':>5}  {'P after':>8}  classified as")
        for row in effect.units:
            print(f"{row.unit:>5}  {row.score:>8.3f}  {row.label}")
    print(f"wrote {args.out}")
    return 0


def cmd_invert(args) -> int:
    import numpy as np
    import math
    from .analysis.inversion import (MAX_CANDIDATES, MAX_FEATURE_WEIGHT, MAX_STARTS, MAX_STEPS, feature_classifier,
                                     held_out_image,
                                     invert, latent_record, prepare_target, references, save_latent,
                                     target_framing)
    from .analysis.semantics import weights_step
    from .imaging import MAX_UPLOAD_BYTES, make_grid, output_format, png_bytes, upscale
    from .runs.checkpoint import resolve_generator
    from .runs.files import atomic_write_bytes, json_text
    from .runs.rundir import RunDir
    output_format(args.out, ("JSON",))
    if args.png is not None:
        output_format(args.png, ("PNG",), "--png")
    if (args.image is None) == (args.test_image is None):
        raise ConfigError("give an IMAGE file or --test-image K (one of them)")
    if args.reframe and args.image is None:
        raise ConfigError("--reframe frames an IMAGE file; a test image is framed as its data set's are already")
    _positive("starts", args.starts, 1, MAX_STARTS)
    _positive("steps", args.steps, 1, MAX_STEPS)
    _positive("candidates", args.candidates, 0, MAX_CANDIDATES)
    if not Path(args.run).is_dir():
        raise ConfigError(f"{args.run} is not a run directory (inversion reads the run's references and data)")
    run = RunDir.at(args.run)
    if args.save_as is not None:
        run.latent_path(args.save_as)  # a bad name is refused before the search, not after
    if not (math.isfinite(args.feature_weight) and 0 <= args.feature_weight <= MAX_FEATURE_WEIGHT):
        raise ConfigError(f"--feature-weight must be from 0 to {MAX_FEATURE_WEIGHT:g}, not {args.feature_weight}")
    classifier = feature_classifier(run) if args.feature_weight > 0 else None  # refused before G is loaded
    G = resolve_generator(args.run, args.step)
    framing = target_framing(G, run) if args.reframe else None
    if args.reframe and framing is None:
        raise ConfigError(f"--reframe is for 28 px grey models that draw on black (MNIST, Fashion-MNIST); "
                          f"{run.name}'s is {G.image_size} px {'grey' if G.channels == 1 else 'RGB'}"
                          + (" on a background that is not black" if (G.image_size, G.channels) == (28, 1) else ""))
    if args.image is not None:
        if Path(args.image).is_file() and Path(args.image).stat().st_size > MAX_UPLOAD_BYTES:
            raise ValueError(f"{args.image}: over {MAX_UPLOAD_BYTES / 1e6:.0f} MB, too large for an image here")
        try:
            prepared = prepare_target(G, Path(args.image).read_bytes(), framing)
        except ValueError as e:
            raise ValueError(f"{args.image}: {e}") from None
        target, source = prepared.image, f"image {Path(args.image).name}"
        for note in prepared.notes:
            print(note)
    else:
        target = held_out_image(run, args.test_image, G.image_size, G.channels)
        source = f"test image {args.test_image}"
    result = invert(G, target, starts=args.starts, steps=args.steps, seed=args.seed, classifier=classifier,
                    feature_weight=args.feature_weight, candidates=args.candidates)
    refs = references(G, run, args.step, starts=args.starts, steps=args.steps, candidates=args.candidates)
    if classifier is not None:  # the references search on pixels alone: say what this search did differently
        print(f"loss: pixel error + {args.feature_weight:g} x the classifier's feature error (the error below is "
              "the pixel error; the references' searches used pixels alone)")
    print(f"{source}: {refs.text(result.error)}; {result.steps} steps, {result.seconds:.1f} s")
    record = latent_record(result, source, weights_step(run.path, args.step))
    atomic_write_bytes(Path(args.out), (json_text(record) + "\n").encode())
    print(f"wrote {args.out}")
    if args.save_as is not None:
        print(f"saved with the run as {save_latent(run, args.save_as, record, target)}, its target image as "
              f"{run.latent_target_path(args.save_as)}")
    if args.png is not None:
        pair = make_grid(np.stack([target, result.image]), nrow=2)
        atomic_write_bytes(Path(args.png), png_bytes(upscale(pair, max(1, 256 // G.image_size))))
        print(f"wrote {args.png} (the target, then G(z))")
    return 0


def cmd_stats(args) -> int:
    from .runs.rundir import RunDir
    from .analysis.stats_chart import stats_png
    from .imaging import output_format
    output_format(args.out, ("PNG",))
    if args.smooth is not None:
        _positive("smooth", args.smooth, 1, 1_000_000)
    if not Path(args.run).is_dir():
        raise ConfigError(f"no run directory at {args.run}")
    run = RunDir.at(args.run)
    metrics = run.metrics()
    if metrics.skipped:
        print(f"skipped {metrics.skipped} malformed line(s) in metrics.jsonl", file=sys.stderr)
    if not metrics:
        raise ValueError(f"{args.run} has no metrics.jsonl records to plot")
    png = stats_png(metrics, title=f"{run.name}: losses, D accuracies, learning rates", smooth=args.smooth)
    Path(args.out).write_bytes(png)
    print(f"wrote {args.out}")
    return 0


def cmd_card(args) -> int:
    from .evaluation.model_card import write_model_card
    from .runs.rundir import RunDir
    if not RunDir.at(args.run).exists():
        raise ConfigError(f"no run directory at {args.run}")
    print(f"wrote {write_model_card(args.run, args.data_note, args.notes)}")
    return 0


def cmd_evaluate(args) -> int:
    from .evaluation.evaluate import evaluate_model
    from .evaluation.report import format_report, save_report
    from .runs.files import json_text
    from .runs.rundir import RunDir
    if args.save and args.no_save:
        raise ConfigError("--save and --no-save contradict each other; give one")
    if args.samples is not None:
        _positive("samples", args.samples, 100, 100_000)
    report = evaluate_model(args.model, step=args.step, samples=args.samples, evaluator=args.evaluator,
                            data_root=_from_here(args.data_root), seed=args.seed, check_memorisation=not args.no_memorisation,
                            log=lambda line: print(line, file=sys.stderr))
    print(json_text(report, indent=2) if args.json else format_report(report))
    print(f"evaluated in {report['seconds']:g} s", file=sys.stderr)
    if not args.no_save and Path(args.model).is_dir():
        saved = save_report(args.model, report, force=args.save)
        print(f"saved {saved}" if saved else f"{RunDir.at(args.model).eval_report_path} already holds these "
              "figures: left as it was (--save rewrites it)", file=sys.stderr)
    return 0


def cmd_import(args) -> int:
    from .runs.importer import import_generator_file
    result = import_generator_file(args.path, args.checkpoints, args.run_name)
    print(f"imported {args.path} as run {result.run.name} ({result.summary()}) -> {result.run.path}")
    return 0


def cmd_train_evaluator(args) -> int:
    from .evaluation.classifier import CLASSIFIER_OF, EVALUATOR_EPOCHS, train_classifier
    epochs = EVALUATOR_EPOCHS[args.dataset] if args.epochs is None else _positive("epochs", args.epochs, 1, 50)
    if dataset_spec(args.dataset).folder:
        from .config import RUN_NAME_RE
        if not (args.image_folder and args.name):
            raise ConfigError("--dataset folder needs --image-folder PATH and --name NAME")
        if not RUN_NAME_RE.match(args.name) or args.name in CLASSIFIER_OF.values():
            raise ConfigError(f"--name {args.name!r}: use letters, digits, '_', '-' or '.', and not the name of "
                              "a dataset's own evaluator")
    info = train_classifier(args.dataset, _from_here(args.data_root), epochs=epochs, image_folder=_from_here(args.image_folder),
                            name=args.name, image_size=args.image_size)
    from .runs.files import json_text
    print(json_text(info))
    return 0


COMMANDS = {"train": cmd_train, "resume": cmd_resume, "stop": cmd_stop, "runs": cmd_runs, "delete": cmd_delete,
            "sample": cmd_sample, "interpolate": cmd_interpolate, "render": cmd_render, "sweep": cmd_sweep, "directions": cmd_directions,
            "sensitivity": cmd_sensitivity, "units": cmd_units, "invert": cmd_invert, "stats": cmd_stats, "card": cmd_card, "evaluate": cmd_evaluate,
            "import": cmd_import, "train-evaluator": cmd_train_evaluator}


def _raised_by(error: BaseException, *classes: str) -> bool:
    """Whether error is one of these classes ('data.DataError'). A class whose module the command never
    imported cannot have been raised, so it is not imported to ask: that would load torch into every
    command (`runs` took 3 s longer for it)."""
    for where in classes:
        module, _, name = f"{__package__}.{where}".rpartition(".")
        if module in sys.modules and isinstance(error, getattr(sys.modules[module], name)):
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except Exception as e:
        if isinstance(e, (ConfigError, ValueError)) or _raised_by(e, "data.DataError",
                                                                  "runs.checkpoint.CheckpointError"):
            print(f"error: {e}", file=sys.stderr)
            return 2
        if _raised_by(e, "training.loop.TrainingFailed"):  # recorded in status.json, its traceback already in the log
            print(f"error: {e}", file=sys.stderr)
            return 1
        if isinstance(e, OSError):  # a full disk, a read-only folder, a file that is not there
            try:
                print(f"error: {e}", file=sys.stderr)
            except OSError:
                pass  # stderr (train.log) is on the full disk too: a trainer's status.json says it, if anything can
            return 1
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
