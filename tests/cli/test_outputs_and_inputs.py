"""The CLI takes its inputs strictly and says so: a file is what its name says, a failed start leaves no
run behind, a step without weights names those there are, a z is a row of sane numbers, and evaluating
a model leaves its eval.json as it was when only the time taken differs."""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faultkit import cli_out
from dcgan.analysis.views import render_z, sweep_grid, z_from_upload
from dcgan.config import ModelConfig, TrainConfig
from dcgan.imaging import output_format
from dcgan.nets.models import Generator
from dcgan.runs.checkpoint import CheckpointError, export_generator, load_run_generator
from dcgan.runs.files import atomic_write_json
from dcgan.runs.rundir import RunDir
from dcgan.sampling import Z_LIMIT, check_z
from dcgan.training.loop import train

Z_DIM = 16
TINY = dict(dataset="synthetic", image_size=28, batch_size=16, z_dim=Z_DIM, g_width=8, d_width=8, grid_size=16,
            steps=6, snapshot_every=3, checkpoint_every=3, log_every=1000, seed=1)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny finished run with weights at steps 0, 3 and 6."""
    root = tmp_path_factory.mktemp("outputs")
    train(TrainConfig(run_name="tiny", **TINY), root, progress=False, log=lambda _: None)
    return root / "tiny"


def one_line_error(result: tuple[int, str, str], *fragments: str) -> str:
    code, _, err = result
    assert code == 2, (code, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


# --- 1. a file is what its name says -------------------------------------------------------------------

WRITERS = [  # (command and its arguments before the file, the flag naming the file, the format it writes)
    (["sample"], "--out", "PNG (.png)"),
    # interpolate writes .gif .mp4 .webp .apng .zip: its refusals are in tests/cli/test_render.py
    (["sweep"], "--out", "PNG (.png)"),
    (["directions"], "--out", "JSON (.json)"),
    (["directions"], "--strip", "PNG (.png)"),
    (["sensitivity", "--heatmap", "0"], "--out", "PNG (.png)"),
    (["stats"], "--out", "PNG (.png)"),
]


@pytest.mark.parametrize("suffix", [".mp4", ".webp", ".txt", ""])
@pytest.mark.parametrize("command, flag, written", WRITERS, ids=[f"{w[0][0]} {w[1]}" for w in WRITERS])
def test_every_command_refuses_a_file_name_it_cannot_honour_before_any_work(tmp_path, command, flag, written,
                                                                          suffix):
    out = tmp_path / f"x{suffix}"
    # a model that is not there: the name is checked first, so its error is the one given
    args = [command[0], tmp_path / "no-such-run", *command[1:], flag, out]
    err = one_line_error(cli_out(*args), flag, written)
    assert suffix in err and "no-such-run" not in err
    assert not out.exists() and not (tmp_path / "no-such-run").exists()


def test_a_name_it_can_honour_gets_that_format(run, tmp_path):
    gif, png = tmp_path / "a.GIF", tmp_path / "b.png"
    assert cli_out("interpolate", run, "--frames", "3", "--scale", "1", "--out", gif)[0] == 0
    assert cli_out("sample", run, "-n", "4", "--out", png)[0] == 0
    assert gif.read_bytes()[:6] == b"GIF89a" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert output_format("x.Json", ("PNG", "JSON")) == "JSON"
    with pytest.raises(ValueError, match=r"writes PNG \(\.png\) or GIF \(\.gif\) only, not a \.jpg file"):
        output_format("x.jpg", ("PNG", "GIF"))


def test_sensitivity_out_without_heatmap_is_refused(run, tmp_path):
    one_line_error(cli_out("sensitivity", run, "--out", tmp_path / "h.png"), "--heatmap")


# --- 2. a failed start leaves no run folder ------------------------------------------------------------

def test_a_start_that_cannot_work_leaves_no_run_and_says_the_same_twice(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    args = ["train", "--dataset", "folder", "--image-folder", tmp_path / "missing", "--run-name", "x",
            "--checkpoints", checkpoints, "--steps", "2", "--quiet"]
    for _ in range(2):  # the second try must not find the name taken by the first
        one_line_error(cli_out(*args), "image folder not found")
        assert not (checkpoints / "x").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_that_is_not_there_leaves_no_run(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    code, _, err = cli_out("train", "--dataset", "synthetic", "--device", "cuda", "--run-name", "y",
                           "--checkpoints", checkpoints, "--steps", "2", "--quiet")
    assert code != 0 and "cuda" in err.lower() and not (checkpoints / "y").exists()


@pytest.mark.slow  # trains a run
def test_a_relative_image_folder_is_read_from_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "pictures").mkdir()
    rng = np.random.default_rng(0)
    for i in range(24):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(tmp_path / "pictures" / f"{i}.png")
    monkeypatch.chdir(tmp_path)  # the check must look where the trainer will, not in the project
    code, _, err = cli_out("train", "--dataset", "folder", "--image-folder", "pictures", "--image-size", "28",
                           "--channels", "1", "--batch-size", "8", "--g-width", "8", "--d-width", "8",
                           "--steps", "2", "--run-name", "rel", "--checkpoints", tmp_path / "ck", "--quiet")
    assert code == 0, err


# --- 3. a step without weights names the steps there are -----------------------------------------------

@pytest.mark.parametrize("command", [["sample"], ["interpolate", "--frames", "2"], ["sweep"],
                                     ["sensitivity"], ["directions", "--k", "2"], ["evaluate"]])
def test_a_step_without_weights_lists_the_steps_that_have_them(run, tmp_path, command):
    args = [command[0], run, *command[1:], "--step", "12345"]
    if command[0] in ("sample", "interpolate", "sweep"):
        args += ["--out", tmp_path / ("x.gif" if command[0] == "interpolate" else "x.png")]
    one_line_error(cli_out(*args), "no generator weights for step 12345", "steps with weights: 0, 3, 6",
                   "without a step, the final generator")


def test_a_long_list_of_steps_is_shortened_and_a_file_takes_no_step(run, tmp_path):
    many = RunDir(tmp_path / "many")
    shutil.copytree(run, many.path)
    for step in range(9, 300, 3):  # stand-ins: only the files' names are listed
        shutil.copy(many.grid_path(6), many.grid_path(step))
        shutil.copy(many.snapshot_weights_path(6), many.snapshot_weights_path(step))
    with pytest.raises(CheckpointError) as e:
        load_run_generator(many, 1)
    assert "steps with weights: 0, 3, 6, 9, ..., 288, 291, 294, 297 (100 in all)" in str(e.value)
    one_line_error(cli_out("sample", run / "generator.safetensors", "--step", "3", "--out", tmp_path / "x.png"),
                   "one weights file", "a step picks a snapshot of a run directory")


# --- 4. a z is one row of sane numbers -----------------------------------------------------------------

def npy(array, pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=pickle)
    return buf.getvalue()


NOT_A_Z = [  # (what passes for a z, the message's fragment, whether JSON and NPY files can hold it)
    ([[0.1] * 4] * 4, "not an array of shape (4, 4)", "json npy"),  # 16 values, but a grid
    (np.zeros((Z_DIM, 1)), "not an array of shape (16, 1)", "json npy"),
    ([[[0.0] * Z_DIM]], "not an array of 3 dimensions", "json npy"),
    ([1e30] + [0.0] * (Z_DIM - 1), f"beyond ±{Z_LIMIT:g}", "json npy"),
    ([-1500] + [0] * (Z_DIM - 1), f"beyond ±{Z_LIMIT:g}", "json npy"),
    ([True] * Z_DIM, "not true/false values", "json npy"),
    ([0.5] * (Z_DIM - 1) + [False], "not true/false values", "json"),  # numpy alone would read 0.0
    (np.ones(Z_DIM, dtype=complex), "not complex numbers", "npy"),
    (["1.5"] * Z_DIM, "not text", "json npy"),
    ([0.0] * (Z_DIM - 1) + [None], "not values that are not plain numbers", "json"),
    ([[0.0] * 8, [0.0] * 8, [0.0]], "not values that are not plain numbers", "json"),  # ragged
    ([], "z has no values", "json npy"),
    (3.0, "not a single number", "json npy"),
]


@pytest.mark.parametrize("z, fragment, files", NOT_A_Z)
def test_what_only_passes_for_a_z_is_refused_alike_in_core_and_uploads(z, fragment, files):
    G = Generator(Z_DIM, 28, 1, 8)
    with pytest.raises(ValueError) as core:
        render_z(G, z)
    assert fragment in str(core.value), str(core.value)
    uploads = []
    if "json" in files:
        uploads.append(json.dumps({"z": z.tolist() if isinstance(z, np.ndarray) else z}).encode())
    if "npy" in files:
        uploads.append(npy(np.asarray(z)))
    for data in uploads:
        with pytest.raises(ValueError) as uploaded:
            z_from_upload(data, Z_DIM)
        # the same words as the core's, after what the file is not
        assert str(uploaded.value).startswith("not a z file") and str(uploaded.value).endswith(str(core.value))


def test_a_pickled_npy_is_never_unpickled_and_a_good_z_passes(tmp_path):
    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self):
            return open, (str(marker), "w")

    with pytest.raises(ValueError, match="not a z file"):
        z_from_upload(npy(np.array([Payload()] * Z_DIM, dtype=object), pickle=True), Z_DIM)
    assert not marker.exists()
    z = np.linspace(-Z_LIMIT, Z_LIMIT, Z_DIM)
    assert np.allclose(check_z(z, Z_DIM).numpy(), z) and check_z(torch.zeros(1, Z_DIM)).shape == (Z_DIM,)


def test_a_sweep_past_its_bound_is_refused_by_the_cli_as_by_the_app(run, tmp_path):
    out = tmp_path / "w.png"
    err = one_line_error(cli_out("sweep", run, "--low=-1e6", "--high", "3", "--out", out), "must lie within ±100")
    with pytest.raises(ValueError) as app:
        sweep_grid(Generator(Z_DIM, 28, 1, 8), np.zeros(Z_DIM), [0], low=-1e6, high=3)
    assert str(app.value) in err and not out.exists()


# --- 6. evaluating leaves eval.json as it was when only its timing changes --------------------------------

def test_evaluate_leaves_eval_json_alone_unless_the_figures_change_or_save_is_given(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    cfg = TrainConfig(run_name="ev", dataset="folder", image_folder=str(folder), image_size=32, channels=1,
                      z_dim=8, g_width=8, holdout=0.3)
    run = RunDir(tmp_path / "ev")
    run.path.mkdir()
    torch.manual_seed(0)
    export_generator(run.generator_path, run.generator_config_path, Generator(8, 32, 1, 8),
                     ModelConfig(32, 1, 8, 8, 4), extra={"step": 0})
    atomic_write_json(run.config_path, cfg.to_dict())

    def evaluate(*more: str) -> str:
        code, _, err = cli_out("evaluate", run.path, "--samples", "100", *more)
        assert code == 0, err
        assert "evaluated in" in err  # the time taken goes to the console
        return err

    assert "saved" in evaluate()
    first = run.eval_report_path.stat()
    shipped = run.eval_report_path.read_bytes()
    assert "left as it was" in evaluate()  # as a clone evaluating a shipped model: its file untouched
    assert run.eval_report_path.read_bytes() == shipped and run.eval_report_path.stat().st_ino == first.st_ino
    assert "saved" in evaluate("--save")  # an explicit re-ship rewrites it
    assert run.eval_report_path.stat().st_ino != first.st_ino
    assert "saved" in evaluate("--seed", "1")  # other figures: written
    assert json.loads(run.eval_report_path.read_text())["seed"] == 1
    one_line_error(cli_out("evaluate", run.path, "--save", "--no-save"), "contradict")
