"""The app in headless Chromium: what a Train page left open costs a training run, and how long the
app takes from `streamlit run` to its first page fully drawn.

The server and browser helpers are the browser tests' own (bench/browserkit.py: streamlit_server, the Chromium
path and flags), so the benchmark drives the app exactly as the browser tests do. Playwright is handed
Debian's /usr/bin/chromium and never downloads a browser.
"""
from __future__ import annotations

import contextlib
import re
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import ModuleType

from dcgan.training.launch import start_training, stop_training, wait_for_state
from dcgan.runs.rundir import RunDir

from . import browserkit
from .report import Row, Target, images_per_s, progress
from .throughput import DataChoice, bench_config

TRAINING_WITH_PAGE = Target(">=", 0.95)
COLD_START_S = Target("<=", 6.0)
VIEWPORT = {"width": 1400, "height": 1500}
# a bound on the live run should the benchmark die without stopping it (it is stopped at the end)
TRAINER_STEP_CAP = 20_000
TRAINER_START_S = 180
LIVE_RUN = "live"
MIN_WINDOW_STEPS = 2
STRETCH_LIMIT = 20
STEP_TEXT = re.compile(r"step \d+/\d+")
# the default (Latent) page is done when G's image has loaded and the page's last widget is there
LATENT_PAGE_DRAWN_JS = """() => {
  const img = document.querySelector('[data-testid=stImage] img');
  const sweep = [...document.querySelectorAll('button')].some(b => b.innerText.trim() === 'Sweep');
  return img !== null && img.complete && img.naturalWidth > 0 && sweep;
}"""


def unavailable() -> str | None:
    """Why the browser parts cannot run here, or None."""
    return browserkit.browser_missing()


def launch(playwright, kit: ModuleType):
    return playwright.chromium.launch(executable_path=kit.CHROMIUM, args=kit.CHROMIUM_ARGS)


# --- training while the Train page watches ------------------------------------------------------

def training_window(run: RunDir, batch_size: int, window_s: float) -> tuple[float, int]:
    """img/s of the running trainer over the next window_s, from metrics.jsonl's step times; a window
    too short to hold MIN_WINDOW_STEPS steps (a slow or busy machine) is stretched until it does."""
    start = time.time()
    time.sleep(window_s)
    window = [r for r in run.metrics() if r["time"] >= start]
    while len(window) <= MIN_WINDOW_STEPS:
        if time.time() - start > STRETCH_LIMIT * window_s:
            raise RuntimeError(f"the trainer logged {len(window)} step(s) in {time.time() - start:.0f} s")
        time.sleep(0.5)
        window = [r for r in run.metrics() if r["time"] >= start]
    return images_per_s(window, batch_size), window[-1]["step"] - window[0]["step"]


