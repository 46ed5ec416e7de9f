"""How far a run is and how fast it goes: step, steps/s, images/s, ETA and the pauses in its metrics.

Read from metrics.jsonl's wall-clock times, so snapshot and checkpoint writes count towards the ETA;
the app's progress line and `python -m dcgan runs` both show what this module says.
"""
from __future__ import annotations

WINDOW = 50  # the newest records the speed is measured over
# the first steps after a (re)start run slow (allocations, kernel choice, the data loading just
# done): a speed that counts them gave "1 h 43 min" for an 8-minute run
WARMUP_STEPS = 5
MIN_MEASURED_STEPS = 10  # no speed (and no ETA) from fewer steps than this after the warm-up
PAUSE_FACTOR, PAUSE_MIN_S = 10.0, 5.0  # a gap this many typical steps long, and at least this, is a pause


def paused_spans(records: list[dict]) -> list[tuple[int, int]]:
    """(step before, step after) for each gap between consecutive records far longer than a typical
    step: a stop and resume, a machine asleep. Records without a time are ignored."""
    timed = [r for r in records if "time" in r and "step" in r]
    gaps = [b["time"] - a["time"] for a, b in zip(timed, timed[1:])]
    if len(gaps) < 3:
        return []
    typical = sorted(gaps)[len(gaps) // 2]
    return [(a["step"], b["step"]) for a, b, gap in zip(timed, timed[1:], gaps)
            if gap > max(PAUSE_FACTOR * typical, PAUSE_MIN_S)]


def _measured(records: list[dict]) -> list[dict]:
    """The newest stretch of steady training: after the last pause, without a (re)start's warm-up."""
    recent = [r for r in records[-WINDOW:] if "time" in r and "step" in r]
    pauses = paused_spans(recent)
    restarted = bool(recent) and recent[0]["step"] <= 1
    if pauses:
        resumed_at = pauses[-1][1]
        recent = [r for r in recent if r["step"] >= resumed_at]
        restarted = True
    if restarted:
        recent = recent[WARMUP_STEPS:]
    return recent if len(recent) > MIN_MEASURED_STEPS else []


def run_progress(metrics: list[dict], status: dict, batch_size: int | None = None) -> dict:
    """Step, total, fraction done, steps/s, images/s and ETA (s) from the newest metrics and status.json;
    speed and ETA are None until enough steps after a (re)start's warm-up have been timed."""
    step = int(status.get("step") or (metrics[-1]["step"] if metrics else 0))
    total = int(status.get("total_steps") or 0)
    out = {"step": step, "total": total, "fraction": min(1.0, step / total) if total else 0.0,
           "steps_per_s": None, "images_per_s": None, "eta_s": None}
    recent = _measured(metrics)
    if len(recent) >= 2 and recent[-1]["time"] > recent[0]["time"]:
        steps_per_s = (recent[-1]["step"] - recent[0]["step"]) / (recent[-1]["time"] - recent[0]["time"])
        if steps_per_s > 0:
            out["steps_per_s"] = steps_per_s
            out["eta_s"] = max(0.0, (total - step) / steps_per_s) if total else None
            if batch_size:
                out["images_per_s"] = steps_per_s * batch_size
    return out


def format_seconds(seconds: float | None) -> str:
    """1 h 02 min, 3 min 05 s, 12 s, or '?' when unknown."""
    if seconds is None:
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def progress_text(progress: dict, active: bool, state: str) -> str:
    """The one-line progress the app's bar and the CLI's `runs` show: step, speed and ETA (or state)."""
    speed = f"{progress['images_per_s']:.0f} images/s" if progress["images_per_s"] else "measuring speed…"
    if not active:  # the speed it ran at, when known: what a finished run's line has always said
        known = f" · {speed}" if progress["images_per_s"] else ""
        return f"step {progress['step']}/{progress['total'] or '?'}{known} · {state}"
    return f"step {progress['step']}/{progress['total'] or '?'} · {speed} · ETA {format_seconds(progress['eta_s'])}"
