"""`mirrorkit key`: make, show and export the signing key a publisher signs bundles with."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import click

from mirrorkit.cli._output import emit_json
from mirrorkit.cli._passphrase import ask_passphrase, passphrase_for_key
from mirrorkit.errors import UsageError
from mirrorkit.formats.safetext import neutral


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()
    return slug[:60] or "key"


def _keys_dir() -> Path:
    from mirrorkit.trust.store import config_dir

    return config_dir() / "keys"


def _default_key() -> Path:
    keys = sorted(_keys_dir().glob("*.key")) if _keys_dir().is_dir() else []
    if len(keys) == 1:
        return keys[0]
    if not keys:
        raise UsageError("no signing key yet", hint="make one: mirrorkit key generate --name NAME")
    raise UsageError("there are several keys; choose one with --key",
                     hint="keys: " + ", ".join(str(k) for k in keys))


def load_key(path: Optional[str]) -> Any:
    """Load the private key at `path` (or the only one in the config dir), asking for its
    passphrase only when it is encrypted; warns about a key others can read."""
    from mirrorkit.trust.signing import KeyPermissionError, load_private_key

    key_path = Path(path) if path else _default_key()
    passphrase = passphrase_for_key(key_path)
    try:
        return load_private_key(key_path, passphrase)
    except KeyPermissionError as err:
        click.secho(f"warning: {err.message}; {err.hint}", fg="yellow", err=True)
        return load_private_key(key_path, passphrase, allow_insecure=True)


@click.group(name="key")
def command() -> None:
    """Make, show and export your signing key (ECDSA P-384).

    The private key stays on this machine, encrypted with a passphrase. What you share is the
    public key and its fingerprint: 64 hex digits in groups of four that people compare by
    reading them aloud or from a printed card.
    """


@command.command(name="generate")
@click.option("--name", required=True, help="Who signs with this key (your organisation).")
@click.option("--out", type=click.Path(dir_okay=False),
              help="Where to write the private key (default: keys/<name>.key in the config "
                   "folder).")
@click.option("--no-passphrase", is_flag=True,
              help="Store the key unencrypted (only for machines nobody else can touch).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def generate(name: str, out: Optional[str], no_passphrase: bool, as_json: bool) -> int:
    """Make a new signing key.

    Asks twice for a passphrase (or reads MIRRORKIT_PASSPHRASE). The file is written with mode
    0600 and an existing file is never overwritten.

    \b
    Example:
      mirrorkit key generate --name "Lantern Reports"
    Exit codes: 0 written, 1 the file exists or cannot be written, 2 bad arguments.
    """
    from mirrorkit.trust.signing import generate_key, save_private_key

    key = generate_key(name)
    if out:
        path = Path(out)
    else:
        path = _keys_dir() / f"{_slug(name)}.key"
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    passphrase = None if no_passphrase else ask_passphrase(confirm=True)
    if passphrase is not None and len(passphrase) < 12:
        # PKCS#8 files use a light PBKDF2 (cryptography's choice): length is the defence.
        click.secho("warning: short passphrase; anyone who copies the key file can try to "
                    "guess it. Use 12+ characters or several words.", fg="yellow", err=True)
    save_private_key(key, path, passphrase)
    if as_json:
        emit_json({"path": str(path), "name": key.name, "fingerprint": key.fingerprint,
                   "encrypted": passphrase is not None})
    else:
        click.echo(f"Key written to {path} ({'encrypted' if passphrase else 'NOT encrypted'})")
        click.echo(f"Name:        {key.name}")
        click.echo(f"Fingerprint: {key.fingerprint}")
        click.echo("Share the public key with: mirrorkit key export --key "
                   f"{path} -o {_slug(name)}.pub")
    return 0


@command.command(name="show")
@click.option("--key", "key_path", type=click.Path(dir_okay=False),
              help="A private key file, or a .pub file (default: your only key).")
@click.option("--json", "as_json", is_flag=True, help="Print name, fingerprint and key as JSON.")
def show(key_path: Optional[str], as_json: bool) -> int:
    """Show a key's name, fingerprint and public key.

    \b
    Exit codes: 0 shown, 1 unreadable key or wrong passphrase, 2 no key given and none found.
    """
    from mirrorkit.trust.signing import read_public_key

    if key_path and key_path.endswith(".pub"):
        key: Any = read_public_key(key_path)
    else:
        key = load_key(key_path)
    import base64

    record = {"name": key.name, "fingerprint": key.fingerprint,
              "publicKey": base64.b64encode(key.public_key_der).decode("ascii")}
    if as_json:
        emit_json(record)
    else:
        click.echo(f"Name:        {neutral(record['name'])}")
        click.echo(f"Fingerprint: {record['fingerprint']}")
        click.echo(f"Public key:  {record['publicKey']}")
    return 0


@command.command(name="export")
@click.option("--key", "key_path", type=click.Path(dir_okay=False),
              help="The private key file (default: your only key).")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False),
              help="The public key file to write (FILE.pub); never overwritten.")
def export(key_path: Optional[str], out: str) -> int:
    """Write the public key and name to a file that is safe to share.

    \b
    Example:
      mirrorkit key export --key lantern.key -o lantern.pub
    Recipients trust it with: mirrorkit trust add lantern.pub
    Exit codes: 0 written, 1 unreadable key, wrong passphrase or OUT exists, 2 bad arguments.
    """
    from mirrorkit.trust.signing import write_public_key

    key = load_key(key_path)
    write_public_key(key, out)
    click.echo(f"Public key of {key.name!r} written to {out}")
    click.echo(f"Fingerprint: {key.fingerprint}")
    return 0
