"""`mirrorkit qr`: trust cards, and files carried by sequences of QR codes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Tuple

import click

from mirrorkit.cli._output import emit_json, progress_enabled, say
from mirrorkit.cli._passphrase import ask_passphrase
from mirrorkit.formats.safetext import neutral


@click.group(name="qr")
def command() -> None:
    """Carry keys and small bundles on paper or a screen, as QR codes.

    \b
      qr key      print a publisher's trust card (QR code + name + fingerprint)
      qr encode   cut a file (a small .wacz) into fountain-coded QR codes
      qr decode   rebuild the file from photos or images of any large enough subset of them
      qr magnet   print a bundle's magnet link as a card (QR code + title, size, publisher)
    """


@command.command(name="key")
@click.option("--key", "key_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Your private key file (asks for its passphrase, or reads "
              "MIRRORKIT_PASSPHRASE).")
@click.option("--pub", "pub_path", type=click.Path(dir_okay=False, path_type=Path),
              help="A public key file (.pub) instead of the private key.")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Card to write: CARD.png, CARD.svg or CARD.html (printable).")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def key_command(key_path: Optional[Path], pub_path: Optional[Path], out: Path,
                as_json: bool) -> int:
    """Write a printable trust card for a publisher key.

    The card's QR code holds the key and its name (a `MIRRORKIT:KEY:1:...` text); under it the
    name and the fingerprint are printed in groups of four for people to compare. Recipients add
    the key with `mirrorkit trust add PHOTO_OF_CARD.jpg`.

    \b
    Example:
      mirrorkit qr key --pub lantern.pub -o lantern-card.png
    Exit codes: 0 card written, 1 the key cannot be read, 2 bad arguments.
    """
    from mirrorkit.qr.card import load_card_key, write_card

    key = load_card_key(key_path, pub_path, ask_passphrase)
    warnings = write_card(key, out)
    if as_json:
        emit_json({"card": str(out), "name": key.name, "fingerprint": key.fingerprint,
                   "warnings": warnings})
    else:
        click.echo(f"Wrote {out}: {neutral(key.name)}")
        click.echo(f"  fingerprint {key.fingerprint}")
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)
    return 0


@command.command(name="encode")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for frame-NNNN.png, sheet.html and player.html.")
@click.option("--ecc", default="M", show_default=True, type=click.Choice(["L", "M", "Q", "H"],
              case_sensitive=False), help="QR error correction: L 7%, M 15%, Q 25%, H 30%.")
@click.option("--version", "version", default=20, show_default=True, type=click.IntRange(1, 40),
              help="QR version (size): 20 is 97x97 modules, about 5 cm printed.")
@click.option("--extra", default=50.0, show_default=True, type=click.FloatRange(0, 1000),
              help="Repair codes, in percent of the codes needed: how many may get lost.")
@click.option("--force", is_flag=True, help="Replace frames already in the folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the transfer's description as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def encode_command(file: Path, out: Path, ecc: str, version: int, extra: float, force: bool,
                   as_json: bool, quiet: bool) -> int:
    """Cut FILE into fountain-coded QR codes for paper or a screen.

    Each code holds one RaptorQ packet (Base45 text, QR alphanumeric mode) with a header naming
    the transfer, so ANY set of about as many codes as "needed" rebuilds the file, in any order.
    Writes numbered PNG frames, sheet.html (print it on A4: file name, size, SHA-256 and, for a
    signed bundle, the publisher fingerprint on top) and player.html (shows the codes one after
    another on a screen; self-contained).

    \b
    Example:
      mirrorkit bundle capture/ -o report.wacz --lite --max-bytes 60000 ...
      mirrorkit qr encode report.wacz -o report-qr/
    Exit codes: 0 written, 1 the file is too big for QR codes, 2 bad arguments.
    """
    from mirrorkit.qr.encode import encode_file

    bar = None
    if progress_enabled(quiet, as_json):
        bar = click.progressbar(length=1, label="QR codes", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.length = total
            bar.update(done - bar.pos)

    result = encode_file(file, out, ecc=ecc.upper(), version=version, extra=extra, force=force,
                         progress=progress)
    if bar is not None:
        bar.render_finish()
    if as_json:
        emit_json(result.to_json())
    elif not quiet:
        click.echo(f"{result.frames} QR codes (version {result.version}-{result.ecc}, "
                   f"{result.symbol_size} bytes each) in {result.out_dir}; "
                   f"any {result.needed} rebuild {neutral(result.name)}.")
        click.echo(f"  SHA-256   {result.sha256}")
        if result.fingerprint:
            click.echo(f"  publisher {neutral(result.publisher or '?')} · "
                       f"{neutral(result.fingerprint)}")
        if result.signature and not result.signature.startswith("valid"):
            say(f"warning: signature {neutral(result.signature)}", err=True)
        click.echo(f"  print     {result.sheet}")
        click.echo(f"  screen    {result.player}")
    return 0


@command.command(name="decode")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path),
              help="File to write (or an existing folder: the file keeps its original name).")
@click.option("--transfer", "transfer_id", metavar="ID",
              help="Only this transfer (its id, or the start of it) when images mix several.")
@click.option("--no-verify", is_flag=True, help="Do not verify a rebuilt .wacz bundle.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def decode_command(inputs: Tuple[Path, ...], out: Path, transfer_id: Optional[str],
                   no_verify: bool, as_json: bool, quiet: bool) -> int:
    """Rebuild a file from photos or images of its QR codes.

    INPUTS are PNG/JPEG images or folders of them: photos of printed sheets (several codes per
    photo are fine), screenshots, frames of a screen recording, in any order. Duplicates and codes
    of other transfers are skipped and counted. The file is checked against its SHA-256; a .wacz
    is then verified like `mirrorkit verify` does. With too few codes nothing is written except
    OUT.qr-partial, which the next run with the same -o picks up: add more photos and run again.

    \b
    Example:
      mirrorkit qr decode photos/ -o report.wacz
    Exit codes: 0 rebuilt (and, for a bundle, verified and trusted), 1 too few codes, damaged
    data or a bundle that fails verification, 2 bad arguments, 3 rebuilt and intact but the
    signer is not in your trust store.
    """
    from mirrorkit.qr.decode import decode_inputs

    show = progress_enabled(quiet, as_json)
    err = sys.stderr

    def progress(message: str) -> None:
        if show:
            err.write(f"\r{message}   ")
            err.flush()

    result = decode_inputs(list(inputs), out, transfer_id=transfer_id, verify=not no_verify,
                           progress=progress)
    if show:
        err.write("\n")
    if as_json:
        emit_json(result.to_json())
        return result.exit_code
    if quiet:
        return result.exit_code
    click.echo(f"Read {result.images} images: {result.accepted} new codes, "
               f"{result.duplicates} duplicates, {len(result.damaged)} damaged, "
               f"{result.foreign} of other transfers or not ours"
               + (f"; {result.resumed} codes resumed from an earlier run" if result.resumed else "")
               + ".")
    for line in result.damaged[:10]:
        say(f"  damaged: {neutral(line)}", err=True)
    for path in result.without_code[:10]:
        say(f"  no QR code found in {neutral(path)}", err=True)
    for path in result.unreadable[:10]:
        say(f"  not an image: {neutral(path)}", err=True)
    for row in result.transfers:
        if row["complete"]:
            click.echo(f"  transfer {row['transfer']}: {row['frames']} codes read, "
                       f"{row['needed']} needed: complete")
        else:
            click.echo(f"  transfer {row['transfer']}: {row['frames']} of {row['needed']} needed "
                       f"(need {row['missing']} more)")
    for rebuilt in result.rebuilt:
        say(f"Wrote {neutral(rebuilt.path)} ({rebuilt.size:,} bytes, SHA-256 matches).")
        if rebuilt.report is not None and rebuilt.error is None:
            summary = getattr(rebuilt.report, "summary", None)
            say(summary() if callable(summary) else "Bundle verified.")
        if rebuilt.error is not None:
            click.secho(f"Bundle verification FAILED: {neutral(rebuilt.error)}", fg="red",
                        err=True)
    if result.partial_file is not None:
        click.echo(f"Not enough codes yet. Saved what was read to {result.partial_file}; "
                   "add more photos and run the same command again.", err=True)
    sys.stdout.flush()
    return result.exit_code


@command.command(name="magnet")
@click.argument("torrent", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Card to write: CARD.png or CARD.html (printable).")
@click.option("--bundle", "bundle", type=click.Path(dir_okay=False, path_type=Path),
              help="The bundle the torrent describes (default: beside it, named without "
                   ".torrent).")
@click.option("--fingerprint", "-f", metavar="FP",
              help="Treat this signer fingerprint as trusted while verifying the bundle.")
@click.option("--json", "as_json", is_flag=True, help="Print what the card shows as JSON.")
def magnet_command(torrent: Path, out: Path, bundle: Optional[Path], fingerprint: Optional[str],
                   as_json: bool) -> int:
    """Write a printable card with a bundle's magnet link as a QR code.

    Under the code: the bundle's title, size, publisher and key fingerprint (English and
    Simplified Chinese), all taken from verifying the bundle, which must verify and match the
    torrent. Anyone can scan the code with a BitTorrent app or pass the link to
    `mirrorkit torrent get`. Needs the torrent extra.

    \b
    Example:
      mirrorkit torrent make lantern.wacz --web-seed https://mirror.example/lantern.wacz
      mirrorkit qr magnet lantern.wacz.torrent -o lantern-magnet.png
    Exit codes: 0 card written, 1 the bundle fails verification or does not match the
    torrent, 2 bad arguments (or the torrent extra is missing).
    """
    from mirrorkit.qr.magnet import magnet_card, write_magnet_card
    from mirrorkit.verify import VerificationFailed

    try:
        card = magnet_card(torrent, bundle, fingerprint)
    except VerificationFailed as err:
        click.echo(err.report.summary())
        click.secho("No card was made: share only bundles that verify.", fg="red", err=True)
        return 1
    warnings = write_magnet_card(card, out)
    if as_json:
        emit_json({"card": str(out), **card.to_json(), "warnings": warnings})
    else:
        click.echo(f"Wrote {out}: {card.title} ({card.size:,} bytes)")
        click.echo(f"  publisher   {card.publisher}")
        click.echo(f"  fingerprint {card.fingerprint}")
        click.echo(f"  {card.magnet}")
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)
    return 0
