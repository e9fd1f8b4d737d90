"""`mirrorkit bundle`: sign captures into a WACZ bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

import click

from mirrorkit.cli._output import emit_json, progress_enabled, signed_output_options
from mirrorkit.cli._passphrase import passphrase_for_key
from mirrorkit.formats.safetext import neutral


def _progress_bar(enabled: bool) -> Tuple[Optional[Callable[[int, int], None]], Any]:
    if not enabled:
        return None, None
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    bar = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                   TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    task = bar.add_task("bundling", total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return update, bar


@click.command("bundle")
@click.argument("captures", nargs=-1, required=True, type=click.Path(path_type=Path))
@signed_output_options(
    key_help="Private key to sign with (from `mirrorkit key generate`).",
    output_help="Where to write the bundle (OUT.wacz); replaced atomically if it exists.",
    title_help="Title shown by replay tools (default: the main page's title).")
@click.option("--collection", help="Collection id, stable across updates of the same archive "
              "(default: derived from the title or the site's host).")
@click.option("--sequence", type=click.IntRange(min=1), help="Sequence number of this bundle in "
              "its collection (default: one more than the last bundle made here).")
@click.option("--text", is_flag=True, help="Add each page's visible text to pages.jsonl, for "
              "full-text search (any language, Chinese included).")
@click.option("--lite", is_flag=True, help="A small text edition for QR codes and paper: HTML, "
              "CSS and redirects only; images, fonts, scripts and media are dropped.")
@click.option("--max-bytes", type=click.IntRange(min=1), metavar="N", help="With --lite: drop "
              "later pages, then style sheets, until the bundle is at most N bytes.")
@click.option("--keep-damaged", is_flag=True, help="Bundle records whose own WARC digests are "
              "wrong (damaged before bundling), marked as damaged inside the signed bundle: "
              "readers say so instead of showing them. Without it such a source is refused.")
@click.option("--drop-unresolved-revisits", is_flag=True, help="Leave out of the index the "
              "revisit records whose original is in none of the captures given (e.g. a crawl "
              "deduplicated against an earlier one); the bundle says how many.")
@click.option("--base", "bases", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Make an update of this earlier bundle: only what it lacks, needing it to be "
                   "read (capture with --dedup-against it first; repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(captures: Tuple[Path, ...], key_path: Path, output: Path, title: Optional[str],
            description: Optional[str], collection: Optional[str], sequence: Optional[int],
            text: bool, lite: bool, max_bytes: Optional[int], keep_damaged: bool,
            drop_unresolved_revisits: bool, as_json: bool,
            bases: Tuple[Path, ...] = ()) -> int:
    """Sign one or more captures into a WACZ bundle (OUT.wacz).

    A CAPTURE is a capture folder (from `mirrorkit capture`) or any WARC file, including WARCs
    from other tools. The bundle holds the WARCs, a CDXJ index, the page list and a manifest
    signed with your key: anyone can check who packaged it and that nothing changed since, with
    `mirrorkit verify`. The passphrase is read from MIRRORKIT_PASSPHRASE or asked for.

    With --lite the bundle is a text edition small enough for `mirrorkit qr encode` (records
    are dropped, never altered, so it is still a valid, signed WACZ).

    Every record's own WARC digests are checked: a source with damaged records is refused
    (the message lists them) unless --keep-damaged. A revisit whose original is not in the
    captures is refused unless --drop-unresolved-revisits.

    Exit codes: 0 written; 1 unreadable or damaged WARC, key or disk error; 2 bad arguments or
    input (a revisit without its original, a --max-bytes too small for even the first page).
    """
    from mirrorkit.bundle import create_bundle
    from mirrorkit.formats.wacz import bundle_summary
    from mirrorkit.trust import signing

    key = signing.load_private_key(key_path, passphrase_for_key(key_path))
    update, bar = _progress_bar(progress_enabled(False, as_json))
    options: Dict[str, Any] = dict(
        key=key, title=title, description=description, collection=collection,
        sequence=sequence, text=text, lite=lite, max_bytes=max_bytes, keep_damaged=keep_damaged,
        drop_unresolved_revisits=drop_unresolved_revisits)
    if bases:  # an update bundle (issue 15): mirrorkit/bundle/update.py
        from mirrorkit.bundle.update import create_update
        from mirrorkit.errors import UsageError

        if lite:
            raise UsageError("--lite and --base do not go together")
        if bar is not None:
            with bar:
                path = create_update(list(captures), output, bases=list(bases), key=key,
                                     title=title, description=description, collection=collection,
                                     sequence=sequence, text=text, progress=update)
        else:
            path = create_update(list(captures), output, bases=list(bases), key=key, title=title,
                                 description=description, collection=collection,
                                 sequence=sequence, text=text)
    elif bar is not None:
        with bar:
            path = create_bundle(list(captures), output, progress=update, **options)
    else:
        path = create_bundle(list(captures), output, **options)
    summary = bundle_summary(path)
    if as_json:
        emit_json(summary)
        return 0
    mk = summary["mirrorkit"]
    click.echo(f"Wrote {summary['path']} ({summary['bytes']:,} bytes): {summary['records']} "
               f"records from {len(summary['warcs'])} WARC file(s), {summary['pages']} pages.")
    click.echo(f"Signed by {neutral(mk['publisher'])} ({neutral(mk['fingerprint'])}),")
    click.echo(f"collection '{neutral(mk['collection'])}', sequence {neutral(mk['sequence'])}.")
    damaged = mk.get("damaged") or []
    if damaged:
        click.echo(f"Kept {len(damaged)} record(s) damaged before bundling (--keep-damaged), "
                   "marked as damaged in the signed bundle:")
        for item in damaged[:10]:
            click.echo(f"  {neutral(item.get('url') or '-')} ({neutral(item.get('file'))} @ "
                       f"{neutral(item.get('offset'))}): {neutral(item.get('problem'))}")
    if mk.get("droppedRevisits"):
        click.echo(f"Dropped {neutral(mk['droppedRevisits'])} revisit record(s) whose original is "
                   "not in the captures given (--drop-unresolved-revisits): those URLs do not "
                   "replay.")
    click.echo("Recipients check it with: mirrorkit verify " + str(path))
    return 0
