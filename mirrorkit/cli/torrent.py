"""`mirrorkit torrent`: share bundles over BitTorrent (make, seed, get), trust by signature."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Optional, Tuple

import click

from mirrorkit.cli._output import emit_json, progress_enabled


@click.group(name="torrent")
def command() -> None:
    """Share bundles over BitTorrent: every copy becomes a source.

    \b
      torrent make   a hybrid v1+v2 .torrent and magnet link of a verified bundle
      torrent seed   offer verified bundles to a swarm until Ctrl-C
      torrent get    fetch a bundle by magnet link or .torrent, then verify it

    The swarm only carries bytes; the bundle's signature carries the trust, and every bundle is
    verified before it is offered and after it is fetched. Needs the torrent extra:
    pip install 'mirrorkit[torrent]'.
    """


def _tell_privacy(proxy: Optional[str]) -> None:
    from mirrorkit.torrent.privacy import NOTICE, mark_told, notice_due

    if notice_due():
        click.secho("Privacy / 隐私:", bold=True, err=True)
        click.echo(NOTICE, err=True)
        if proxy:
            click.echo(f"(This run uses the proxy {proxy}; DHT, local peer discovery, UPnP and "
                       "NAT-PMP are off.)", err=True)
        click.echo("(This notice is shown once.)", err=True)
        mark_told()


def _swarm_options(listen: Optional[str], no_dht: bool, proxy: Optional[str],
                   upload_limit: Optional[str], download_limit: Optional[str] = None) -> Any:
    from mirrorkit.torrent import load_libtorrent
    from mirrorkit.torrent.privacy import SwarmOptions, parse_proxy, parse_rate

    load_libtorrent()  # the extra's clear error before anything else happens
    if proxy:
        parse_proxy(proxy)
    return SwarmOptions(listen=listen, dht=not no_dht, proxy=proxy,
                        upload_limit=parse_rate(upload_limit) if upload_limit else 0,
                        download_limit=parse_rate(download_limit) if download_limit else 0)


def _bytes_bar(total: int, label: str, show: bool) -> Any:
    return click.progressbar(length=total, label=label, file=sys.stderr) if show else None


_NET_OPTIONS = [
    click.option("--listen", metavar="ADDR:PORT",
                 help="Address and port to accept peers on (default all interfaces, port 6881; "
                      "127.0.0.1:0 behind --proxy). Port 0 picks a free one."),
    click.option("--no-dht", is_flag=True,
                 help="No DHT, local peer discovery, UPnP or NAT-PMP: talk only to the peers, "
                      "trackers and web seeds given or named in the torrent."),
    click.option("--proxy", metavar="URL",
                 help="Send peer, tracker and web-seed traffic through this proxy, e.g. "
                      "socks5h://127.0.0.1:9050 (Tor); also turns DHT, discovery, UPnP, "
                      "NAT-PMP and uTP off and hides the client's name."),
    click.option("--upload-limit", metavar="RATE",
                 help="Upload at most RATE bytes a second (500K, 5M), to every peer."),
]


def _net(func: Any) -> Any:
    for option in reversed(_NET_OPTIONS):
        func = option(func)
    return func


@command.command(name="make")
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--web-seed", "web_seeds", multiple=True, metavar="URL",
              help="An http(s) URL where the same file is hosted (BEP 19 web seed); repeat for "
                   "each mirror.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Torrent file to write (default BUNDLE.wacz.torrent beside the bundle).")
@click.option("--fingerprint", "-f", metavar="FP",
              help="Treat this signer fingerprint as trusted while verifying the bundle.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def make_command(bundle: Path, web_seeds: Tuple[str, ...], out: Optional[Path],
                 fingerprint: Optional[str], as_json: bool, quiet: bool) -> int:
    """Make a hybrid (v1 + v2) torrent of a bundle, after verifying it.

    Writes BUNDLE.wacz.torrent and, beside it, BUNDLE.wacz.magnet holding the magnet link
    (with a ws= parameter for each web seed), and prints the link. Give --web-seed for every
    mirror that hosts the same file over HTTP, so a download can start with no peers at all.

    \b
    Example:
      mirrorkit torrent make lantern.wacz --web-seed https://mirror.example/lantern.wacz
    Exit codes: 0 written, 1 the bundle fails verification or cannot be read, 2 bad arguments
    (or the torrent extra is missing).
    """
    from mirrorkit.torrent import load_libtorrent
    from mirrorkit.torrent.make import make_torrent
    from mirrorkit.verify import VerificationFailed

    load_libtorrent()
    show = progress_enabled(quiet, as_json) and bundle.is_file()
    size = bundle.stat().st_size if bundle.is_file() else 0
    bar = _bytes_bar(size, "verifying", show)
    hashing: Any = None

    def hashed(done: int, total: int) -> None:
        nonlocal hashing
        if show:
            if hashing is None:
                if bar is not None:
                    bar.render_finish()
                hashing = click.progressbar(length=total, label="hashing pieces",
                                            file=sys.stderr)
            hashing.update(done - hashing.pos)

    try:
        made = make_torrent(bundle, web_seeds=web_seeds, out=out, fingerprint=fingerprint,
                            verify_progress=(lambda n: bar.update(n)) if bar else None,
                            hash_progress=hashed)
    except VerificationFailed as err:
        if bar is not None:
            bar.render_finish()
        click.echo(err.report.summary())
        click.secho("No torrent was made: share only bundles that verify.", fg="red", err=True)
        return 1
    if hashing is not None:
        hashing.render_finish()
    if as_json:
        emit_json(made.to_json())
    elif not quiet:
        report = made.report
        click.echo(f"Wrote {made.torrent} ({made.pieces} pieces of {made.piece_length:,} bytes, "
                   f"v1 {made.info_hash_v1}, v2 {made.info_hash_v2})")
        click.echo(f"Wrote {made.magnet_file}")
        click.echo(f"  bundle  {bundle.name}: {report.bundle.get('title', '')} · signed by "
                   f"{report.bundle.get('publisher') or '?'} · {report.fingerprint}"
                   + ("" if report.trusted else " (not in your trust store)"))
        for url in made.web_seeds:
            click.echo(f"  web seed {url}")
        click.echo(made.magnet)
    return 0


@command.command(name="seed")
@click.argument("bundles", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@_net
@click.option("--fingerprint", "-f", metavar="FP",
              help="Treat this signer fingerprint as trusted while verifying the bundles.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON lines: one when seeding starts, then one status a few seconds.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def seed_command(bundles: Tuple[Path, ...], listen: Optional[str], no_dht: bool,
                 proxy: Optional[str], upload_limit: Optional[str], fingerprint: Optional[str],
                 as_json: bool, quiet: bool) -> int:
    """Verify bundles, then seed them until Ctrl-C, showing peers, upload and ratio.

    Uses BUNDLE.wacz.torrent when it is beside the bundle (checked against the file), else
    makes the torrent in memory; prints each magnet link. Several bundles share one session.

    \b
    Example:
      mirrorkit torrent seed lantern.wacz other.wacz --listen 0.0.0.0:6881
    Exit codes: 130 stopped with Ctrl-C (the normal end), 1 a bundle fails verification or
    does not match its torrent, 2 bad arguments (or the torrent extra is missing).
    """
    from mirrorkit.torrent.seed import seed_bundles
    from mirrorkit.verify import VerificationFailed

    opts = _swarm_options(listen, no_dht, proxy, upload_limit)
    _tell_privacy(proxy)
    try:
        seeder = seed_bundles(list(bundles), opts, fingerprint=fingerprint)
    except VerificationFailed as err:
        click.echo(err.report.summary())
        click.secho("Not seeding: share only bundles that verify.", fg="red", err=True)
        return 1
    listening = [f"{a}:{p}" for a, p in seeder.swarm.listening]
    if as_json:
        click.echo(json.dumps({"event": "seeding", "listen": listening, "bundles": [
            {"bundle": str(s.bundle), "magnet": s.magnet, "infoHash": s.info_hash,
             "bytes": s.size, "trusted": bool(s.report.trusted)} for s in seeder.seeded]}),
            nl=True)
        sys.stdout.flush()
    elif not quiet:
        click.echo(f"Seeding {len(seeder.seeded)} bundle(s), listening on "
                   f"{', '.join(listening)}. Ctrl-C stops.")
        for s in seeder.seeded:
            click.echo(f"  {s.bundle.name}: {s.report.bundle.get('publisher') or '?'} · "
                       f"{s.report.fingerprint}")
            click.echo(f"  {s.magnet}")
    tty = progress_enabled(quiet, as_json)
    last = 0.0
    try:
        while True:
            rows = seeder.poll(1000)
            now = time.monotonic()
            if as_json and now - last >= 5:
                click.echo(json.dumps({"event": "status", "bundles": rows}))
                sys.stdout.flush()
                last = now
            elif tty:
                line = "  ".join(f"{r['bundle']}: {r['peers']} peers, up {r['uploaded'] / 1e6:.1f}"
                                 f" MB ({r['uploadRate'] / 1e3:.0f} kB/s), ratio {r['ratio']:.2f}"
                                 for r in rows)
                sys.stderr.write(f"\r{line}\033[K")
                sys.stderr.flush()
            elif not quiet and not as_json and now - last >= 60:
                for r in rows:
                    click.echo(f"{r['bundle']}: {r['peers']} peers, uploaded "
                               f"{r['uploaded']:,} bytes, ratio {r['ratio']:.2f}")
                last = now
    except KeyboardInterrupt:
        rows = [s.status() for s in seeder.seeded]
        seeder.close()
        if tty:
            sys.stderr.write("\n")
        if as_json:
            click.echo(json.dumps({"event": "stopped", "bundles": rows}))
        elif not quiet:
            for r in rows:
                click.echo(f"Stopped seeding {r['bundle']}: uploaded {r['uploaded']:,} bytes, "
                           f"ratio {r['ratio']:.2f}")
        return 130


@command.command(name="get")
@click.argument("source", metavar="MAGNET|FILE.torrent")
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the bundle into (nothing is written outside it).")
@click.option("--peer", "peers", multiple=True, metavar="ADDR:PORT",
              help="Connect to this peer (repeat for several), besides any found otherwise.")
@_net
@click.option("--download-limit", metavar="RATE",
              help="Download at most RATE bytes a second (500K, 5M).")
@click.option("--fingerprint", "-f", metavar="FP",
              help="Treat this signer fingerprint as trusted (besides your trust store).")
@click.option("--timeout", type=click.FloatRange(0), default=0, metavar="SECONDS",
              help="Give up when nothing arrives for this long (default: wait until Ctrl-C).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors and the verdict.")
def get_command(source: str, out: Path, peers: Tuple[str, ...], listen: Optional[str],
                no_dht: bool, proxy: Optional[str], upload_limit: Optional[str],
                download_limit: Optional[str], fingerprint: Optional[str], timeout: float,
                as_json: bool, quiet: bool) -> int:
    """Fetch a bundle by magnet link or .torrent, then verify it fully.

    Resumable: after Ctrl-C, a crash or a lost connection, run the same command again and it
    continues. Partial data stays in OUT/.mirrorkit-torrent/ until the file verifies; then it
    is moved to OUT/NAME. A file that fails is kept as OUT/NAME.failed, never under the
    bundle's name. A torrent whose file name would escape OUT, or that holds more than one
    file, is refused.

    \b
    Example:
      mirrorkit torrent get "$(cat lantern.wacz.magnet)" -o downloads/
      mirrorkit torrent get lantern.wacz.torrent -o downloads/ --proxy socks5h://127.0.0.1:9050
    Exit codes as `mirrorkit verify`: 0 verified and trusted, 3 intact and valid but the
    signer is not trusted, 1 failed verification or the download failed (run it again to
    continue), 2 bad arguments, 130 interrupted (run it again to continue).
    """
    from mirrorkit.torrent.get import fetch
    from mirrorkit.torrent.session import status_line

    opts = _swarm_options(listen, no_dht, proxy, upload_limit, download_limit)
    _tell_privacy(proxy)
    show = progress_enabled(quiet, as_json)
    last = [0.0]

    def progress(name: str, done: int, total: Optional[int], npeers: int, rate: float) -> None:
        now = time.monotonic()
        if show and now - last[0] >= 0.5:
            sys.stderr.write("\r" + status_line(name, done, total, npeers, rate) + "\033[K")
            sys.stderr.flush()
            last[0] = now

    try:
        result = fetch(source, out, opts=opts, peers=list(peers), fingerprint=fingerprint,
                       timeout=timeout, progress=progress)
    finally:
        if show:
            sys.stderr.write("\n")
    if as_json:
        emit_json(result.to_json())
        return result.exit_code
    if result.report is not None:
        click.echo(result.report.summary())
    came = f"{result.downloaded:,} bytes downloaded in this run"
    if result.resumed:
        came += f", {result.resumed:,} already here from an earlier run"
    if result.hash_failures:
        came += f"; {result.hash_failures} piece(s) failed their hash and were fetched again"
    if result.exit_code == 1:
        click.secho(f"FAILED: kept as {result.path} ({came}). Do not trust it.", fg="red",
                    err=True)
    else:
        click.echo(f"Wrote {result.path} ({result.size:,} bytes; {came}).")
    return result.exit_code
