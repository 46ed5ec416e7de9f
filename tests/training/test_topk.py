"""Top-k training (g_topk): G's loss counts only the fakes D rates most real (Sinha et al. 2020)."""
from __future__ import annotations

import math

import pytest
import torch

from dcgan.config import ConfigError, TrainConfig, resume_fields
from dcgan.nets.losses import g_relativistic_loss, top_k_fakes
from dcgan.runs.checkpoint import load_training_state
from dcgan.evaluation.model_card import model_card
from dcgan.runs.rundir import RunDir
from dcgan.training.loop import train

from trainkit import STABILISER_TINY as tiny, quiet, states_equal


def test_the_fakes_d_rates_highest_are_kept_with_their_paired_reals():
    real, fake = torch.tensor([10.0, 11.0, 12.0, 13.0, 14.0]), torch.tensor([0.5, -2.0, 3.0, 1.0, -1.0])
    kept_real, kept_fake = top_k_fakes(real, fake, 0.5)  # ceil(2.5) = 3: the fakes at 3.0, 1.0, 0.5
    assert sorted(kept_fake.tolist()) == [0.5, 1.0, 3.0]
    assert sorted(kept_real.tolist()) == [10.0, 12.0, 13.0]  # the pairs stay pairs
    assert top_k_fakes(None, fake, 0.01)[1].tolist() == [3.0]  # at least one fake
    assert top_k_fakes(real, fake, 1.0) == (real, fake)


def test_the_dropped_fakes_get_no_gradient():
    fake = torch.tensor([0.5, -2.0, 3.0, 1.0], requires_grad=True)
    g_relativistic_loss(*top_k_fakes(torch.zeros(4), fake, 0.5)).backward()
    assert [g != 0 for g in fake.grad.tolist()] == [False, False, True, True]


def test_a_top_k_run_trains_differs_from_a_full_one_and_says_so(tmp_path):
    for name, share in (("topk", 0.5), ("full", 1.0)):
        cfg = tiny(name, gan_loss="relativistic", g_topk=share)
        assert train(cfg, tmp_path, progress=False, log=quiet) == "finished"
    records = RunDir(tmp_path / "topk").metrics()
    assert len(records) == 8 and all(math.isfinite(v) for r in records for v in r.values() if isinstance(v, float))
    topk, full = (load_training_state(tmp_path / n / "checkpoint.pt") for n in ("topk", "full"))
    assert not states_equal(topk["D"], full["D"])  # from the second step D sees other fakes
    assert not states_equal(topk["G"], full["G"])
    assert "G learns from the top 50% of its fakes" in model_card(tmp_path / "topk")
    assert "G learns from the top" not in model_card(tmp_path / "full")  # "top" alone is in "stopped"


@pytest.mark.parametrize("share", [0.0, 1.5, -0.5])
def test_a_share_outside_0_to_1_fails_in_one_line(share):
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict(dict(g_topk=share))
    assert str(e.value).startswith(f"g_topk={share!r}: must be") and "\n" not in str(e.value)


def test_off_by_default_and_a_resume_may_change_it():
    assert TrainConfig().g_topk == 1.0
    assert "g_topk" in resume_fields()


def test_the_train_form_offers_it_with_help(tmp_path, app_env):
    from apptestkit import open_app

    app_env(tmp_path)
    field = open_app("train").text_input(key="train_g_topk")
    assert field.label == "G's top-k share of fakes (1 = all)" and float(field.value) == 1.0
    assert "Sinha et al. 2020" in field.help
