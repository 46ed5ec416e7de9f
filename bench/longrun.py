"""What the long browser benchmarks (bench/soak.py, bench/class_of_20.py) share: the trainer they run,
its img/s read off status.json, the Streamlit server's RSS over time, the browser's errors, the
figures held against their goals, and the RSS-over-time plot.

Nothing here imports Playwright or starts a browser, so tests/bench/ can check it without one.
"""
from __future__ import annotations

import json
import math
import os
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from dcgan.config import ConfigError
from dcgan.data import DataError, check_source
from dcgan.presets import default_preset, preset_config
from dcgan.runs.rundir import ACTIVE_STATES, RunDir
from dcgan.training.launch import start_training, stop_training, wait_for_state

from .report import Target, machine, machine_text, progress

ROOT = Path(__file__).resolve().parent.parent
DATA_ROOT = ROOT.parent / "shared" / "datasets"
MB = 1024 * 1024
# a bound on a benchmark's trainer should the script die without stopping it (it is stopped at the end)
TRAINER_STEP_CAP = 1_000_000
TRAINER_START_S = 300  # import, data load and first step on 2 cores shared with a browser
STEP_TEXT = re.compile(r"step (\d+)/(\d+)")
SNAPSHOT_TEXT = re.compile(r"newest snapshot: step (\d+)")
# what Streamlit's own log says when a page asked for a fragment the server no longer has (after a
# reload or a sleeping tab: streamlit/streamlit #11660, #15084) and a script's uncaught exception
FRAGMENT_WARNING = "Couldn't find fragment"
LOG_PROBLEMS = ("Traceback", FRAGMENT_WARNING, "Uncaught app exception")
# Streamlit's frontend, opened at a page's own URL (/train), first asks /train/_stcore/health and
# /train/_stcore/host-config, taking /train for a base path, gets 404s and then finds the server at /:
# streamlit/streamlit #7074 (open). The browser logs each 404 as a console error that no app can avoid;
# they are counted apart from the app's own errors, and shown.
KNOWN_STREAMLIT_404 = re.compile(r"^(/[^/]+)+/_stcore/(health|host-config)$")  # a URL's path


# --- the trainer ---------------------------------------------------------------------------------

def training_config(run_name: str, dataset: str, data_root: str | Path, seed: int = 0):
    """The 28 px MNIST run a new user gets (the mnist default preset, mnist28-rpgan), on MNIST from
    data_root, or on the synthetic set with the same nets when dataset is 'synthetic'."""
    return preset_config(default_preset("mnist"), run_name=run_name, dataset=dataset, data_root=str(data_root),
                         steps=TRAINER_STEP_CAP, seed=seed)


def choose_dataset(wanted: str, data_root: str | Path) -> str:
    """'mnist' when data_root holds it (never downloaded), else 'synthetic', said aloud; wanted 'mnist'
    without the files is an error."""
    if wanted == "synthetic":
        return "synthetic"
    try:
        check_source(training_config("probe", "mnist", data_root))
    except (ConfigError, DataError) as e:
        if wanted == "mnist":
            raise SystemExit(f"--dataset mnist: {e}")
        progress(f"NOTICE: no MNIST in {data_root}; training on the synthetic set instead (same nets)")
        return "synthetic"
    return "mnist"


def start_trainer(cfg, checkpoints: Path) -> RunDir:
    """`python -m dcgan train` as the app's Start launches it; returns once it has logged steps."""
    run = start_training(cfg, checkpoints)
    deadline = time.monotonic() + TRAINER_START_S
    while len(run.recent_metrics(4096)) < 3:
        state = run.status().get("state")
        if time.monotonic() > deadline or state not in ("starting", "running"):
            raise RuntimeError(f"trainer {cfg.run_name} did not get going: {run.status()}; "
                               f"log: {run.log_tail()}")
        time.sleep(0.5)
    return run


def stop_trainers(checkpoints: Path, runs: list[RunDir]) -> None:
    for run in runs:
        if run.status().get("state") in ACTIVE_STATES:
            try:
                stop_training(checkpoints, run.name)
            except ConfigError:
                pass  # ended on its own in between
    for run in runs:
        try:
            wait_for_state(run, timeout_s=90)
        except TimeoutError:
            progress(f"WARNING: trainer {run.name} did not stop within 90 s")


@dataclass(frozen=True)
class StatusSample:
    t: float  # when read (time.time())
    step: int
    heartbeat: float  # the trainer's own time of that step's status write
    state: str


def status_sample(run: RunDir) -> StatusSample | None:
    st = run.status()
    step, heartbeat = st.get("step"), st.get("heartbeat")
    if not isinstance(step, int) or not isinstance(heartbeat, (int, float)):
        return None
    return StatusSample(time.time(), step, float(heartbeat), str(st.get("state")))


