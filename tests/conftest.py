"""Settings every test shares."""
import os
import tempfile
from pathlib import Path

import pytest

# decoded image folders are cached in the user's ~/.cache; tests keep theirs apart (and start empty),
# trainer subprocesses included, since they inherit the environment
os.environ["DCGAN_CACHE_DIR"] = tempfile.mkdtemp(prefix="dcgan-test-cache-")


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
