"""Fault injection for the crash tests (tests/test_faults.py): inert unless DCGAN_FAULT is set or
arm() is called, and then only at a few named points of the run-directory writers.

A spec is POINT@N=ACTION, several joined by ','. The N-th time this process reaches a point that
matches POINT (a glob; N+ means the N-th time and every time after), ACTION happens:
  stop    SIGSTOP itself, so a test can look at the run directory and then kill -9 it (the default)
  kill    SIGKILL itself
  ENOSPC, EROFS, EACCES, ...   raise that OSError, as a full disk or a read-only folder would

Points: 'write:NAME' halfway through writing the temporary copy of file NAME (every file written whole:
run files, model card, exports), 'replaced:NAME' just after it replaced NAME, 'append:metrics.jsonl' and
'append:eval.jsonl' halfway through a line of that log, 'append:train.log' before a line of the trainer's
output, and 'step' after an optimisation step, before it is logged. Examples:
DCGAN_FAULT='write:checkpoint.pt@2=stop', DCGAN_FAULT='append:eval.jsonl@1=ENOSPC'.
"""
from __future__ import annotations

import errno
import fnmatch
import os
import signal

armed = False  # checked before every hook, so an unarmed process pays one attribute read
_rules: list[dict] = []


def arm(spec: str | None) -> None:
    """Replace the active rules with those of spec ('' or None disarms)."""
    global armed
    rules = []
    for item in filter(None, (s.strip() for s in (spec or "").split(","))):
        where, _, action = item.partition("=")
        point, _, count = where.rpartition("@")
        if not point or not count.rstrip("+").isdigit():
            raise ValueError(f"bad fault spec {item!r}: use POINT@N=ACTION or POINT@N+=ACTION")
        action = action or "stop"
        if action not in ("stop", "kill") and not hasattr(errno, action):
            raise ValueError(f"bad fault action {action!r}: stop, kill or an errno name")
        rules.append({"point": point, "n": int(count.rstrip("+")), "on": count.endswith("+"), "action": action,
                      "hits": 0})
    _rules[:] = rules
    armed = bool(rules)


def hit(point: str) -> None:
    """Count a visit to point and act when a rule says so."""
    for rule in _rules:
        if fnmatch.fnmatchcase(point, rule["point"]):
            rule["hits"] += 1
            if rule["hits"] == rule["n"] or rule["on"] and rule["hits"] > rule["n"]:
                _act(rule["action"])


def half_write(f, data, point: str):
    """Write the first half of data to f, flush it, visit point; returns the half still to write."""
    half = len(data) // 2
    f.write(data[:half])
    f.flush()
    hit(point)
    return data[half:]


def _act(action: str) -> None:
    if action == "stop":
        os.kill(os.getpid(), signal.SIGSTOP)  # the test sends SIGKILL (or SIGCONT)
    elif action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    else:
        code = getattr(errno, action)
        raise OSError(code, os.strerror(code))


arm(os.environ.get("DCGAN_FAULT"))
