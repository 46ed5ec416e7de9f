"""Core tests: models, config, data, training loop, resume, stop, NaN handling, latent tools, export."""
from __future__ import annotations

import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.runs.checkpoint import CheckpointError, load_run_generator, load_training_state, resolve_generator
from dcgan.config import ConfigError, TrainConfig
from dcgan.training.batches import BatchSource
from dcgan.data import DataError, load_dataset, load_folder, load_torchvision, make_synthetic
from dcgan.imaging import gif_bytes, gif_frame_count, make_grid, upscale
from dcgan.sampling import interpolate, lerp, slerp, sweep, z_from_seed
from dcgan.nets.models import Discriminator, Generator
from dcgan.runs.files import read_json, read_jsonl
from dcgan.runs.rundir import RunDir, list_runs
from dcgan.training.balance import balance_lrs
from dcgan.nets.losses import d_loss, g_nonsaturating_loss
from dcgan.training.resume import resume_config
from dcgan.training.loop import train
from dcgan.training.step import fast_bf16, train_step, uses_bf16

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"


def tiny(name: str = "t", **kw) -> TrainConfig:
    """A config that trains in about a second on CPU."""
    base = dict(run_name=name, dataset="synthetic", image_size=28, steps=12, batch_size=16, g_width=8,
                d_width=8, snapshot_every=4, checkpoint_every=6, log_every=100, grid_size=16, seed=3)
    base.update(kw)
    return TrainConfig(**base).validate()


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "dcgan", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- models ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("image_size", [28, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kernel_size", [4, 5])
def test_model_shapes(image_size, channels, kernel_size):
    G = Generator(z_dim=20, image_size=image_size, channels=channels, width=8, kernel_size=kernel_size)
    D = Discriminator(image_size=image_size, channels=channels, width=8, kernel_size=kernel_size, dropout=0.3)
    x = G(torch.randn(3, 20))
    assert x.shape == (3, channels, image_size, image_size)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    assert D(x).shape == (3,)


def test_models_follow_radford():
    G = Generator(z_dim=100, image_size=64, channels=1, width=64)
    D = Discriminator(image_size=64, channels=1, width=64, batchnorm=True)
    banned = (torch.nn.Linear, torch.nn.MaxPool2d, torch.nn.AvgPool2d)
    assert not any(isinstance(m, banned) for m in list(G.modules()) + list(D.modules()))
    g_layers = list(G.main)
    assert isinstance(g_layers[-1], torch.nn.Tanh)
    assert sum(isinstance(m, torch.nn.ConvTranspose2d) for m in g_layers) == 5
    d_layers = list(D.main)
    # no BatchNorm on D's input block; LeakyReLU(0.2) everywhere
    assert isinstance(d_layers[0], torch.nn.Conv2d) and isinstance(d_layers[1], torch.nn.LeakyReLU)
    assert all(m.negative_slope == 0.2 for m in D.modules() if isinstance(m, torch.nn.LeakyReLU))
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in d_layers) == 3
    no_bn = Discriminator(image_size=64, channels=1, width=64, batchnorm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in no_bn.modules())
    # init: conv N(0, 0.02), BN gamma N(1, 0.02)
    w = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)])
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 1e-3
    gamma = torch.cat([m.weight for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert abs(gamma.mean().item() - 1) < 0.01 and 0.01 < gamma.std().item() < 0.03


def test_mnist_size_needs_no_resize():
    G = Generator(image_size=28, channels=1, width=8)
    assert G(torch.randn(2, 100)).shape[-1] == 28


# --- config ---------------------------------------------------------------------------------------

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


# --- data -----------------------------------------------------------------------------------------

def test_synthetic_set():
    s = make_synthetic(32, 3, count=30, seed=1)
    assert s.images.shape == (30, 3, 32, 32) and s.images.dtype == torch.uint8
    assert s.images.float().mean() > 5  # shapes were drawn
    assert torch.equal(s.images, make_synthetic(32, 3, count=30, seed=1).images)


def test_folder_loader(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    Image.new("RGB", (80, 60), (200, 10, 10)).save(tmp_path / "a" / "one.png")
    Image.new("L", (50, 50), 128).save(tmp_path / "a" / "b" / "two.jpg")
    Image.new("RGB", (40, 90), (0, 0, 255)).save(tmp_path / "three.webp")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    (tmp_path / "notes.txt").write_text("ignored")
    grey = load_folder(tmp_path, 32, 1)
    assert grey.images.shape == (3, 1, 32, 32) and grey.skipped == 1
    rgb = load_folder(tmp_path, 64, 3)
    assert rgb.images.shape == (3, 3, 64, 64)
    # centre crop then resize: the red image stays red
    red = rgb.images[[i for i in range(3) if rgb.images[i, 0].float().mean() > 150][0]]
    assert red[0].float().mean() > 190 and red[1].float().mean() < 20


def test_a_decoded_folder_is_cached_until_a_file_changes(tmp_path, monkeypatch):
    import dcgan.data
    monkeypatch.setenv("DCGAN_CACHE_DIR", str(tmp_path / "cache"))
    for i, sub in enumerate(["cats", "cats", "dogs", "dogs"]):
        (tmp_path / "imgs" / sub).mkdir(parents=True, exist_ok=True)
        Image.new("L", (40, 40), 40 * i).save(tmp_path / "imgs" / sub / f"{i}.png")
    (tmp_path / "imgs" / "dogs" / "bad.png").write_bytes(b"not an image")
    first = load_folder(tmp_path / "imgs", 28, 1)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1

    decode = dcgan.data._load_image
    monkeypatch.setattr(dcgan.data, "_load_image", lambda *a: pytest.fail("decoded although cached"))
    again = load_folder(tmp_path / "imgs", 28, 1)
    assert torch.equal(again.images, first.images) and torch.equal(again.labels, first.labels)
    assert (again.skipped, again.classes) == (1, ("cats", "dogs"))
    halves = [load_folder(tmp_path / "imgs", 28, 1, split=s, holdout=0.46) for s in ("train", "test")]
    assert sorted(int(x.float().mean()) for h in halves for x in h.images) == [0, 40, 80, 120]

    monkeypatch.setattr(dcgan.data, "_load_image", decode)
    Image.new("L", (40, 40), 250).save(tmp_path / "imgs" / "cats" / "0.png")
    changed = load_folder(tmp_path / "imgs", 28, 1)
    assert int(changed.images[0].float().mean()) == 250
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_folder(tmp_path / "missing", 28, 1)
    with pytest.raises(DataError, match="no images"):
        load_folder(tmp_path, 28, 1)
    (tmp_path / "x.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="could be read"):
        load_folder(tmp_path, 28, 1)


def test_mnist_missing_offline_says_what_to_do(tmp_path):
    with pytest.raises(DataError) as e:
        load_torchvision("mnist", tmp_path, 28, 1, download=False)
    msg = str(e.value)
    assert "train-images-idx3-ubyte" in msg and "--data-root" in msg and str(tmp_path) in msg


@pytest.mark.skipif(not (SHARED / "MNIST" / "raw").is_dir(), reason="real MNIST not present (../shared/datasets)")
def test_real_mnist_and_fashion():
    m = load_dataset("mnist", 28, 1, str(SHARED))
    assert m.images.shape == (60000, 1, 28, 28)
    f = load_dataset("fashion-mnist", 32, 1, str(SHARED))
    assert f.images.shape == (60000, 1, 32, 32)


def test_batches_depend_only_on_step():
    images = make_synthetic(28, 1, count=100).images
    a = BatchSource(images, 16, seed=5, device=torch.device("cpu"))
    b = BatchSource(images, 16, seed=5, device=torch.device("cpu"))
    assert torch.equal(a.batch(13), b.batch(13))  # b jumps straight to step 13, as after a resume
    assert not torch.equal(a.batch(0), a.batch(1))
    assert a.batch(0).min() >= -1 and a.batch(0).max() <= 1


# --- losses and balancing --------------------------------------------------------------------------

def test_losses():
    confident = torch.full((4,), 10.0)
    assert d_loss(confident, -confident).item() < 1e-3
    assert d_loss(confident, -confident, real_label=0.9).item() > 0.3  # smoothing penalises certainty
    assert g_nonsaturating_loss(-confident).item() > 9  # D sure it is fake: big, non-vanishing loss


def test_balance_lrs():
    cfg = tiny(adaptive_lr=True, acc_low=0.6, acc_high=0.9, lr_factor=2.0, lr_min=1e-5, lr_max=1e-3)
    assert balance_lrs(1e-4, 1e-4, 0.5, 0.95, cfg) == (2e-4, 5e-5)  # D weak: D up, G down
    assert balance_lrs(1e-4, 1e-4, 0.95, 0.99, cfg) == (5e-5, 2e-4)  # D strong: opposite
    assert balance_lrs(1e-4, 1e-4, 0.7, 0.8, cfg) == (2e-4, 2e-4)  # in between: both up
    assert balance_lrs(8e-4, 1.5e-5, 0.1, 0.1, cfg) == (1e-3, 1e-5)  # clamped to the range


# --- training loop ---------------------------------------------------------------------------------

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


def stop_at(step: int, run: RunDir):
    """A step function that asks for a stop (the STOP file) once `step` steps are done."""
    def step_fn(*args):
        stats = train_step(*args)
        if len(run.metrics()) + 1 >= step:
            run.request_stop()
        return stats
    return step_fn


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
    assert load_run_generator(run) is not None


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


# --- run directory ---------------------------------------------------------------------------------

def test_readers_tolerate_torn_lines_and_dead_trainers(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"step": 1}\n{"step": 2}\n{"ste')
    assert read_jsonl(p) == [{"step": 1}, {"step": 2}]
    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    run.status_path.write_text(json.dumps({"state": "running", "pid": 2 ** 22 + 12345, "step": 3}))
    st = run.status()
    assert st["state"] == "interrupted" and "ended without finishing" in st["error"]
    with pytest.raises(ConfigError):
        RunDir.of(tmp_path, "../x")


def test_list_runs_includes_a_run_still_starting(tmp_path):
    from dcgan.runs.files import atomic_write_json
    train(tiny("done"), tmp_path, progress=False)
    starting = RunDir(tmp_path / "new")
    atomic_write_json(starting.status_path, {"state": "starting", "pid": None, "heartbeat": time.time()})
    (tmp_path / "not a run").mkdir()
    (tmp_path / "empty").mkdir()
    assert [r.name for r in list_runs(tmp_path)] == ["new", "done"]
    assert starting.status()["state"] == "starting"
    atomic_write_json(starting.status_path, {"state": "starting", "pid": None, "heartbeat": time.time() - 600})
    assert starting.status()["state"] == "failed"


def test_corrupt_generator_is_a_clear_error(tmp_path):
    train(tiny("bad"), tmp_path, progress=False)
    run = RunDir(tmp_path / "bad")
    run.generator_path.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_run_generator(run)
    with pytest.raises(CheckpointError, match="no generator weights"):
        load_run_generator(run, step=999)


# --- latent tools and export -----------------------------------------------------------------------

def test_seeds_and_interpolation():
    assert torch.equal(z_from_seed(7, 100), z_from_seed(7, 100))
    assert not torch.equal(z_from_seed(7, 100), z_from_seed(8, 100))
    a, b = z_from_seed(1, 100)[0], z_from_seed(2, 100)[0]
    path = interpolate(a, b, 64, "slerp")
    assert path.shape == (64, 100)
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    # slerp keeps the norm of Gaussian samples; lerp's midpoint shrinks towards the origin
    mid_s = slerp(a, b, torch.tensor([0.5]))[0].norm()
    mid_l = lerp(a, b, torch.tensor([0.5]))[0].norm()
    assert mid_l < 0.85 * min(a.norm(), b.norm()) < mid_s
    assert interpolate(torch.zeros(5), torch.ones(5), 3, "slerp").isfinite().all()
    with pytest.raises(ValueError):
        interpolate(a, b, 1)


def test_sweep_changes_one_component_per_row():
    z = z_from_seed(0, 10)[0]
    out = sweep(z, [2, 7], np.linspace(-3, 3, 5))
    assert out.shape == (10, 10)
    assert torch.allclose(out[:5, 2], torch.linspace(-3, 3, 5))
    assert torch.equal(out[:5, 7], z[7].repeat(5)) and torch.allclose(out[5:, 7], torch.linspace(-3, 3, 5))
    with pytest.raises(ValueError):
        sweep(z, [10], [0.0])


def test_images_and_gifs():
    frames = [np.full((8, 8, 1), v, np.uint8) for v in range(0, 250, 10)]
    data = gif_bytes(frames, frame_ms=50, loop=True)
    assert data[:6] == b"GIF89a" and gif_frame_count(data) == 25
    assert gif_frame_count(gif_bytes(frames, pingpong=True)) == 25 + 23
    with Image.open(io.BytesIO(data)) as im:
        assert im.info.get("loop") == 0 and im.info.get("duration") == 50
    with Image.open(io.BytesIO(gif_bytes(frames, loop=False))) as im:
        assert "loop" not in im.info
    rgb = [np.random.default_rng(i).integers(0, 255, (8, 8, 3), dtype=np.uint8) for i in range(4)]
    assert gif_frame_count(gif_bytes(rgb)) == 4
    grid = make_grid(np.zeros((10, 8, 8, 1), np.uint8), nrow=5, padding=2)
    assert grid.shape == (2 * 10 + 2, 5 * 10 + 2, 1)
    assert upscale(np.ones((3, 4, 1), np.uint8), 4).shape == (12, 16, 1)


# --- CLI -------------------------------------------------------------------------------------------

def test_cli_train_sample_interpolate_sweep(tmp_path):
    t0 = time.time()
    r = run_cli("train", "--dataset", "synthetic", "--steps", "50", "--checkpoints", str(tmp_path),
                "--run-name", "cli", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "finished" in r.stdout and "step 50/50" in r.stdout
    assert time.time() - t0 < 240
    run = tmp_path / "cli"
    assert json.loads((run / "status.json").read_text())["state"] == "finished"
    out = tmp_path / "s.png"
    r = run_cli("sample", str(run), "-n", "16", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert Image.open(out).size == (2 * (4 * 30 + 2),) * 2
    gif = tmp_path / "i.gif"
    r = run_cli("interpolate", str(run), "--seed-a", "1", "--seed-b", "2", "--frames", "12", "--out", str(gif))
    assert r.returncode == 0, r.stderr
    assert gif_frame_count(gif.read_bytes()) == 12
    r = run_cli("sweep", str(run / "snapshots" / "G_000050.safetensors"), "--components", "0,5", "--columns", "6",
                "--out", str(tmp_path / "w.png"))
    assert r.returncode == 0, r.stderr
    r = run_cli("runs", "--checkpoints", str(tmp_path))
    assert "cli" in r.stdout and "finished" in r.stdout


def test_cli_config_file_and_flag_override(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"dataset": "synthetic", "steps": 3, "batch_size": 8, "g_width": 8, "d_width": 8,
                               "run_name": "fromfile", "lr_g": 1e-4}))
    r = run_cli("train", "--config", str(cfg), "--steps", "4", "--checkpoints", str(tmp_path), "--quiet")
    assert r.returncode == 0, r.stderr
    saved = json.loads((tmp_path / "fromfile" / "config.json").read_text())
    assert saved["steps"] == 4 and saved["lr_g"] == 1e-4 and saved["batch_size"] == 8


@pytest.mark.parametrize("args, fragment", [
    (["train", "--image-size", "50"], "image_size"),
    (["train", "--run-name", "../../etc"], "run_name"),
    (["train", "--dataset", "folder", "--image-folder", "/nonexistent/x", "--run-name", "f"], "image folder not found"),
    (["sample", "/nonexistent/run"], "expected a run directory"),
    (["resume", "nope"], "no run named"),
    (["train", "--image-size", "big"], "invalid int value"),
    (["train", "--no-such-flag"], "unrecognized arguments"),
    (["interpolate", "/x", "--method", "cubic"], "invalid choice"),
])
def test_cli_bad_arguments_are_one_line_errors(tmp_path, args, fragment):
    r = run_cli(*args, "--checkpoints", str(tmp_path)) if args[0] in ("train", "resume") else run_cli(*args)
    assert r.returncode != 0
    assert fragment in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_sigterm_stops_cleanly_and_resume_continues(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "dcgan", "train", "--dataset", "synthetic", "--steps", "100000",
                             "--batch-size", "8", "--g-width", "8", "--d-width", "8", "--run-name", "term",
                             "--checkpoints", str(tmp_path), "--quiet"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = RunDir(tmp_path / "term")
    deadline = time.time() + 120
    while time.time() < deadline and run.status().get("step", 0) < 3:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    st = run.status()
    assert st["state"] == "stopped" and st["step"] >= 3
    assert load_training_state(run.checkpoint_path)["step"] == st["step"]
    r = run_cli("resume", "term", "--more", "5", "--checkpoints", str(tmp_path), "--quiet")
    assert r.returncode == 0, r.stderr
    assert run.status()["state"] == "finished" and run.status()["step"] == st["step"] + 5


# --- the shipped model -----------------------------------------------------------------------------

SHIPPED = ROOT / "checkpoints" / "mnist"


@pytest.mark.skipif(not (SHIPPED / "generator.safetensors").is_file(), reason="shipped MNIST model not present")
def test_shipped_mnist_model_samples(tmp_path):
    G = resolve_generator(SHIPPED)
    assert (G.image_size, G.channels) == (28, 1)
    out = tmp_path / "digits.png"
    r = run_cli("sample", str(SHIPPED), "-n", "64", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert Image.open(out).size == (2 * (8 * 30 + 2),) * 2
    st = RunDir(SHIPPED).status()
    assert st["state"] == "finished"


@pytest.mark.parametrize("option", [{"precision": "bf16"}, {"precision": "auto"}, {"compile": True}],
                         ids=["bf16", "auto", "compile"])
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
