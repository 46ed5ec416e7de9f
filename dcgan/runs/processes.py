"""Whether a trainer process still runs: its pid, told apart from a later process given the same pid (psutil)."""
from __future__ import annotations

import psutil

# psutil's start time is boot time plus the ticks since boot, and the boot time it reads may move with a clock
# adjustment: two processes can see one process's start a second apart. A pid reused within a second of its
# last owner's start does not happen, so that much difference is still the same process.
START_TOLERANCE = 100  # hundredths of a second


def process_start(pid: int) -> int | None:
    """When process pid started, in hundredths of a second since the epoch (an int, as status.json keeps
    it), to tell it from a later process that got the same pid; None when there is no such process."""
    try:
        return round(psutil.Process(pid).create_time() * 100)
    except (psutil.Error, ValueError, OverflowError):
        return None


def pid_alive(pid: int | None, start: int | None = None) -> bool:
    """Whether process pid runs (not a zombie) and, given its start time, is still that process."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        p = psutil.Process(pid)
        if start is not None and abs(round(p.create_time() * 100) - start) > START_TOLERANCE:
            return False  # the pid was reused by a process started later
        # a zombie child (exited, not yet reaped by the app that launched it) is not running
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.AccessDenied:
        return True
    except (psutil.Error, ValueError, OverflowError):
        return False


def process_started_at(pid: int | None = None) -> float | None:
    """When process pid (default: this one) started, as a time.time() value; None when it is gone."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, ValueError, OverflowError):
        return None
