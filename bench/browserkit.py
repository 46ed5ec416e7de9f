"""The app in a real browser: Debian's Chromium and a `streamlit run` server, shared by bench/ and the
browser tests (so it imports neither pytest nor Playwright)."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "test-artifacts" / "logs"  # the servers' output, for when a test fails
# Playwright is handed this browser and never downloads one
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SERVER_START_S = 120  # a cold start on 2 cores shared with training
UI_TIMEOUT_MS = 90_000  # a cold first run (torch import) on 2 cores shared with training can take a minute


def browser_missing() -> str | None:
    """Why the browser cannot be driven here, or None."""
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Python Playwright is not installed (pip install -r requirements-dev.txt)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Server:
    url: str  # base URL
    pid: int  # the streamlit process (its own session: the long benchmarks sample its memory)
    log: Path  # its output


@contextlib.contextmanager
def streamlit_server(checkpoints: Path, log_name: str = "streamlit"):
    """`python -m streamlit run streamlit_app.py` on a free port, serving the runs in checkpoints,
    until the block ends; killed even on failure. Yields the base URL."""
    with streamlit_process(checkpoints, log_name) as server:
        yield server.url


@contextlib.contextmanager
def streamlit_process(checkpoints: Path, log_name: str = "streamlit"):
    """streamlit_server's server, yielded as a Server (URL, pid, log file)."""
    port = free_port()
    env = dict(os.environ, DCGAN_CHECKPOINTS=str(checkpoints), PYTHONPATH=str(ROOT))
    LOGS.mkdir(parents=True, exist_ok=True)
    log = open(LOGS / f"{log_name}_{port}.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.3)
        yield Server(url, proc.pid, Path(log.name))
    finally:
        # its own session: the group is streamlit and nothing else we did not start
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
