"""The app in a real browser: `streamlit run` on a free port, driven by Debian's Chromium via Playwright.

Visits every page on a temporary checkpoints folder, moves a z slider with the keyboard, downloads
an interpolation GIF and counts its frames, scrubs a snapshot, and launches a tiny training run
from the Train page; then, when a shipped model exists, opens checkpoints/ read-only. Screenshots
go to test-artifacts/screenshots/. Playwright never downloads a browser here: it is given
/usr/bin/chromium, and the module is skipped without it."""
from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from appkit import CHROMIUM, CHROMIUM_ARGS, UI_TIMEOUT_MS, skip_module_without_browser, streamlit_server, wait_for_run_end
from playwright import sync_api  # noqa: E402
from PIL import Image  # noqa: E402

from dcgan.config import TrainConfig
from dcgan.training.launch import wait_for_state
from dcgan.runs.rundir import RunDir
from dcgan.training.loop import train


skip_module_without_browser()


ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
TINY = dict(dataset="synthetic", batch_size=16, z_dim=16, g_width=16, d_width=16, log_every=100)


@pytest.fixture(scope="module")
def browser_checkpoints(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser") / "checkpoints"
    train(TrainConfig(run_name="tiny", steps=8, snapshot_every=2, checkpoint_every=4, **TINY), root,
          progress=False, log=lambda _: None)
    return root


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def app(browser_checkpoints, browser):
    """A page on the tiny-run server; yields (page, base url)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server(browser_checkpoints) as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1500}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        try:
            yield page, url
        finally:
            context.close()


@contextlib.contextmanager
def shipped_app(browser, test_name: str):
    """A page on a server of the repository's own checkpoints/ (the shipped models); yields (page, base
    url). A failure leaves a screenshot named after the test, as the `app` fixture's tests do."""
    with streamlit_server(ROOT / "checkpoints", f"streamlit_{test_name}") as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1500}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        try:
            yield page, url
        except Exception:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(SHOTS / f"FAILED_{test_name}.png"))
            raise
        finally:
            context.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def no_exceptions(page) -> None:
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()


def go_to(page, url: str, title: str, heading: str) -> None:
    """Navigate with the sidebar, as a user would; a fresh page (a test run alone) loads the app first."""
    if not page.url.startswith(url):
        page.goto(url)
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    page.get_by_role("heading", name=heading).wait_for()


def first_image_src(page) -> str:
    img = page.get_by_test_id("stImage").locator("img").first
    img.wait_for()
    return img.get_attribute("src")


def wait_src_change(page, before: str, timeout_ms: int = UI_TIMEOUT_MS) -> str:
    """Wait for the first image to have a new source that has loaded (a broken image never does)."""
    page.wait_for_function(
        "before => { const i = document.querySelector('[data-testid=stImage] img');"
        " return i && i.getAttribute('src') !== before && i.complete && i.naturalWidth > 0; }",
        arg=before, timeout=timeout_ms)
    return first_image_src(page)


