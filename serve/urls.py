"""Archive URLs: turning an original URL into its replay path and parsing replay paths back.

A replay path is ``/<bundle>/<timestamp><modifier>/<original-url>``. The modifier is empty for a
page opened at top level (it gets the banner), ``if_`` for a frame (no banner) and ``id_`` for
the record's payload exactly as archived (no rewriting at all).
"""

from __future__ import annotations

import re
from typing import NamedTuple, Optional
from urllib.parse import urljoin, urlsplit

from mirrorkit.formats.http import NON_HTTP_SCHEMES
from mirrorkit.formats.timestamps import TIMESTAMP_PATTERN, to14

# Schemes that never leave the browser, or that the page only hands to another program: left as is.
_KEEP_SCHEMES = ("data:", "blob:", "javascript:", "about:", "mailto:", "tel:", "sms:", "#")
MODIFIERS = ("", "if_", "id_")
_REPLAY_RE = re.compile("^(" + TIMESTAMP_PATTERN + r")([a-z]{2}_)?/(.*)$", re.S)
_SQUASHED_SCHEME = re.compile(r"^(https?):/+(?=[^/])", re.I)


class ReplayTarget(NamedTuple):
    """A parsed replay path: timestamp (14 digits), modifier and the original URL."""

    timestamp: str
    modifier: str
    url: str


def parse_replay_path(rest: str) -> Optional[ReplayTarget]:
    """Parses ``<ts><mod>/<url>`` (the part after the bundle name); None when it is not one."""
    m = _REPLAY_RE.match(rest)
    if not m:
        return None
    mod = m.group(2) or ""
    if mod not in MODIFIERS:
        return None
    url = m.group(3)
    # Some clients and proxies squash "http://" to "http:/" inside a path: undo it.
    url = _SQUASHED_SCHEME.sub(lambda mm: mm.group(1).lower() + "://", url, count=1)
    if not url.lower().startswith(("http://", "https://") + NON_HTTP_SCHEMES):
        if url.startswith("//"):
            url = "http:" + url
        elif url:
            url = "http://" + url
    return ReplayTarget(to14(m.group(1)), mod, url)


class UrlRewriter:
    """Maps URLs found in one archived document to replay paths on this server."""

    def __init__(self, prefix: str, timestamp: str, doc_url: str) -> None:
        self.prefix = prefix.rstrip("/") + "/"
        self.timestamp = timestamp
        self.doc_url = doc_url
        self.base_url = doc_url

    def set_base(self, href: str) -> None:
        """Applies a ``<base href>``: later relative URLs resolve against it."""
        href = href.strip()
        if href:
            self.base_url = urljoin(self.doc_url, href)

    def absolute(self, url: str) -> Optional[str]:
        """The absolute http(s) URL a reference points to, or None when it must stay as written."""
        url = url.strip()
        if not url or url.lower().startswith(_KEEP_SCHEMES):
            return None
        try:
            full = urljoin(self.base_url, url)
            scheme = urlsplit(full).scheme.lower()
        except ValueError:
            return None
        if scheme not in ("http", "https"):
            return None
        return full

    def rewrite(self, url: str, modifier: str = "") -> str:
        """The replay path for ``url`` (unchanged when it is a fragment, data:, javascript: ...)."""
        full = self.absolute(url)
        if full is None:
            return url
        return f"{self.prefix}{self.timestamp}{modifier}/{full}"

    def archive_prefix(self) -> str:
        """The path prefix every rewritten URL starts with, up to the original URL."""
        return f"{self.prefix}{self.timestamp}/"