def app_while_training(data: DataChoice, window_s: float, pairs: int, settle_s: float) -> list[Row]:
    kit = browserkit
    from playwright.sync_api import sync_playwright
    cfg = replace(bench_config(data, 28, 128), run_name=LIVE_RUN, steps=TRAINER_STEP_CAP)
    windows: dict[str, list[tuple[float, int]]] = {"headless": [], "page open": []}
    page_steps = []
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        checkpoints = Path(tmp) / "checkpoints"
        run = start_training(cfg, checkpoints)  # `python -m dcgan train`, as the app's Start does
        try:
            deadline = time.monotonic() + TRAINER_START_S
            while len(run.metrics()) < 3:
                if time.monotonic() > deadline or run.status().get("state") not in ("starting", "running"):
                    raise RuntimeError(f"the trainer did not get going: {run.status()}")
                time.sleep(0.5)
            with kit.streamlit_server(checkpoints) as url, sync_playwright() as playwright:
                for pair in range(pairs):
                    # headless: no browser at all, the streamlit server up and idle
                    time.sleep(settle_s)
                    windows["headless"].append(training_window(run, cfg.batch_size, window_s))
                    browser = launch(playwright, kit)
                    try:
                        page = browser.new_page(viewport=VIEWPORT)
                        page.set_default_timeout(kit.UI_TIMEOUT_MS)
                        page.goto(f"{url}/train?run={LIVE_RUN}")
                        page.get_by_role("heading", name=f"Run {LIVE_RUN}").wait_for()
                        page.get_by_text("this view refreshes every").wait_for()
                        time.sleep(settle_s)  # the page's first full run is loading it, not watching
                        before = page.get_by_text(STEP_TEXT).first.inner_text()
                        windows["page open"].append(training_window(run, cfg.batch_size, window_s))
                        after = page.get_by_text(STEP_TEXT).first.inner_text()
                        page_steps.append((STEP_TEXT.search(before).group(), STEP_TEXT.search(after).group()))
                    finally:
                        browser.close()
                    progress(f"app pair {pair + 1}/{pairs}: headless {windows['headless'][-1][0]:,.0f} img/s, "
                             f"page open {windows['page open'][-1][0]:,.0f} img/s "
                             f"(the page went from {page_steps[-1][0]} to {page_steps[-1][1]})")
        finally:
            stop_training(checkpoints, LIVE_RUN)
            with contextlib.suppress(TimeoutError):
                wait_for_state(run, timeout_s=60)
    return app_rows(windows, page_steps, window_s)


def app_rows(windows: dict[str, list[tuple[float, int]]], page_steps: list[tuple[str, str]],
             window_s: float) -> list[Row]:
    median = {k: statistics.median(rate for rate, _ in v) for k, v in windows.items()}
    per_window = {k: "/".join(f"{rate:,.0f}" for rate, _ in v) for k, v in windows.items()}
    live = all(a != b for a, b in page_steps)
    return [Row("app", "training, Train page open and live vs headless", median["page open"], "img/s",
                median["headless"], "headless", TRAINING_WITH_PAGE,
                f"28 px batch 128 trainer process; medians of {len(page_steps)} alternating {window_s:g} s windows "
                f"(open {per_window['page open']}; headless {per_window['headless']}); headless = browser closed, "
                f"server up and idle; the page {'kept updating' if live else 'DID NOT UPDATE'} "
                f"({', '.join(f'{a} -> {b}' for a, b in page_steps)})",
                extra={"windows": {k: [list(w) for w in v] for k, v in windows.items()}, "page_steps": page_steps})]


# --- cold start ------------------------------------------------------------------------------------

def cold_start(checkpoints: Path, runs: int) -> list[Row]:
    """Seconds from spawning `streamlit run` to the default page fully drawn (G's image loaded and
    the page's last widget present); the browser is started beforehand, as a user's already is."""
    kit = browserkit
    from playwright.sync_api import sync_playwright
    totals, server_up = [], []
    with sync_playwright() as playwright:
        browser = launch(playwright, kit)
        try:
            for i in range(runs):
                context = browser.new_context(viewport=VIEWPORT)
                page = context.new_page()
                page.set_default_timeout(kit.UI_TIMEOUT_MS)
                start = time.perf_counter()
                with kit.streamlit_server(checkpoints) as url:
                    server_up.append(time.perf_counter() - start)
                    page.goto(url)
                    page.wait_for_function(LATENT_PAGE_DRAWN_JS)
                    totals.append(time.perf_counter() - start)
                context.close()
                progress(f"cold start {i + 1}/{runs}: {totals[-1]:.2f} s (server answering after {server_up[-1]:.2f} s)")
        finally:
            browser.close()
    return [Row("coldstart", "streamlit run -> first page drawn, median", statistics.median(totals), "s",
                target=COLD_START_S,
                detail=f"{len(totals)} starts {'/'.join(f'{t:.2f}' for t in totals)} s; server answered its health "
                       f"check after {'/'.join(f'{t:.2f}' for t in server_up)} s; page: Latent on "
                       f"{checkpoints.name}/mnist, G's image loaded + Sweep button; server as the browser tests "
                       "start it (headless, file watcher off)",
                extra={"totals_s": totals, "server_up_s": server_up})]
