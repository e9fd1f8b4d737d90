"""Capture stage: the crawler behind `mirrorkit capture`, whole sites into WARC files, resumably.

May import: formats, errors (and requests, selectolax, tinycss2). Nothing in the kit imports it.

Modules: urls (canonical form, scope), extract (HTML/CSS links), robots, fetch (exact bytes),
frontier (per-host politeness), state (resume journal), output (the folder), crawler (threads).
Browser capture (`browser=True`): browser_launch (finding Chromium, hygiene), browser_net (the
browser's requests through the crawler's fetcher), browser_behaviors, browser_snapshot, browser
(the tabs).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import urlsplit

from mirrorkit.capture.fetch import PROXY_SCHEMES
from mirrorkit.capture.options import BEHAVIORS, CaptureOptions, Stats, Summary
from mirrorkit.capture.urls import check_seed
from mirrorkit.errors import CaptureError, UsageError

__all__ = ["CaptureOptions", "Stats", "Summary", "capture", "check_seed", "default_out_dir"]


def default_out_dir(seed: str, base: Path = Path("archives")) -> Path:
    """archives/<host>-<UTC timestamp>/ for the first seed."""
    host = (urlsplit(seed).netloc.rpartition("@")[2] or "capture").replace(":", "_")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    return base / f"{host}-{stamp}"


def _check(opts: CaptureOptions) -> None:
    if not opts.resume and not opts.seeds:
        raise UsageError("give at least one URL to capture (or --seeds FILE)")
    if opts.proxy:
        scheme = urlsplit(opts.proxy).scheme.lower()
        if scheme not in PROXY_SCHEMES or not urlsplit(opts.proxy).hostname:
            raise UsageError(f"unsupported proxy {opts.proxy!r}: use http://HOST:PORT or "
                             "socks5h://HOST:PORT (e.g. socks5h://127.0.0.1:9050 for Tor)")
    limits = (("--concurrency", opts.concurrency, 1), ("--per-host", opts.per_host, 1),
              ("--max-pages", opts.max_pages, 1), ("--max-size", opts.max_size, 1),
              ("--depth", opts.depth, 0))
    for name, value, low in limits:
        if value is not None and value < low:
            raise UsageError(f"{name} must be at least {low}")
    if opts.delay < 0 or opts.timeout <= 0:
        raise UsageError("--delay must be >= 0 and --timeout > 0")
    if opts.tabs < 1 or opts.page_timeout <= 0:
        raise UsageError("--tabs must be at least 1 and --page-timeout > 0")
    unknown = [b for b in opts.behaviors if b not in BEHAVIORS]
    if unknown:
        raise UsageError(f"unknown behaviour {unknown[0]!r}: choose from {', '.join(BEHAVIORS)} "
                         "(comma-separated) or none")


def _find_browser(opts: CaptureOptions) -> None:
    from mirrorkit.capture.browser_launch import check_playwright, find_chromium

    check_playwright()
    opts.chromium = find_chromium(opts.chromium)


def capture(opts: CaptureOptions, progress: Optional[Callable[[Stats], None]] = None) -> Summary:
    """Capture the seeds into `opts.out_dir`; return the Summary.

    Raises UsageError (bad options, folder already used), CaptureError (unresolvable host, every
    seed failed, disk full: the folder stays resumable) and CaptureInterrupted (Ctrl-C).
    """
    from mirrorkit.capture.crawler import Crawler
    from mirrorkit.capture.output import Recorder

    _check(opts)
    found = opts.browser
    if found:
        _find_browser(opts)  # before the folder is made: no browser, no half-made capture
    recorder = Recorder(opts)
    if not opts.resume:
        crawler_probe = Crawler(opts, recorder)
        crawler_probe.check_seeds()
    recorder.open()
    if opts.browser and not found:
        try:
            _find_browser(opts)  # the capture being resumed was a browser capture
        except CaptureError:
            recorder.close()
            raise
    crawler = Crawler(opts, recorder, progress)
    try:
        crawler.seed()
    except OSError as err:
        recorder.close()
        raise CaptureError(f"cannot write the crawl state in {opts.out_dir}: "
                           f"{err.strerror}") from err
    summary = crawler.run()
    seeds = [s for s in opts.seeds if s in recorder.seed_errors]
    if seeds and len(seeds) == len(opts.seeds) and summary.fetches == 0:
        kind, message = recorder.seed_errors[seeds[0]]
        hint = None
        if kind == "tls":
            hint = "the site's certificate could not be verified; --insecure captures anyway " \
                   "(and records that choice in the WARC)"
        elif kind in ("connection", "timeout", "proxy"):
            hint = "check that the site is up and reachable from here, or use --proxy"
        raise CaptureError(f"could not capture {seeds[0]}: {message}", hint=hint)
    return summary
