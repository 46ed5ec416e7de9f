"""`python -m dcgan runs` lists runs without loading torch (3 s of a 3.5 s listing before), and the CLI's
errors keep their exit codes though their classes are no longer imported up front."""
from __future__ import annotations

import subprocess
import sys

import pytest

from dcgan import cli
from dcgan.config import TrainConfig
from dcgan.runs.files import atomic_write_json
from dcgan.runs.rundir import RunDir


def test_listing_runs_does_not_import_torch(tmp_path):
    run = RunDir(tmp_path / "augmented")
    run.path.mkdir()
    # DiffAugment's policy is checked when the config is read: its parser must not bring torch along
    atomic_write_json(run.config_path, TrainConfig(run_name="augmented", diffaugment="color,translation").to_dict())
    atomic_write_json(run.status_path, {"state": "finished", "step": 7, "total_steps": 7})
    code = ("import sys; from dcgan.cli import main; rc = main(['runs', '--checkpoints', sys.argv[1]]); "
            "print('torch' in sys.modules); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    listing, torch_loaded = proc.stdout.splitlines()
    assert listing.split() == ["augmented", "finished", "step", "7/7"] and torch_loaded == "False"


@pytest.mark.parametrize("error,code", [("checkpoint", 2), ("data", 2), ("config", 2), ("value", 2),
                                        ("training", 1), ("disk", 1)])
def test_each_kind_of_error_keeps_its_exit_code(monkeypatch, capsys, error, code):
    from dcgan.config import ConfigError
    from dcgan.data import DataError
    from dcgan.runs.checkpoint import CheckpointError
    from dcgan.training.loop import TrainingFailed
    raised = {"checkpoint": CheckpointError("bad file"), "data": DataError("no data"), "config": ConfigError("bad"),
              "value": ValueError("bad value"), "training": TrainingFailed("diverged"),
              "disk": OSError(28, "full")}[error]

    def fail(args):
        raise raised

    monkeypatch.setitem(cli.COMMANDS, "runs", fail)
    assert cli.main(["runs"]) == code
    assert capsys.readouterr().err.startswith("error: ")


def test_an_unexpected_error_is_not_hidden(monkeypatch):
    def fail(args):
        raise RuntimeError("a bug")

    monkeypatch.setitem(cli.COMMANDS, "runs", fail)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["runs"])
