"""`mirrorkit serve`: read bundles offline in a browser, served from this machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Tuple

import click


@click.command("serve")
@click.argument("bundles", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Only this computer can connect to 127.0.0.1.")
@click.option("--port", default=8090, show_default=True, type=int,
              help="Port to listen on (0 picks a free one).")
@click.option("--lan", is_flag=True,
              help="Listen on every interface so phones and laptops on the same Wi-Fi can "
                   "read too; prints the LAN address and a QR code of it.")
@click.option("--open", "open_browser", is_flag=True, help="Open the reader in a browser.")
@click.option("--fingerprint", metavar="FP",
              help="Treat a bundle signed by this key fingerprint as trusted (as read from "
                   "the publisher's printed card).")
@click.option("--scripts", is_flag=True,
              help="Let archived pages run their scripts (off by default), still confined to "
                   "their own bundle; only once a bundle has verified, never for a failed one.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON lines: first the addresses, then each bundle's verification "
                   "result as it finishes.")
def command(bundles: Tuple[Path, ...], host: str, port: int, lan: bool, open_browser: bool,
            fingerprint: Optional[str], scripts: bool, as_json: bool) -> int:
    """Serve WACZ bundles for offline reading, with no request leaving this machine.

    Each bundle is verified in the background (signature, file hashes) and every record is
    checked against its digest before it is shown. Each page is shown in a reader page whose
    bar says who published the archive, whether it verified, and when the page was captured;
    the archived page itself runs in a sandboxed frame on another origin, with its scripts off
    unless --scripts. Replay addresses look like
    http://127.0.0.1:8090/<bundle>/<timestamp>/<original-url>; the raw file is at
    /<bundle>.wacz (for ReplayWeb.page).

    \b
    Examples:
      mirrorkit serve reports.wacz
      mirrorkit serve a.wacz b.wacz --port 9000 --open
      mirrorkit serve reports.wacz --lan      # classroom or hotspot

    Exit codes: 0 stopped normally (Ctrl-C), 1 cannot listen, 2 bad arguments or missing file.
    """
    from serve.server import start_server

    server = start_server(bundles, host=host, port=port, lan=lan, fingerprint=fingerprint,
                          scripts=scripts)
    if as_json:
        click.echo(json.dumps({"url": server.url, "lan": server.lan_urls, "scripts": scripts,
                               "bundles": [
            {"name": b.name, "file": str(b.path),
             "content": server.content_url(b.name) if b.content_port else None}
            for b in server.bundles]}))
    else:
        click.echo(f"Serving {len(server.bundles)} bundle(s) at {server.url}")
        if lan and not server.lan_urls:
            click.echo("No network address found: is this computer on a Wi-Fi or LAN?")
        for line in server.lan_lines("On this network"):
            click.echo(line)
        if scripts:
            click.echo("Archived scripts will run (--scripts), each bundle confined to its own "
                       "origin, once it has verified.")
        click.echo("Verifying each bundle in the background; press Ctrl+C to stop.")
    _report_in_background(server, as_json)
    server.serve_forever(open_browser)
    click.echo("Stopped.", err=True)
    return 0


def _report_in_background(server: object, as_json: bool) -> None:
    import threading

    from mirrorkit.formats.safetext import neutral, neutral_json

    def report() -> None:
        for b in server.bundles:  # type: ignore[attr-defined]
            b.wait_verified()
            if as_json:
                click.echo(neutral_json(json.dumps(
                    {"bundle": b.name, "state": b.state, "reason": b.reason,
                     "publisher": b.publisher, "fingerprint": b.fingerprint},
                    ensure_ascii=False)))
            else:
                # The reason quotes the bundle's own text (a failing check's detail).
                click.echo(f"  {b.name}: {b.state.upper()} - {neutral(b.reason)}")

    threading.Thread(target=report, daemon=True).start()
