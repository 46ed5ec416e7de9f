"""Bad and hostile input to a run: booby-trapped and broken checkpoints and generators, broken run configs,
path tricks in run names and symlinks, out-of-range interpolations and z, in the CLI and the app."""
from __future__ import annotations

import io
import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import faultkit
from apptestkit import open_app
from faultkit import cli_out, one_line_error
from dcgan.training import launch
from dcgan.runs.checkpoint import CheckpointError, checkpoint_step, load_run_generator, load_training_state
from dcgan.config import ConfigError, TrainConfig
from dcgan.analysis.views import interpolation, render_z, sweep_grid, z_from_upload, z_json, z_npy
from dcgan.sampling import interpolate, sweep, z_from_seed
from dcgan.runs.rundir import RunDir, list_runs
from dcgan.training.loop import train


TINY = dict(dataset="synthetic", image_size=28, batch_size=16, z_dim=16, g_width=8, d_width=8, grid_size=16,
            steps=6, snapshot_every=3, checkpoint_every=3, log_every=1000, seed=1)


class Payload:
    """Unpickled, it would create a marker file: what a booby-trapped checkpoint would do worse."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """'good': a tiny finished run; 'wide' and 'big': the same with another width and image size."""
    root = tmp_path_factory.mktemp("hostile")
    for name, changes in (("good", {}), ("wide", {"g_width": 16, "d_width": 16}), ("big", {"image_size": 32})):
        train(TrainConfig(run_name=name, **{**TINY, **changes}), root, progress=False, log=lambda _: None)
    return root


@pytest.fixture
def root(runs, tmp_path) -> Path:
    """A private checkpoints folder holding a copy of 'good'."""
    root = tmp_path / "checkpoints"
    shutil.copytree(runs / "good", root / "good")
    return root




def copy_run(root: Path, source: Path, name: str) -> RunDir:
    shutil.copytree(source, root / name)
    config = json.loads((root / name / "config.json").read_text())
    (root / name / "config.json").write_text(json.dumps({**config, "run_name": name}))
    return RunDir(root / name)



def test_pickle_payload_in_a_checkpoint_is_refused_and_never_runs(root, tmp_path, app_env):
    marker = tmp_path / "payload-ran"
    run = copy_run(root, root / "good", "evil")
    buf = io.BytesIO()
    torch.save({"G": Payload(marker), "step": 3}, buf)
    trapped = buf.getvalue()
    # the payload is live: an unrestricted load runs it
    (tmp_path / "probe.pt").write_bytes(trapped)
    torch.load(tmp_path / "probe.pt", weights_only=False)
    assert marker.exists()
    marker.unlink()

    import pickle
    for data in (trapped, pickle.dumps(Payload(marker))):  # zip and legacy formats
        run.checkpoint_path.write_bytes(data)
        for load in (load_training_state, checkpoint_step):
            with pytest.raises(CheckpointError, match="refused checkpoint .* holds Python objects") as e:
                load(run.checkpoint_path)
            assert "\n" not in str(e.value)
        one_line_error(cli_out("resume", "evil", "--more", "3", "--checkpoints", root), "refused checkpoint")
        assert not marker.exists()

    app_env(root)
    at = open_app("train", run="evil")
    next(b for b in at.button if b.label == "Resume").click().run()
    assert not at.exception
    assert any("Cannot resume: refused checkpoint" in e.value for e in at.error)
    assert not marker.exists()



def torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


CHECKPOINTS = {
    "zero-byte": lambda good, runs: b"",
    "truncated": lambda good, runs: good[:len(good) // 2],
    "garbage": lambda good, runs: os.urandom(4096),
    "a list": lambda good, runs: torch_bytes([1, 2, 3]),
    "no optimiser": lambda good, runs: torch_bytes({"G": {}, "step": 3}),
    "another width": lambda good, runs: (runs / "wide" / "checkpoint.pt").read_bytes(),
    "another image size": lambda good, runs: (runs / "big" / "checkpoint.pt").read_bytes(),
}


@pytest.mark.parametrize("kind", CHECKPOINTS)
def test_broken_checkpoint_is_a_one_line_error(root, runs, kind):
    run = RunDir(root / "good")
    run.checkpoint_path.write_bytes(CHECKPOINTS[kind](run.checkpoint_path.read_bytes(), runs))
    result = cli_out("resume", "good", "--more", "3", "--checkpoints", root)
    one_line_error(result, "checkpoint.pt")
    err = result[2]
    if kind.startswith("another"):  # readable, but not this run's nets: refused before training
        assert "does not fit this run's config" in err and ("size mismatch" in err or "key(s)" in err)
        st_ = run.status()
        assert st_["state"] == "failed" and "does not fit" in st_["error"] and "\n" not in st_["error"]
    assert [r["step"] for r in run.metrics()] == list(range(1, 7))  # nothing trained, nothing lost


def safetensors_header_bomb() -> bytes:
    return struct.pack("<Q", 2 ** 62) + b"{" * 64


GENERATORS = {  # kind -> (new generator.safetensors bytes or None, generator.json changes or None)
    "zero-byte weights": (lambda good, runs: b"", None),
    "truncated weights": (lambda good, runs: good[:len(good) // 2], None),
    "garbage weights": (lambda good, runs: os.urandom(2048), None),
    "header bomb": (lambda good, runs: safetensors_header_bomb(), None),
    "another width": (lambda good, runs: (runs / "wide" / "generator.safetensors").read_bytes(), None),
    "another image size": (lambda good, runs: (runs / "big" / "generator.safetensors").read_bytes(), None),
    "unsupported image size": (None, {"image_size": 50}),
    "huge width": (None, {"g_width": 10 ** 7}),
    "negative z_dim": (None, {"z_dim": -4}),
    "z_dim not a number": (None, {"z_dim": "sixteen"}),
    "json list": (None, [1, 2]),
    "json garbage": (None, "{not json"),
}


def break_generator(run: RunDir, runs: Path, kind: str) -> None:
    weights, config = GENERATORS[kind]
    if weights:
        run.generator_path.write_bytes(weights(run.generator_path.read_bytes(), runs))
    if isinstance(config, dict):
        data = json.loads(run.generator_config_path.read_text())
        run.generator_config_path.write_text(json.dumps({**data, **config}))
    elif config is not None:
        run.generator_config_path.write_text(config if isinstance(config, str) else json.dumps(config))


@pytest.mark.parametrize("kind", GENERATORS)
def test_broken_generator_is_a_one_line_error(root, runs, kind):
    run = RunDir(root / "good")
    break_generator(run, runs, kind)
    with pytest.raises(CheckpointError) as e:
        load_run_generator(run)
    assert "\n" not in str(e.value)
    one_line_error(cli_out("sample", run.path, "-n", "4", "--out", root / "s.png"))
    assert not (root / "s.png").exists()


def test_app_shows_broken_generators_as_errors(root, runs, app_env):
    for i, kind in enumerate(GENERATORS):
        break_generator(copy_run(root, root / "good", f"broken{i}"), runs, kind)
    app_env(root)
    at = open_app()
    for i, kind in enumerate(GENERATORS):
        at.selectbox(key="run").set_value(f"broken{i}").run()
        assert not at.exception, kind
        assert any("Cannot load the generator" in e.value for e in at.error), kind
    at.switch_page("explorer/interpolate.py").run()
    assert not at.exception



BAD_CONFIGS = [  # (changes to a good config, the field the message must name)
    ({"learning_rate": 0.1}, "learning_rate"),
    ({"steps": "many"}, "steps"),
    ({"steps": 2.5}, "steps"),
    ({"lr_d": "fast"}, "lr_d"),
    ({"adaptive_lr": "yes"}, "adaptive_lr"),
    ({"image_size": None}, "image_size"),
    ({"lr_d": 0}, "lr_d"),
    ({"lr_g": -1e-4}, "lr_g"),
    ({"steps": 0}, "steps"),
    ({"steps": -5}, "steps"),
    ({"batch_size": 0}, "batch_size"),
    ({"checkpoint_every": -1}, "checkpoint_every"),
    ({"image_size": 48}, "image_size"),
    ({"image_size": 256}, "image_size"),
    ({"acc_low": 0.95, "acc_high": 0.9}, "acc_low"),
    ({"lr_min": 1e-2, "lr_max": 1e-3}, "lr_min"),
    ({"run_name": "../x"}, "run_name"),
]


@pytest.mark.parametrize("changes, field", BAD_CONFIGS, ids=[f for _, f in BAD_CONFIGS])
def test_bad_config_file_is_a_one_line_error_naming_the_field(tmp_path, changes, field):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({**TINY, "run_name": "c", **changes}))
    one_line_error(cli_out("train", "--config", config, "--checkpoints", tmp_path / "ck", "--quiet"), field)
    assert not (tmp_path / "ck" / "c").exists()


@pytest.mark.parametrize("text, fragment", [("[1, 2]", "JSON object"), ("{not json", "not valid JSON"),
                                            ("", "not valid JSON")])
def test_config_file_that_is_not_an_object(tmp_path, text, fragment):
    config = tmp_path / "c.json"
    config.write_text(text)
    one_line_error(cli_out("train", "--config", config, "--checkpoints", tmp_path), fragment)


def test_bad_config_json_of_a_run_in_cli_and_app(root, app_env):
    bad = {"steps": "many", "learning_rate": 1}
    for name, change in bad.items():
        run = copy_run(root, root / "good", f"bad-{name}".replace("_", "-"))
        run.config_path.write_text(json.dumps({**json.loads(run.config_path.read_text()), name: change}))
        one_line_error(cli_out("resume", run.name, "--more", "3", "--checkpoints", root), name)
    app_env(root)
    at = open_app("train", run="bad-steps")
    assert any("config.json of run **bad-steps** is not usable" in e.value and "steps" in e.value for e in at.error)
    at.selectbox(key="run").set_value("bad-learning-rate").run()
    assert not at.exception
    assert any("learning_rate" in e.value for e in at.error)
    at.switch_page("explorer/latent.py").run()  # its generator.json is fine: it can still be explored
    assert not at.exception and not at.error



BAD_NAMES = ["..", ".", "../x", "/etc", "/tmp/x", "a/b", "a;touch MARK", "$(touch MARK)", "`touch MARK`",
             "a b", "x|y", "ok&&touch MARK", "-rf", "a" * 65, "name\n", "~root", "*"]


@pytest.mark.parametrize("name", BAD_NAMES, ids=range(len(BAD_NAMES)))
def test_bad_run_names_are_refused(tmp_path, name, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ck = tmp_path / "ck"
    # --name=VALUE and "--": a name like "-rf" reaches the checks rather than argparse's option parsing
    one_line_error(cli_out("train", f"--run-name={name}", "--checkpoints", ck, "--steps", "1", "--quiet"), "run_name")
    one_line_error(cli_out("resume", "--more", "1", "--checkpoints", ck, "--", name), "run name")
    one_line_error(cli_out("stop", "--checkpoints", ck, "--", name), "run name")
    with pytest.raises(ConfigError):
        RunDir.of(ck, name)
    assert not ck.exists() and not (tmp_path / "MARK").exists()


def test_symlinks_out_of_checkpoints_are_refused(root, tmp_path, app_env):
    outside = tmp_path / "outside"
    shutil.copytree(root / "good", outside / "run")
    (root / "escape").symlink_to(outside / "run", target_is_directory=True)
    sneaky = copy_run(root, root / "good", "sneaky")
    shutil.rmtree(sneaky.snapshots_dir)
    sneaky.snapshots_dir.symlink_to(outside / "run" / "snapshots", target_is_directory=True)
    before = sorted(p.name for p in (outside / "run").iterdir())
    for name in ("escape", "sneaky"):
        with pytest.raises(ConfigError, match="link to a folder outside"):
            RunDir.of(root, name)
        one_line_error(cli_out("resume", name, "--more", "2", "--checkpoints", root), "outside")
        one_line_error(cli_out("stop", name, "--checkpoints", root), "outside")
    assert [r.name for r in list_runs(root)] == ["good"]
    assert sorted(p.name for p in (outside / "run").iterdir()) == before  # no STOP, nothing written
    app_env(root)
    at = open_app()
    assert at.selectbox(key="run").options == ["good"]


@pytest.mark.slow
def test_trainer_is_launched_with_an_argument_list_and_metacharacters_stay_inert(tmp_path, monkeypatch):
    """Launch from a folder whose name is a shell command: the launcher passes an argument list
    (no shell), and the very command it would run trains on that folder and runs nothing else."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "imgs; touch MARK $(touch MARK2) `touch MARK3` | tee x"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((40, 40, 3), 60 * i, np.uint8)).save(folder / f"{i}.png")
    calls = []

    class FakePopen:
        def __init__(self, args, **kwargs):
            calls.append((args, kwargs))
            self.pid = 2 ** 22 + 7

        def wait(self):
            return 0

    monkeypatch.setattr(launch.subprocess, "Popen", FakePopen)
    cfg = TrainConfig(**{**TINY, "run_name": "meta", "dataset": "folder", "image_folder": str(folder), "steps": 3})
    launch.start_training(cfg, tmp_path / "ck")
    (args, kwargs), = calls
    assert isinstance(args, list) and not kwargs.get("shell") and args[1:3] == ["-m", "dcgan"]
    assert json.loads(Path(args[args.index("--config") + 1]).read_text())["image_folder"] == str(folder)
    RunDir(tmp_path / "ck" / "meta").launch_path.unlink()  # the fake pid: as if never launched
    t = faultkit.Trainer(args[3:], tmp_path / "meta.log")
    assert t.join() == 0, t.log()
    assert RunDir(tmp_path / "ck" / "meta").status()["state"] == "finished"
    assert not any((tmp_path / m).exists() for m in ("MARK", "MARK2", "MARK3", "x"))
    assert not any(p.name.startswith("MARK") for p in folder.iterdir())


