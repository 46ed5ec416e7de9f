"""The Learn page in a real Chromium (issue 35) on the shipped MNIST model: the model overview, five training
steps taken one sub-step at a time (fifteen presses), and a unit of G switched off, seen to change the digit.

The shipped run is copied to a temporary folder (without its snapshots) and checked unchanged at the end: the
page trains a copy held in the session and writes nothing. Screenshots: test-artifacts/screenshots/learn_*.png."""
from __future__ import annotations

import base64
import hashlib
import io
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from appkit import CHROMIUM, CHROMIUM_ARGS, UI_TIMEOUT_MS, skip_module_without_browser, streamlit_server, wait_for_run_end
from playwright import sync_api  # noqa: E402
from PIL import Image  # noqa: E402

skip_module_without_browser()

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
PARTS = ["G draws a batch, D scores it", "D's update", "G's update"]


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory) -> Path:
    if not (ROOT / "checkpoints" / "mnist" / "discriminator.safetensors").is_file():
        pytest.skip("no shipped MNIST model with its D in checkpoints/mnist")
    root = tmp_path_factory.mktemp("learn") / "checkpoints"
    shutil.copytree(ROOT / "checkpoints" / "mnist", root / "mnist", ignore=shutil.ignore_patterns("snapshots"))
    return root


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def shot(page, name: str, top=None) -> None:
    """The window (Streamlit scrolls its main column, not the page), with the locator top at its top."""
    page.mouse.move(1, 1)  # no button's tooltip over the picture
    if top is not None:
        top.first.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def no_exceptions(page) -> None:
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()


def figure_halves(page) -> tuple[np.ndarray, np.ndarray]:
    """Inside G's figure (the last image on the page) decoded: G(z) and G(z) with the units off, side by side at
    its top."""
    src = page.get_by_test_id("stImage").last.locator("img").get_attribute("src")
    data = base64.b64decode(src.split(",", 1)[1])
    figure = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    side = 168  # units_figure's image_px for 28 px: 6x
    return figure[22:22 + side, 10:10 + side], figure[22:22 + side, 20 + side:20 + 2 * side]


def test_five_steps_one_sub_step_at_a_time_and_a_unit_switched_off(shipped_copy):
    SHOTS.mkdir(parents=True, exist_ok=True)
    before = _digest(shipped_copy)
    with sync_api.sync_playwright() as p, streamlit_server(shipped_copy, "streamlit_learn") as url:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        try:
            page.goto(f"{url}/learn?run=mnist")
            page.get_by_role("heading", name="Learn").wait_for()
            page.get_by_text("The copy is at step 24,000 (0 steps taken here)").wait_for()
            page.locator("[data-testid=stGraphVizChart] svg").first.wait_for()
            wait_for_run_end(page)
            no_exceptions(page)
            shot(page, "learn_start")
            for step in range(1, 6):
                for part, title in enumerate(PARTS, start=1):
                    page.get_by_role("button", name=re.compile(f"^Next sub-step: {re.escape(title)}")).click()
                    heading = page.get_by_text(f"Step {24_000 + step:,}, part {part} of 3: {title}.")
                    heading.wait_for()
                    wait_for_run_end(page)
                    no_exceptions(page)
                    if step == 1 or step == 5 and part == 3:
                        shot(page, f"learn_step{step}_part{part}", page.get_by_role("button", name="Reset"))
            page.get_by_text("at step 24,005 (5 steps taken here)").wait_for()

            # Inside G: the right-hand image (G(z) with the units off) changes when a unit is switched off
            original, ablated_before = figure_halves(page)
            src = page.get_by_test_id("stImage").last.locator("img").get_attribute("src")
            box = page.get_by_role("textbox", name="Units off", exact=True)
            box.fill("22")
            box.press("Enter")
            page.wait_for_function(
                "(old) => { const ims = document.querySelectorAll('[data-testid=stImage] img');"
                " return ims.length && ims[ims.length - 1].src !== old; }", arg=src)
            wait_for_run_end(page)
            no_exceptions(page)
            original_after, ablated = figure_halves(page)
            assert np.array_equal(original_after, original)  # the same z's digit (the region outlined on it)
            assert np.abs(ablated.astype(int) - ablated_before.astype(int)).sum() > 0  # changed with unit 22 off
            shot(page, "learn_unit_off", page.get_by_role("heading", name="Inside G"))
        finally:
            browser.close()
    assert _digest(shipped_copy) == before
