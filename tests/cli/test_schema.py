"""The config is the one schema: every TrainConfig field, with its help, bounds, choices and group,
becomes validation, a CLI flag (train and, where allowed, resume) and a Train form widget; a field
added to the dataclass needs no other edit to appear in all of them."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, fields

import pytest

from dcgan import cli, config
from dcgan.cli import args as cli_args
from dcgan.config import GROUPS, ConfigError, TrainConfig, option
from explorer import config_form, new_run

from apptestkit import open_app


def subparser(name: str) -> argparse.ArgumentParser:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def flags(p: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in p._actions for s in a.option_strings}


def test_every_field_says_what_it_is_for():
    for f in fields(TrainConfig):
        meta = f.metadata
        assert meta["help"] and meta["group"] in GROUPS, f.name
        if f.type in ("int", "float") and not meta["choices"]:
            assert meta["low"] is not None and meta["high"] is not None, f"{f.name} has no bounds"


def test_cli_and_form_cover_every_field():
    train_flags, resume_flags = flags(subparser("train")), flags(subparser("resume"))
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        assert flag in train_flags, flag
        assert f.metadata["help"].split(";")[0][:30] in train_flags[flag].help, flag
        if f.name != "steps":  # resume's --steps is the new total, beside --more
            assert (flag in resume_flags) == f.metadata["resume"], flag
    placed = {name for _, rows in config_form.layout() for row in rows for name in row}
    assert placed == {f.name for f in fields(TrainConfig) if f.metadata["form"]}
    assert {f.name for f in fields(TrainConfig) if not f.metadata["form"]} == {"preset", "imported_from"}


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["train", "--help"])
    out = capsys.readouterr().out
    assert "--g-steps INT" in out and "G updates per D update" in out
    assert "--acc-low FLOAT" in out and "below this accuracy D is helped" in out
    for title in GROUPS.values():
        assert title in out


@dataclass
class ToyConfig(TrainConfig):
    toy_knob: int = option(3, "a knob only this test has", "stabilisers", 1, 5)


@pytest.fixture
def toy_field(monkeypatch, tmp_path, app_env):
    """TrainConfig with one more field, as a developer adding an option would write it, and nothing else."""
    for module in (config, cli_args, config_form, new_run):  # the modules that build a TrainConfig
        monkeypatch.setattr(module, "TrainConfig", ToyConfig)
    app_env(tmp_path / "checkpoints")


def test_a_new_field_reaches_help_validation_and_the_form(toy_field, capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["train", "--help"])
    assert "--toy-knob INT" in capsys.readouterr().out
    args = cli.build_parser().parse_args(["train", "--toy-knob", "4", "--dataset", "synthetic"])
    assert cli._config_from_args(args).toy_knob == 4
    args = cli.build_parser().parse_args(["train", "--toy-knob", "9"])
    with pytest.raises(ConfigError, match="toy_knob=9: must be 1 to 5"):
        cli._config_from_args(args)

    at = open_app("train")
    assert any(e.label == "Other settings" for e in at.expander)
    assert at.number_input(key="train_toy_knob").value == 3
    at.number_input(key="train_toy_knob").set_value(9)
    at.button(key="FormSubmitter:train_form-Start training").click().run()
    assert not at.exception
    assert any("**Toy knob** must be 1 to 5" in e.value for e in at.error)
