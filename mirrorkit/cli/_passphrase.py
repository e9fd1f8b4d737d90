"""The one passphrase prompt: MIRRORKIT_PASSPHRASE for scripts, else asked on the terminal
(never echoed). Used by `key`, `bundle` and `qr key`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import click

from mirrorkit.errors import UsageError

PASSPHRASE_ENV = "MIRRORKIT_PASSPHRASE"


def ask_passphrase(label: str = "Passphrase", *, confirm: bool = False) -> str:
    """The passphrase from MIRRORKIT_PASSPHRASE, or typed at the terminal; raises UsageError
    when there is neither."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise UsageError(f"a passphrase is needed: set {PASSPHRASE_ENV} when not at a terminal",
                         hint="or make an unencrypted key with --no-passphrase")
    return str(click.prompt(label, hide_input=True, confirmation_prompt=confirm, err=True))


def passphrase_for_key(key_path: Path) -> Optional[str]:
    """The passphrase for an encrypted key file; None for an unencrypted or unreadable one, or
    when there is neither MIRRORKIT_PASSPHRASE nor a terminal: the signing module then says
    what is wrong with the file, or that it needs a passphrase and how to give it."""
    try:
        head = key_path.read_bytes()[:4096]
    except OSError:
        return None
    if b"ENCRYPTED" not in head:
        return None
    if os.environ.get(PASSPHRASE_ENV) is None and not sys.stdin.isatty():
        return None
    return ask_passphrase(f"Passphrase for {key_path}")
