"""The Interpolate page shows a result only under the form that made it: a change of mode, direction
or endpoint hides the last animation until Interpolate is pressed again."""
from __future__ import annotations

from apptestkit import errors, image_urls, open_app
from dcgan import cli

SUBMIT = "FormSubmitter:interp_form-Interpolate"


def test_a_result_is_hidden_once_the_form_changes(app_checkpoints):
    assert cli.main(["directions", str(app_checkpoints / "tiny"), "--method", "sefa"]) == 0
    at = open_app("interpolate")
    at.number_input(key="interp_frames").set_value(6)
    at.button(key=SUBMIT).click().run()
    assert not at.exception and not errors(at)
    assert len(image_urls(at)) == 2
    at.radio(key="interp_mode").set_value("along a saved direction").run()
    assert not at.exception and not errors(at)
    assert image_urls(at) == [], "the animation between two z is shown under 'along a saved direction'"
    assert any("changed since the last animation" in c.value for c in at.caption)
    at.button(key=SUBMIT).click().run()
    assert len(image_urls(at)) == 2 and "along" in at.session_state["interp_result"]["method"]
    at.number_input(key="interp_reach").set_value(2.0).run()
    assert image_urls(at) == []
    at.radio(key="interp_mode").set_value("between two z").run()
    at.number_input(key="interp_seed_End").set_value(5).run()
    assert image_urls(at) == []
