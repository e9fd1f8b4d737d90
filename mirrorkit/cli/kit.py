"""`mirrorkit kit`: build a USB kit folder from signed bundles."""

from __future__ import annotations

import sys
from typing import Optional, Tuple

import click

from mirrorkit.cli._output import emit_json, progress_enabled, say


@click.command(name="kit")
@click.argument("bundles", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--out", "out", required=True, type=click.Path(file_okay=False),
              help="Folder to create for the USB stick (must not exist, or be empty).")
@click.option("--fingerprint", "-f", "fingerprints", multiple=True, metavar="FP",
              help="Signer fingerprint you vouch for, as in `verify --fingerprint` (repeatable).")
@click.option("--force", is_flag=True, help="Replace OUT if it already holds files.")
@click.option("--json", "as_json", is_flag=True, help="Print the kit's description as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def command(bundles: Tuple[str, ...], out: str, fingerprints: Tuple[str, ...], force: bool,
            as_json: bool, quiet: bool) -> int:
    """Build a folder for a USB stick: bundles, reader, instructions.

    Every BUNDLE (.wacz) is copied and verified first; a kit is never built from a bundle that
    fails verification. The folder gets `mirrorkit-serve.pyz` (the offline reader: runs with
    `python3 mirrorkit-serve.pyz` on Python 3.9 or newer, nothing to install), START-HERE.html and
    README.txt in English and Simplified Chinese with each publisher's fingerprint, and
    SHA256SUMS. The kit is built beside OUT and moved into place only when complete.

    \b
    Example:
      mirrorkit kit archives/report.wacz -o /media/usb/lantern-kit
    Exit codes: 0 kit written, 1 a bundle failed verification or the kit could not be written,
    2 bad arguments.
    """
    from mirrorkit.kit.build import build_kit

    bar: Optional[click._termui_impl.ProgressBar] = None  # type: ignore[name-defined]
    show = progress_enabled(quiet, as_json)

    def progress(label: str, done: int, total: int) -> None:
        nonlocal bar
        if not show:
            return
        if bar is None or bar.label != label:
            if bar is not None:
                bar.render_finish()
            bar = click.progressbar(length=total, label=label, file=sys.stderr)
        bar.update(done - bar.pos)

    def step(message: str) -> None:
        nonlocal bar
        if bar is not None:
            bar.render_finish()
            bar = None
        if not quiet and not as_json:
            say(message)

    kit = build_kit(list(bundles), out, fingerprints=fingerprints, force=force,
                    progress=progress, on_step=step)
    if as_json:
        emit_json(kit.to_json())
    elif not quiet:
        click.echo(f"Kit ready in {kit.path} ({len(kit.files) + 1} files). Test it with:")
        click.echo(f"  python3 {kit.path / kit.zipapp.path.name} --check")
        untrusted = [b for b in kit.bundles if not b.trusted]
        if untrusted:
            click.echo("Note: not in your trust store: "
                       + ", ".join(f"{b.file} ({b.fingerprint})" for b in untrusted), err=True)
    return 0
