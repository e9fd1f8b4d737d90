"""Shared printing helpers for commands: JSON for scripts, quiet mode, progress bars."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from mirrorkit.formats.safetext import neutral_json, neutral_lines


def emit_json(data: Any) -> None:
    """Print `data` as indented JSON on stdout (for `--json`).

    Non-ASCII text stays readable, but DEL, C1 and bidi controls from a bundle are written as
    `\\uXXXX` escapes (json.dumps escapes C0 itself): the same JSON, inert on a terminal."""
    click.echo(neutral_json(json.dumps(data, indent=2, ensure_ascii=False, default=str)))


def say(text: str = "", *, err: bool = False) -> None:
    """Print a line the command assembled; control characters and bidi overrides that slipped
    in from a bundle are escaped (newlines kept). Fields should go through `neutral()` first."""
    click.echo(neutral_lines(text), err=err)


def progress_enabled(quiet: bool, as_json: bool) -> bool:
    """Progress displays go to stderr only for a person at a terminal."""
    return not quiet and not as_json and sys.stderr.isatty()


def signed_output_options(key_help: str, output_help: str, title_help: str) -> Any:
    """The options every command that writes a signed bundle takes: --key, -o/--output,
    --title, --description (`bundle` and `merge`)."""
    from pathlib import Path

    def apply(fn: Any) -> Any:
        for option in reversed([
            click.option("--key", "key_path", required=True, type=click.Path(path_type=Path),
                         help=key_help),
            click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
                         help=output_help),
            click.option("--title", help=title_help),
            click.option("--description", help="A sentence saying what this archive is."),
        ]):
            fn = option(fn)
        return fn

    return apply
