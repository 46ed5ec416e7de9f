"""The run directory: the one contract between the trainer process and its readers (CLI, app).

The layout of checkpoints/<run_name>/ is documented in one place: docs/run-directory.md.
The path of each file is a property of RunDir below; how they are written and read safely is
runs/files.py, which records are usable runs/records.py.
"""
from __future__ import annotations

import fcntl
import math
import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..config import RUN_NAME_RE, ConfigError, TrainConfig
from .files import TEMP_SUFFIX, Records, atomic_write_bytes, atomic_write_json, read_json, read_json_object, read_jsonl
from .follow import JsonlFollower
from .processes import pid_alive, process_start
from .progress import format_seconds, run_progress
from .records import is_number, is_step, valid_eval_record, valid_metrics_record, valid_records

# 'interrupted' is never written: readers report it for a 'running' run whose trainer is gone
STATES = ("starting", "running", "finished", "stopped", "failed", "interrupted")
ACTIVE_STATES = ("starting", "running")
START_TIMEOUT_S = 120.0  # a trainer that has not written its status by then did not start
# a trainer on another host cannot be asked for its pid: silence this long means it is gone
REMOTE_STALE_S = 600.0
# below this much free space, a reader of an interrupted run says so (the trainer may have died of it)
LOW_DISK_BYTES = 100_000_000
SNAPSHOT_RE = re.compile(r"^grid_(\d{6,})\.png$")
WEIGHTS_RE = re.compile(r"^G_(\d{6,})\.safetensors$")


class RunFolderGone(OSError):
    """The run folder a trainer claimed was deleted or replaced by another folder of the same name:
    the trainer stops and writes nothing more, so no half run appears where the old one was."""


