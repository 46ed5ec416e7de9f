"""Start, stop and resume trainer processes: what a UI calls so it never trains in its own process."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..config import PROJECT_ROOT, ConfigError, TrainConfig, dataset_spec, project_path
from ..data import check_source
from ..runs.files import WriteError, atomic_write_json
from ..runs.processes import pid_alive
from ..runs.rundir import ACTIVE_STATES, RunDir



def _spawn(args: list[str], run: RunDir, total_steps: int) -> int:
    """Run `python -m dcgan ARGS` detached, its output appended to the run's train.log."""
    run.path.mkdir(parents=True, exist_ok=True)
    run.stop_path.unlink(missing_ok=True)  # a stale request would stop the new trainer at once
    run.launch_path.unlink(missing_ok=True)  # an earlier launch's dead pid must not fail this one
    # until the trainer writes its own status, readers see 'starting' (the trainer overwrites it)
    previous = run.status()
    run.write_status("starting", previous.get("step") or 0, total_steps, warnings=previous.get("warnings"), own=False)
    # no PYTHONPATH: `-m` run in PROJECT_ROOT puts this checkout's dcgan first on the trainer's path,
    # whether or not the package is installed
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if run.log_path.is_symlink():
        run.log_path.unlink()  # a shared run's train.log must not make us append to a file elsewhere
    with open(run.log_path, "ab") as log:
        # a new session: the trainer outlives an app restart and gets no Ctrl-C meant for the app
        proc = subprocess.Popen([sys.executable, "-m", "dcgan", *args, "--quiet"], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env, cwd=PROJECT_ROOT)
    # the launcher's own file, so a reader can tell a trainer still starting from one that died
    atomic_write_json(run.launch_path, {"pid": proc.pid, "time": time.time(), "args": args})
    # reap the child when it exits, or every finished run stays a zombie of the app's process
    threading.Thread(target=proc.wait, daemon=True, name=f"reap-{run.name}").start()
    return proc.pid


def check_launch(cfg: TrainConfig) -> None:
    """Everything about cfg that can be checked before a run folder exists, so a launch that cannot
    work leaves nothing behind: the config, its data (relative paths from the project folder, as the
    trainer reads them), the device and, with eval_every, the evaluator's classifier."""
    check_source(cfg)
    from .loop import resolve_device
    resolve_device(cfg.device)
    if cfg.eval_every:
        from ..data import folder_labels
        from ..evaluation.classifier import evaluator_for
        from ..runs.checkpoint import CheckpointError
        classes = folder_labels(project_path(cfg.image_folder)) if dataset_spec(cfg.dataset).folder else ()
        try:
            path = evaluator_for(cfg.dataset, classes)
        except CheckpointError as e:
            raise ConfigError(f"eval_every: {e}; or use eval_every=0") from None
        if not path.is_file():
            raise ConfigError(f"eval_every needs the evaluator's classifier {path}, which is "
                              "not there; train it (python -m dcgan train-evaluator) or use eval_every=0")


def start_training(cfg: TrainConfig, checkpoints: str | Path) -> RunDir:
    """Validate cfg and start a new run in its own process; returns its run directory."""
    check_launch(cfg)
    run = RunDir.of(checkpoints, cfg.run_name)
    if run.exists() or run.path.exists() and any(run.path.iterdir()):
        raise ConfigError(f"a run named {cfg.run_name!r} already exists; pick another name")
    run.path.mkdir(parents=True, exist_ok=True)
    # the trainer reads its config from this file, so what the app shows is exactly what runs
    atomic_write_json(run.request_path, cfg.to_dict())
    _spawn(["train", "--config", str(run.request_path.resolve()), "--checkpoints", str(Path(checkpoints).resolve())],
           run, cfg.steps)
    return run