@pytest.fixture(scope="module")
def G(runs):
    return load_run_generator(RunDir(runs / "good"))


def test_interpolation_frames_out_of_range_are_refused(G):
    z0, z1 = z_from_seed(0, 16)[0], z_from_seed(1, 16)[0]
    for frames in (0, 1, -3, 10_000):
        with pytest.raises(ValueError, match=f"2 to 1000 frames, not {frames}"):
            interpolation(G, z0, z1, frames=frames)
    with pytest.raises(ValueError, match="megapixels"):  # refused before a single frame is made
        interpolation(G, z0, z1, frames=1000, scale=16)
    assert interpolation(G, z0, z1, frames=2).frame_count == 2
    for frames in ("0", "1", "10000"):  # the CLI refuses before it loads a model
        one_line_error(cli_out("interpolate", "no-model", "--frames", frames), "--frames must be between 2 and 1000")


def test_nan_and_infinite_z_are_refused(G):
    z = z_from_seed(0, 16)[0].numpy()
    for bad in (np.nan, np.inf, -np.inf):
        poisoned = z.copy()
        poisoned[3] = bad
        for call in (lambda: render_z(G, poisoned), lambda: interpolation(G, poisoned, z, frames=4),
                     lambda: interpolation(G, z, poisoned, frames=4), lambda: sweep_grid(G, poisoned, [0, 1])):
            with pytest.raises(ValueError, match="NaN or infinite"):
                call()
    with pytest.raises(ValueError, match="z has 15 values"):
        render_z(G, z[:15])
    with pytest.raises(ValueError, match="finite From < To"):
        sweep_grid(G, z, [0], low=float("nan"), high=3)
    with pytest.raises(ValueError, match="finite numbers"):
        sweep(torch.as_tensor(z), [0], [0.0, float("inf")])
    with pytest.raises(ValueError, match="over 4096 images"):
        sweep(torch.as_tensor(z), list(range(16)) * 20, np.linspace(-1, 1, 64))
    with pytest.raises(ValueError, match="outside 0..15"):
        sweep(torch.as_tensor(z), [16], [0.0])


