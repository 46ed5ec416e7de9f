"""Settings every test shares."""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# decoded image folders are cached in the user's ~/.cache; tests keep theirs apart (and start empty),
# trainer subprocesses included, since they inherit the environment
os.environ["DCGAN_CACHE_DIR"] = tempfile.mkdtemp(prefix="dcgan-test-cache-")

from trainkit import APP_TINY, NEWCOMER_TINY, TINY, TinyConfig, quiet, stop_at  # noqa: E402  (after the cache setting: it imports dcgan)


@pytest.fixture
def app_env(monkeypatch):
    """use(root): the app (AppTest runs it in this process) reads its runs from root, with no generator
    cached by an earlier test; the cache is cleared again afterwards."""
    import streamlit as st  # here: most tests never touch the app

    def use(root: Path) -> None:
        monkeypatch.setenv("DCGAN_CHECKPOINTS", str(root))
        st.cache_resource.clear()
    yield use
    st.cache_resource.clear()


@pytest.fixture(scope="session")
def tiny() -> TinyConfig:
    """tiny(name, **changes): the suite's one tiny TrainConfig (trains in about a second on CPU);
    tiny.but(**changes) for a variant (trainkit.py)."""
    return TINY


@pytest.fixture(scope="session")
def app_tiny_checkpoints(tmp_path_factory) -> Path:
    """A checkpoints folder with one small finished run, 'tiny', with 5 snapshots with weights."""
    from dcgan.training.loop import train
    root = tmp_path_factory.mktemp("app_checkpoints")
    train(APP_TINY("tiny", steps=12, snapshot_every=3, checkpoint_every=6), root, progress=False, log=lambda _: None)
    return root


@pytest.fixture
def app_checkpoints(app_tiny_checkpoints, tmp_path, app_env) -> Path:
    """A private copy of the tiny run's folder, which a test may add broken runs to; the app reads it."""
    root = tmp_path / "checkpoints"
    shutil.copytree(app_tiny_checkpoints, root)
    app_env(root)
    return root


@pytest.fixture
def stopped(tmp_path):
    """A run of 12 steps stopped at step 5, with a checkpoint there (a RunDir)."""
    from dcgan.runs.rundir import RunDir
    from dcgan.training.loop import train
    run = RunDir(tmp_path / "s")
    assert train(NEWCOMER_TINY("s", steps=12), tmp_path, progress=False, log=quiet, step_fn=stop_at(5, run)) == "stopped"
    return run


def pytest_collection_modifyitems(config, items):
    """Every AppTest (it asks for app_env) is slow: a page's first run imports torch and draws it whole;
    everything under tests/browser/ drives Chromium."""
    browser_dir = Path(__file__).parent / "browser"
    for item in items:
        if browser_dir in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)
        elif "app_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