def move_slider_until_image_changes(page, index: int, key: str, presses: int = 10) -> str:
    """Arrow keys on the index-th slider until the first image changes.

    A key press that lands while the app is still busy with its first (cold, torch-importing) run
    can be lost on a loaded machine, so a few rounds are tried before failing.
    """
    before = first_image_src(page)
    for attempt in range(3):
        page.get_by_test_id("stSlider").nth(index).get_by_role("slider").focus()
        for _ in range(presses):
            page.keyboard.press(key)
        try:
            return wait_src_change(page, before, UI_TIMEOUT_MS // 3)
        except sync_api.TimeoutError:
            if attempt == 2:
                raise


def choose_option(page, label: str, option: str) -> None:
    """Pick a selectbox option; a click that lands during a rerun may not open the list, so retry."""
    for attempt in range(3):
        page.get_by_role("combobox", name=label).click()
        try:
            page.get_by_role("option", name=option).click(timeout=UI_TIMEOUT_MS // 4)
            return
        except sync_api.TimeoutError:
            page.keyboard.press("Escape")
            if attempt == 2:
                raise


def test_latent_slider_changes_the_image(app):
    page, url = app
    page.goto(url)
    page.get_by_role("heading", name="Latent space").wait_for()
    # the elements stream in as the script runs: wait for all 16 sliders, not just the first few
    page.wait_for_function("document.querySelectorAll('[data-testid=stSlider]').length === 16")
    move_slider_until_image_changes(page, 0, "ArrowRight")
    # the image is upscaled on the server (28 px x 10), not blurred up by the browser
    page.wait_for_function("() => { const i = document.querySelector('[data-testid=stImage] img');"
                           " return i && i.complete && i.naturalWidth === 280; }")
    no_exceptions(page)
    shot(page, "latent")


def interpolate_and_download(page, path: Path) -> Path:
    """Press Interpolate, then save what the GIF download button gives, as a user's browser would."""
    page.get_by_role("button", name="Interpolate").click()
    button = page.get_by_role("button", name="Download GIF")
    button.wait_for()
    with page.expect_download() as info:
        button.click()
    info.value.save_as(path)
    return path


def test_interpolation_gif_download_has_the_requested_frames(app, tmp_path):
    page, url = app
    go_to(page, url, "Interpolate", "Interpolate")
    frames = page.get_by_label("Frames", exact=True)
    frames.fill("12")
    frames.press("Tab")
    with Image.open(interpolate_and_download(page, tmp_path / "interpolation.gif")) as im:
        assert im.format == "GIF" and im.n_frames == 12
    no_exceptions(page)
    shot(page, "interpolate")


def test_progress_scrubs_a_snapshot(app):
    page, url = app
    go_to(page, url, "Progress", "Training progress")
    caption = page.get_by_text("G(fixed z) at step 8 (5/5)")
    caption.wait_for()
    page.get_by_test_id("stSlider").first.get_by_role("slider").focus()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.get_by_text("G(fixed z) at step 4 (3/5)").wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    # Play advances the snapshot on a timer, Pause leaves it where it is
    page.get_by_text("Play", exact=True).click()
    page.get_by_text("G(fixed z) at step 6 (4/5)").wait_for()
    page.get_by_text("Play", exact=True).click()
    page.wait_for_timeout(1500)
    caption = page.get_by_text("G(fixed z) at step").inner_text()
    page.wait_for_timeout(1500)
    assert page.get_by_text("G(fixed z) at step").inner_text() == caption
    no_exceptions(page)
    shot(page, "progress")


def test_training_launched_from_the_train_page(app, browser_checkpoints):
    page, url = app
    go_to(page, url, "Train", "Train")
    page.get_by_text("New run", exact=True).click()
    choose_option(page, "Dataset", "synthetic shapes")
    for label, value in [("Steps", "6"), ("Batch size", "8"), ("Snapshot every (steps)", "2"),
                         ("Checkpoint every (steps)", "2"), ("Run name", "from-browser")]:
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Tab")
    page.get_by_text("Model", exact=True).click()
    for label in ("z_dim", "G width", "D width"):
        box = page.get_by_label(label, exact=True)
        box.fill("8")
        box.press("Tab")
    shot(page, "train_form")
    page.get_by_role("button", name="Start training").click()
    page.get_by_role("heading", name="Run from-browser").wait_for()
    # the trainer needs seconds to import torch: the page shows the run as active first
    page.get_by_text("this view refreshes every").wait_for()
    shot(page, "train_running")
    run = RunDir(browser_checkpoints / "from-browser")
    assert wait_for_state(run, timeout_s=240)["state"] == "finished"
    # the live view notices the end on its own timer and redraws the page
    page.get_by_text("step 6/6").wait_for(timeout=UI_TIMEOUT_MS)
    page.get_by_text("newest snapshot: step 6").wait_for()
    assert page.locator(".js-plotly-plot").count() >= 2
    assert "finished" in page.get_by_test_id("stTable").inner_text()
    no_exceptions(page)
    shot(page, "train")


def test_shipped_model_read_only(browser, tmp_path):
    shipped = ROOT / "checkpoints"
    if not (shipped / "mnist" / "generator.safetensors").is_file():
        pytest.skip("no shipped model in checkpoints/mnist yet")
    with shipped_app(browser, "test_shipped_model_read_only") as (page, url):
        page.goto(url)
        page.get_by_role("heading", name="Latent space").wait_for()
        page.get_by_test_id("stSlider").first.wait_for()
        # 100 components: five expanders of 20 sliders, the first one open
        assert page.get_by_test_id("stExpander").count() >= 5
        move_slider_until_image_changes(page, 5, "ArrowLeft", presses=20)
        no_exceptions(page)
        shot(page, "shipped_latent")
        page.get_by_role("button", name="Sweep").click()
        sweep = page.get_by_role("button", name="Sweep PNG")
        sweep.wait_for()
        sweep.scroll_into_view_if_needed()
        no_exceptions(page)
        shot(page, "shipped_sweep")
        go_to(page, url, "Progress", "Training progress")
        page.get_by_test_id("stImage").first.wait_for()
        page.locator(".js-plotly-plot").first.wait_for()
        no_exceptions(page)
        shot(page, "shipped_progress")
        # the presentation case: the default 64-frame slerp GIF between two seeds
        go_to(page, url, "Interpolate", "Interpolate")
        assert page.get_by_label("Frames", exact=True).input_value() == "64"
        with Image.open(interpolate_and_download(page, tmp_path / "shipped.gif")) as im:
            assert im.format == "GIF" and im.n_frames == 64 and im.info.get("loop") == 0
            assert im.size == (28 * 6, 28 * 6)
        no_exceptions(page)
        shot(page, "shipped_interpolate")
        # a shipped run on the Train page: explorable, not resumable, and the page says why
        go_to(page, url, "Train", "Train")
        page.get_by_text("Resume is off").wait_for()
        assert page.get_by_role("button", name="Resume", exact=True).is_disabled()
        assert page.get_by_role("button", name="Delete", exact=True).is_disabled()
        # the "All runs" fragment draws after the rest: without this wait the shot shows its grey placeholder
        assert "faces" in page.get_by_test_id("stTable").inner_text()
        no_exceptions(page)
        shot(page, "shipped_train")
        go_to(page, url, "Quality", "Quality")
        page.get_by_text("Full evaluation").wait_for()
        page.get_by_test_id("stDataFrame").first.wait_for()
        no_exceptions(page)
        shot(page, "shipped_quality")


def images_overflowing_their_column(page) -> list[str]:
    """The images on the page wider than the column that holds them (by their drawn boxes), as 'src width'."""
    return page.evaluate("""() => [...document.querySelectorAll('[data-testid="stImage"] img')].flatMap(img => {
        const column = img.closest('[data-testid="stColumn"]');
        if (!column) return [];
        const inner = img.getBoundingClientRect(), outer = column.getBoundingClientRect();
        return inner.right > outer.right + 1 ? [img.src.slice(0, 30) + '… ' + inner.width + ' px'] : [];
    })""")


def test_directions_on_the_shipped_faces(browser):
    """Issue 16 as a user meets it: the faces model's smile direction moves the face, and the Latent page puts
    the components that move the image most first."""
    shipped = ROOT / "checkpoints"
    if not (shipped / "faces" / "directions_labels.json").is_file():
        pytest.skip("no shipped faces model with its labelled directions")
    with shipped_app(browser, "test_directions_on_the_shipped_faces") as (page, url):
        page.goto(f"{url}/directions?run=faces")
        page.get_by_role("heading", name="Directions").wait_for()
        page.get_by_text("labelled (classifier)", exact=True).click()
        page.get_by_text("From 5,000 images of G labelled by").wait_for()
        page.get_by_text("toward smiling from −4 to +4").wait_for()  # the strip's caption
        wait_for_run_end(page)
        # the Amount slider: the image is G(z + amount x smile) and changes as it moves
        move_slider_until_image_changes(page, 0, "ArrowRight", presses=30)
        page.get_by_text("What D believes").wait_for()
        no_exceptions(page)
        shot(page, "directions_faces")
        go_to(page, url, "Latent", "Latent space")
        page.get_by_text("most sensitive first", exact=True).click()
        page.get_by_text("most sensitive 1–20").wait_for()
        page.get_by_text("Sensitivity at this z").click()
        page.get_by_text("Where does it act?").wait_for()
        page.locator(".js-plotly-plot").first.wait_for()
        no_exceptions(page)
        shot(page, "latent_sensitivity_faces")
        # the 640 px face stays inside its half of the page instead of running over the sliders beside it
        assert images_overflowing_their_column(page) == [], "an image runs out of its column"
        # the digits: "toward 0" from seed 0's z, and what D believes
        page.goto(f"{url}/directions?run=mnist")
        page.get_by_role("heading", name="Directions").wait_for()
        page.get_by_text("labelled (classifier)", exact=True).click()
        page.get_by_text("toward 0 from −4 to +4").wait_for()
        wait_for_run_end(page)
        move_slider_until_image_changes(page, 0, "ArrowRight", presses=40)
        page.get_by_test_id("stSlider").first.get_by_text("4.00").wait_for()  # all 40 presses landed
        page.get_by_text("G(z + 4 · toward 0)").wait_for()
        page.get_by_text("The image above scores").wait_for()  # the caption that ranks it
        no_exceptions(page)
        shot(page, "directions_mnist")
