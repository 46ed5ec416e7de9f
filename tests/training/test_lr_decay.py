"""The learning-rate decay option (lr_decay_from): constant, then linear towards 0 at the last step;
recorded in metrics.jsonl, taken up exactly by a resume, and refused beside seed 000's balancing."""
from __future__ import annotations

import pytest

from dcgan.config import ConfigError, TrainConfig, resume_fields
from dcgan.runs.checkpoint import load_training_state
from dcgan.evaluation.model_card import model_card
from dcgan.runs.rundir import RunDir
from dcgan.training.balance import decayed_lr
from dcgan.training.loop import train
from dcgan.training.resume import resume_config
from dcgan.training.step import train_step

from trainkit import STABILISER_TINY as tiny, quiet, states_equal


def test_the_rate_is_constant_then_falls_linearly_to_a_last_small_step():
    rates = [decayed_lr(1.0, s, 8, 0.5) for s in range(8)]
    assert rates == [1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25]
    assert [decayed_lr(2e-4, s, 8, 1.0) for s in range(8)] == [2e-4] * 8  # 1 = off
    assert decayed_lr(1.0, 0, 8, 0.0) == 1.0 and decayed_lr(1.0, 7, 8, 0.0) == 1 / 8


def test_a_decaying_run_records_its_rates_and_resumes_bit_identical(tmp_path):
    kw = dict(lr_decay_from=0.5, lr_d=4e-4, lr_g=1e-4, ema_decay=0.9)
    assert train(tiny("whole", **kw), tmp_path, progress=False, log=quiet) == "finished"
    rows = RunDir(tmp_path / "whole").metrics()
    assert [r["lr_d"] for r in rows] == pytest.approx([4e-4 * k for k in (1, 1, 1, 1, 1, 0.75, 0.5, 0.25)])
    assert [r["lr_g"] for r in rows][-1] == pytest.approx(1e-4 / 4)

    part = RunDir(tmp_path / "part")

    def stop_at_6(*args):  # inside the decay
        stats = train_step(*args)
        if len(part.metrics()) + 1 >= 6:
            part.request_stop()
        return stats

    assert train(tiny("part", **kw), tmp_path, progress=False, log=quiet, step_fn=stop_at_6) == "stopped"
    assert train(resume_config(tmp_path, "part", more=2), tmp_path, resume=True, progress=False, log=quiet) \
        == "finished"
    whole, resumed = (load_training_state(tmp_path / name / "checkpoint.pt") for name in ("whole", "part"))
    assert resumed["step"] == 8
    for key in ("G", "D", "G_ema"):
        assert states_equal(whole[key], resumed[key]), key
    assert [r["lr_d"] for r in part.metrics()] == [r["lr_d"] for r in rows]
    assert "decaying linearly to 0 from 50% of the steps" in model_card(part.path)


@pytest.mark.parametrize("values, message", [
    (dict(lr_decay_from=1.5), "lr_decay_from=1.5: must be [0, 1]"),
    (dict(lr_decay_from=0.5, adaptive_lr=True), "lr_decay_from=0.5: adaptive_lr sets the learning rates too"),
])
def test_bad_decay_values_fail_in_one_line(values, message):
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict(values)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_the_default_is_constant_and_a_resume_may_change_the_decay():
    assert TrainConfig().lr_decay_from == 1.0  # pytorch/examples' constant rates
    assert "lr_decay_from" in resume_fields()
