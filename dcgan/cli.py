"""Command line: python -m dcgan {train,resume,stop,runs,delete,sample,interpolate,sweep,stats,evaluate,...}."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .config import GROUPS, IMAGE_SIZES, ConfigError, TrainConfig, bounds_text, config_fields, resume_fields

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
        TrainConfig.load(args.config)  # validates and rejects unknown keys
        file_values = json.loads(Path(args.config).read_text())
    preset = args.preset if hasattr(args, "preset") else file_values.get("preset")
    if preset is None and not args.config:
        preset = default_preset(getattr(args, "dataset", TrainConfig.dataset))
    data = TrainConfig().to_dict()
    if preset:
        data.update(preset_values(preset))
    data.update(file_values)
    for f in config_fields():
        if hasattr(args, f.name):
            data[f.name] = getattr(args, f.name)
    return TrainConfig.from_dict(data)


def _generator_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a run directory (e.g. checkpoints/mnist) or a generator .safetensors file")
    p.add_argument("--step", type=int, default=None, help="a snapshot step of the run (default: latest generator)")


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

    p = sub.add_parser("interpolate", help="animated GIF from one seed's z to another's")
    _generator_arg(p)
    p.add_argument("--seed-a", type=int, default=0)
    p.add_argument("--seed-b", type=int, default=1)
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--method", choices=["slerp", "lerp"], default="slerp")
    p.add_argument("--frame-ms", type=int, default=80)
    p.add_argument("--no-loop", action="store_true", help="play once instead of looping")
    p.add_argument("--pingpong", action="store_true", help="play forward then backward")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--out", default="interpolation.gif")

    p = sub.add_parser("sweep", help="grid: rows = z components, columns = values (others fixed)")
    _generator_arg(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--components", default="0,1,2,3,4,5,6,7", help="comma-separated indices")
    p.add_argument("--low", type=float, default=-3.0)
    p.add_argument("--high", type=float, default=3.0)
    p.add_argument("--columns", type=int, default=12)
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--out", default="sweep.png")

    p = sub.add_parser("stats", help="PNG chart of a run's losses, D accuracies and learning rates (seed 000's figure)")
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
    p.add_argument("--save", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for old scripts

    p = sub.add_parser("import", help="make a run from a DCGAN generator state_dict trained elsewhere")
    p.add_argument("path", help="e.g. pytorch/examples' netG_epoch_24.pth, or a .safetensors file")
    p.add_argument("--run-name", default=None, help="default: the file's name without its suffix")
    p.add_argument("--checkpoints", default=DEFAULT_CHECKPOINTS)

    p = sub.add_parser("train-evaluator", help="train the evaluator's classifier on real MNIST / Fashion-MNIST, "
                                               "or on a labelled image folder (the faces' smiling / not smiling)")
    p.add_argument("--dataset", choices=["mnist", "fashion-mnist", "folder"], default="mnist")
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


def cmd_train(args) -> int:
    from .training.distributed import world_from_env
    from .training.loop import train
    cfg = _config_from_args(args)
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
    state = train(cfg, args.checkpoints, resume=True, progress=not args.quiet, handle_sigterm=True,
                  started_at=_started_at())
    if world_from_env().is_main:
        print(f"run {cfg.run_name}: {state} at {cfg.steps} steps")
    return 0 if state in ("finished", "stopped") else 1


def _started_at() -> float | None:
    # this process's start, not the moment training begins: a Stop pressed while the trainer was
    # still importing torch is a request to this trainer, and is honoured
    from .runs.rundir import process_started_at
    return process_started_at() or PROCESS_IMPORTED_AT


def cmd_stop(args) -> int:
    from .training.launch import stop_training
    stop_training(args.checkpoints, args.run_name)
    print(f"asked {args.run_name} to stop; it will save a checkpoint first")
    return 0


def cmd_runs(args) -> int:
    from .runs.rundir import list_runs, state_label
    for run in list_runs(args.checkpoints):
        st = run.status()
        print(f"{run.name:24s} {state_label(st):9s} step {st.get('step', 0)}/{st.get('total_steps', '?')}")
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
    from .explore.imaging import make_grid, png_bytes, upscale
    from .explore.latent import generate, z_from_seed
    import torch
    _positive("count", args.count, 1, 1024)
    G = resolve_generator(args.model, args.step)
    z = torch.cat([z_from_seed(args.seed + i, G.z_dim) for i in range(args.count)])
    grid = upscale(make_grid(generate(G, z), args.nrow), _positive("scale", args.scale, 1, 16))
    Path(args.out).write_bytes(png_bytes(grid))
    print(f"wrote {args.out} ({args.count} images, seeds {args.seed}..{args.seed + args.count - 1})")
    return 0


def cmd_interpolate(args) -> int:
    from .runs.checkpoint import resolve_generator
    from .explore.views import interpolation
    from .explore.latent import z_from_seed
    _positive("frames", args.frames, 2, 1000)
    G = resolve_generator(args.model, args.step)
    result = interpolation(G, z_from_seed(args.seed_a, G.z_dim)[0], z_from_seed(args.seed_b, G.z_dim)[0],
                           frames=args.frames, method=args.method,
                           frame_ms=_positive("frame-ms", args.frame_ms, 20, 10_000), loop=not args.no_loop,
                           pingpong=args.pingpong, scale=_positive("scale", args.scale, 1, 16))
    Path(args.out).write_bytes(result.gif)
    print(f"wrote {args.out} ({args.frames} frames, {args.method}, seed {args.seed_a} -> {args.seed_b})")
    return 0


def cmd_sweep(args) -> int:
    import numpy as np
    from .runs.checkpoint import resolve_generator
    from .explore.imaging import make_grid, png_bytes, upscale
    from .explore.latent import generate, sweep, z_from_seed
    G = resolve_generator(args.model, args.step)
    try:
        components = [int(c) for c in args.components.split(",") if c.strip()]
    except ValueError:
        raise ConfigError(f"--components must be comma-separated integers, not {args.components!r}") from None
    values = np.linspace(args.low, args.high, _positive("columns", args.columns, 2, 64))
    z = sweep(z_from_seed(args.seed, G.z_dim), components, values)
    grid = upscale(make_grid(generate(G, z), nrow=len(values)), _positive("scale", args.scale, 1, 16))
    Path(args.out).write_bytes(png_bytes(grid))
    print(f"wrote {args.out} ({len(components)} components x {len(values)} values)")
    return 0


def cmd_stats(args) -> int:
    from .runs.rundir import RunDir
    from .explore.stats_chart import stats_png
    if args.smooth is not None:
        _positive("smooth", args.smooth, 1, 1_000_000)
    if not Path(args.run).is_dir():
        raise ConfigError(f"no run directory at {args.run}")
    run = RunDir(Path(args.run))
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
    from .runs.model_card import write_model_card
    if not (Path(args.run) / "config.json").is_file():
        raise ConfigError(f"no run directory at {args.run}")
    print(f"wrote {write_model_card(args.run, args.data_note, args.notes)}")
    return 0


def cmd_evaluate(args) -> int:
    from .evaluation.evaluate import evaluate_model
    from .evaluation.report import format_report, save_report
    if args.samples is not None:
        _positive("samples", args.samples, 100, 100_000)
    report = evaluate_model(args.model, step=args.step, samples=args.samples, evaluator=args.evaluator,
                            data_root=args.data_root, seed=args.seed, check_memorisation=not args.no_memorisation,
                            log=lambda line: print(line, file=sys.stderr))
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    if not args.no_save and Path(args.model).is_dir():
        print(f"saved {save_report(args.model, report)}", file=sys.stderr)
    return 0


def cmd_import(args) -> int:
    from .runs.importer import import_generator_file
    result = import_generator_file(args.path, args.checkpoints, args.run_name)
    print(f"imported {args.path} as run {result.run.name} ({result.summary()}) -> {result.run.path}")
    return 0


def cmd_train_evaluator(args) -> int:
    from .evaluation.classifier import CLASSIFIER_OF, EVALUATOR_EPOCHS, train_classifier
    epochs = EVALUATOR_EPOCHS[args.dataset] if args.epochs is None else _positive("epochs", args.epochs, 1, 50)
    if args.dataset == "folder":
        from .config import RUN_NAME_RE
        if not (args.image_folder and args.name):
            raise ConfigError("--dataset folder needs --image-folder PATH and --name NAME")
        if not RUN_NAME_RE.match(args.name) or args.name in CLASSIFIER_OF.values():
            raise ConfigError(f"--name {args.name!r}: use letters, digits, '_', '-' or '.', and not the name of "
                              "a dataset's own evaluator")
    info = train_classifier(args.dataset, args.data_root, epochs=epochs, image_folder=args.image_folder,
                            name=args.name, image_size=args.image_size)
    print(json.dumps(info))
    return 0


COMMANDS = {"train": cmd_train, "resume": cmd_resume, "stop": cmd_stop, "runs": cmd_runs, "delete": cmd_delete,
            "sample": cmd_sample, "interpolate": cmd_interpolate, "sweep": cmd_sweep, "stats": cmd_stats, "card": cmd_card, "evaluate": cmd_evaluate,
            "import": cmd_import, "train-evaluator": cmd_train_evaluator}


def main(argv: list[str] | None = None) -> int:
    from .runs.checkpoint import CheckpointError
    from .data import DataError
    from .training.loop import TrainingFailed
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ConfigError, DataError, CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingFailed as e:  # recorded in status.json, its traceback already in the log
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a full disk, a read-only folder, a file that is not there
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
