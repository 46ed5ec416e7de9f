"""Five browser sessions on one `streamlit run` server at once (Playwright contexts, Debian's
Chromium): each picks its own run and seed, one uploads a poisoned z, and none sees another's state
or an error. Skipped without /usr/bin/chromium, unless DCGAN_REQUIRE_BROWSER=1 (CI) makes that a failure."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

from appkit import CHROMIUM, skip_module_without_browser, streamlit_server
from playwright import sync_api  # noqa: E402

from dcgan.config import TrainConfig
from dcgan.training.loop import train


skip_module_without_browser()


ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
SESSIONS = 5
UI_TIMEOUT_MS = 300_000  # five cold sessions on two busy cores
TINY = dict(dataset="synthetic", batch_size=16, z_dim=16, g_width=8, d_width=8, grid_size=16, steps=4,
            snapshot_every=2, checkpoint_every=2, log_every=100)


def image_src(page) -> str:
    return page.get_by_test_id("stImage").locator("img").first.get_attribute("src")


def wait_new_image(page, before: str) -> str:
    page.wait_for_function(
        "before => { const i = document.querySelector('[data-testid=stImage] img');"
        " return i && i.getAttribute('src') !== before && i.complete && i.naturalWidth > 0; }",
        arg=before, timeout=UI_TIMEOUT_MS)
    return image_src(page)


def test_five_sessions_at_once_keep_their_own_state(tmp_path):
    root = tmp_path / "checkpoints"
    for name, seed in (("a", 1), ("b", 2)):
        train(TrainConfig(run_name=name, seed=seed, **TINY), root, progress=False, log=lambda _: None)
    SHOTS.mkdir(parents=True, exist_ok=True)
    runs = ["a" if i % 2 == 0 else "b" for i in range(SESSIONS)]
    with streamlit_server(root, "sessions") as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        pages = []
        try:
            for run in runs:  # every session opens before any has finished loading
                page = browser.new_context(viewport={"width": 1300, "height": 1400}).new_page()
                page.set_default_timeout(UI_TIMEOUT_MS)
                page.goto(f"{url}/?run={run}", wait_until="commit")  # Latent is the default page
                pages.append(page)
            for page in pages:
                page.wait_for_function("document.querySelectorAll('[data-testid=stSlider]').length === 16")
            first = [image_src(page) for page in pages]
            for i, page in enumerate(pages):  # all change their seed, without waiting for each other
                seed = page.get_by_label("Seed", exact=True)
                seed.fill(str(100 + i))
                seed.press("Enter")
            shown = [wait_new_image(page, before) for page, before in zip(pages, first)]
            assert len(set(shown)) == SESSIONS  # five runs x seeds, five different images

            # a poisoned z in one session is an error there, and only there
            nan_z = json.dumps({"z": [0.0] * 15}).replace("[", "[NaN, ").encode()
            pages[0].locator("input[type=file]").set_input_files(
                files=[{"name": "z.json", "mimeType": "application/json", "buffer": nan_z}])
            pages[0].get_by_text("Cannot use that z").wait_for()
            good_z = json.dumps({"z": [0.5] * 16}).encode()
            pages[1].locator("input[type=file]").set_input_files(
                files=[{"name": "z.json", "mimeType": "application/json", "buffer": good_z}])
            wait_new_image(pages[1], shown[1])

            for i, page in enumerate(pages):
                page.screenshot(path=str(SHOTS / f"session_{i}.png"))
                assert page.get_by_label("Seed", exact=True).input_value() == str(100 + i)
                assert page.get_by_text(f"G(z) · {runs[i]} · final model").count() == 1
                assert page.get_by_test_id("stException").count() == 0
                assert (page.get_by_text("Cannot use that z").count() > 0) == (i == 0)
            assert [image_src(page) for page in pages[2:]] == shown[2:]  # untouched by the uploads
        except BaseException:
            for i, page in enumerate(pages):
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(SHOTS / f"FAILED_session_{i}.png"))
            raise
        finally:
            browser.close()
