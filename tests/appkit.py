"""The browser tests' side of bench/browserkit.py (the server and Chromium they share with bench/):
skip a browser module where no browser can be driven, or fail in CI, which requires one."""
from __future__ import annotations

import os

import pytest

from bench.browserkit import (  # noqa: F401  (re-exported for the browser tests)
    CHROMIUM, CHROMIUM_ARGS, LOGS, ROOT, SERVER_START_S, UI_TIMEOUT_MS, browser_missing, free_port, streamlit_server)


def skip_module_without_browser() -> None:
    """For a browser test module's top: skip it without the browser, or fail in CI, which requires one."""
    why = browser_missing()
    if why and os.environ.get("DCGAN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{why} and DCGAN_REQUIRE_BROWSER=1", pytrace=False)
    if why:
        pytest.skip(why, allow_module_level=True)


def wait_for_run_end(page) -> None:
    """Until the script run ends, elements of the last run stand where this run's own will be (marked
    stale); a key press or click on one of those (a slider of another view, a button pressed while the
    canvas's last stroke is still being processed) is lost when the run replaces it."""
    page.wait_for_function(
        "() => !document.querySelector('[data-stale=\"true\"]') && !document.querySelector("
        "'[data-testid=stStatusWidgetRunningIcon], [data-testid=stStatusWidgetRunningManIcon]')")
