"""The run directory: the one contract between the trainer process and its readers (CLI, app).

The layout of checkpoints/<run_name>/ is documented in one place: README.md, "Run directory".
The path of each file is a property of RunDir below.

Every file a reader can see is replaced atomically (temp file + os.replace); metrics.jsonl is only
appended, one flushed line per step, and readers skip a torn last line.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import faults
from .config import RUN_NAME_RE, ConfigError

# 'interrupted' is never written: readers report it for a 'running' run whose trainer is gone
STATES = ("starting", "running", "finished", "stopped", "failed", "interrupted")
ACTIVE_STATES = ("starting", "running")
START_TIMEOUT_S = 120.0  # a trainer that has not written its status by then did not start
# a trainer on another host cannot be asked for its pid: silence this long means it is gone
REMOTE_STALE_S = 600.0
SNAPSHOT_RE = re.compile(r"^grid_(\d{6,})\.png$")
TEMP_SUFFIX = ".tmp"  # atomic_write_bytes' temporary files; a killed writer can leave one behind


class WriteError(OSError):
    """A run file that could not be written (disk full, read-only folder, no permission); the
    file as it was is untouched."""

    HINTS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
             errno.EROFS: "the file system is read-only", errno.EACCES: "no permission to write there",
             errno.EPERM: "no permission to write there"}

    def __init__(self, path: Path, error: OSError):
        why = self.HINTS.get(error.errno, error.strerror or str(error))
        super().__init__(error.errno, f"cannot write {path}: {why}")

    def __str__(self) -> str:
        return self.strerror


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=TEMP_SUFFIX)
    except OSError as e:
        raise WriteError(path, e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            if faults.armed:  # tests only: stop, die or fail half-way through the write
                data = faults.half_write(f, data, f"write:{path.name}")
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; run files are meant to be shared and committed
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, WriteError):
            raise WriteError(path, e) from None
        raise
    if faults.armed:
        faults.hit(f"replaced:{path.name}")


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def read_json(path: Path) -> dict | None:
    """A JSON object file, or None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def jsonl_line(record: dict) -> str:
    """One compact JSON object and its newline: the unit metrics.jsonl is appended in."""
    return json.dumps(record, separators=(",", ":")) + "\n"


