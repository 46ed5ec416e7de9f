"""`python -m dcgan` end to end: train, sample, interpolate, sweep, config files, one-line errors, SIGTERM and
resume, the shipped model."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from dcgan.runs.checkpoint import load_training_state, resolve_generator
from dcgan.imaging import gif_frame_count
from dcgan.runs.rundir import RunDir


ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "dcgan", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.mark.slow
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


@pytest.mark.slow
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
@pytest.mark.slow
def test_cli_bad_arguments_are_one_line_errors(tmp_path, args, fragment):
    r = run_cli(*args, "--checkpoints", str(tmp_path)) if args[0] in ("train", "resume") else run_cli(*args)
    assert r.returncode != 0
    assert fragment in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
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



SHIPPED = ROOT / "checkpoints" / "mnist"


@pytest.mark.slow
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
