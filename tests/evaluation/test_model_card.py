"""The model card's training figures: the wall time leaves out the pauses the progress line finds."""
from dcgan.evaluation.model_card import training_figures


def test_a_stop_and_resume_is_not_training_time():
    before = [{"step": s, "time": 1000.0 + s, "images_per_s": 64.0} for s in range(1, 21)]
    after = [{"step": s, "time": 5000.0 + s, "images_per_s": 64.0} for s in range(21, 41)]
    fig = training_figures(before + after)
    assert fig["steps"] == 40 and fig["median_images_per_s"] == 64.0
    assert fig["wall_s"] == 38.0  # 19 + 19 one-second steps; the hour between step 20 and 21 is a pause
    # a steady run of 2-minute steps (a slow machine) is all training: no step is a pause against its own kind
    slow = [{"step": s, "time": 120.0 * s} for s in range(1, 11)]
    assert training_figures(slow)["wall_s"] == 1080.0
