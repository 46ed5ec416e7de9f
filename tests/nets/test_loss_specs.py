"""Each GAN loss is one GanLoss object (D's loss, G's loss, whether G reads D(x), how D's accuracy counts), not a string
compared in the training step; a TrainConfig is valid from the moment it exists."""
import dataclasses

import pytest
import torch

from dcgan.config import LOSSES, ConfigError, TrainConfig
from dcgan.nets.losses import GanLoss, d_loss, gan_loss


@pytest.mark.parametrize("name", LOSSES)
def test_every_configurable_loss_is_a_spec(name):
    loss = gan_loss(name)
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([-3.0, 0.5])
    assert isinstance(loss, GanLoss)
    assert torch.isfinite(loss.d(real, fake)) and torch.isfinite(loss.g(real, fake))
    assert loss.g_needs_real == (name == "relativistic")


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="unknown GAN loss"):
        gan_loss("wasserstein")


def test_bce_label_smoothing_reaches_d_loss():
    real, fake = torch.tensor([3.0]), torch.tensor([-3.0])
    assert gan_loss("bce", 0.1).d(real, fake) == pytest.approx(float(d_loss(real, fake, 0.9)))
    assert gan_loss("bce", 0.1).d(real, fake) != pytest.approx(float(gan_loss("bce").d(real, fake)))


def test_accuracy_of_a_paired_loss_counts_pairs_not_signs():
    # every logit positive: by the signs D gets every real right and every fake wrong; as pairs it is 50 %
    real, fake = torch.tensor([1.0, 1.0]), torch.tensor([0.5, 2.0])
    assert [float(a) for a in gan_loss("relativistic").accuracy(real, fake)] == [0.5, 0.5]
    assert [float(a) for a in gan_loss("bce").accuracy(real, fake)] == [1.0, 0.0]


def test_config_is_checked_when_built_and_when_replaced():
    with pytest.raises(ConfigError, match="gan_loss"):
        TrainConfig(gan_loss="wasserstein")
    with pytest.raises(ConfigError, match="steps"):
        dataclasses.replace(TrainConfig(), steps=-5)


def test_config_file_is_read_once_and_keeps_only_its_own_keys(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"steps": 7}')
    assert TrainConfig.read_file(path) == {"steps": 7}
    path.write_text('{"steps": 7, "nonsense": 1}')
    with pytest.raises(ConfigError, match="nonsense"):
        TrainConfig.read_file(path)
