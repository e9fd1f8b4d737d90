"""The README documents every command and every option (datasette's habit): docs cannot rot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click

from mirrorkit.cli import cli

REPO = Path(__file__).resolve().parents[1]

README = (REPO / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str) -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        yield f"{prefix} {name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix} {name}")


def test_every_command_is_in_the_readme() -> None:
    missing = [path for path, _ in _commands(cli, "mirrorkit") if path not in README]
    assert not missing, f"commands missing from README.md: {missing}"


def test_every_option_is_in_the_readme() -> None:
    missing = []
    for path, command in _commands(cli, "mirrorkit"):
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden or param.name == "help":
                continue
            names = [o for o in param.opts + param.secondary_opts if o.startswith("--")]
            if names and not any(name in README for name in names):
                missing.append(f"{path} {names[0]}")
    assert not missing, f"options missing from README.md: {missing}"


def test_quick_start_commands_exist() -> None:
    assert "./dev demo" in README and "./dev test" in README
    assert "./dev test" in (REPO / ".ci" / "run").read_text()
