"""Whether a trainer process still runs: its pid, told apart from a later process given the same pid."""
from __future__ import annotations

import os
import time


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


def process_started_at(pid: int | None = None) -> float | None:
    """When process pid (default: this one) started, as a time.time() value, from /proc; None where
    /proc is not there. Its age is measured on the boot clock /proc counts in, which wall-clock
    changes do not move."""
    start = process_start(os.getpid() if pid is None else pid)
    if start is None:
        return None
    age = time.clock_gettime(time.CLOCK_BOOTTIME) - start / os.sysconf("SC_CLK_TCK")
    return time.time() - age
