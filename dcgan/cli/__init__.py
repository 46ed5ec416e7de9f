"""Command line: python -m dcgan {train,resume,stop,runs,sample,interpolate,render,sweep,directions,sensitivity,evaluate,...}.

The commands live by job: manage.py (runs), images.py (drawing from G), analyse.py (looking into G);
args.py holds what they share and parser.py every command's flags."""
from __future__ import annotations

import sys

from ..config import ConfigError
from .analyse import cmd_directions, cmd_invert, cmd_sensitivity, cmd_units
from .args import _config_from_args
from .images import cmd_interpolate, cmd_render, cmd_sample, cmd_sweep
from .manage import (cmd_card, cmd_delete, cmd_evaluate, cmd_import, cmd_resume, cmd_runs, cmd_stats, cmd_stop,
                     cmd_train, cmd_train_evaluator)
from .parser import build_parser

__all__ = ["COMMANDS", "build_parser", "main", "_config_from_args"]

COMMANDS = {"train": cmd_train, "resume": cmd_resume, "stop": cmd_stop, "runs": cmd_runs, "delete": cmd_delete,
            "sample": cmd_sample, "interpolate": cmd_interpolate, "render": cmd_render, "sweep": cmd_sweep, "directions": cmd_directions,
            "sensitivity": cmd_sensitivity, "units": cmd_units, "invert": cmd_invert, "stats": cmd_stats, "card": cmd_card, "evaluate": cmd_evaluate,
            "import": cmd_import, "train-evaluator": cmd_train_evaluator}


def _raised_by(error: BaseException, *classes: str) -> bool:
    """Whether error is one of these classes ('data.DataError'). A class whose module the command never
    imported cannot have been raised, so it is not imported to ask: that would load torch into every
    command (`runs` took 3 s longer for it)."""
    for where in classes:
        module, _, name = f"dcgan.{where}".rpartition(".")
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