def file_sha256(path: Path) -> str:
    """sha256 (hex) of a file's bytes, read in 1 MiB pieces (a 128 px generator is ~50 MB)."""
    import hashlib
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for piece in iter(lambda: f.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()


def step_name(step: int) -> str:
    return f"{step:06d}"


def validate_run_name(name: str) -> str:
    if not isinstance(name, str) or not RUN_NAME_RE.match(name) or name in (".", ".."):
        raise ConfigError(f"bad run name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
                          "starting with a letter or digit")
    return name


@dataclass
class RunDir:
    """Paths and readers for one run; cheap to create, touches no files until asked."""

    path: Path
    # (st_dev, st_ino) of the folder lock() claimed: a folder deleted and made again has another
    _identity: tuple[int, int] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    @classmethod
    def of(cls, checkpoints: str | Path, run_name: str) -> "RunDir":
        """checkpoints/run_name, refused when it is a link (or holds one) to somewhere outside checkpoints."""
        run = cls(Path(checkpoints) / validate_run_name(run_name))
        if not run.contained_in(checkpoints):
            raise ConfigError(f"run {run_name!r} in {checkpoints} is a link to a folder outside it: refused")
        return run

    @classmethod
    def at(cls, path: "str | Path | RunDir") -> "RunDir":
        """The run at a path a user gave (a CLI argument, a core function's argument): any folder name (a
        copy renamed by hand is still a run), refused, like of(), when its snapshots are a link out of the
        folder that holds it. A RunDir is returned as it is."""
        if isinstance(path, RunDir):
            return path
        p = Path(path)
        if p.name in ("", ".", ".."):
            p = p.resolve()
        run = cls(p)
        if not run.contained_in(p.parent):
            raise ConfigError(f"{p} is a link to a folder outside {p.parent}, or holds one: refused")
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
    # D of the final step, for runs shipped without checkpoint.pt (runs.checkpoint.export_discriminator)
    discriminator_path = property(lambda self: self.path / "discriminator.safetensors")
    log_path = property(lambda self: self.path / "train.log")
    stop_path = property(lambda self: self.path / "STOP")
    launch_path = property(lambda self: self.path / "launch.json")
    request_path = property(lambda self: self.path / "request.json")  # what the app asked to train
    # evaluation: the trainer appends eval.jsonl every eval_every steps; `evaluate` writes eval.json
    eval_log_path = property(lambda self: self.path / "eval.jsonl")
    eval_report_path = property(lambda self: self.path / "eval.json")
    legacy_eval_report_path = property(lambda self: self.path / "evaluation.json")  # before eval.json; still read

    model_card_path = property(lambda self: self.path / "MODEL_CARD.md")

    def directions_path(self, method: str) -> Path:
        """Where the run keeps its directions of one method (analysis.directions.METHODS names them)."""
        if not re.fullmatch(r"[a-z]+", str(method)):
            raise ValueError(f"bad directions method {method!r}")
        return self.path / f"directions_{method}.json"

    # inversion: the reference errors of inverting G's own images and held-out real ones, per step
    inversion_references_path = property(lambda self: self.path / "inversion_references.json")
    latents_dir = property(lambda self: self.path / "latents")  # z's found by inversion, one JSON file each

    def latent_path(self, name: str) -> Path:
        """Where the run keeps one saved z (a name as a run's: letters, digits, '_', '-', '.')."""
        if not isinstance(name, str) or not RUN_NAME_RE.match(name) or name in (".", ".."):
            raise ValueError(f"bad name for a saved z {str(name)[:70]!r}: use 1-64 letters, digits, '_', '-' or "
                             "'.', starting with a letter or digit")
        return self.latents_dir / f"{name}.json"

    def latents(self) -> Records:
        """Every saved z (latents/<name>.json) as its JSON object with 'name' set from the file's name, by
        name; a damaged, half-written or foreign file is left out and counted in .skipped."""
        if not self.latents_dir.is_dir():
            return Records()
        found, skipped = [], 0
        for p in sorted(self.latents_dir.glob("*.json")):
            data = read_json(p) if RUN_NAME_RE.match(p.stem) else None
            if data is None or not isinstance(data.get("z"), list):
                skipped += 1
                continue
            found.append({**data, "name": p.stem})
        return Records(found, skipped)

    def latent_target_path(self, name: str) -> Path:
        """Where the run keeps the target image a saved z was found for: latents/<name>.png."""
        return self.latent_path(name).with_suffix(".png")

    def write_latent(self, name: str, record: dict, target_png: bytes | None = None) -> Path:
        """Save one z record as latents/<name>.json, atomically (a refresh or a kill loses nothing, leaves no
        half), and target_png, its target image, beside it as latents/<name>.png. The PNG is written first and
        the record names it by its sha256, so a z is never shown beside another save's target: not after a
        kill between the two writes, nor after an overwrite (one without a target removes the old PNG)."""
        import hashlib

        path = self.latent_path(name)
        path.parent.mkdir(exist_ok=True)  # latents/ only: a deleted run folder is not made again
        record = {k: v for k, v in record.items() if k != "target_sha256"}
        if target_png is not None:
            atomic_write_bytes(self.latent_target_path(name), target_png)
            record["target_sha256"] = hashlib.sha256(target_png).hexdigest()
        atomic_write_json(path, record)
        if target_png is None:
            self.latent_target_path(name).unlink(missing_ok=True)
        return path

    def latent_target(self, name: str) -> bytes | None:
        """The target PNG saved with z `name`, or None: none was kept (a save from before targets were, or
        one without), or the file is not the one its record names (damaged, or left by an earlier save)."""
        import hashlib

        record = read_json(self.latent_path(name))
        want = record.get("target_sha256") if isinstance(record, dict) else None
        if not isinstance(want, str):
            return None
        try:
            data = self.latent_target_path(name).read_bytes()
        except OSError:
            return None
        return data if hashlib.sha256(data).hexdigest() == want else None

    def delete_latent(self, name: str) -> None:
        """Remove a saved z and its target image: the record first, so the z is no longer listed even if the
        PNG cannot be removed (an unlisted PNG is never shown: write_latent replaces it)."""
        self.latent_path(name).unlink(missing_ok=True)
        self.latent_target_path(name).unlink(missing_ok=True)

    def inversion_references(self) -> dict:
        """inversion_references.json ({} when missing or damaged: the references are computed again)."""
        return read_json(self.inversion_references_path) or {}

    def write_inversion_references(self, data: dict) -> None:
        atomic_write_json(self.inversion_references_path, data, make_parents=False)

    def grid_path(self, step: int) -> Path:
        return self.snapshots_dir / f"grid_{step_name(step)}.png"

    def snapshot_weights_path(self, step: int) -> Path:
        return self.snapshots_dir / f"G_{step_name(step)}.safetensors"

    def weights_path(self, step: int | None) -> Path:
        """The file holding G's weights at a snapshot step, or the exported generator for None."""
        return self.generator_path if step is None else self.snapshot_weights_path(step)

    def weights_sha256(self, step: int | None) -> str:
        """The sha256 (hex) of the file holding G's weights at step (None: the exported generator): what
        a session file names its model by, so a model retrained or replaced since is told apart.
        FileNotFoundError when that step has no weights."""
        return file_sha256(self.weights_path(step))

    # --- readers -------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.config_path.is_file()

    def config(self) -> dict | None:
        """config.json as written (None when missing or not a JSON object); prefer train_config()."""
        return read_json(self.config_path)

    def train_config(self) -> TrainConfig | None:
        """The run's config, typed and validated (config.json, or request.json before the trainer wrote
        it); None when there is none or it is not valid (config_problem() says why)."""
        data, problem = self.config_or_request()
        if problem:
            return None
        try:
            return TrainConfig.from_dict(data)
        except (ConfigError, TypeError):
            return None

    def config_values(self) -> dict:
        """The config's fields as a plain dict, every default filled in ({} when there is no valid config),
        for readers that show or compare fields: a default is spelt once, in TrainConfig."""
        cfg = self.train_config()
        return cfg.to_dict() if cfg is not None else {}

    def generator_info(self) -> dict:
        """generator.json (the exported generator's shape, step and precision), {} when missing or damaged."""
        return read_json(self.generator_config_path) or {}

    def export_step(self) -> int | None:
        """The training step the exported generator (generator.safetensors) holds; None when unknown."""
        step = self.generator_info().get("step")
        return step if is_step(step) else None

    def log_tail(self, max_bytes: int = 4096) -> str:
        """The whole lines of train.log's last max_bytes ('' when there is none), decoded leniently: a
        crash's last words."""
        try:
            with open(self.log_path, "rb") as f:
                start = max(0, f.seek(0, os.SEEK_END) - max_bytes)
                f.seek(start)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        # begun mid-file, the first line is a fragment of one
        return text.partition("\n")[2] if start > 0 else text

    def config_or_request(self) -> tuple[dict | None, str | None]:
        """config.json, or the request the app wrote before the trainer started, as read_json_object
        gives it: the dict and None, or None and why it cannot be read."""
        source = self.config_path if self.config_path.exists() or not self.request_path.exists() else \
            self.request_path
        return read_json_object(source)

    def config_problem(self) -> str | None:
        """Why the run's config (config.json, or request.json before the trainer wrote config.json)
        cannot be used: not valid JSON, not an object, unknown keys, bad values; None when it can."""
        data, problem = self.config_or_request()
        if problem:
            return problem
        try:
            TrainConfig.from_dict(data)
        except (ConfigError, TypeError) as e:
            return str(e)
        return None

    def status(self) -> dict:
        """status.json, with a run whose trainer vanished without saying so reported as 'interrupted'
        (and one that never got going as 'failed'); CLI and app both show this. A status.json that
        is missing (for a run that exists), unreadable or broken is state 'unknown' with the reason
        in 'error'."""
        st, problem = read_json_object(self.status_path)
        if st is None:
            if self.status_path.exists() or self.exists() or self.request_path.exists():
                return {"state": "unknown", "error": problem}
            return {"state": "unknown"}  # no run here at all
        st = _clean_status(st)
        heartbeat = st.get("heartbeat") if is_number(st.get("heartbeat")) else 0
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
                            f"{ago:.0f} s ago at step {st.get('step')}){self.full_disk_note()}; resume to continue "
                            "from the last checkpoint")
        return st

    def full_disk_note(self) -> str:
        """', and the disk holding the run has only 3.1 MB free' when it is nearly full, else '': a trainer
        that found the disk full could not even write that into status.json, so a reader says it."""
        import shutil

        try:
            free = shutil.disk_usage(self.path).free
        except OSError:
            return ""
        return f", and the disk holding the run has only {free / 1e6:.1f} MB free" if free < LOW_DISK_BYTES else ""

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
        info = os.fstat(fd)
        self._identity = (info.st_dev, info.st_ino)
        return fd

    def still_claimed(self) -> bool:
        """Whether the folder at path is still the one lock() claimed: not deleted, and not replaced
        by a new folder of the same name (one stat). True for a RunDir that never locked."""
        if self._identity is None:
            return True
        try:
            info = os.stat(self.path)
        except OSError:
            return False
        return (info.st_dev, info.st_ino) == self._identity

    def check_claimed(self) -> None:
        """Raise RunFolderGone when the claimed folder is gone or replaced: checked before each write,
        since a writer would otherwise make a missing folder again and fill it with half a run."""
        if not self.still_claimed():
            raise RunFolderGone(f"run folder {self.path} was deleted or replaced while training; the trainer "
                                "stopped without writing to it")

    def remove_temp_files(self) -> list[Path]:
        """Delete what writers killed mid-write left behind (only while holding lock())."""
        found = [p for d in (self.path, self.snapshots_dir) if d.is_dir() for p in d.glob("*" + TEMP_SUFFIX)]
        for p in found:
            p.unlink(missing_ok=True)
        return found

    def metrics(self) -> Records:
        """Every metrics record, damaged ones left out and counted in .skipped."""
        return valid_records(read_jsonl(self.metrics_path), valid_metrics_record)

    def recent_metrics(self, max_bytes: int = 32_768) -> Records:
        """The newest metrics records (about the last 150): what a progress line needs, read in
        constant time however long the run."""
        return valid_records(read_jsonl(self.metrics_path, max_bytes), valid_metrics_record)

    def metrics_follower(self) -> JsonlFollower:
        """metrics.jsonl followed (runs.follow): each poll() returns only the records appended since the
        last, damaged ones left out and counted; a file replaced by a resume is read again from its start.
        What a live view polls, at a cost that does not grow with the run."""
        return JsonlFollower(self.metrics_path, valid_metrics_record)

    def progress(self, status: dict | None = None, cfg: dict | None = None, speed: bool = True) -> dict:
        """Step, total, fraction, steps/s, images/s and ETA (runs.progress.run_progress) from status.json
        and the newest metrics; until the trainer writes its status, the total is the requested config's.
        speed=False: no speed or ETA, and metrics.jsonl is read only when status.json has no step."""
        status = self.status() if status is None else status
        cfg = self.config_values() if cfg is None else cfg
        total = status.get("total_steps") or cfg.get("steps")
        metrics = self.recent_metrics() if speed or not status.get("step") else Records()
        prog = run_progress(metrics, {**status, "total_steps": total}, cfg.get("batch_size"))
        return prog if speed else {**prog, "steps_per_s": None, "images_per_s": None, "eta_s": None}

    def summary(self) -> dict:
        """One row of text for a table of runs (the app's "All runs", `python -m dcgan runs`): name,
        state, step, speed and ETA while it trains, dataset, image size, snapshots; '–' where unknown."""
        status = self.status()
        cfg = self.config_values()
        active = status.get("state") in ACTIVE_STATES
        # a run that is not training shows no speed: its row needs status.json, not metrics.jsonl (most of
        # what 200 runs cost)
        prog = self.progress(status, cfg, speed=active)
        speed = f"{prog['steps_per_s']:.1f} steps/s" if active and prog["steps_per_s"] else "–"
        return {"run": self.name, "state": state_label(status), "step": f"{prog['step']}/{prog['total'] or '?'}",
                "speed": speed, "ETA": format_seconds(prog["eta_s"]) if active and prog["eta_s"] is not None else "–",
                "dataset": "imported" if cfg.get("imported_from") else cfg.get("dataset", "–"),
                "image size": str(cfg["image_size"]) if cfg.get("image_size") else "–",
                "snapshots": len(self.snapshot_steps())}

    def evaluations(self) -> Records:
        """The trainer's periodic evaluation records (eval.jsonl), oldest first, damaged ones left out."""
        return valid_records(read_jsonl(self.eval_log_path), valid_eval_record)

    def snapshot_steps(self) -> list[int]:
        """Steps that have a snapshot grid PNG, ascending."""
        if not self.snapshots_dir.is_dir():
            return []
        steps = [int(m.group(1)) for p in self.snapshots_dir.iterdir() if (m := SNAPSHOT_RE.match(p.name))]
        return sorted(steps)

    def weight_steps(self) -> list[int]:
        """Steps whose generator weights can be loaded (a grid and its weights file), ascending. One listing
        of the folder, not a look-up per snapshot: the live view asks every 3 s, and a long run has
        thousands of snapshots (2,000: 120 ms a look-up each, 10 ms listed)."""
        if not self.snapshots_dir.is_dir():
            return []
        grids, weights = set(), set()
        for p in self.snapshots_dir.iterdir():
            if m := SNAPSHOT_RE.match(p.name):
                grids.add(int(m.group(1)))
            elif (m := WEIGHTS_RE.match(p.name)) and p == self.snapshot_weights_path(int(m.group(1))) \
                    and p.is_file():
                weights.add(int(m.group(1)))
        return sorted(grids & weights)

    def prune_snapshot_weights(self, keep: int, newest: int | None = None) -> list[int]:
        """Delete all but the newest `keep` snapshot weight files (their grids stay), never that of step
        `newest` (the one just written); returns the steps pruned. A reader that listed a pruned step
        and then loads it gets FileNotFoundError (or the loader's CheckpointError): its message, not a
        crash; one already reading the file reads it whole (an unlinked file lives until closed)."""
        if keep <= 0 or not self.snapshots_dir.is_dir():
            return []
        steps = sorted(int(m.group(1)) for p in self.snapshots_dir.iterdir()
                       if (m := WEIGHTS_RE.match(p.name)) and p == self.snapshot_weights_path(int(m.group(1))))
        others = [s for s in steps if s != newest]
        room = keep - (len(others) < len(steps))  # the newest one, kept, counts towards keep
        gone = others[:max(0, len(others) - room)]
        for step in gone:
            self.snapshot_weights_path(step).unlink(missing_ok=True)
        return gone

    # --- the one writer of status.json ----------------------------------------------------------
    def write_status(self, state: str, step: int = 0, total_steps: int = 0, error: str | None = None,
                     warnings: list[str] | None = None, diverged: dict | None = None, own: bool = True) -> None:
        """status.json, as the process that owns the run (own=True: this process's pid, its start
        time and host, so readers can tell it from a later process with the same pid) or on its
        behalf (a launcher before its trainer starts, an import no trainer will ever own)."""
        self.check_claimed()
        pid = os.getpid() if own else None
        status = {"state": state, "pid": pid, "pid_start": process_start(pid) if own else None,
                  "host": socket.gethostname(), "step": step, "total_steps": total_steps, "heartbeat": time.time(),
                  "error": error}
        if warnings:
            status["warnings"] = list(warnings)
        if diverged:
            status["diverged"] = diverged
        # a claimed run deleted under its trainer stays deleted (check_claimed above); a RunDir never
        # claimed (a launcher's 'starting', a Trainer built without lock()) makes its folder
        atomic_write_json(self.status_path, status, make_parents=self._identity is None)

    def request_stop(self) -> None:
        # the request's time, so a trainer started later can tell a stale request from its own
        atomic_write_bytes(self.stop_path, f"{time.time()}\n".encode(), make_parents=False)

    def stop_requested(self) -> bool:
        return self.stop_path.exists()

    def stop_request_time(self) -> float | None:
        """When the pending stop request was made (the time in STOP, else the file's own), or None."""
        try:
            text = self.stop_path.read_bytes()[:64]
            mtime = self.stop_path.stat().st_mtime
        except OSError:
            return None
        try:
            written = float(text)
        except ValueError:  # an empty or foreign STOP (`touch STOP`): its modification time says
            return mtime
        return written if math.isfinite(written) else mtime


