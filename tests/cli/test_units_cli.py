"""`python -m dcgan units`: the Learn page's Inside G figure as a PNG, its ranking printed, bad input in one line."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgan import cli
from dcgan.analysis.units import inside_view, units_figure
from dcgan.config import TrainConfig
from dcgan.runs.checkpoint import resolve_generator
from dcgan.sampling import z_from_seed
from dcgan.training.loop import train


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    cfg = TrainConfig(run_name="tiny", dataset="synthetic", steps=2, batch_size=8, z_dim=8, g_width=8, d_width=8,
                      grid_size=4, snapshot_every=2, checkpoint_every=2)
    assert train(cfg, root, progress=False, log=lambda _: None) == "finished"
    return root / "tiny"


def call(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_units_writes_the_pages_figure_and_lists_the_ranking(run, capsys, tmp_path):
    png = tmp_path / "units.png"
    code, out, err = call(capsys, "units", run, "--seed", "3", "--layer", "1", "--off", "2,5", "--top", "4",
                          "--out", png)
    assert code == 0, err
    G = resolve_generator(run)
    view = inside_view(G, z_from_seed(3, G.z_dim)[0], 1, [2, 5])
    with Image.open(png) as im:
        assert np.array_equal(np.asarray(im.convert("RGB")), units_figure(view, " (seed 3)"))  # the same figure
    rows = [line.split() for line in out.splitlines() if line.strip() and line.split()[0].isdigit()]
    assert [int(r[0]) for r in rows] == view.order[:4]
    assert "switched off: 2, 5" in out and f"wrote {png}" in out


@pytest.mark.parametrize("args, fragment", [
    (["--layer", "3"], "layer 3 is outside 1..2"),
    (["--layer", "1", "--off", "16"], "unit 16 is outside 0..15"),
    (["--layer", "1", "--off", "two"], "whole numbers"),
    (["--layer", "1", "--top", "0"], "--top"),
    (["--layer", "1", "--out", "fig.gif"], "PNG"),
    (["--layer", "1", "--class-units"], "needs the evaluator's classifier"),
])
def test_bad_units_input_is_a_one_line_error(run, capsys, tmp_path, args, fragment):
    args = [a if a != "fig.gif" else str(tmp_path / a) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "u.png")]
    code, _, err = call(capsys, "units", run, *args)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], err