def npy_bytes(array) -> bytes:
    """A float32 array as .npy bytes (no pickle), for fixed_z.npy and z downloads alike."""
    import io

    import numpy as np
    buf = io.BytesIO()
    np.save(buf, np.asarray(array, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


def read_jsonl(path: Path, tail_bytes: int | None = None) -> list[dict]:
    """All complete records (or those in the last tail_bytes); a torn or corrupt line (a writer
    mid-append) is skipped."""
    records = []
    try:
        with open(path, "rb") as f:
            if tail_bytes is not None and f.seek(0, os.SEEK_END) > tail_bytes:
                f.seek(-tail_bytes, os.SEEK_END)
                f.readline()  # most likely the end of a record cut in two: not a record
            for line in f:
                if not line.endswith(b"\n"):
                    break
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    except FileNotFoundError:
        pass
    return records


def step_name(step: int) -> str:
    return f"{step:06d}"


def validate_run_name(name: str) -> str:
    if not isinstance(name, str) or not RUN_NAME_RE.match(name) or name in (".", ".."):
        raise ConfigError(f"bad run name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
                          "starting with a letter or digit")
    return name


def process_start(pid: int) -> int | None:
    """When process pid started (clock ticks since boot, /proc/PID/stat field 22), to tell it from a
    later process that got the same pid; None where /proc is not there."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def pid_alive(pid: int | None, start: int | None = None) -> bool:
    """Whether process pid runs (not a zombie) and, given its start time, is still that process."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if start is not None and process_start(pid) not in (start, None):
        return False  # the pid was reused by a process started later
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    # a zombie child (exited, not yet reaped by the app that launched it) is not running
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


@dataclass
class RunDir:
    """Paths and readers for one run; cheap to create, touches no files until asked."""

    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    @classmethod
    def of(cls, checkpoints: str | Path, run_name: str) -> "RunDir":
        """checkpoints/run_name, refused when it is a link (or holds one) to somewhere outside checkpoints."""
        run = cls(Path(checkpoints) / validate_run_name(run_name))
        if not run.contained_in(checkpoints):
            raise ConfigError(f"run {run_name!r} in {checkpoints} is a link to a folder outside it: refused")
        return run

    def contained_in(self, checkpoints: str | Path) -> bool:
        """Whether the run folder and its snapshots folder, links resolved, lie inside checkpoints."""
        root = Path(checkpoints).resolve()
        return all(p.resolve().is_relative_to(root) for p in (self.path, self.snapshots_dir))

    @property
    def name(self) -> str:
        return self.path.name

    config_path = property(lambda self: self.path / "config.json")
    status_path = property(lambda self: self.path / "status.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    fixed_z_path = property(lambda self: self.path / "fixed_z.npy")
    snapshots_dir = property(lambda self: self.path / "snapshots")
    checkpoint_path = property(lambda self: self.path / "checkpoint.pt")
    generator_path = property(lambda self: self.path / "generator.safetensors")
    generator_config_path = property(lambda self: self.path / "generator.json")
    log_path = property(lambda self: self.path / "train.log")
    stop_path = property(lambda self: self.path / "STOP")
    launch_path = property(lambda self: self.path / "launch.json")
    # evaluation: the trainer appends eval.jsonl every eval_every steps; `evaluate` writes eval.json
    eval_log_path = property(lambda self: self.path / "eval.jsonl")
    eval_report_path = property(lambda self: self.path / "eval.json")

    def grid_path(self, step: int) -> Path:
        return self.snapshots_dir / f"grid_{step_name(step)}.png"

    def snapshot_weights_path(self, step: int) -> Path:
        return self.snapshots_dir / f"G_{step_name(step)}.safetensors"

    # --- readers -------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.config_path.is_file()

    def config(self) -> dict | None:
        return read_json(self.config_path)

    def status(self) -> dict:
        """status.json, with a run whose trainer vanished without saying so reported as 'interrupted'
        (and one that never got going as 'failed'); CLI and app both show this."""
        st = read_json(self.status_path) or {"state": "unknown"}
        heartbeat = st.get("heartbeat") if isinstance(st.get("heartbeat"), (int, float)) else 0
        if st.get("state") == "starting":
            launcher_pid = (read_json(self.launch_path) or {}).get("pid")
            gone = launcher_pid is not None and not pid_alive(launcher_pid)
            if gone or time.time() - heartbeat > START_TIMEOUT_S:
                st = dict(st, state="failed", error="the trainer exited before it started; see train.log "
                                                    "in the run folder")
        if st.get("state") == "running" and not self._trainer_alive(st, heartbeat):
            ago = time.time() - heartbeat
            st = dict(st, state="interrupted",
                      error=f"the trainer process ended without finishing (killed or crashed; last heartbeat "
                            f"{ago:.0f} s ago at step {st.get('step')}); resume to continue from the last "
                            "checkpoint")
        return st

    @staticmethod
    def _trainer_alive(st: dict, heartbeat: float) -> bool:
        if st.get("host", socket.gethostname()) != socket.gethostname():
            return time.time() - heartbeat < REMOTE_STALE_S
        start = st.get("pid_start")
        return pid_alive(st.get("pid"), start if isinstance(start, int) else None)

    def lock(self) -> int:
        """Claim the run for this trainer process: an exclusive lock on the run folder that the
        kernel drops when the process ends, however it ends. Returns the fd to close when done."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(f"run {self.name!r} is being trained by another process right now") from None
        return fd

    def remove_temp_files(self) -> list[Path]:
        """Delete what writers killed mid-write left behind (only while holding lock())."""
        found = [p for d in (self.path, self.snapshots_dir) if d.is_dir() for p in d.glob("*" + TEMP_SUFFIX)]
        for p in found:
            p.unlink(missing_ok=True)
        return found

    def metrics(self) -> list[dict]:
        return read_jsonl(self.metrics_path)

    def recent_metrics(self, max_bytes: int = 32_768) -> list[dict]:
        """The newest metrics records (about the last 150): what a progress line needs, read in
        constant time however long the run."""
        return read_jsonl(self.metrics_path, max_bytes)

    def evaluations(self) -> list[dict]:
        """The trainer's periodic evaluation records (eval.jsonl), oldest first."""
        return read_jsonl(self.eval_log_path)

    def snapshot_steps(self) -> list[int]:
        """Steps that have a snapshot grid PNG, ascending."""
        if not self.snapshots_dir.is_dir():
            return []
        steps = [int(m.group(1)) for p in self.snapshots_dir.iterdir() if (m := SNAPSHOT_RE.match(p.name))]
        return sorted(steps)

    def weight_steps(self) -> list[int]:
        """Steps whose generator weights can be loaded, ascending."""
        return [s for s in self.snapshot_steps() if self.snapshot_weights_path(s).is_file()]

    def request_stop(self) -> None:
        atomic_write_bytes(self.stop_path, f"{time.time()}\n".encode())

    def stop_requested(self) -> bool:
        return self.stop_path.exists()


def list_runs(checkpoints: str | Path) -> list[RunDir]:
    """Run directories under checkpoints/, newest first, including one just launched whose trainer
    has not yet written config.json (it has a status.json saying 'starting')."""
    root = Path(checkpoints)
    if not root.is_dir():
        return []
    runs = [RunDir(p) for p in root.iterdir() if p.is_dir() and RUN_NAME_RE.match(p.name)]
    runs = [r for r in runs if (r.exists() or r.status_path.is_file()) and r.contained_in(root)]

    def born(r: RunDir) -> float:
        return (r.config_path if r.exists() else r.status_path).stat().st_mtime

    return sorted(runs, key=born, reverse=True)
