"""The command group: help, version, exit codes, error handling."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from mirrorkit import __version__
from mirrorkit.cli import COMMANDS, _available, cli, main


def test_help_lists_every_available_command_with_a_description(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in _available():
        line = next(line for line in out.splitlines() if line.strip().startswith(name + " "))
        assert len(line.split(None, 1)) == 2, f"{name} has no one-line description"


def test_only_real_commands_are_listed() -> None:
    # A command appears only when its module exists, so no stub ever shows up in --help.
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        assert name in COMMANDS
        command = cli.get_command(ctx, name)
        assert command is not None and command.help, f"{name} needs a --help text"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_python_dash_m_works() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mirrorkit", "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0
    assert "Usage: mirrorkit" in out.stdout