def images_per_s(samples: list[StatusSample], batch_size: int, t0: float = -math.inf,
                 t1: float = math.inf) -> float | None:
    """A trainer's img/s between t0 and t1 from its status.json samples: steps done over the trainer's
    own heartbeat times (status.json is rewritten at most once a second, so a window of a minute is
    exact to about 2 %). None when the window holds fewer than two distinct heartbeats."""
    inside = [s for s in samples if t0 <= s.t <= t1 and s.state == "running"]
    if len(inside) < 2 or inside[-1].heartbeat <= inside[0].heartbeat:
        return None
    return (inside[-1].step - inside[0].step) * batch_size / (inside[-1].heartbeat - inside[0].heartbeat)


def speed_series(samples: list[StatusSample], batch_size: int, t_origin: float,
                 bin_s: float = 60.0) -> list[tuple[float, float]]:
    """(minutes since t_origin at the bin's middle, img/s) per bin_s of samples: the plot's lower panel."""
    if not samples:
        return []
    out = []
    t = samples[0].t
    while t < samples[-1].t:
        rate = images_per_s(samples, batch_size, t, t + bin_s)
        if rate is not None:
            out.append(((t + bin_s / 2 - t_origin) / 60, rate))
        t += bin_s
    return out


# --- memory --------------------------------------------------------------------------------------

def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (0 for one that has gone)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass  # ended between the listing and the read
    return total


@dataclass
class Sampler:
    """Calls each probe every every_s seconds in a background thread, keeping (time, value) pairs;
    a probe that returns None or raises is skipped for that tick. Used as a context manager."""

    probes: dict  # name -> zero-argument callable
    every_s: float
    samples: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.samples = {name: [] for name in self.probes}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="bench-sampler")

    def sample_now(self) -> None:
        for name, probe in self.probes.items():
            try:
                value = probe()
            except Exception as e:  # a probe must never end the benchmark; the gap shows in the data
                progress(f"sampler: {name}: {type(e).__name__}: {e}")
                continue
            if value is not None:
                self.samples[name].append((time.time(), value))

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.sample_now()

    def __enter__(self) -> "Sampler":
        self.sample_now()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample_now()


def rss_summary(samples: list[tuple[float, int]], t0: float = -math.inf, t1: float = math.inf) -> dict:
    """Start, end, growth (end - start), max and least-squares slope of RSS samples in [t0, t1], in MB
    (slope in MB per hour: growth that a short run's noise hides)."""
    inside = [(t, v / MB) for t, v in samples if t0 <= t <= t1]
    if not inside:
        return {"samples": 0}
    ts = [t for t, _ in inside]
    vs = [v for _, v in inside]
    slope = 0.0
    if len(inside) >= 2 and max(ts) > min(ts):
        mt, mv = statistics.fmean(ts), statistics.fmean(vs)
        slope = sum((t - mt) * (v - mv) for t, v in inside) / sum((t - mt) ** 2 for t in ts) * 3600
    return {"samples": len(inside), "start_mb": vs[0], "end_mb": vs[-1], "growth_mb": vs[-1] - vs[0],
            "max_mb": max(vs), "slope_mb_per_h": slope, "minutes": (ts[-1] - ts[0]) / 60}


# --- errors --------------------------------------------------------------------------------------

@dataclass
class PageErrors:
    """What the browser said went wrong: console errors and uncaught page errors, per session.
    attach() works for Playwright's sync and async pages alike (page.on is the same in both)."""

    console: list = field(default_factory=list)  # {t, session, text, url}
    page: list = field(default_factory=list)
    known: list = field(default_factory=list)  # console errors of streamlit #7074 (KNOWN_STREAMLIT_404)
    warnings: int = 0

    def attach(self, page, session: str) -> None:
        def on_console(msg) -> None:
            if msg.type == "error":
                url = (msg.location or {}).get("url", "")
                record = {"t": time.time(), "session": session, "text": msg.text[:500], "url": url}
                (self.known if is_known_streamlit_404(record) else self.console).append(record)
            elif msg.type == "warning":
                self.warnings += 1

        page.on("console", on_console)
        page.on("pageerror", lambda err: self.page.append({"t": time.time(), "session": session,
                                                            "text": str(err)[:500]}))


def is_known_streamlit_404(error: dict) -> bool:
    """A console error that is streamlit #7074's base-path probe (see KNOWN_STREAMLIT_404)."""
    return "404" in error.get("text", "") and bool(KNOWN_STREAMLIT_404.match(urlsplit(error.get("url", "")).path))


def server_log_problems(path: Path, start_offset: int = 0) -> dict:
    """Lines of the Streamlit server's log (from start_offset) that report a problem: tracebacks,
    uncaught app exceptions and fragments asked for that the server no longer had."""
    try:
        with open(path, "rb") as f:
            f.seek(start_offset)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return {"lines": [], **{k: 0 for k in LOG_PROBLEMS}}
    lines = [line for line in text.splitlines() if any(k in line for k in LOG_PROBLEMS)]
    return {"lines": lines[:50], **{k: sum(k in line for line in lines) for k in LOG_PROBLEMS}}


# --- figures against goals -----------------------------------------------------------------------