def resume_training(checkpoints: str | Path, run_name: str, steps: int | None = None, more: int | None = None,
                    **overrides) -> RunDir:
    """Continue a stopped, failed or finished run in its own process: to its configured end (neither
    steps nor more), to a new total of `steps`, or for `more` steps beyond its last checkpoint.
    overrides: new values of what a resume may change (lr_d, lr_g, label_smoothing, eval_every, ...)."""
    from .resume import resume_config
    run = RunDir.of(checkpoints, run_name)
    if run.status().get("state") in ACTIVE_STATES:
        raise ConfigError(f"run {run_name!r} is already running")
    if not run.checkpoint_path.is_file():
        raise ConfigError(f"run {run_name!r} has no checkpoint to resume from")
    # fail here, not in the child, on bad input or data that has gone since
    cfg = resume_config(checkpoints, run_name, steps, more, **overrides)
    check_launch(cfg)
    flags = [a for key, value in overrides.items() if value is not None
             for a in ("--" + key.replace("_", "-"), str(value))]
    # the total worked out here, so the child resumes to exactly what was checked
    _spawn(["resume", run_name, "--steps", str(cfg.steps), *flags, "--checkpoints", str(Path(checkpoints).resolve())],
           run, cfg.steps)
    return run


def _existing_run(checkpoints: str | Path, run_name: str) -> RunDir:
    run = RunDir.of(checkpoints, run_name)
    if not run.path.is_dir() or not any(p.is_file() for p in (run.config_path, run.status_path, run.request_path)):
        raise ConfigError(f"no run named {run_name!r} in {checkpoints}")
    return run


def stop_training(checkpoints: str | Path, run_name: str) -> None:
    """Ask a running run to stop at its next step boundary, after a checkpoint (STOP file and
    SIGTERM); a run that is not running is refused, with no STOP file left for a later trainer."""
    run = _existing_run(checkpoints, run_name)
    st = run.status()
    if st.get("state") not in ACTIVE_STATES:
        raise ConfigError(f"run {run_name!r} is not running (it is {st.get('state')}); nothing to stop")
    run.request_stop()
    pid = st.get("pid")
    # SIGTERM only to a trainer status() has seen alive here, as the process that wrote the pid: a
    # pid from another host, a reused one, or a hostile -1 (every process of ours) gets none
    if st.get("state") == "running" and pid_alive(pid, st.get("pid_start")) and st.get("host") == socket.gethostname():
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


# the models that come with the project, and the evaluator's classifiers: never deleted from here
SHIPPED_RUNS = ("mnist", "fashion-mnist", "faces")
SHIPPED_ROOT = PROJECT_ROOT / "checkpoints"


def is_protected(run: RunDir) -> str | None:
    """Why run may not be deleted (a shipped model, the evaluators, a run still training), or None."""
    target = run.path.resolve()
    for name in (*SHIPPED_RUNS, "evaluators"):
        kept = (SHIPPED_ROOT / name).resolve()
        # the folder itself, one inside it, or one that holds it (a link to checkpoints/, say)
        if target == kept or target.is_relative_to(kept) or kept.is_relative_to(target):
            return ("it holds the evaluator's classifiers" if name == "evaluators" else
                    f"it is the {name} model shipped with the project")
    state = run.status().get("state")
    if state in ACTIVE_STATES:
        return f"it is {state}; stop it first"
    return None


def delete_run(checkpoints: str | Path, run_name: str) -> None:
    """Remove a run folder and everything in it; refused for the shipped models, the evaluators, a
    run still training, and links out of checkpoints. Readers never see half a run: the folder is
    renamed out of sight (a name list_runs skips) before its files go."""
    run = _existing_run(checkpoints, run_name)
    reason = is_protected(run)
    if reason:
        raise ConfigError(f"run {run_name!r} cannot be deleted: {reason}")
    if run.path.is_symlink():  # a link to another run inside checkpoints: that run keeps its files
        run.path.unlink()
        return
    lock = run.lock()  # no trainer holds the run, and none can start on it meanwhile
    hidden = run.path.with_name(f".deleting-{run.name}-{os.getpid()}-{time.time_ns()}")
    try:
        os.rename(run.path, hidden)
    except OSError as e:
        raise WriteError(run.path, e) from None
    finally:
        os.close(lock)
    try:
        shutil.rmtree(hidden)
    except OSError as e:
        raise WriteError(hidden, e) from None


def wait_for_state(run: RunDir, states: tuple[str, ...] = ("finished", "stopped", "failed", "interrupted"),
                   timeout_s: float = 120.0, poll_s: float = 0.2) -> dict:
    """Poll status.json until its state is one of states; raises TimeoutError otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        st = run.status()
        if st.get("state") in states:
            return st
        time.sleep(poll_s)
    raise TimeoutError(f"run {run.name} still {run.status().get('state')} after {timeout_s:.0f} s")


__all__ = ["check_launch", "delete_run", "is_protected", "resume_training", "start_training", "stop_training",
           "wait_for_state"]
