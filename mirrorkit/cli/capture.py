"""`mirrorkit capture`: crawl sites into WARC files."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

import click

from mirrorkit.capture import CaptureOptions, Stats, capture, check_seed, default_out_dir
from mirrorkit.capture.options import DEFAULT_USER_AGENT
from mirrorkit.capture.urls import SCOPES
from mirrorkit.cli._output import emit_json, progress_enabled
from mirrorkit.errors import UsageError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.I)


def _parse_size(text: Optional[str], option: str) -> Optional[int]:
    if text is None:
        return None
    match = _SIZE.match(text)
    if not match:
        raise UsageError(f"{option} {text!r} is not a size: write e.g. 500000, 20M or 1G")
    factor = 1024 ** "bkmgt".index((match.group(2) or "b").lower())
    return int(float(match.group(1)) * factor)


def _read_seeds(path: Optional[Path]) -> List[str]:
    if path is None:
        return []
    try:
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeError) as err:
        raise UsageError(f"cannot read --seeds {path}: {err}") from err
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def _argv(urls: Tuple[str, ...]) -> List[str]:
    # The command line as typed goes into warcinfo; in-process calls (tests) rebuild it.
    if "capture" in sys.argv[1:3]:
        return sys.argv[sys.argv.index("capture") + 1:]
    ctx = click.get_current_context()
    args = list(urls)
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if not isinstance(param, click.Option) or value in (None, False, (), param.default):
            continue
        flag = max(param.opts, key=len)
        if value is True:
            args.append(flag)
        else:
            for item in value if isinstance(value, tuple) else (value,):
                args += [flag, str(item)]
    return args


def _behaviors(text: str) -> List[str]:
    items = [b.strip().lower() for b in text.split(",") if b.strip()]
    return [] if items in ([], ["none"]) else items


def _progress() -> Tuple[Callable[[Stats], None], Callable[[], None]]:
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    live = Live(Text("starting..."), console=Console(stderr=True), refresh_per_second=4,
                transient=True)
    live.start()

    def update(stats: Stats) -> None:
        rate = stats.fetches / stats.elapsed if stats.elapsed else 0.0
        rendered = f"  rendered {stats.browser_pages}" if stats.browser_pages else ""
        live.update(Text(
            f"pages {stats.pages}{rendered}  requisites {stats.requisites}"
            f"  duplicates {stats.duplicates}"
            f"  errors {stats.error_count}  {stats.bytes / 1e6:.1f} MB"
            f"  {rate:.1f} fetches/s  {stats.elapsed:.0f} s"
        ))

    return update, live.stop


@click.command(context_settings={"show_default": True})
@click.argument("urls", nargs=-1)
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path),
              help="Folder for the WARCs, pages.jsonl and crawl.log. "
                   "[default: archives/<host>-<timestamp>/]")
@click.option("--seeds", "seeds_file", type=click.Path(path_type=Path, dir_okay=False),
              help="File with more start URLs, one per line (# starts a comment).")
@click.option("--depth", type=int, default=None,
              help="How many links away from the start URLs to go (0: only the start pages). "
                   "Requisites never count. [default: no limit]")
@click.option("--scope", type=click.Choice(SCOPES), default="host",
              help="Which links to follow: the start page only, URLs under its folder (prefix), "
                   "its host, or its whole domain.")
@click.option("--include", multiple=True, metavar="REGEX",
              help="Also follow links matching REGEX, even outside the scope (repeatable).")
@click.option("--exclude", multiple=True, metavar="REGEX",
              help="Never fetch URLs matching REGEX, links or requisites (repeatable).")
@click.option("--concurrency", type=int, default=8, help="Fetches running at once, in total.")
@click.option("--per-host", type=int, default=2, help="Fetches running at once against one host.")
@click.option("--delay", type=float, default=0.0,
              help="Seconds between two requests to one host (a robots.txt Crawl-delay may "
                   "raise it).")
@click.option("--ignore-robots", is_flag=True,
              help="Do not obey robots.txt (the choice is recorded in every WARC).")
@click.option("--proxy", metavar="URL",
              help="Fetch through a proxy: http://HOST:PORT or socks5h://HOST:PORT (Tor: "
                   "socks5h://127.0.0.1:9050; names are resolved by the proxy).")
@click.option("--max-pages", type=int, default=None, help="Stop following links after N pages.")
@click.option("--max-size", metavar="BYTES", default=None,
              help="Cut any body longer than this (e.g. 50M); the record is marked "
                   "WARC-Truncated: length.")
@click.option("--timeout", type=float, default=30.0,
              help="Seconds to wait for a connection or for the next bytes of a response.")
@click.option("--user-agent", default=DEFAULT_USER_AGENT, help="User-Agent header to send.")
@click.option("--operator", default="", show_default=False,
              help="Who runs the capture, recorded in the WARC (default: anonymous).")
@click.option("--insecure", is_flag=True,
              help="Capture even when a TLS certificate does not verify (recorded in the WARC).")
@click.option("--warc-size", metavar="BYTES", default="1G",
              help="Start a new WARC file when the current one reaches this size.")
@click.option("--retries", type=int, default=3,
              help="Attempts after a connection error, timeout, 429 or 5xx (with backoff).")
@click.option("--browser", is_flag=True,
              help="Load every page in headless Chromium, so what JavaScript builds is captured "
                   "too; the browser's requests are fetched and recorded by the crawler itself.")
@click.option("--tabs", type=int, default=4, help="With --browser: pages loaded at once.")
@click.option("--behaviors", default="quiet,scroll,click", metavar="LIST",
              help="With --browser: what to do on each page, comma-separated: quiet (wait for "
                   "the network), scroll (until the page stops growing), click (\"load more\" "
                   "buttons); or none.")
@click.option("--click-selector", default="", metavar="CSS", show_default=False,
              help="With --browser: also click elements matching CSS (e.g. '.more').")
@click.option("--page-timeout", type=float, default=30.0,
              help="With --browser: seconds a page may take to load, and again for its "
                   "behaviours; a page still loading then is cut off and the capture goes on.")
@click.option("--chromium", metavar="PATH", default=None,
              help="With --browser: the Chromium or Chrome to use. [default: found on the "
                   "usual paths]")
@click.option("--screenshots", is_flag=True,
              help="With --browser: also record a PNG of each page's first screen.")
@click.option("--dedup-against", "dedup_against", multiple=True, metavar="OLD.wacz",
              help="Write responses whose payload is already in this earlier bundle as revisit "
                   "records pointing into it, for `bundle --base` (repeatable).")
@click.option("--resume", is_flag=True,
              help="Continue the interrupted capture in -o DIR with its saved settings.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display and no summary.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def command(urls: Tuple[str, ...], out_dir: Optional[Path], seeds_file: Optional[Path],
            **kw: Any) -> int:
    """Capture web sites into standard WARC files (WARC/1.1, gzip per record).

    Fetches each URL, every page it links to within the scope, and everything those pages need
    to display (stylesheets, fonts, images, scripts, media, frames), on any host. Every exchange
    is stored exactly as sent, with request and response records, digests, and duplicates as
    revisit records. Ctrl-C stops cleanly; --resume continues without fetching again what was
    already written.

    \b
    Examples:
      mirrorkit capture https://example.org/ -o archives/example
      mirrorkit capture https://example.org/reports/ --scope prefix --depth 2
      mirrorkit capture https://example.org/ --proxy socks5h://127.0.0.1:9050
      mirrorkit capture https://blog.example.org/ --browser --tabs 4 --screenshots
      mirrorkit capture --resume -o archives/example

    \b
    Exit codes: 0 done, 1 capture failed (network, TLS, disk; resumable),
    2 bad usage, 130 interrupted (resumable).
    """
    seeds = [check_seed(u) for u in [*urls, *_read_seeds(seeds_file)]]
    if kw["resume"] and out_dir is None:
        raise UsageError("--resume needs the folder to continue: --resume -o DIR")
    if not seeds and not kw["resume"]:
        raise UsageError("give at least one URL to capture", hint="mirrorkit capture --help")
    opts = CaptureOptions(
        seeds=seeds,
        out_dir=out_dir or default_out_dir(seeds[0]),
        depth=kw["depth"], scope=kw["scope"], include=list(kw["include"]),
        exclude=list(kw["exclude"]), concurrency=kw["concurrency"], per_host=kw["per_host"],
        delay=kw["delay"], obey_robots=not kw["ignore_robots"], proxy=kw["proxy"],
        max_pages=kw["max_pages"], max_size=_parse_size(kw["max_size"], "--max-size"),
        timeout=kw["timeout"], user_agent=kw["user_agent"], resume=kw["resume"],
        insecure=kw["insecure"], operator=kw["operator"],
        warc_size=_parse_size(kw["warc_size"], "--warc-size") or 1, retries=kw["retries"],
        argv=_argv(urls), browser=kw["browser"], tabs=kw["tabs"],
        behaviors=_behaviors(kw["behaviors"]), click_selector=kw["click_selector"],
        page_timeout=kw["page_timeout"], chromium=kw["chromium"],
        screenshots=kw["screenshots"],
        dedup_against=[str(p) for p in kw["dedup_against"]],
    )
    browser_only = [name for name, given in (
        ("--tabs", kw["tabs"] != 4), ("--behaviors", kw["behaviors"] != "quiet,scroll,click"),
        ("--click-selector", bool(kw["click_selector"])),
        ("--page-timeout", kw["page_timeout"] != 30.0), ("--chromium", bool(kw["chromium"])),
        ("--screenshots", kw["screenshots"])) if given]
    if browser_only and not kw["browser"] and not kw["resume"]:
        raise UsageError(f"{browser_only[0]} only applies to a browser capture: add --browser")
    update, stop = (None, None)
    if progress_enabled(kw["quiet"], kw["as_json"]):
        update, stop = _progress()
    try:
        summary = capture(opts, progress=update)
    finally:
        if stop:
            stop()
    if kw["as_json"]:
        emit_json(summary.to_json())
    elif not kw["quiet"]:
        for line in summary.lines():
            click.echo(line)
    return 0