@dataclass(frozen=True)
class Goal:
    name: str
    value: float | None  # None: not measured (the line says why)
    target: Target
    unit: str = ""
    note: str = ""

    @property
    def passed(self) -> bool | None:
        if self.value is None or not math.isfinite(self.value):
            return None
        return self.target.met(self.value)

    def line(self) -> str:
        verdict = {True: "pass", False: "MISS", None: "not measured"}[self.passed]
        if self.value is None:
            figure = "-"
        elif float(self.value).is_integer() and not self.unit:
            figure = f"{int(self.value):,}"  # a count
        else:
            figure = f"{self.value:,.{2 if abs(self.value) < 10 else 0}f}"
        spaced = f" {self.unit}" if self.unit and self.unit != "×" else self.unit
        note = f"  ({self.note})" if self.note else ""
        return f"{self.name}: {figure}{spaced if self.value is not None else ''} " \
               f"[goal {self.target.text(self.unit)}] {verdict}{note}"

    def to_json(self) -> dict:
        return {"name": self.name, "value": self.value, "op": self.target.op, "bound": self.target.bound,
                "unit": self.unit, "passed": self.passed, "note": self.note}


def goals_text(goals: list[Goal]) -> str:
    met = sum(g.passed is True for g in goals)
    judged = sum(g.passed is not None for g in goals)
    return "\n".join([*(g.line() for g in goals), f"{met} of {judged} goals met"])


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation between order statistics; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# --- output --------------------------------------------------------------------------------------

def begin(out: Path | None, prefix: str, what: str) -> tuple[Path, dict] | None:
    """How both long benchmarks start: a kill (SIGTERM) unwinds like Ctrl-C, so their trainers, server and
    browser are stopped; without a browser one line and None; else the output folder and the machine, printed."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from . import browserkit  # here, not at the top: tests import this module without a browser
    why = browserkit.browser_missing()
    if why:
        print(f"cannot {what}: {why}", file=sys.stderr)
        return None
    out = out_folder(out, prefix)
    info = machine()
    print(machine_text(info), flush=True)
    return out, info


def end(server_log_lines: list[str], goals: list[Goal], started: float, out: Path) -> int:
    """How both long benchmarks end: the server log's problems, the goals, the time taken and the load."""
    for line in server_log_lines[:10]:
        print(f"  server log: {line[:200]}")
    print(goals_text(goals))
    print(f"{(time.monotonic() - started) / 60:.1f} min; load average at the end "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; results in {out}")
    return 0


def out_folder(path: Path | None, prefix: str) -> Path:
    out = Path(tempfile.mkdtemp(prefix=prefix)) if path is None else path
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def plot_timeline(path: Path, title: str, t_origin: float, rss: dict[str, list[tuple[float, int]]],
                  speeds: dict[str, list[tuple[float, float]]], events: list[tuple[float, str]] = (),
                  spans: list[tuple[float, float, str]] = (), speed_refs: dict[str, float] | None = None,
                  speed_bin: str = "per minute") -> None:
    """Two panels against minutes since t_origin: RSS in MB (one line per process tree) above, trainer
    img/s below; events are dotted vertical lines, spans shaded bands, speed_refs dashed levels."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True, height_ratios=[3, 2])
    for label, samples in rss.items():
        top.plot([(t - t_origin) / 60 for t, _ in samples], [v / MB for _, v in samples], marker="o",
                 markersize=3, label=label)
    for label, series in speeds.items():
        bottom.plot([m for m, _ in series], [v for _, v in series], marker=".", label=label)
    colours = {"headless": "tab:green", "frozen": "tab:blue", "class": "tab:orange", "alone": "tab:green",
               "two trainings": "tab:purple"}
    shaded = set()
    for t0, t1, label in spans:
        key = label.split(" ")[0] if label.split(" ")[0] in colours else label
        for ax in (top, bottom):
            ax.axvspan((t0 - t_origin) / 60, (t1 - t_origin) / 60, alpha=0.12, color=colours.get(key, "grey"),
                       label=label if (ax is top and label not in shaded) else None)
        shaded.add(label)
    for t, label in events:
        for ax in (top, bottom):
            ax.axvline((t - t_origin) / 60, color="grey", linestyle=":", linewidth=1)
        top.annotate(label, ((t - t_origin) / 60, 1), xycoords=("data", "axes fraction"), rotation=90,
                     va="top", ha="right", fontsize=7, color="dimgrey")
    for label, level in (speed_refs or {}).items():
        bottom.axhline(level, linestyle="--", linewidth=1, color="grey")
        bottom.annotate(label, (0, level), xycoords=("axes fraction", "data"), va="bottom", fontsize=7)
    top.set_ylabel("RSS (MB)")
    top.set_title(title, fontsize=10)
    top.legend(fontsize=7, loc="lower right")
    top.grid(alpha=0.3)
    bottom.set_ylabel(f"trainer img/s\n({speed_bin})")
    bottom.set_xlabel("minutes since the benchmark's (first) trainer started")
    bottom.set_ylim(bottom=0)
    bottom.grid(alpha=0.3)
    if speeds:
        bottom.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
