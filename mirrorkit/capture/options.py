"""The capture's options, its live statistics and its final summary."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from mirrorkit import __version__
from mirrorkit.capture.warcwriter import DEFAULT_MAX_FILE_SIZE

DEFAULT_USER_AGENT = f"Mozilla/5.0 (compatible; mirrorkit/{__version__}; web archiving)"
# What defines the crawl (saved at the start, reused by --resume); the rest may change on resume.
CRAWL_FIELDS = ("seeds", "depth", "scope", "include", "exclude", "obey_robots", "max_pages",
                "max_size", "user_agent", "operator", "browser", "behaviors", "click_selector",
                "screenshots", "dedup_against")
# Browser behaviours, in the order they run on a page.
BEHAVIORS = ("quiet", "scroll", "click")


@dataclass
class CaptureOptions:
    """Everything `capture()` needs; seeds must already be canonical (urls.check_seed)."""

    seeds: List[str]
    out_dir: Path
    depth: Optional[int] = None
    scope: str = "host"
    include: List[str] = field(default_factory=list)
    exclude: List[str] = field(default_factory=list)
    concurrency: int = 8
    per_host: int = 2
    delay: float = 0.0
    obey_robots: bool = True
    proxy: Optional[str] = None
    max_pages: Optional[int] = None
    max_size: Optional[int] = None
    timeout: float = 30.0
    user_agent: str = DEFAULT_USER_AGENT
    resume: bool = False
    insecure: bool = False
    operator: str = ""
    warc_size: int = DEFAULT_MAX_FILE_SIZE
    retries: int = 3
    backoff: float = 1.0
    argv: List[str] = field(default_factory=list)
    # Browser capture (issue 13): pages are loaded in headless Chromium, its requests fetched here.
    browser: bool = False
    tabs: int = 4
    behaviors: List[str] = field(default_factory=lambda: list(BEHAVIORS))
    click_selector: str = ""
    page_timeout: float = 30.0
    chromium: Optional[str] = None
    screenshots: bool = False
    # Earlier bundles (WACZ paths) whose payloads become revisits (issue 15, capture/dedup.py).
    dedup_against: List[str] = field(default_factory=list)

    def crawl_fields(self) -> Dict[str, Any]:
        """The options that define the crawl, for saving."""
        return {name: getattr(self, name) for name in CRAWL_FIELDS}


@dataclass
class Stats:
    """Live counts, updated by the recorder under its lock."""

    pages: int = 0
    requisites: int = 0
    redirects: int = 0
    duplicates: int = 0
    bytes: int = 0
    fetches: int = 0
    robots_blocked: int = 0
    skipped: int = 0
    pages_dispatched: int = 0
    browser_pages: int = 0
    page_requests: int = 0
    behaviors_run: int = 0
    pages_timed_out: int = 0
    errors: Counter = field(default_factory=Counter)
    elapsed: float = 0.0

    def snapshot(self, elapsed: float) -> Stats:
        """A copy safe to read from another thread."""
        snap = copy.copy(self)
        snap.errors = Counter(self.errors)
        snap.elapsed = elapsed
        return snap

    @property
    def error_count(self) -> int:
        """All errors together."""
        return sum(self.errors.values())


@dataclass
class Summary:
    """What a capture produced (also what `--json` prints)."""

    out_dir: str
    complete: bool
    pages: int
    requisites: int
    redirects: int
    duplicates: int
    bytes: int
    fetches: int
    robots_blocked: int
    skipped: int
    errors: Dict[str, int]
    warc_files: List[str]
    elapsed: float
    resumed: bool
    browser_pages: int = 0
    page_requests: int = 0
    behaviors_run: int = 0
    pages_timed_out: int = 0

    def to_json(self) -> Dict[str, Any]:
        """A plain dict for `--json`."""
        return asdict(self)

    def lines(self) -> List[str]:
        """The human summary."""
        errors = ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())) or "none"
        state = "complete" if self.complete else "incomplete (resume with --resume)"
        return [
            f"Capture {state}: {self.out_dir}",
            f"  pages       {self.pages}",
            f"  requisites  {self.requisites}",
            f"  redirects   {self.redirects}",
            f"  duplicates  {self.duplicates} (written as revisit records)",
            f"  bytes       {self.bytes:,}",
            f"  blocked by robots.txt {self.robots_blocked}, skipped (limits) {self.skipped}",
            *([f"  browser     {self.browser_pages} pages rendered, {self.page_requests} "
               f"requests made by pages, {self.behaviors_run} behaviours run, "
               f"{self.pages_timed_out} pages timed out"] if self.browser_pages
              or self.pages_timed_out else []),
            f"  errors      {errors}",
            f"  WARC files  {', '.join(self.warc_files) or 'none'}",
            f"  time        {self.elapsed:.1f} s",
        ]
