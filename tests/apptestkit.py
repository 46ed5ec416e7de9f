"""The app under Streamlit's AppTest (in this process, no browser): open it on a page, as every
page-level test does. The app_env fixture that points it at a checkpoints folder is in conftest.py."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
TIMEOUT_S = 120  # torch import and a busy 2-core machine


def open_app(page: str | None = None, run: str | None = None) -> AppTest:
    """The app after its first run, with run picked in the sidebar and then page opened."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.run()
    if run:
        at.selectbox(key="run").set_value(run).run()
    if page:
        at.switch_page(f"explorer/{page}.py").run()
    assert not at.exception, at.exception
    return at


def image_urls(at: AppTest) -> list[str]:
    return [url for im in at.get("image") for url in im.value]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]
