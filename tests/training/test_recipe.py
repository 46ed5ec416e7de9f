"""The recipe a new MNIST / Fashion-MNIST / Stacked MNIST run starts from (issue 15), and the depth option:
the CLI and the Train form start from the recipe, the seeds' presets stay one pick away, a deeper
G / D keeps its shapes and its exported weights load back."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn

from dcgan.cli import _config_from_args, build_parser
from dcgan.config import ConfigError, ModelConfig, TrainConfig
from dcgan.nets.models import Discriminator, Generator
from dcgan.presets import PRESETS, RECIPES, default_preset, preset_config, preset_summary
from dcgan.runs.checkpoint import load_run_generator
from dcgan.runs.rundir import RunDir
from dcgan.training.loop import train

from apptestkit import open_app


def cli_config(*args: str) -> TrainConfig:
    return _config_from_args(build_parser().parse_args(["train", *args]))


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist", "stacked-mnist"])
def test_a_new_run_on_a_dataset_with_a_recipe_starts_from_it(dataset):
    cfg = cli_config("--dataset", dataset)
    assert cfg.preset == RECIPES[dataset] == default_preset(dataset)
    recipe = PRESETS[RECIPES[dataset]]
    assert (cfg.gan_loss, cfg.d_spectral_norm, cfg.ema_decay, cfg.batch_size) == \
        (recipe["gan_loss"], recipe["d_spectral_norm"], recipe["ema_decay"], recipe["batch_size"])
    assert cfg.channels == (3 if dataset == "stacked-mnist" else 1) and cfg.dataset == dataset
    # flags still win over the recipe
    assert cli_config("--dataset", dataset, "--batch-size", "64").batch_size == 64


def test_the_plain_dcgan_and_the_seeds_stay_one_flag_away(tmp_path):
    plain = cli_config("--dataset", "mnist", "--preset", "")
    assert plain.preset == "" and plain.gan_loss == "bce" and plain.ema_decay == 0.0 and plain.batch_size == 128
    seed = cli_config("--dataset", "mnist", "--preset", "mnist28")
    assert seed.preset == "mnist28" and seed.gan_loss == "bce" and seed.d_batchnorm
    # a config file says what it wants: no recipe slipped under it
    (tmp_path / "c.json").write_text(json.dumps({"dataset": "mnist"}))
    assert cli_config("--config", str(tmp_path / "c.json")).gan_loss == "bce"
    # datasets without a recipe keep the defaults
    assert cli_config("--dataset", "synthetic").preset == "" and default_preset("folder") == ""


def test_the_recipe_differs_from_the_plain_dcgan_only_in_what_it_says():
    recipe, plain = preset_config(RECIPES["mnist"]), preset_config("mnist28")
    changed = {k for k, v in recipe.to_dict().items() if plain.to_dict()[k] != v}
    assert changed <= {"preset", "batch_size", "gan_loss", "d_batchnorm", "d_spectral_norm", "lr_g", "lr_d", "beta1",
                       "beta2", "ema_decay", "ema_start", "steps", "snapshot_every", "snapshot_weights_every",
                       "log_every", "depth", "d_mbstd", "r1_gamma", "r1_every", "diffaugment", "g_width", "d_width",
                       "precision"}  # "auto": bf16 only where the machine runs it fast


def test_a_recipe_summary_says_its_own_nets():
    # the Train page's preset box: MNIST's recipe is two blocks deep, Stacked MNIST's one
    assert "widths 32, depth 2, batch 32" in preset_summary("mnist28-rpgan")
    assert "depth 1" in preset_summary("stacked28-rpgan") and "DiffAugment" in preset_summary("faces64-rpgan")
    assert "minibatch std-dev" in preset_summary("stacked28-rpgan") and "std-dev" not in preset_summary("mnist28-rpgan")
    assert preset_summary("mnist28") == "mnist28: plain DCGAN (pytorch/examples), 28 px grey"


def test_the_train_form_starts_from_the_recipe(tmp_path, app_env):
    app_env(tmp_path)
    at = open_app("train")
    assert at.selectbox(key="train_preset").value == RECIPES["mnist"]
    recipe = PRESETS[RECIPES["mnist"]]
    assert at.selectbox(key="train_dataset").value == "mnist"
    assert at.selectbox(key="train_gan_loss").value == recipe["gan_loss"]
    assert at.checkbox(key="train_d_spectral_norm").value is recipe["d_spectral_norm"]
    assert float(at.text_input(key="train_ema_decay").value) == recipe["ema_decay"]
    assert at.number_input(key="train_batch_size").value == recipe["batch_size"]
    # the plain DCGAN is one pick away, and refills the form
    at.selectbox(key="train_preset").set_value("(none)").run()
    assert at.selectbox(key="train_gan_loss").value == "bce" and float(at.text_input(key="train_ema_decay").value) == 0


@pytest.mark.parametrize("image_size", [28, 64])
def test_depth_adds_stride_1_blocks_at_every_inner_resolution(image_size):
    cfg = TrainConfig(image_size=image_size, depth=2, g_width=8, d_width=8)
    G, D = Generator.from_config(cfg), Discriminator.from_config(cfg)
    plain_g = Generator.from_config(TrainConfig(image_size=image_size, g_width=8))
    inner = len([m for m in plain_g.main if isinstance(m, nn.BatchNorm2d)])  # G's inner feature maps
    stride1 = [m for m in G.main if isinstance(m, nn.Conv2d) and m.stride == (1, 1) and m.kernel_size == (3, 3)]
    assert len(stride1) == 2 * inner
    d_stride1 = [m for m in D.main if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(d_stride1) == 2 * inner  # D has as many inner resolutions as G
    z = torch.randn(3, cfg.z_dim)
    assert G(z).shape == (3, 1, image_size, image_size) and D(G(z)).shape == (3,)
    # depth 0 is the DCGAN, layer for layer: old checkpoints keep loading
    assert Generator.from_config(TrainConfig(image_size=image_size, g_width=8)).state_dict().keys() == \
        plain_g.state_dict().keys()


def test_a_deeper_run_exports_a_generator_that_loads_back(tmp_path):
    cfg = TrainConfig(run_name="deep", dataset="synthetic", depth=1, steps=2, batch_size=8, z_dim=8, g_width=8,
                      d_width=8, grid_size=4, snapshot_every=2, checkpoint_every=2)
    assert train(cfg, tmp_path, progress=False, log=lambda _: None) == "finished"
    saved = json.loads((tmp_path / "deep" / "generator.json").read_text())
    assert saved["depth"] == 1
    G = load_run_generator(RunDir(tmp_path / "deep"))
    assert sum(isinstance(m, nn.Conv2d) for m in G.main) == 2
    # generator.json files written before the field existed mean depth 0
    saved.pop("depth")
    assert ModelConfig.from_dict(saved).depth == 0
    with pytest.raises(ConfigError, match="depth=100000: must be 0 to 4"):  # a hostile file cannot hang the build
        ModelConfig.from_dict({**saved, "depth": 100000})


def test_a_finished_run_keeps_its_discriminator_without_the_checkpoint(tmp_path):
    from safetensors.torch import load_file, safe_open

    from dcgan.runs.checkpoint import export_discriminator, load_training_state
    cfg = preset_config(RECIPES["mnist"], dataset="synthetic", run_name="d", steps=3, batch_size=8, grid_size=4,
                        snapshot_every=3, checkpoint_every=3)
    assert train(cfg, tmp_path, progress=False, log=lambda _: None) == "finished"
    run = RunDir(tmp_path / "d")
    path = export_discriminator(run)
    with safe_open(str(path), "pt") as f:
        assert f.metadata()["step"] == "3"
    D = Discriminator.from_config(cfg)
    D.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    saved = load_training_state(run.checkpoint_path)["D"]
    assert all(torch.equal(D.state_dict()[k], v.half().float()) for k, v in saved.items() if v.is_floating_point())