@pytest.mark.parametrize("args, fragment", [
    (["--low", "nan"], "finite numbers"),
    (["--low=-inf"], "finite numbers"),
    (["--components", "0,99"], "component 99 is outside"),
    (["--components", "a,b"], "comma-separated integers"),
    (["--columns", "100000"], "--columns must be between"),
    (["--components", ",".join(["0"] * 1000), "--columns", "64"], "over 4096 images"),
])
def test_cli_sweep_out_of_range(runs, tmp_path, args, fragment):
    out = tmp_path / "w.png"
    one_line_error(cli_out("sweep", runs / "good", *args, "--out", out), fragment)
    assert not out.exists()


def test_z_files_round_trip_and_bad_ones_are_refused():
    z = z_from_seed(5, 16)[0].numpy()
    assert np.allclose(z_from_upload(z_json(z).encode(), 16), z, atol=1e-6)
    assert np.array_equal(z_from_upload(z_npy(z), 16), z)
    object_npy = io.BytesIO()
    np.save(object_npy, np.array([Payload(Path("/tmp/never")), 1], dtype=object), allow_pickle=True)
    bad = {
        b'{"z": [NaN' + b", 0.0" * 15 + b"]}": "NaN or infinite",
        b'{"z": [Infinity' + b", 0.0" * 15 + b"]}": "NaN or infinite",
        z_npy(np.full(16, np.nan)): "NaN or infinite",
        z_json(z[:8]).encode(): "z has 8 values",
        b'{"z": "sixteen numbers"}': "not a z file",
        b'{"z": [[1, 2], [3]]}': "not a z file",
        b"\x00\x01garbage": "not a z file",
        object_npy.getvalue(): "not a z file",
        b"[" + b"0.0, " * 400_000 + b"0.0]": "at most 1,000,000 bytes",
    }
    for data, fragment in bad.items():
        with pytest.raises(ValueError, match=fragment):
            z_from_upload(data, 16)
    assert not Path("/tmp/never").exists()
    assert interpolate(torch.zeros(16), torch.ones(16), 3).shape == (3, 16)
