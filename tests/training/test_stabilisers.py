"""The GAN stabilisers as TrainConfig options (issue 15): each trains, EMA is what is exported,
a resumed run with them is bit-identical to an uninterrupted one, and bad values fail in one line."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dcgan.config import ConfigError, TrainConfig
from dcgan.nets.models import Discriminator
from dcgan.runs.checkpoint import load_run_generator, load_training_state
from dcgan.runs.rundir import RunDir
from dcgan.training.loop import train
from dcgan.training.resume import resume_config
from dcgan.training.step import train_step

from trainkit import STABILISER_TINY as tiny, quiet, states_equal


ROOT = Path(__file__).resolve().parents[2]
NEW_FIELDS = ("gan_loss", "d_spectral_norm", "r1_gamma", "r1_every", "diffaugment", "d_mbstd", "ema_decay", "ema_start")
ALL = dict(gan_loss="relativistic", d_spectral_norm=True, d_batchnorm=False, r1_gamma=1.0, r1_every=2,
           diffaugment="color,translation,cutout", d_mbstd=True, ema_decay=0.9, ema_start=2)








@pytest.mark.parametrize("options", [
    dict(gan_loss="hinge"), dict(gan_loss="relativistic"), dict(d_spectral_norm=True, d_batchnorm=False),
    dict(r1_gamma=10.0), dict(r1_gamma=10.0, r1_every=4), dict(diffaugment="color,translation,cutout"),
    dict(d_mbstd=True), dict(ema_decay=0.99), ALL,
], ids=lambda o: ",".join(o))
def test_each_stabiliser_trains_without_nan(tmp_path, options):
    assert train(tiny("s", **options), tmp_path, progress=False, log=quiet) == "finished"
    records = RunDir(tmp_path / "s").metrics()
    assert [r["step"] for r in records] == list(range(1, 9))
    assert all(math.isfinite(v) for r in records for k, v in r.items() if isinstance(v, float))
    if options.get("r1_gamma"):
        k = options.get("r1_every", 1)
        assert [r["step"] for r in records if "r1" in r] == [s for s in range(1, 9) if (s - 1) % k == 0]


def test_the_default_config_has_every_stabiliser_off():
    cfg = TrainConfig()
    assert (cfg.gan_loss, cfg.d_spectral_norm, cfg.r1_gamma, cfg.diffaugment, cfg.d_mbstd, cfg.ema_decay) == \
        ("bce", False, 0.0, "", False, 0.0)


def test_discriminator_options_change_its_layers():
    cfg = tiny("d", d_spectral_norm=True, d_mbstd=True, d_batchnorm=False)
    D = Discriminator.from_config(cfg)
    keys = D.state_dict().keys()
    assert any(k.endswith("parametrizations.weight.original") for k in keys)
    assert D.main[-1].in_channels == 16 * 2 + 1  # the std-dev map is one more input channel
    assert D(torch.randn(5, 1, 28, 28)).shape == (5,)
    plain = Discriminator.from_config(tiny("p"))
    assert not any("parametrizations" in k for k in plain.state_dict())


def test_a_default_step_ignores_the_augment_generator():
    cfg = tiny("x")
    outs = []
    for aug_seed in (0, 1):
        torch.manual_seed(0)
        from dcgan.nets.models import Generator
        G, D = Generator.from_config(cfg), Discriminator.from_config(cfg)
        opt_g, opt_d = (torch.optim.Adam(m.parameters(), 2e-4, betas=(0.5, 0.999)) for m in (G, D))
        real = torch.rand(16, 1, 28, 28) * 2 - 1
        outs.append(train_step(G, D, opt_g, opt_d, real, torch.Generator().manual_seed(1), cfg,
                               aug_gen=torch.Generator().manual_seed(aug_seed)))
    assert outs[0] == outs[1] and "r1" not in outs[0]


def test_ema_is_what_the_run_exports(tmp_path):
    assert train(tiny("e", ema_decay=0.9), tmp_path, progress=False, log=quiet) == "finished"
    run = RunDir(tmp_path / "e")
    state = load_training_state(run.checkpoint_path)
    assert state["G_ema"].keys() == state["G"].keys()
    assert not states_equal(state["G_ema"], state["G"])
    exported = load_run_generator(run).state_dict()
    assert all(torch.equal(exported[k], state["G_ema"][k].float() if state["G_ema"][k].is_floating_point()
                           else state["G_ema"][k]) for k in exported)
    assert json.loads(run.generator_config_path.read_text())["weights"] == "ema"
    # snapshot weights (fp16) are the EMA's too
    snap = load_run_generator(run, step=8).state_dict()
    name = next(k for k in snap if k.endswith("weight"))
    assert torch.equal(snap[name], state["G_ema"][name].half().float())

    assert train(tiny("g"), tmp_path, progress=False, log=quiet) == "finished"
    assert json.loads(RunDir(tmp_path / "g").generator_config_path.read_text())["weights"] == "G"
    assert "G_ema" not in load_training_state(RunDir(tmp_path / "g").checkpoint_path)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])  # bf16: what "auto" picks on AMX CPUs and GPUs
def test_resume_with_ema_diffaugment_and_r1_is_bit_identical(tmp_path, precision):
    kw = dict(ema_decay=0.9, ema_start=1, diffaugment="color,translation,cutout", r1_gamma=1.0, r1_every=2,
              d_spectral_norm=True, d_batchnorm=False, d_mbstd=True, gan_loss="relativistic", precision=precision)
    assert train(tiny("whole", **kw), tmp_path, progress=False, log=quiet) == "finished"
    part = RunDir(tmp_path / "part")

    def stop_at_4(*args):
        stats = train_step(*args)
        if len(part.metrics()) + 1 >= 4:
            part.request_stop()
        return stats

    assert train(tiny("part", **kw), tmp_path, progress=False, log=quiet, step_fn=stop_at_4) == "stopped"
    assert load_training_state(part.checkpoint_path)["step"] == 4
    assert train(resume_config(tmp_path, "part", more=4), tmp_path, resume=True, progress=False, log=quiet) \
        == "finished"
    whole = load_training_state(tmp_path / "whole" / "checkpoint.pt")
    resumed = load_training_state(part.checkpoint_path)
    assert resumed["step"] == 8
    for key in ("G", "D", "G_ema"):
        assert states_equal(whole[key], resumed[key]), key
    assert torch.equal(whole["aug_rng"], resumed["aug_rng"])


def test_a_checkpoint_from_before_the_stabilisers_still_resumes(tmp_path):
    # an old checkpoint has no G_ema and no aug_rng: a resume of it must work
    assert train(tiny("old", steps=4), tmp_path, progress=False, log=quiet) == "finished"
    run = RunDir(tmp_path / "old")
    state = load_training_state(run.checkpoint_path)
    assert "G_ema" not in state and "aug_rng" not in state
    config = json.loads(run.config_path.read_text())
    for name in NEW_FIELDS:  # a config.json written before the fields existed
        config.pop(name)
    run.config_path.write_text(json.dumps(config))
    assert train(resume_config(tmp_path, "old", more=2), tmp_path, resume=True, progress=False, log=quiet) \
        == "finished"
    assert load_training_state(run.checkpoint_path)["step"] == 6


@pytest.mark.parametrize("values, message", [
    (dict(r1_gamma=-1.0), "r1_gamma=-1.0: must be [0, 1000]"),
    (dict(r1_every=0), "r1_every=0: must be 1 to 64"),
    (dict(diffaugment="color,flip"), "diffaugment='color,flip': unknown DiffAugment policy 'flip'"),
    (dict(diffaugment="cutout,cutout"), "diffaugment='cutout,cutout': DiffAugment policy 'cutout' given twice"),
    (dict(gan_loss="wgan"), "gan_loss='wgan': choose one of bce, hinge, relativistic"),
    (dict(ema_decay=1.0), "ema_decay=1.0: must be [0, 1)"),
    (dict(ema_start=-1), "ema_start=-1: must be 0 to 10,000,000"),
])
def test_bad_stabiliser_values_fail_in_one_line(values, message):
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict(values)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "dcgan", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.mark.parametrize("args, field", [
    (["--r1-gamma", "-1"], "r1_gamma"), (["--diffaugment", "color,zoom"], "diffaugment"),
])
@pytest.mark.slow
def test_the_cli_refuses_bad_values_in_one_line(tmp_path, args, field):
    result = run_cli("train", "--checkpoints", str(tmp_path), *args)
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and field in lines[0], lines
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_every_new_field_is_in_train_help():
    out = run_cli("train", "--help").stdout
    for name in NEW_FIELDS:
        assert "--" + name.replace("_", "-") in out, name
    assert "--d-spectral-norm, --no-d-spectral-norm" in out and "Miyato" in out


def test_no_field_takes_a_widget_key_the_train_page_already_uses():
    # the form keys a field "train_<name>"; the Train page's loss chart is key="train_loss"
    assert "loss" not in {f for f in NEW_FIELDS} and "gan_loss" in NEW_FIELDS
    assert any('key="train_loss"' in page.read_text() for page in (ROOT / "explorer").glob("*.py"))


def test_a_relativistic_d_is_judged_on_its_pairs():
    cfg = tiny("r", gan_loss="relativistic", d_batchnorm=False)
    torch.manual_seed(0)
    from dcgan.nets.models import Generator
    G, D = Generator.from_config(cfg), Discriminator.from_config(cfg)
    opt_g, opt_d = (torch.optim.Adam(m.parameters(), 2e-4, betas=(0.5, 0.999)) for m in (G, D))
    with torch.no_grad():  # every logit positive: sign-based accuracies would read 1.00 / 0.00
        D.main[-1].bias.fill_(50.0)
    stats = train_step(G, D, opt_g, opt_d, torch.rand(16, 1, 28, 28) * 2 - 1, torch.Generator().manual_seed(1), cfg)
    assert stats["acc_real"] == stats["acc_fake"] and 0.0 < stats["acc_real"] < 1.0
