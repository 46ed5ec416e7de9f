"""The app sends nothing anywhere (its favicon is shipped), shows no Deploy button, says its upload
limits truly, and every page answers at its own URL."""
from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import streamlit as st

from apptestkit import open_app

from dcgan.analysis.views import Z_UPLOAD_MAX_BYTES

ROOT = Path(__file__).resolve().parents[2]


def config() -> dict:
    return tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())


def test_no_deploy_button_and_an_upload_cap_the_app_means():
    cfg = config()
    assert cfg["client"]["toolbarMode"] == "minimal"
    assert cfg["browser"]["gatherUsageStats"] is False
    assert isinstance(cfg["server"]["maxUploadSize"], int) and cfg["server"]["maxUploadSize"] >= 1


def test_favicon_is_a_shipped_png_and_every_page_has_a_url(app_checkpoints, monkeypatch):
    seen = {}
    set_page_config, navigation = st.set_page_config, st.navigation

    def record_config(**kwargs):
        seen["config"] = kwargs
        return set_page_config(**kwargs)

    def record_pages(pages, **kwargs):
        seen["pages"] = pages
        return navigation(pages, **kwargs)

    monkeypatch.setattr(st, "set_page_config", record_config)
    monkeypatch.setattr(st, "navigation", record_pages)
    at = open_app()
    icon = seen["config"]["page_icon"]
    # a material icon or an emoji short code makes the browser fetch the icon from a font CDN
    assert isinstance(icon, str) and not icon.startswith((":", "http")), icon
    assert (ROOT / icon).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the default page answers at "/" only (its url_path is ""): every page needs a URL of its own too
    pages = seen["pages"]
    for p in pages:
        if p.visibility == "visible":
            assert any(q._page == p._page and q.url_path for q in pages), f"{p.title} has no URL but /"
    served = {p.url_path: p for p in pages}
    assert served["latent"]._page.name == "latent.py" and served[""]._page.name == "latent.py"
    # the z uploader says the app's own limit: Streamlit's 1 MB is 1 MiB, at least the app's byte limit
    at.switch_page("explorer/latent.py").run()
    uploader = [e for e in at.get("file_uploader") if e.proto.label.startswith("Load a z")][0]
    assert uploader.proto.max_upload_size_mb == 1 and Z_UPLOAD_MAX_BYTES <= 2 ** 20
    assert f"{Z_UPLOAD_MAX_BYTES:,} bytes" in uploader.proto.help


def test_start_from_is_offered_only_when_there_is_a_choice(app_checkpoints):
    # with no usable z from the Latent page (here one of another model's length) a seed is the only start:
    # a radio with one option is no choice
    at = open_app("directions")
    at.session_state["latent_z"] = np.zeros(3, dtype=np.float32)
    at.run()
    assert not at.exception
    assert "dir_source" not in [r.key for r in at.radio]
    assert at.number_input(key="dir_seed").value == 0
    at.session_state["latent_z"] = np.zeros(16, dtype=np.float32)  # as the Latent page leaves it for this model
    at.run()
    assert at.radio(key="dir_source").options == ["the Latent page's z", "a seed"]


def test_every_uploader_says_the_limit_the_app_applies(app_checkpoints):
    # Streamlit's "200MB per file" is the server's cap; each uploader but the generator import says its own
    from dcgan.analysis.animation import MAX_SESSION_BYTES
    at = open_app("interpolate")
    session = [e for e in at.get("file_uploader") if e.proto.label.startswith("Or load a session")][0]
    assert session.proto.max_upload_size_mb == 2 and MAX_SESSION_BYTES <= 2 * 2 ** 20
    assert f"{MAX_SESSION_BYTES:,} bytes" in session.proto.help
