"""The training loop and its config: a complete run directory, determinism, resume, stop, NaN and divergence,
launch, precision."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.runs.checkpoint import load_run_generator, load_training_state, resolve_generator
from dcgan.config import ConfigError, TrainConfig
from dcgan.training.batches import BatchSource
from dcgan.data import DataError, make_synthetic
from dcgan.nets.models import Discriminator, Generator
from dcgan.runs.files import read_json, read_jsonl
from dcgan.runs.rundir import RunDir, list_runs
from dcgan.training.balance import balance_lrs
from dcgan.nets.losses import d_loss, g_nonsaturating_loss
from dcgan.training.resume import resume_config
from dcgan.training.loop import train
from dcgan.training.step import fast_bf16, train_step, uses_bf16

from trainkit import TINY as tiny, stop_at


def state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("change, fragment", [
    ({"image_size": 48}, "image_size"),
    ({"channels": 2}, "channels"),
    ({"dataset": "cifar"}, "dataset"),
    ({"run_name": "../escape"}, "run_name"),
    ({"run_name": "a/b"}, "run_name"),
    ({"lr_d": 0.0}, "lr_d"),
    ({"steps": 0}, "steps"),
    ({"acc_low": 0.95, "acc_high": 0.9}, "acc_low"),
    ({"dataset": "folder"}, "image_folder"),
    ({"dataset": "mnist", "channels": 3}, "channels"),
    ({"batch_size": "64"}, "batch_size"),
    ({"adaptive_lr": 1}, "adaptive_lr"),
])
def test_bad_config_is_a_clear_error(change, fragment):
    data = TrainConfig().to_dict() | change
    with pytest.raises(ConfigError, match=fragment):
        TrainConfig.from_dict(data)


def test_config_json_round_trip_and_unknown_keys(tmp_path):
    cfg = tiny(lr_d=1e-4, adaptive_lr=True)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg.to_dict()))
    assert TrainConfig.load(path) == cfg
    path.write_text(json.dumps(cfg.to_dict() | {"learning_rate": 1}))
    with pytest.raises(ConfigError, match="unknown config key.*learning_rate"):
        TrainConfig.load(path)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        TrainConfig.load(path)
    assert TrainConfig.from_dict({"lr_g": 0.5}).lr_g == 0.5 and isinstance(TrainConfig.from_dict({"lr_max": 1e-3}).lr_max, float)
    with pytest.raises(ConfigError):
        TrainConfig.from_dict({"steps": 2.5})


def test_batches_depend_only_on_step():
    images = make_synthetic(28, 1, count=100).images
    a = BatchSource(images, 16, seed=5, device=torch.device("cpu"))
    b = BatchSource(images, 16, seed=5, device=torch.device("cpu"))
    assert torch.equal(a.batch(13), b.batch(13))  # b jumps straight to step 13, as after a resume
    assert not torch.equal(a.batch(0), a.batch(1))
    assert a.batch(0).min() >= -1 and a.batch(0).max() <= 1


def test_balance_lrs():
    cfg = tiny(adaptive_lr=True, acc_low=0.6, acc_high=0.9, lr_factor=2.0, lr_min=1e-5, lr_max=1e-3)
    assert balance_lrs(1e-4, 1e-4, 0.5, 0.95, cfg) == (2e-4, 5e-5)  # D weak: D up, G down
    assert balance_lrs(1e-4, 1e-4, 0.95, 0.99, cfg) == (5e-5, 2e-4)  # D strong: opposite
    assert balance_lrs(1e-4, 1e-4, 0.7, 0.8, cfg) == (2e-4, 2e-4)  # in between: both up
    assert balance_lrs(8e-4, 1.5e-5, 0.1, 0.1, cfg) == (1e-3, 1e-5)  # clamped to the range



def test_tiny_run_leaves_complete_run_directory(tmp_path):
    assert train(tiny("full"), tmp_path, progress=False) == "finished"
    run = RunDir(tmp_path / "full")
    for p in (run.config_path, run.status_path, run.metrics_path, run.fixed_z_path, run.checkpoint_path,
              run.generator_path, run.generator_config_path):
        assert p.is_file(), p
    assert run.snapshot_steps() == [0, 4, 8, 12] and run.weight_steps() == [0, 4, 8, 12]
    st = run.status()
    assert st["state"] == "finished" and st["step"] == 12 and st["total_steps"] == 12 and st["error"] is None
    rows = run.metrics()
    assert [r["step"] for r in rows] == list(range(1, 13))
    for key in ("step", "epoch", "time", "loss_d", "loss_g", "d_x", "d_g_z", "acc_real", "acc_fake",
                "lr_d", "lr_g", "images_per_s"):
        assert key in rows[0]
    assert np.load(run.fixed_z_path).shape == (16, 100)
    grid = Image.open(run.grid_path(12))
    assert grid.size == (4 * 30 + 2, 4 * 30 + 2)
    state = load_training_state(run.checkpoint_path)  # weights_only=True
    assert state["step"] == 12 and state["config"]["run_name"] == "full"
    G = load_run_generator(run)
    assert G(torch.randn(1, 100)).shape == (1, 1, 28, 28)
    G4 = load_run_generator(run, 4)  # an fp16 snapshot
    assert not state_equal(G.state_dict(), G4.state_dict())
    assert [r.name for r in list_runs(tmp_path)] == ["full"]
    with pytest.raises(ConfigError, match="already exists"):
        train(tiny("full"), tmp_path, progress=False)


def test_same_seed_same_weights(tmp_path):
    train(tiny("a"), tmp_path, progress=False)
    train(tiny("b"), tmp_path, progress=False)
    train(tiny("c", seed=4), tmp_path, progress=False)
    a, b, c = (load_run_generator(RunDir(tmp_path / n)).state_dict() for n in "abc")
    assert state_equal(a, b) and not state_equal(a, c)




def test_resume_matches_uninterrupted_run(tmp_path):
    # dropout and adaptive lrs make the RNG and optimiser state matter for equality
    kw = dict(steps=16, d_dropout=0.2, adaptive_lr=True, lr_factor=1.05, g_steps=2, label_smoothing=0.1)
    assert train(tiny("whole", **kw), tmp_path, progress=False) == "finished"
    part = RunDir(tmp_path / "part")
    assert train(tiny("part", **kw), tmp_path, progress=False, step_fn=stop_at(7, part)) == "stopped"
    st = part.status()
    assert st["state"] == "stopped" and st["step"] == 7
    assert load_training_state(part.checkpoint_path)["step"] == 7
    assert not part.stop_path.exists()
    cfg = resume_config(tmp_path, "part", more=9)
    assert cfg.steps == 16
    assert train(cfg, tmp_path, resume=True, progress=False) == "finished"
    whole = load_training_state(tmp_path / "whole" / "checkpoint.pt")
    resumed = load_training_state(part.checkpoint_path)
    assert state_equal(whole["G"], resumed["G"]) and state_equal(whole["D"], resumed["D"])
    assert [r["step"] for r in part.metrics()] == list(range(1, 17))
    assert [r["lr_d"] for r in part.metrics()] == [r["lr_d"] for r in RunDir(tmp_path / "whole").metrics()]


def test_resume_after_crash_drops_unsaved_metrics(tmp_path):
    train(tiny("crash", checkpoint_every=5), tmp_path, progress=False)
    run = RunDir(tmp_path / "crash")
    ckpt = load_training_state(run.checkpoint_path)
    assert ckpt["step"] == 12
    with pytest.raises(ConfigError, match="at step 12"):
        resume_config(tmp_path, "crash", more=0)
    cfg = resume_config(tmp_path, "crash", steps=20)
    assert train(cfg, tmp_path, resume=True, progress=False) == "finished"
    assert [r["step"] for r in run.metrics()] == list(range(1, 21))


def test_nan_loss_fails_run_and_keeps_last_checkpoint(tmp_path):
    def poisoned(*args):
        stats = train_step(*args)
        if len(RunDir(tmp_path / "nan").metrics()) >= 8:
            stats["loss_g"] = float("nan")
        return stats
    assert train(tiny("nan"), tmp_path, progress=False, step_fn=poisoned) == "failed"
    run = RunDir(tmp_path / "nan")
    st = run.status()
    assert st["state"] == "failed" and "loss_g became nan at step 9" in st["error"]
    assert "last good checkpoint (step 6)" in st["error"] and "resume" in st["error"]
    assert load_training_state(run.checkpoint_path)["step"] == 6
    # the exported G is the last good one, not the NaN step's
    G = load_run_generator(run)
    assert run.export_step() == 6 and all(torch.isfinite(p).all() for p in G.parameters())


def test_resume_after_divergence_counts_from_the_checkpoint_with_new_lrs(tmp_path):
    def poisoned(*args):
        stats = train_step(*args)
        if len(RunDir(tmp_path / "div").metrics()) >= 8:
            stats["loss_d"] = float("inf")
        return stats
    assert train(tiny("div"), tmp_path, progress=False, step_fn=poisoned) == "failed"
    cfg = resume_config(tmp_path, "div", more=4, lr_d=5e-5, lr_g=None)
    assert cfg.steps == 6 + 4 and cfg.lr_d == 5e-5 and cfg.lr_g == 2e-4  # from the checkpoint, not step 9
    with pytest.raises(ConfigError, match="cannot change on resume"):
        resume_config(tmp_path, "div", more=4, batch_size=3)
    assert train(cfg, tmp_path, resume=True, progress=False) == "finished"
    rows = RunDir(tmp_path / "div").metrics()
    assert [r["step"] for r in rows] == list(range(1, 11))
    assert rows[5]["lr_d"] == 2e-4 and rows[6]["lr_d"] == 5e-5


def test_divergence_at_once_still_leaves_a_checkpoint(tmp_path):
    def at_once(*args):
        return dict(train_step(*args), loss_g=float("nan"))
    assert train(tiny("now"), tmp_path, progress=False, step_fn=at_once) == "failed"
    run = RunDir(tmp_path / "now")
    assert "last good checkpoint (step 0)" in run.status()["error"]
    assert load_training_state(run.checkpoint_path)["step"] == 0


def test_a_stopped_run_has_a_snapshot_at_its_stop_step(tmp_path):
    run = RunDir(tmp_path / "s")
    assert train(tiny("s"), tmp_path, progress=False, step_fn=stop_at(5, run)) == "stopped"
    assert run.snapshot_steps() == [0, 4, 5]


@pytest.mark.slow
def test_launched_trainer_finishes_is_reaped_and_a_late_stop_is_cleared(tmp_path):
    from dcgan.training.launch import resume_training, start_training, stop_training, wait_for_state
    run = start_training(tiny("bg"), tmp_path)
    assert run.status()["state"] in ("starting", "running", "finished")
    st = wait_for_state(run, timeout_s=180)
    assert st["state"] == "finished", (st, run.log_path.read_text())
    pid = json.loads(run.launch_path.read_text())["pid"]
    deadline = time.time() + 10
    while Path(f"/proc/{pid}").exists() and time.time() < deadline:  # reaped: gone, not a zombie
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists()
    with pytest.raises(ConfigError, match="not running"):  # nothing to stop: no STOP file is left behind
        stop_training(tmp_path, "bg")
    assert not run.stop_path.exists()
    run.request_stop()  # a request that came too late to honour must not stop the resume below
    resumed = resume_training(tmp_path, "bg", more=3)
    assert wait_for_state(resumed, timeout_s=180)["step"] == 15
    assert not run.stop_path.exists()


def test_launch_refuses_a_bad_folder_and_reports_a_trainer_that_died(tmp_path):
    from dcgan.training.launch import start_training
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        start_training(tiny("f", dataset="folder", image_folder=str(tmp_path / "empty")), tmp_path)
    run = RunDir(tmp_path / "dead")
    from dcgan.runs.files import atomic_write_json
    atomic_write_json(run.status_path, {"state": "starting", "pid": None, "heartbeat": time.time()})
    atomic_write_json(run.launch_path, {"pid": 2 ** 22 + 4321})
    assert run.status()["state"] == "failed" and "train.log" in run.status()["error"]


def test_data_error_is_recorded_in_status(tmp_path):
    cfg = tiny("nodata", dataset="folder", image_folder=str(tmp_path / "nowhere"))
    with pytest.raises(DataError):
        train(cfg, tmp_path, progress=False)
    st = RunDir(tmp_path / "nodata").status()
    assert st["state"] == "failed" and "image folder not found" in st["error"]


def test_adaptive_lr_is_logged_every_step(tmp_path):
    train(tiny("adapt", adaptive_lr=True, lr_factor=1.1), tmp_path, progress=False)
    rows = RunDir(tmp_path / "adapt").metrics()
    assert len({r["lr_d"] for r in rows}) > 3 and len({r["lr_g"] for r in rows}) > 3
    cfg = tiny()
    assert all(cfg.lr_min <= r["lr_d"] <= cfg.lr_max for r in rows)


@pytest.mark.parametrize("option", [{"precision": "bf16"}, {"precision": "auto"}, {"compile": True}],
                         ids=["bf16", "auto", "compile"])
@pytest.mark.slow
def test_gpu_speed_options_also_train_on_cpu(tmp_path, option):
    lines = []
    assert train(tiny("opt", steps=3, **option), tmp_path, progress=False, log=lines.append) == "finished"
    if option.get("precision") == "auto":  # the log says what "auto" chose on this machine
        chosen = "bf16" if fast_bf16("cpu") else "fp32"
        assert any(line.startswith(f"precision auto: {chosen} on this cpu") for line in lines), lines
    run = RunDir.of(tmp_path, "opt")
    # generator.json records what the steps ran in, so a shipped "auto" model says which it was
    ran_in = {"bf16": "bf16", "auto": "bf16" if fast_bf16("cpu") else "fp32"}.get(option.get("precision"), "fp32")
    assert read_json(run.generator_config_path)["precision"] == ran_in
    assert all(math.isfinite(r["loss_g"]) for r in read_jsonl(run.metrics_path))
    G = resolve_generator(run.path)  # plain state-dict keys, even from a compiled step
    assert torch.isfinite(G(torch.randn(2, 100))).all()


def test_precision_auto_is_bf16_only_where_the_device_has_fast_bf16(monkeypatch):
    cpu = torch.device("cpu")
    assert not uses_bf16("fp32", cpu) and uses_bf16("bf16", cpu)
    try:
        for amx in (True, False):  # CPUs with AMX tiles run bf16 convolutions fast; others emulate it
            fast_bf16.cache_clear()
            monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda amx=amx: amx, raising=False)
            assert uses_bf16("auto", cpu) is amx
    finally:  # the cached answer must be this machine's again for the tests after this one
        fast_bf16.cache_clear()


def test_train_step_matches_a_plain_step_that_also_computes_d_weight_gradients_in_the_g_step():
    """The G update skips D's weight gradients; weights after a step must be exactly as without that."""
    cfg = tiny(g_steps=2)

    def nets():
        torch.manual_seed(0)
        G, D = Generator(cfg.z_dim, 28, 1, 8), Discriminator(28, 1, 8)
        return G, D, torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999)), \
            torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))

    real = torch.rand(16, 1, 28, 28) * 2 - 1
    G, D, opt_g, opt_d = nets()
    train_step(G, D, opt_g, opt_d, real, torch.Generator().manual_seed(1), cfg)

    G2, D2, opt_g2, opt_d2 = nets()
    z_gen = torch.Generator().manual_seed(1)
    fake = G2(torch.randn(16, cfg.z_dim, generator=z_gen))
    loss_d = d_loss(D2(real), D2(fake.detach()))
    opt_d2.zero_grad()
    loss_d.backward()
    opt_d2.step()
    for i in range(cfg.g_steps):
        if i > 0:
            fake = G2(torch.randn(16, cfg.z_dim, generator=z_gen))
        opt_g2.zero_grad()
        g_nonsaturating_loss(D2(fake)).backward()
        opt_g2.step()
    for a, b in zip([*G.state_dict().values(), *D.state_dict().values()],
                    [*G2.state_dict().values(), *D2.state_dict().values()]):
        assert torch.equal(a, b)
    assert all(p.requires_grad for p in D.parameters())
