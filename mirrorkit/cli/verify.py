"""`mirrorkit verify`: check a signed WACZ bundle and say who signed it."""

from __future__ import annotations

import os
import sys
from typing import Any, Optional, Tuple

import click

from mirrorkit.cli._output import emit_json, progress_enabled, say


@click.command(name="verify")
@click.argument("bundle", type=click.Path(dir_okay=False))
@click.option("--fingerprint", "-f", metavar="FP",
              help="Treat this signer fingerprint as trusted (besides your trust store).")
@click.option("--deep", is_flag=True,
              help="Also check every WARC record, index entry and revisit, naming damaged URLs.")
@click.option("--strict", is_flag=True,
              help="Fail (instead of warn) on an older copy than one already accepted.")
@click.option("--no-remember", is_flag=True,
              help="Do not record this bundle's sequence number against rollback.")
@click.option("--base", "bases", multiple=True, type=click.Path(dir_okay=False),
              help="An earlier bundle this update needs (else looked for beside it; repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def command(bundle: str, fingerprint: Optional[str], deep: bool, strict: bool,
            no_remember: bool, as_json: bool, bases: Tuple[str, ...] = ()) -> int:
    """Verify a signed WACZ bundle: intact, validly signed, and by whom.

    Checks in order: the ZIP is sane, datapackage.json matches its digest, the signature
    verifies (mirrorkit and ArchiveWeb.page anonymous signatures; authsign domain signatures
    judged at their signing time), every file matches its hash and size, the publisher block
    names the signing key; with --deep every WARC record too. The signature proves who packaged
    the archive and that it has not changed since; it does not prove what the original server
    sent.

    \b
    Example:
      mirrorkit verify lantern-2024-05.wacz --deep
    Given a READER.html (or a single-file edition), says whether it is a genuine build of this
    version instead (as `mirrorkit reader --check`): a reader file brings its own verifier.

    Exit codes: 0 intact, valid and trusted (or a genuine reader); 1 tampered, damaged, unsigned
    or invalid (or not a genuine reader); 3 intact and valid, but the signer is not trusted;
    2 usage error.
    """
    from mirrorkit.verify import VerificationFailed
    from mirrorkit.verify.chain import ChainFailed, verify_chain  # update bundles (issue 15)

    if bundle.lower().endswith((".html", ".htm")):
        from mirrorkit.cli.reader import print_reader_check

        return print_reader_check(bundle, as_json)

    bar: Any = None
    if progress_enabled(False, as_json) and os.path.isfile(bundle):
        total = os.path.getsize(bundle)  # --deep reads each WARC once, too
        bar = click.progressbar(length=total, label="verifying", file=sys.stderr)
    try:
        report = verify_chain(bundle, bases=bases, fingerprint=fingerprint, deep=deep,
                              strict=strict, remember=not no_remember,
                              progress=(lambda n: bar.update(n)) if bar else None)
    except (VerificationFailed, ChainFailed) as err:
        if bar:
            bar.render_finish()
        if as_json:
            emit_json(err.report.to_json())
        else:
            say(err.report.summary())
        return 1
    if bar:
        bar.render_finish()
    if as_json:
        emit_json(report.to_json())
    else:
        say(report.summary())
    return 0 if report.trusted else 3
