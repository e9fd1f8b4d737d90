"""Shared printing helpers for commands: JSON for scripts, quiet mode, progress bars."""

from __future__ import annotations

import json
import sys
from typing import Any

import click


def emit_json(data: Any) -> None:
    """Print `data` as indented JSON on stdout (for `--json`)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def progress_enabled(quiet: bool, as_json: bool) -> bool:
    """Progress displays go to stderr only for a person at a terminal."""
    return not quiet and not as_json and sys.stderr.isatty()
