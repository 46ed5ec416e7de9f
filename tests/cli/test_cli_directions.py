"""`python -m dcgan directions` and `python -m dcgan sensitivity` on a tiny run, and labelled directions of
the shipped MNIST model: what they print, the files they write, and one-line errors for bad input."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgan import cli
from dcgan.config import TrainConfig
from dcgan.analysis.directions import load_directions
from dcgan.training.loop import train


# torch's first forward-mode AD call scripts its JVP decompositions with the deprecated torch.jit.script
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")

ROOT = Path(__file__).resolve().parents[2]
MNIST_RUN = ROOT / "checkpoints" / "mnist"
MNIST_CLASSIFIER = ROOT / "checkpoints" / "evaluators" / "mnist.safetensors"
Z_DIM, SIZE = 8, 28  # the tiny run's (TrainConfig's default image_size)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A two-step synthetic run: a real run directory with a generator, in a second or two."""
    root = tmp_path_factory.mktemp("runs")
    cfg = TrainConfig(run_name="tiny", dataset="synthetic", steps=2, batch_size=8, z_dim=Z_DIM, g_width=8,
                      d_width=8, grid_size=4, snapshot_every=2, checkpoint_every=2)
    assert train(cfg, root, progress=False, log=lambda _: None) == "finished"
    return root / "tiny"


def call(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line_error(result: tuple[int, str, str], fragment: str) -> None:
    code, _, err = result
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], err


def png_size(path: Path) -> tuple[int, int]:
    with Image.open(io.BytesIO(path.read_bytes())) as im:
        return im.size


def listed(out: str) -> list[list[str]]:
    """The rows of the directions table: index, name..., score."""
    return [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]


def test_sefa_is_saved_with_the_run(run, capsys):
    code, out, _ = call(capsys, "directions", run, "--method", "sefa", "--k", "5")
    assert code == 0
    path = run / "directions_sefa.json"
    assert f"wrote {path}" in out and "eigenvalue" in out.splitlines()[0]
    rows = listed(out)
    assert [int(r[0]) for r in rows] == list(range(5))
    d = load_directions(path, Z_DIM)
    assert d.method == "sefa" and d.z_dim == Z_DIM and d.vectors.shape == (5, Z_DIM)
    np.testing.assert_allclose(np.linalg.norm(d.vectors, axis=1), 1, atol=1e-5)
    assert d.metadata["model_step"] == 2  # the final export's step, from generator.json
    assert [float(r[-1]) for r in rows] == pytest.approx(d.scores, rel=1e-3)


def test_k_beyond_z_dim_gives_z_dim_directions(run, capsys, tmp_path):
    code, out, _ = call(capsys, "directions", run, "--k", "50", "--out", tmp_path / "d.json")
    assert code == 0 and len(listed(out)) == Z_DIM


def test_local_directions_at_a_seed(run, capsys, tmp_path):
    out_file = tmp_path / "local.json"
    code, out, _ = call(capsys, "directions", run, "--method", "local", "--k", "3", "--z-seed", "4",
                        "--step", "2", "--out", out_file)
    assert code == 0 and f"wrote {out_file}" in out
    d = load_directions(out_file, Z_DIM)
    assert d.method == "local" and len(d) == 3 and d.metadata["model_step"] == 2
    assert d.scores == sorted(d.scores, reverse=True)


def test_labels_on_a_run_without_a_classifier(run, capsys):
    one_line_error(call(capsys, "directions", run, "--method", "labels", "--samples", "100"), "classifier")
    assert not (run / "directions_labels.json").exists()


def test_strip_of_a_direction_by_name(run, capsys, tmp_path):
    png = tmp_path / "strip.png"
    code, out, _ = call(capsys, "directions", run, "--out", tmp_path / "d.json", "--strip", png,
                        "--direction", "SeFa 2", "--reach", "3")
    assert code == 0 and f"wrote {png}" in out and "SeFa 2" in out.splitlines()[-1]
    padding, columns, scale = 2, 9, 4  # make_grid's padding; the default columns; upscale x4
    assert png_size(png) == (scale * (padding + columns * (SIZE + padding)), scale * (SIZE + 2 * padding))


def test_a_generator_file_needs_out(run, capsys, tmp_path):
    one_line_error(call(capsys, "directions", run / "generator.safetensors"), "--out")
    code, _, _ = call(capsys, "directions", run / "generator.safetensors", "--out", tmp_path / "d.json")
    assert code == 0 and load_directions(tmp_path / "d.json", Z_DIM).method == "sefa"


@pytest.mark.parametrize("args, fragment", [
    (["--k", "0"], "--k"),
    (["--samples", "5"], "--samples"),
    (["--strip", "STRIP", "--direction", "no such"], "no direction named 'no such'"),
    (["--strip", "STRIP", "--direction", "99"], "--direction 99"),
    (["--strip", "STRIP", "--columns", "1"], "--columns"),
    (["--strip", "STRIP", "--reach", "nan"], "--reach"),
    (["--direction", "0"], "--strip"),
])
def test_bad_directions_input_is_a_one_line_error(run, capsys, tmp_path, args, fragment):
    args = [str(tmp_path / "s.png") if a == "STRIP" else a for a in args]
    one_line_error(call(capsys, "directions", run, "--out", tmp_path / "d.json", *args), fragment)
    assert not (tmp_path / "s.png").exists()