def _clean_status(st: dict) -> dict:
    """status.json's fields with the wrong type left out, so no reader trips over them; an unknown
    state is 'unknown' with the reason."""
    st = dict(st)
    for key in ("step", "total_steps"):
        if key in st and not is_step(st[key]):
            del st[key]
    if not isinstance(st.get("error"), (str, type(None))):
        st["error"] = str(st["error"])[:500]
    if st.get("error") and "\n" in st["error"]:  # older trainers put a traceback under the message
        st["error"] = (st["error"].strip().splitlines() or [""])[0]
    if "warnings" in st and not (isinstance(st["warnings"], list) and all(isinstance(w, str) for w in st["warnings"])):
        del st["warnings"]
    diverged = st.get("diverged")
    if diverged is not None and not (isinstance(diverged, dict) and is_step(diverged.get("step"))
                                     and isinstance(diverged.get("why", ""), str)):
        del st["diverged"]
    if st.get("state") not in STATES:
        st.update(state="unknown", error=f"status.json has no valid state ({str(st.get('state'))[:40]!r})")
    return st


def state_label(status: dict) -> str:
    """A run's state as a reader shows it: 'finished', or 'finished · diverged at step 30'."""
    label = str(status.get("state", "unknown"))
    diverged = status.get("diverged")
    if isinstance(diverged, dict) and is_step(diverged.get("step")):
        label += f" · diverged at step {diverged['step']}"
    return label


