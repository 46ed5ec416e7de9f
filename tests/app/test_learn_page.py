"""The Learn page under AppTest: the model overview, slow-motion training one sub-step at a time and in whole
steps, reset, a run without D, Inside G with units switched off, and every bad input as a message."""
from __future__ import annotations

import hashlib

import torch

from dcgan.nets.models import Generator
from dcgan.runs.importer import import_generator_file
from explorer.slow_motion_view import COPY, RUNNING

from apptestkit import errors, image_urls, open_app


def _digest(root) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _texts(at) -> str:
    return "\n".join(m.value for m in [*at.markdown, *at.caption, *at.info, *at.warning, *at.error])


def test_three_sub_steps_show_each_part_and_never_write_the_run(app_checkpoints):
    before = _digest(app_checkpoints)
    at = open_app("learn")
    assert at.title[0].value == "Learn"
    assert len(at.get("graphviz_chart")) == 1
    assert "The copy is at step 12 (0 steps taken here)" in _texts(at)
    assert "starts from the run's checkpoint at step 12" in _texts(at)
    shown = []
    for part, title in enumerate(["G draws a batch, D scores it", "D's update", "G's update"], start=1):
        at.button(key="learn_next").click().run()
        assert not at.exception, at.exception
        assert f"**Step 13, part {part} of 3: {title}.**" in _texts(at)
        shown.append(len(image_urls(at)))
    # real and fake batches, then the same, then the gradient maps and G's images after its update too
    assert shown[0] == shown[1] and shown[2] == shown[1] + 2
    assert "Where D tells G to change" in _texts(at) and "loss_D" in _texts(at)
    assert at.button(key="learn_next").label == "Next sub-step: G draws a batch, D scores it"
    assert _digest(app_checkpoints) == before


def test_whole_steps_and_reset(app_checkpoints):
    at = open_app("learn")
    at.button(key="learn_next").click().run()  # a step begun: "10 steps" finishes it first
    at.button(key="learn_steps_10").click().run()
    assert not at.exception, at.exception
    assert "**Step 22, part 3 of 3: G's update.**" in _texts(at)
    assert "at step 22 (10 steps taken here)" in _texts(at)
    at.button(key="learn_reset").click().run()
    assert "at step 12 (0 steps taken here)" in _texts(at) and not errors(at)


def test_a_reset_or_a_step_while_steps_run_is_a_message(app_checkpoints):
    at = open_app("learn")
    held = at.session_state[COPY][1]
    held._lock.acquire()  # another run of this session's script is in the middle of steps
    try:
        at.button(key="learn_next").click().run()
        assert not at.exception, at.exception
        assert "still running" in _texts(at)
        at.session_state[RUNNING] = 100
        at.button(key="learn_reset").click().run()
        assert not at.exception, at.exception
        assert "The steps that were running were stopped; the copy is back at the run's weights." in _texts(at)
        assert at.session_state[COPY][1] is not held
    finally:
        held._lock.release()
    # steps interrupted by a click (the page reran while they ran): said on the next run, the copy kept
    at.session_state[RUNNING] = 10
    at.run()
    assert "The 10 steps asked for were interrupted" in _texts(at) and not at.exception


def test_a_run_without_d_gets_a_sentence_and_inside_g(app_checkpoints, tmp_path):
    weights = tmp_path / "netG.pth"
    torch.save(Generator(z_dim=100, image_size=64, channels=3).state_dict(), weights)
    import_generator_file(weights, app_checkpoints, "imported")
    at = open_app("learn", run="imported")
    assert not at.exception, at.exception
    assert "Slow-motion training needs the run's discriminator" in _texts(at)
    assert "no D:" in _texts(at)  # the overview says why it stops at the image
    assert at.get("button") and not any(b.key == "learn_next" for b in at.button)
    assert len(image_urls(at)) == 1  # Inside G's figure


def test_inside_g_units_off_and_bad_units(app_checkpoints):
    at = open_app("learn")
    assert at.selectbox(key="learn_layer").value == 2  # the middle one of the tiny G's two
    layer2 = image_urls(at)[-1]
    at.selectbox(key="learn_layer").set_value(1).run()
    assert image_urls(at)[-1] != layer2
    at.selectbox(key="learn_layer").set_value(2).run()
    assert image_urls(at)[-1] == layer2
    at.text_input(key="learn_off").set_value("0, 3").run()
    assert not errors(at) and image_urls(at)[-1] != layer2
    at.text_input(key="learn_off").set_value("3, 99").run()
    assert errors(at) == ["unit 99 is outside 0..15 (layer 2: 16 units of 14x14). The image is shown with no units "
                          "off."]
    assert image_urls(at)[-1] == layer2
    at.text_input(key="learn_off").set_value("three").run()
    assert "whole numbers" in errors(at)[0] and not at.exception


def test_inside_g_region_top_k_and_an_empty_region(app_checkpoints):
    at = open_app("learn")
    at.number_input(key="learn_region_k").set_value(2).run()
    at.button(key="learn_region_go").click().run()
    off = at.text_input(key="learn_off").value
    assert len(off.split(",")) == 2 and not errors(at)
    at.slider(key="learn_region_rows").set_value((9, 9)).run()
    at.button(key="learn_region_go").click().run()
    assert not at.exception
    assert [w.value for w in at.warning] == ["the region is empty: pick a rectangle inside the 28×28 image"]
    assert at.text_input(key="learn_off").value == off  # unchanged


def test_units_that_change_the_class_without_a_classifier_is_a_message(app_checkpoints):
    at = open_app("learn")  # the tiny run draws synthetic shapes: no evaluator judges them
    at.button(key="learn_class_go").click().run()
    assert not at.exception, at.exception
    assert any(i.value.startswith("finding the units that change the class needs the evaluator's classifier")
               and "not 'synthetic'" in i.value for i in at.info), [i.value for i in at.info]
