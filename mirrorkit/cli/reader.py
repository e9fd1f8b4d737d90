"""`mirrorkit reader`: write READER.html or a single-file edition, or check a reader file."""

from __future__ import annotations

from typing import Optional

import click

from mirrorkit.cli._output import emit_json


@click.command(name="reader")
@click.argument("bundle", required=False, type=click.Path(dir_okay=False))
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False),
              help="File to write (default READER.html, or BUNDLE's name with .html).")
@click.option("--check", "check", type=click.Path(dir_okay=False), metavar="FILE",
              help="Say whether FILE is a genuine READER.html (or single-file edition) of this "
                   "version, instead of writing one.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(bundle: Optional[str], out: Optional[str], check: Optional[str],
            as_json: bool) -> int:
    """Write READER.html: read and verify bundles in any browser, from file://, no install.

    Without BUNDLE it writes the reader alone (open a .wacz in it with its file picker). With
    BUNDLE it writes a single-file edition: the reader with that bundle inside, one file to send
    by any messenger or copy to a phone (the bundle is verified first; use `bundle --lite` for a
    small one). Prints the reader's SHA-256: compare it with the one on the publisher's trust
    card, because a reader file from a stranger can show any verdict it likes.

    \b
    Examples:
      mirrorkit reader -o READER.html
      mirrorkit reader lantern-lite.wacz -o lantern.html
      mirrorkit reader --check Downloads/lantern.html
    Exit codes: 0 written, or --check found a genuine build; 1 not genuine, or the bundle
    failed verification; 2 usage error.
    """
    from mirrorkit.errors import UsageError
    from mirrorkit.reader import reader_sha256, write_reader, write_single_file

    if check:
        if bundle or out:
            raise UsageError("--check takes only the file to check")
        return print_reader_check(check, as_json)
    if bundle:
        from pathlib import Path

        target = Path(out) if out else Path(bundle).with_suffix(".html")
        path = write_single_file(bundle, target)
        kind = "single-file edition"
    else:
        path = write_reader(out or "READER.html")
        kind = "reader"
    sha = reader_sha256()
    if as_json:
        emit_json({"path": str(path), "edition": kind, "readerSha256": sha})
    else:
        click.echo(f"Wrote {kind} {path}")
        click.echo(f"Reader SHA-256: {sha}")
        click.echo("Open it in any browser (tap it on a phone); nothing to install, "
                   "nothing goes online.")
    return 0


def print_reader_check(check: str, as_json: bool) -> int:
    """Say whether `check` is a genuine reader file (also `mirrorkit verify FILE.html`); the exit
    code: 0 genuine, 1 not."""
    from mirrorkit.reader import check_reader

    result = check_reader(check)
    if as_json:
        emit_json(result.to_json())
    elif result.genuine:
        what = ("a single-file edition (with " + str(result.bundle_name) + ")"
                if result.edition == "single-file" else "READER.html")
        click.echo(f"GENUINE: {check} is {what} built by this mirrorkit version.")
        click.echo(f"Reader SHA-256: {result.reader_sha256}")
    else:
        click.echo(f"NOT GENUINE: {check} is not the reader this mirrorkit version ships. "
                   "Do not trust what it says about any bundle.")
        click.echo(f"Its reader SHA-256: {result.reader_sha256}")
        click.echo(f"Genuine SHA-256:    {result.expected_sha256}")
    return 0 if result.genuine else 1
