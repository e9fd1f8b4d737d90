"""Replay helpers for update-bundle tests, in safe replay's URL model (issue 10).

Archived bytes never come from the reader's origin: ``/<bundle>/<ts>/<url>`` there is a reader
page (trust bar + ``<iframe id="mk-frame">``), and the archived page comes from the bundle's
content origin, under ``/<secret>/<ts>[mod]/<url>``. These helpers go through that split
exactly as a browser would: reader page first, then the frame's own address.
"""

from __future__ import annotations

import html
import re
from typing import Any, Optional, Tuple
from urllib.parse import urlsplit

_FRAME = re.compile(r'<iframe id="mk-frame" src="([^"]*)"')
# What a browser sends for a frame's document load (serve.content.is_navigation).
NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe",
            "Accept": "text/html,application/xhtml+xml"}


def content_client(app: Any, name: str) -> Any:
    """A test client of bundle ``name``'s content origin."""
    from werkzeug.test import Client

    return Client(app.extensions["mirrorkit"].content_app(name))


def content_path(app: Any, name: str, ts: str, url: str, modifier: str = "") -> str:
    """The content-origin path of ``url`` at ``ts`` in bundle ``name`` (this run's secret)."""
    return f"/{app.extensions['mirrorkit'].get(name).secret}/{ts}{modifier}/{url}"


def content_get(app: Any, name: str, ts: str, url: str, modifier: str = "",
                navigate: bool = False) -> Any:
    """``url`` at ``ts`` from bundle ``name``'s content origin (``navigate``: as the frame's
    document load, which the origin records for the reader page)."""
    return content_client(app, name).get(content_path(app, name, ts, url, modifier),
                                         headers=NAVIGATE if navigate else None)


def frame_src(reader_html: str) -> Optional[str]:
    """The address the reader page frames, or None when it frames nothing (a failed bundle)."""
    found = _FRAME.search(reader_html)
    return html.unescape(found.group(1)) if found else None


def through_reader(app: Any, name: str, reader_path: str) -> Tuple[Any, Any]:
    """(reader page, the frame's answer): the reader page at ``reader_path`` on the reader
    origin, then the page it frames, asked of the bundle's content origin like a navigating
    frame. Asserts that the frame is the bundle's own content origin, under its secret."""
    reader = app.test_client().get(reader_path)
    assert reader.status_code == 200, reader_path
    page = reader.get_data(as_text=True)
    src = frame_src(page)
    assert src is not None, f"{reader_path} frames nothing"
    bundle = app.extensions["mirrorkit"].get(name)
    parts = urlsplit(src)
    assert parts.port == (bundle.content_port or 0), src
    assert parts.path.startswith(f"/{bundle.secret}/"), src
    target = src[len(f"{parts.scheme}://{parts.netloc}"):]
    return reader, content_client(app, name).get(target, headers=NAVIGATE)