def list_runs(checkpoints: str | Path) -> list[RunDir]:
    """Run directories under checkpoints/, newest first, including one just launched whose trainer
    has not yet written config.json (it has a status.json saying 'starting')."""
    root = Path(checkpoints)
    if not root.is_dir():
        return []
    runs = [RunDir(p) for p in root.iterdir() if p.is_dir() and RUN_NAME_RE.match(p.name)]
    runs = [r for r in runs if (r.exists() or r.status_path.is_file()) and r.contained_in(root)]

    def born(r: RunDir) -> float:
        try:
            return (r.config_path if r.exists() else r.status_path).stat().st_mtime
        except OSError:  # deleted (or renamed away by delete_run) since it was listed
            return 0.0

    return sorted(runs, key=born, reverse=True)


def active_runs(checkpoints: str | Path, this_host: bool = False) -> list[RunDir]:
    """The runs under checkpoints/ whose trainer is starting or running now (a trainer that died without
    saying so is 'interrupted' by status(), so it is not counted); this_host: only those whose trainer
    runs on this machine (a checkpoints folder on shared storage can hold another machine's)."""
    here = socket.gethostname()
    return [r for r in list_runs(checkpoints) if (st := r.status()).get("state") in ACTIVE_STATES
            and (not this_host or st.get("host", here) == here)]
