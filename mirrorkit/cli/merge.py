"""`mirrorkit merge`: a base and its updates into one standalone, signed bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import click

from mirrorkit.cli._output import emit_json, signed_output_options
from mirrorkit.cli._passphrase import passphrase_for_key


@click.command("merge")
@click.argument("bundles", nargs=-1, required=True,
                type=click.Path(path_type=Path, dir_okay=False))
@signed_output_options(
    key_help="Private key to sign with: the key that signed the chain.",
    output_help="Where to write the merged bundle (FULL.wacz); replaced atomically.",
    title_help="Title (default: the newest bundle's).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(bundles: Tuple[Path, ...], key_path: Path, output: Path, title: Optional[str],
            description: Optional[str], as_json: bool) -> int:
    """Merge a base bundle and its updates into one standalone edition of the newest state.

    For readers that take single files only. The chain is verified first; records are copied,
    never altered (the newest bundle's all, the earlier bundles' where the newest edition still
    shows them); the page list is the newest edition's; the result is signed with your key and
    keeps the collection and the newest sequence number.

    \b
    Example:
      mirrorkit merge site-1.wacz site-2.wacz --key my.key -o site-full.wacz
    Exit codes: 0 written; 1 unreadable WARC, key or disk error; 2 bad arguments (including a
    chain that does not verify or another signing key).
    """
    from mirrorkit.bundle.merge import merge_bundles
    from mirrorkit.formats.wacz import bundle_summary
    from mirrorkit.trust import signing

    key = signing.load_private_key(key_path, passphrase_for_key(key_path))
    path = merge_bundles(list(bundles), output, key=key, title=title, description=description)
    summary = bundle_summary(path)
    if as_json:
        emit_json(summary)
        return 0
    mk = summary["mirrorkit"]
    click.echo(f"Wrote {summary['path']} ({summary['bytes']:,} bytes): {summary['records']} "
               f"records, {summary['pages']} pages; collection {mk['collection']!r}, sequence "
               f"{mk['sequence']}.")
    return 0