def sensitivity_rows(out: str) -> list[list[str]]:
    """The rows of `sensitivity`'s table: component, value."""
    return [line.split() for line in out.splitlines() if line.strip()[:1].isdigit() and len(line.split()) == 2]


def test_sensitivity_lists_components_by_size(run, capsys):
    code, out, _ = call(capsys, "sensitivity", run, "--seed", "3", "--top", "5")
    assert code == 0
    rows = sensitivity_rows(out)
    values = [float(v) for _, v in rows]
    assert len(rows) == 5 and values == sorted(values, reverse=True)
    assert all(0 <= int(i) < Z_DIM for i, _ in rows) and len({i for i, _ in rows}) == 5
    assert f"{Z_DIM} components" in out and "exactly 0" in out


def test_sensitivity_heatmap_png(run, capsys, tmp_path):
    png = tmp_path / "heat.png"
    code, out, _ = call(capsys, "sensitivity", run, "--seed", "1", "--heatmap", "2", "--out", png)
    assert code == 0 and f"wrote {png}" in out
    assert png_size(png) == (8 * SIZE, 8 * SIZE)
    with Image.open(png) as im:
        assert im.mode == "RGB"


def test_sweep_of_the_most_sensitive_components(run, capsys, tmp_path):
    """`sweep --most-sensitive N` sweeps the components `sensitivity` lists first, in its order."""
    _, out, _ = call(capsys, "sensitivity", run, "--seed", "3", "--top", "3")
    top = [component for component, _ in sensitivity_rows(out)]
    png = tmp_path / "sweep.png"
    code, out, _ = call(capsys, "sweep", run, "--seed", "3", "--most-sensitive", "3", "--columns", "4",
                        "--scale", "1", "--out", png)
    assert code == 0 and f"components {','.join(top)} x 4 values" in out
    assert png_size(png) == (4 * (SIZE + 2) + 2, 3 * (SIZE + 2) + 2)  # three rows of four, make_grid's 2 px padding
    one_line_error(call(capsys, "sweep", run, "--most-sensitive", "0", "--out", png), "--most-sensitive")


@pytest.mark.parametrize("args, fragment", [
    (["--top", "0"], "--top"),
    (["--heatmap", str(Z_DIM)], f"outside 0..{Z_DIM - 1}"),
])
def test_bad_sensitivity_input_is_a_one_line_error(run, capsys, tmp_path, args, fragment):
    one_line_error(call(capsys, "sensitivity", run, *args, "--out", tmp_path / "h.png"), fragment)
    assert not (tmp_path / "h.png").exists()


@pytest.mark.skipif(not (MNIST_RUN / "generator.safetensors").is_file() or not MNIST_CLASSIFIER.is_file(),
                    reason="needs the shipped checkpoints/mnist generator and evaluators/mnist classifier")
def test_shipped_mnist_labelled_directions(capsys, tmp_path):
    out_file = tmp_path / "labels.json"
    code, out, err = call(capsys, "directions", MNIST_RUN, "--method", "labels", "--samples", "1000",
                          "--out", out_file, "--strip", tmp_path / "seven.png", "--direction", "toward 7")
    assert code == 0, err
    assert "labelled 1000/1000 generated images" in err and "held-out balanced accuracy" in out
    d = load_directions(out_file, 100)
    assert d.method == "labels" and "toward 7" in d.names and d.metadata["samples"] == 1000
    assert d.metadata["classifier"] == "evaluators/mnist.safetensors"
    assert min(d.scores) > 0.5  # every kept class is told apart better than chance
    assert (tmp_path / "seven.png").is_file()


def test_interpolate_along_a_saved_direction(run, capsys, tmp_path):
    code, _, err = call(capsys, "directions", run, "--method", "sefa", "--k", "3")
    assert code == 0, err
    gif = tmp_path / "along.gif"
    code, out, err = call(capsys, "interpolate", run, "--direction", "SeFa 2", "--seed-a", 4, "--frames", 5,
                          "--reach", 3, "--scale", 1, "--out", gif)
    assert code == 0, err
    assert "along 'SeFa 2' through seed 4's z, ±3" in out
    with Image.open(gif) as im:
        assert im.n_frames == 5
    one_line_error(call(capsys, "interpolate", run, "--direction", "SeFa 9", "--out", gif),
                   "no saved direction named 'SeFa 9' in tiny: there are SeFa 1, SeFa 2, SeFa 3")
    one_line_error(call(capsys, "interpolate", run, "--direction", "SeFa 1", "--method", "slerp", "--out", gif),
                   "--direction goes along a straight line")
    one_line_error(call(capsys, "interpolate", run, "--direction", "SeFa 1", "--reach", "nan", "--out", gif),
                   "reach must be above 0")
