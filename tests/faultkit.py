"""Helpers for the fault and hostile-input suites: trainer processes that start in a fraction of a
second, with a fault armed, and checks that a run directory holds only complete files.

Trainer processes are forked from a multiprocessing fork server that has imported torch once
(a fresh `python -m dcgan` costs seconds of imports on a busy machine); each one runs exactly the
CLI's code path, `dcgan.cli.main(argv)`, with its output in a log file, and is a process of its own
that a test can stop, kill -9 and wait for.
"""
from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path

_CTX = None


def _context():
    global _CTX
    if _CTX is None:
        _CTX = multiprocessing.get_context("forkserver")
        # imported once in the server, never run there: children fork with no torch threads started
        _CTX.set_forkserver_preload(["torch", "dcgan.cli", "dcgan.training.loop", "faultkit"])
    return _CTX


def _child(argv: list[str], fault: str | None, log_path: str) -> None:
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    import torch
    from dcgan import cli
    from dcgan import faults
    torch.set_num_threads(1)  # bitwise the same results in every trainer, however busy the machine
    faults.arm(fault)
    sys.exit(cli.main(argv))


class Trainer:
    """`python -m dcgan ARGV` as a forked process, optionally with DCGAN_FAULT-style fault spec."""

    def __init__(self, argv: list[str], log_path: Path, fault: str | None = None):
        self.log_path = Path(log_path)
        self.proc = _context().Process(target=_child, args=(list(argv), fault, str(log_path)), daemon=True)
        self.proc.start()
        self.pid = self.proc.pid

    def state(self) -> str:
        """The process state letter from /proc (R, S, T = stopped, Z), or '' once it is gone."""
        try:
            return Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return ""

    def wait_stopped_or_exit(self, timeout_s: float = 120.0) -> str:
        """'stopped' when it reached its fault point (SIGSTOP), 'exited' when it ended first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.exitcode is not None or self.state() in ("", "Z", "X"):
                self.proc.join(10)
                return "exited"
            if self.state() == "T":
                return "stopped"
            time.sleep(0.02)
        raise TimeoutError(f"trainer {self.pid} neither stopped nor exited: {self.log()}")

    def kill9(self) -> int:
        os.kill(self.pid, signal.SIGKILL)
        self.proc.join(30)
        return self.proc.exitcode

    def cont(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def join(self, timeout_s: float = 180.0) -> int:
        self.proc.join(timeout_s)
        if self.proc.exitcode is None:
            self.kill9()
            raise TimeoutError(f"trainer {self.pid} still running after {timeout_s} s: {self.log()}")
        return self.proc.exitcode

    def log(self) -> str:
        try:
            return self.log_path.read_text()[-3000:]
        except OSError:
            return ""

    def ensure_gone(self) -> None:
        if self.proc.exitcode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.join(30)


def call_in_child(target, *args, timeout_s: float = 120.0):
    """Run target(*args, out_path) in a forked process; returns what it wrote to out_path."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        proc = _context().Process(target=target, args=(*args, str(out)))
        proc.start()
        proc.join(timeout_s)
        if proc.exitcode is None:
            proc.kill()
            proc.join()
        assert proc.exitcode == 0, f"child failed with {proc.exitcode}"
        return out.read_text()


def one_line_error(result: tuple[int, str, str], *fragments: str) -> str:
    """A CLI result (cli_out) that failed with exactly one line on stderr holding every fragment; that line."""
    code, _, err = result
    assert code != 0
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


def cli_out(*argv: str) -> tuple[int, str, str]:
    """The CLI in this process: exit code, stdout, stderr (its SIGINT/SIGTERM handlers undone after)."""
    from dcgan import cli
    out, err = io.StringIO(), io.StringIO()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main([str(a) for a in argv])
            except SystemExit as e:  # argparse's own errors
                code = e.code
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    return code, out.getvalue(), err.getvalue()
