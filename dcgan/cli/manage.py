"""Commands that start, stop, list, delete, import, describe and evaluate runs."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..config import ConfigError, TrainConfig, dataset_spec, project_path, resume_fields
from .args import _config_from_args, _from_here, _positive

PROCESS_IMPORTED_AT = time.time()  # where /proc cannot say when this process started


def _check_start(cfg: TrainConfig) -> None:
    """What the app checks before it starts a trainer, checked before the run folder exists, so a start
    that cannot work leaves no half-made run whose name the next try finds taken. Unlike the app, the
    CLI first downloads an MNIST-style set that is missing (when online)."""
    from ..data import load_torchvision, torchvision_files_present
    from ..training.launch import check_launch
    name = dataset_spec(cfg.dataset).files  # the torchvision set it reads (Stacked MNIST: MNIST's)
    if name and not torchvision_files_present(name, project_path(cfg.data_root)):
        load_torchvision(name, str(project_path(cfg.data_root)), 28, 1)  # offline: a DataError naming the files
    check_launch(cfg)


def cmd_train(args) -> int:
    from ..training.distributed import world_from_env
    from ..training.loop import train
    cfg = _config_from_args(args)
    _check_start(cfg)
    state = train(cfg, args.checkpoints, progress=not args.quiet, handle_sigterm=True, started_at=_started_at())
    if world_from_env().is_main:
        print(f"run {cfg.run_name}: {state} -> {Path(args.checkpoints) / cfg.run_name}")
    return 0 if state in ("finished", "stopped") else 1


def cmd_resume(args) -> int:
    from ..training.distributed import world_from_env
    from ..training.resume import resume_config
    from ..training.loop import train
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
    from ..runs.processes import process_started_at
    return process_started_at() or PROCESS_IMPORTED_AT


def cmd_stop(args) -> int:
    from ..training.launch import stop_training
    stop_training(args.checkpoints, args.run_name)
    print(f"asked {args.run_name} to stop; it will save a checkpoint first")
    return 0


def cmd_runs(args) -> int:
    from ..runs.rundir import list_runs
    for run in list_runs(args.checkpoints):
        row = run.summary()  # the app's "All runs" table reads the same
        live = f" · {row['speed']} · ETA {row['ETA']}" if row["ETA"] != "–" else ""
        print(f"{row['run']:24s} {row['state']:9s} step {row['step']}{live}")
    return 0


def cmd_delete(args) -> int:
    from ..training.launch import delete_run
    if not args.yes:
        raise ConfigError(f"this deletes run {args.run_name!r} and all its files; add --yes to do it")
    delete_run(args.checkpoints, args.run_name)
    print(f"deleted run {args.run_name}")
    return 0


def cmd_stats(args) -> int:
    from ..runs.rundir import RunDir
    from ..analysis.stats_chart import stats_png
    from ..imaging import output_format
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
    from ..evaluation.model_card import write_model_card
    from ..runs.rundir import RunDir
    if not RunDir.at(args.run).exists():
        raise ConfigError(f"no run directory at {args.run}")
    print(f"wrote {write_model_card(args.run, args.data_note, args.notes)}")
    return 0


def cmd_evaluate(args) -> int:
    from ..evaluation.evaluate import evaluate_model
    from ..evaluation.report import format_report, save_report
    from ..runs.files import json_text
    from ..runs.rundir import RunDir
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
    from ..runs.importer import import_generator_file
    result = import_generator_file(args.path, args.checkpoints, args.run_name)
    print(f"imported {args.path} as run {result.run.name} ({result.summary()}) -> {result.run.path}")
    return 0


def cmd_train_evaluator(args) -> int:
    from ..evaluation.classifier import CLASSIFIER_OF, EVALUATOR_EPOCHS, train_classifier
    epochs = EVALUATOR_EPOCHS[args.dataset] if args.epochs is None else _positive("epochs", args.epochs, 1, 50)
    if dataset_spec(args.dataset).folder:
        from ..config import RUN_NAME_RE
        if not (args.image_folder and args.name):
            raise ConfigError("--dataset folder needs --image-folder PATH and --name NAME")
        if not RUN_NAME_RE.match(args.name) or args.name in CLASSIFIER_OF.values():
            raise ConfigError(f"--name {args.name!r}: use letters, digits, '_', '-' or '.', and not the name of "
                              "a dataset's own evaluator")
    info = train_classifier(args.dataset, _from_here(args.data_root), epochs=epochs, image_folder=_from_here(args.image_folder),
                            name=args.name, image_size=args.image_size)
    from ..runs.files import json_text
    print(json_text(info))
    return 0
