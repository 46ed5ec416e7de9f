"""Presets that reproduce the seeds, the stats chart and the model card of a run."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn
from PIL import Image

from dcgan.cli import main as cli_main
from dcgan.config import ConfigError, TrainConfig
from dcgan.nets.models import Discriminator, Generator, count_parameters
from dcgan.presets import PRESETS, preset_config, preset_values
from dcgan.training.loop import train
from dcgan.runs.rundir import RunDir

from apptestkit import open_app


def nets(cfg: TrainConfig):
    G = Generator(cfg.z_dim, cfg.image_size, cfg.channels, cfg.g_width, cfg.kernel_size)
    D = Discriminator(cfg.image_size, cfg.channels, cfg.d_width, cfg.kernel_size, cfg.d_batchnorm, cfg.d_dropout,
                      cfg.d_dropout_every)
    return G, D



def test_faces64_is_seed_000():
    cfg = preset_config("faces64", image_folder="faces")
    G, D = nets(cfg)
    convs_t = [m for m in G.main if isinstance(m, nn.ConvTranspose2d)]
    # z 100 -> 512x4x4, then four stride-2 5x5 transposed convs to 256, 128, 64, 1 channels
    assert convs_t[0].in_channels == 100 and convs_t[0].out_channels == 512 and convs_t[0].kernel_size == (4, 4)
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs_t[1:]] == \
        [(256, (5, 5), (2, 2)), (128, (5, 5), (2, 2)), (64, (5, 5), (2, 2)), (1, (5, 5), (2, 2))]
    # BatchNorm after every conv but the last
    assert sum(isinstance(m, nn.BatchNorm2d) for m in G.main) == 4
    z = torch.randn(2, 100)
    shapes = []
    x = z.view(2, 100, 1, 1)
    for m in G.main:
        x = m(x)
        if isinstance(m, nn.ConvTranspose2d):
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(512, 4, 4), (256, 8, 8), (128, 16, 16), (64, 32, 32), (1, 64, 64)]
    # D: four stride-2 5x5 convs, dropout after the 2nd and 4th, no BatchNorm, one output
    layers = list(D.main)
    convs = [i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert len(convs) == 4 and all(layers[i].kernel_size == (5, 5) for i in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in layers)
    dropout_after = [sum(1 for c in convs if c < i) for i, m in enumerate(layers) if isinstance(m, nn.Dropout)]
    assert dropout_after == [2, 4]
    assert D(torch.randn(3, 1, 64, 64)).shape == (3,)
    # BatchNorm-free, so every conv has a bias: otherwise D(a*x) = a*D(x) and a flat image scores 0.5
    assert all(layers[i].bias is not None for i in convs) and layers[-1].bias is not None
    with torch.no_grad():
        for m in layers:
            if isinstance(m, nn.Conv2d):
                m.bias.fill_(0.1)
    D.eval()
    assert D(torch.zeros(1, 1, 64, 64)).abs().item() > 0  # exactly 0 for a bias-free D
    assert cfg.batch_size == 64 and cfg.g_steps == 2 and cfg.adaptive_lr and cfg.lr_d == cfg.lr_g == 2e-4
    assert 5.0e6 < count_parameters(G) < 5.3e6  # the 5.1 M


def test_anime64_is_seed_001():
    cfg = preset_config("anime64", image_folder="anime")
    G, D = nets(cfg)
    assert G(torch.randn(2, 100)).shape == (2, 3, 64, 64)
    layers = list(D.main)
    first_bn = next(i for i, m in enumerate(layers) if isinstance(m, nn.BatchNorm2d))
    convs_before = sum(isinstance(m, nn.Conv2d) for m in layers[:first_bn])
    assert convs_before == 2  # no BatchNorm on D's first block, BatchNorm on every other
    assert sum(isinstance(m, nn.BatchNorm2d) for m in layers) == 3
    assert cfg.kernel_size == 5 and cfg.g_steps == 2 and cfg.channels == 3


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_builds_and_steps(name, tmp_path):
    cfg = preset_config(name, image_folder=str(tmp_path))
    G, D = nets(cfg)
    x = G(torch.randn(2, cfg.z_dim))
    assert x.shape == (2, cfg.channels, cfg.image_size, cfg.image_size)
    assert D(x).shape == (2,)
    assert cfg.preset == name and TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_preset_flags_override_and_are_recorded(tmp_path):
    code = cli_main(["train", "--preset", "faces64", "--dataset", "synthetic", "--steps", "2", "--batch-size", "4",
                     "--g-width", "4", "--d-width", "4", "--grid-size", "4", "--run-name", "p",
                     "--checkpoints", str(tmp_path), "--quiet"])
    assert code == 0
    saved = json.loads((tmp_path / "p" / "config.json").read_text())
    assert saved["preset"] == "faces64" and saved["kernel_size"] == 5 and saved["d_dropout_every"] == 2
    assert saved["dataset"] == "synthetic" and saved["batch_size"] == 4 and saved["image_size"] == 64
    # a config file's own keys win over its preset's, flags over both
    (tmp_path / "c.json").write_text(json.dumps({"preset": "anime64", "dataset": "synthetic", "g_steps": 1}))
    code = cli_main(["train", "--config", str(tmp_path / "c.json"), "--steps", "1", "--batch-size", "4",
                     "--g-width", "4", "--d-width", "4", "--grid-size", "4", "--run-name", "q",
                     "--checkpoints", str(tmp_path), "--quiet"])
    assert code == 0
    saved = json.loads((tmp_path / "q" / "config.json").read_text())
    assert saved["channels"] == 3 and saved["g_steps"] == 1 and saved["batch_size"] == 4


def test_unknown_preset_is_one_line_error(tmp_path, capsys):
    assert cli_main(["train", "--preset", "celeba", "--checkpoints", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "preset" in err and "faces64" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(ConfigError, match="preset"):
        preset_values("nope")


def test_stats_chart_from_a_run(tmp_path):
    cfg = TrainConfig(run_name="s", steps=6, batch_size=8, g_width=4, d_width=4, grid_size=4, adaptive_lr=True,
                      log_every=100)
    train(cfg, tmp_path, progress=False, log=lambda _: None)
    out = tmp_path / "stats.png"
    assert cli_main(["stats", str(tmp_path / "s"), "--out", str(out)]) == 0
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] >= 600 and im.size[1] >= 600
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli_main(["stats", str(empty), "--out", str(tmp_path / "x.png")]) == 2
    assert not (tmp_path / "x.png").exists()



def test_train_page_preset_fills_the_form(tmp_path, app_env):
    root = tmp_path / "checkpoints"
    root.mkdir()
    app_env(root)
    at = open_app("train")
    at.selectbox(key="train_preset").set_value("faces64").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="train_kernel_size").value == 5
    assert at.number_input(key="train_batch_size").value == 64
    assert at.number_input(key="train_g_steps").value == 2
    assert at.checkbox(key="train_adaptive_lr").value is True
    assert at.checkbox(key="train_d_batchnorm").value is False
    assert at.selectbox(key="train_image_size").value == 64
    assert at.selectbox(key="train_dataset").value == "folder"
    # a preset run starts from the form and records the preset (synthetic data keeps it quick)
    at.selectbox(key="train_dataset").set_value("synthetic")
    at.number_input(key="train_steps").set_value(2)
    at.number_input(key="train_batch_size").set_value(4)
    at.number_input(key="train_g_width").set_value(4)
    at.number_input(key="train_d_width").set_value(4)
    at.text_input(key="train_run_name").set_value("from-preset")
    at.button(key="FormSubmitter:train_form-Start training").click().run()
    assert not at.exception, at.exception
    from dcgan.training.launch import wait_for_state
    wait_for_state(RunDir(root / "from-preset"), ("finished", "failed"), timeout_s=300)
    saved = json.loads((root / "from-preset" / "config.json").read_text())
    assert saved["preset"] == "faces64" and saved["kernel_size"] == 5 and saved["d_dropout_every"] == 2
    assert RunDir(root / "from-preset").status()["state"] == "finished"


def test_model_card_reads_the_run(tmp_path):
    cfg = TrainConfig(run_name="c", steps=4, batch_size=8, g_width=4, d_width=4, grid_size=4, log_every=100)
    train(cfg, tmp_path, progress=False, log=lambda _: None)
    (tmp_path / "c" / "eval.json").write_text(json.dumps({
        "samples": 100, "step": 4, "generated": {"fid": 12.5, "classes_covered": 3},
        "real": {"fid": 0.5, "classes_covered": 10}}))
    assert cli_main(["card", str(tmp_path / "c"), "--notes", "made in a test"]) == 0
    card = (tmp_path / "c" / "MODEL_CARD.md").read_text()
    assert "4 steps" in card and "`finished`" in card and "synthetic shapes" in card and "images/s, in fp32" in card
    assert "| FID (domain classifier) | 12.5 | 0.5 |" in card and "| classes covered | 3 | 10 |" in card
    assert card.rstrip().endswith("made in a test")
    assert cli_main(["card", str(tmp_path / "nothing")]) == 2
