"""The package: pyproject.toml's dependencies are requirements.txt's pins, and `dcgan` is the CLI."""
from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_pyproject_pins_are_the_requirements_pins():
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    pins = [line for line in lines if line and not line.startswith(("#", "-"))]
    assert pins and project()["dependencies"] == pins
    # the README's first set-up command installs the package too
    assert lines[-1] == "-e ."


def test_the_dcgan_command_is_the_cli_main():
    from dcgan import cli
    module, _, name = project()["scripts"]["dcgan"].partition(":")
    assert module == cli.__name__ and getattr(cli, name) is cli.main
