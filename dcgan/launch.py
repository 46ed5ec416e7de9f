"""Start, stop and resume trainer processes: what a UI calls so it never trains in its own process."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .config import ConfigError, TrainConfig
from .data import check_source
from .rundir import ACTIVE_STATES, RunDir, atomic_write_json

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _spawn(args: list[str], run: RunDir, total_steps: int) -> int:
    """Run `python -m dcgan ARGS` detached, its output appended to the run's train.log."""
    run.path.mkdir(parents=True, exist_ok=True)
    run.stop_path.unlink(missing_ok=True)  # a stale request would stop the new trainer at once
    run.launch_path.unlink(missing_ok=True)  # an earlier launch's dead pid must not fail this one
    # until the trainer writes its own status, readers see 'starting' (the trainer overwrites it)
    atomic_write_json(run.status_path, {**run.status(), "state": "starting", "pid": None, "total_steps": total_steps,
                                        "heartbeat": time.time(), "error": None})
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
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


def start_training(cfg: TrainConfig, checkpoints: str | Path) -> RunDir:
    """Validate cfg and start a new run in its own process; returns its run directory."""
    cfg.validate()
    check_source(cfg)
    run = RunDir.of(checkpoints, cfg.run_name)
    if run.exists() or run.path.exists() and any(run.path.iterdir()):
        raise ConfigError(f"a run named {cfg.run_name!r} already exists; pick another name")
    run.path.mkdir(parents=True, exist_ok=True)
    # the trainer reads its config from this file, so what the app shows is exactly what runs
    request = run.path / "request.json"
    atomic_write_json(request, cfg.to_dict())
    _spawn(["train", "--config", str(request.resolve()), "--checkpoints", str(Path(checkpoints).resolve())], run,
           cfg.steps)
    return run


def resume_training(checkpoints: str | Path, run_name: str, more_steps: int) -> RunDir:
    """Continue a stopped, failed or finished run for more_steps steps in its own process."""
    from .train import resume_config
    run = RunDir.of(checkpoints, run_name)
    if run.status().get("state") in ACTIVE_STATES:
        raise ConfigError(f"run {run_name!r} is already running")
    if not run.checkpoint_path.is_file():
        raise ConfigError(f"run {run_name!r} has no checkpoint to resume from")
    cfg = resume_config(checkpoints, run_name, more=more_steps)  # fail here, not in the child, on bad input
    _spawn(["resume", run_name, "--more", str(more_steps), "--checkpoints", str(Path(checkpoints).resolve())], run,
           cfg.steps)
    return run


def stop_training(checkpoints: str | Path, run_name: str) -> None:
    """Ask a run to stop at its next step boundary, after a checkpoint (STOP file and SIGTERM)."""
    run = RunDir.of(checkpoints, run_name)
    run.request_stop()
    st = run.status()
    pid = st.get("pid")
    if st.get("state") in ACTIVE_STATES and pid:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


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


__all__ = ["start_training", "resume_training", "stop_training", "wait_for_state"]
