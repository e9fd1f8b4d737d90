"""`mirrorkit trust`: the signers you trust, by key fingerprint."""

from __future__ import annotations

from typing import Optional

import click

from mirrorkit.cli._output import emit_json, say
from mirrorkit.formats.safetext import neutral


@click.group(name="trust")
def command() -> None:
    """Manage the signers you trust (your per-user trust store).

    A bundle verifies as trusted (exit 0) only when its signing key's fingerprint is here.
    Get fingerprints out of band: in person, on paper, by phone. Never from the bundle itself.
    """


@command.command(name="add")
@click.argument("source", metavar="FINGERPRINT|FILE.pub|CARD.png")
@click.option("--name", help="Who the key belongs to (required with a fingerprint).")
@click.option("--yes", "-y", is_flag=True, help="Add a key card's key without asking (scripts).")
def add(source: str, name: Optional[str], yes: bool) -> int:
    """Trust a key, given by its fingerprint, a .pub file or a key card.

    A key card is a PNG/JPEG image or photo of the card `mirrorkit qr key` prints: its QR code is
    read, the fingerprint shown, and you are asked to confirm it matches the printed one and one
    you got another way.

    \b
    Examples:
      mirrorkit trust add "3F2A 91C0 ... 7B1E" --name "Lantern Reports"
      mirrorkit trust add lantern.pub
      mirrorkit trust add photo-of-card.jpg
    Exit codes: 0 added, 1 unreadable file or trust store, 2 bad fingerprint or no name.
    """
    from mirrorkit.cli._trustarg import resolve_trust_argument
    from mirrorkit.trust.store import TrustStore

    fingerprint, label, origin = resolve_trust_argument(source, name)
    if origin.startswith("key card"):
        say(f"Key card for '{neutral(label)}'\n  fingerprint {fingerprint}")
        if not yes:
            import sys

            from mirrorkit.errors import UsageError

            if not sys.stdin.isatty():
                raise UsageError("confirm a key card with --yes when not at a terminal")
            if not click.confirm("Does this match the fingerprint printed on the card and one "
                                 "you got another way?", default=False, err=True):
                click.echo("Not added.", err=True)
                return 1
    entry = TrustStore().add(fingerprint, label, origin)
    say(f"Trusted '{neutral(entry.name)}': {entry.fingerprint}")
    return 0


@command.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
def list_(as_json: bool) -> int:
    """List the trusted keys.

    \b
    Exit codes: 0 listed (even if empty), 1 the trust store is damaged.
    """
    from mirrorkit.trust.store import TrustStore, entry_to_json

    store = TrustStore()
    entries = store.list()
    if as_json:
        emit_json([entry_to_json(e) for e in entries])
        return 0
    if not entries:
        click.echo(f"No trusted keys yet ({store.path}).")
        return 0
    for entry in entries:
        say(f"{entry.fingerprint}  {neutral(entry.name)}  (added {neutral(entry.added)}, "
            f"{neutral(entry.source)})")
    return 0


@command.command(name="remove")
@click.argument("fingerprint")
def remove(fingerprint: str) -> int:
    """Stop trusting a key.

    \b
    Exit codes: 0 removed, 1 the trust store is damaged, 2 not a fingerprint or not trusted.
    """
    from mirrorkit.trust.store import TrustStore

    entry = TrustStore().remove(fingerprint)
    say(f"Removed '{neutral(entry.name)}': {entry.fingerprint}")
    return 0
