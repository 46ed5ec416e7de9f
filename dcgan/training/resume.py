"""The config of a run to resume: its saved config, a new total, and what may change."""
from __future__ import annotations

import dataclasses

from pathlib import Path

from ..config import ConfigError, TrainConfig, resume_fields
from ..runs.checkpoint import checkpoint_step
from ..runs.records import is_step
from ..runs.rundir import RunDir

# the fields marked resume=True in the schema: they change no weights already trained
RESUME_OVERRIDES = resume_fields()


def resume_config(checkpoints: str | Path, run_name: str, steps: int | None = None, more: int | None = None,
                  **overrides) -> TrainConfig:
    """The saved config of a run for a resume: to its configured end (config.json's steps), to a
    new total (steps) or `more` steps beyond its last checkpoint; optionally with new learning
    rates or label smoothing (RESUME_OVERRIDES)."""
    run = RunDir.of(checkpoints, run_name)
    if not run.exists():
        raise ConfigError(f"no run named {run_name!r} in {checkpoints}")
    if steps is not None and more is not None:
        raise ConfigError("give the new total (steps) or the steps to add (more), not both")
    for name, value in (("steps", steps), ("more", more)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ConfigError(f"{name} must be a whole number of steps, not {value!r}")
    cfg = run.train_config()
    if cfg is None:
        raise ConfigError(f"run {run_name!r} cannot be resumed: {run.config_problem()}")
    # a resume starts from the last checkpoint, which a failed or killed run may have passed
    if run.checkpoint_path.is_file():
        done = checkpoint_step(run.checkpoint_path)
    else:
        done = run.export_step()
        done = done if is_step(done) else run.status().get("step", 0)
    if steps is not None:
        cfg = dataclasses.replace(cfg, steps=steps)
    elif more is not None:
        cfg = dataclasses.replace(cfg, steps=done + more)
    elif cfg.steps <= done:
        end = "its configured end" if cfg.steps == done else f"past its configured end ({cfg.steps})"
        raise ConfigError(f"run {run_name!r} is at step {done}, {end}; ask for more steps "
                          f"(--more N, or --steps above {done})")
    if cfg.steps <= done:
        raise ConfigError(f"run {run_name!r} is at step {done}; ask for more steps (--more N or --steps > {done})")
    for key, value in overrides.items():
        if key not in RESUME_OVERRIDES:
            raise ConfigError(f"{key} cannot change on resume (only {', '.join(RESUME_OVERRIDES)})")
        if value is not None:
            cfg = dataclasses.replace(cfg, **{key: value})
    return cfg


def default_resume_target(run: RunDir) -> int:
    """The total a resume trains to unless told otherwise: the configured end, or half as many steps
    again for a run already there (the Train page's 'Resume to step' starts from it)."""
    end = run.config_values().get("steps") or 1
    done = run.status().get("step") or 0
    return end if done < end else done + max(1, end // 2)
