"""The built-in sample site: a small bilingual site of a fictional rights group, served on loopback.

It exercises what real sites do to a crawler and a replay server: `@import` and `url()` in CSS,
web fonts, `srcset`, `<picture><source>`, an iframe, inline styles, `<base href>`, a 301 redirect,
paginated `?page=N` URLs, a page in GBK declared only in the HTTP header, a 404 link, a robots.txt
that disallows a folder, an image, a script and a link on another host, a script that fetches JSON,
and responses sent gzip-encoded and chunked. The demo and the tests capture it.

The River Diary (`blog/`) is built by JavaScript, in English and Chinese: a menu and posts from
JSON, infinite scroll, an "Older posts" button, lazy images, a script-inserted stylesheet and a
CSSOM rule with background images, a FontFace web font and a WebSocket. Only a browser capture
gets what it builds (`JS_PAGES`, `JS_REQUISITES`).

    >>> with SampleSite() as site:
    ...     site.url.startswith("http://127.0.0.1:")
    True
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import mimetypes
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).resolve().parent
SITE_ROOT = HERE / "site"
PARTNER_ROOT = HERE / "partner"

REPORTS_PER_PAGE = 3
REPORT_PAGES = 3
# (title, summary, page on the site or None): the paginated report list at /reports/?page=N.
REPORTS = [
    ("No water, no rights (2026)", "Water access in 63 villages.", "2026-water.html"),
    ("Held for asking (2025)", "Detentions of people asking for data.", "2025-detention.html"),
    ("The press and the river (2024)", "How coverage of the river fell silent.", "2024-press.html"),
    ("Wells run dry (2023)", "Groundwater levels in the lower basin.", None),
    ("Moved without consent (2023)", "Displacement for the reservoir project.", None),
    ("Fish and livelihoods (2022)", "Fishing families after the dam.", None),
    ("Schools without water (2022)", "Drinking water in 40 village schools.", None),
    ("First findings (2021)", "Our first survey of ten villages.", None),
    ("Founding statement (2019)", "Why we started.", None),
]

# Paths (relative to the main origin) a complete capture holds, by kind.
PAGES = [
    "", "index.html", "about.html", "contact.html", "petition.html",
    "reports/", "reports/?page=2", "reports/?page=3",
    "reports/2026-water.html", "reports/2025-detention.html", "reports/2024-press.html",
    "news/", "news/gbk.html", "zh/", "zh/about.html", "zh/reports.html", "blog/",
]
REQUISITES = [
    "css/main.css", "css/fonts.css", "css/print.css",
    "css/fonts/dejavusans.woff2", "css/fonts/dejavusans-bold.woff2",
    "img/logo.png", "img/icon.png", "img/bg-paper.png", "img/banner.png",
    "img/river-480.jpg", "img/river-960.jpg", "img/map.webp", "img/map.png", "img/pin.png",
    "img/lo-dpi.png", "img/hi-dpi@2x.png", "img/poster.png", "reports/assets/chart.png",
    "js/petition.js", "data/signatures.json", "data/captions-en.vtt", "embed/map.html",
    "js/blog.js",
]
# What only a browser finds: pages linked from the blog's script-built menu, and what its script
# loads (feeds, lazy images, the inserted stylesheet, CSSOM and FontFace resources).
JS_PAGES = ["blog/archive.html"]
BLOG_POSTS = 11
JS_REQUISITES = [
    "data/blog/menu.json", "data/blog/posts-1.json", "data/blog/posts-2.json",
    "data/blog/posts-3.json", "data/blog/older.json", "css/blog-theme.css",
    "img/blog/header-bg.png", "img/blog/footer-bg.png", "css/fonts/lantern-blog.woff2",
    *[f"img/blog/post-{n}.png" for n in range(1, BLOG_POSTS + 1)],
]
WEBSOCKET = "ws/live"
PARTNER_REQUISITES = ["logo.png", "widget.js"]
PARTNER_LINKS = ["index.html"]
REDIRECTS = {"old-reports.html": "reports/"}
DISALLOWED = ["private/drafts.html"]
NOT_FOUND = ["missing.html"]
GBK_PAGE = "news/gbk.html"
# Sent with Transfer-Encoding: chunked (and gzip where the client accepts it), to exercise digests.
CHUNKED = {"news/", "about.html", "css/main.css"}
GZIP_TYPES = ("text/css", "text/javascript", "application/json", "text/html")
NO_GZIP = {GBK_PAGE}

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".woff2": "font/woff2",
    ".webp": "image/webp",
    ".vtt": "text/vtt; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A crawler stopped mid-request (Ctrl-C, a test's kill -9) is normal here, not an error.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


@dataclass
class SampleSite:
    """Serves the sample site on `host` (main site) and a second port (the "partner" host).

    `delay` seconds are slept before each response, to stand in for a real network. Use as a
    context manager, or call `start()` and `stop()`.
    """

    host: str = "127.0.0.1"
    port: int = 0
    partner_port: int = 0
    delay: float = 0.0
    requests_log: list[tuple[str, str, str]] = field(default_factory=list)
    # (path, Host, Via header or "") of every request, WebSocket handshakes included: a proxy
    # test checks that everything came through the proxy.
    via_log: list[tuple[str, str, str]] = field(default_factory=list)
    _servers: list[_Server] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def url(self) -> str:
        """The main site's root URL, with a trailing slash."""
        return f"http://{self.host}:{self.port}/"

    @property
    def other_url(self) -> str:
        """The partner host's root URL (another host:port), with a trailing slash."""
        return f"http://{self.host}:{self.partner_port}/"

    def start(self) -> SampleSite:
        """Bind both servers (on free ports unless given) and serve them from daemon threads."""
        main = _Server((self.host, self.port), _make_handler(self, SITE_ROOT, main=True))
        partner = _Server(
            (self.host, self.partner_port), _make_handler(self, PARTNER_ROOT, main=False)
        )
        self.port, self.partner_port = main.server_address[1], partner.server_address[1]
        for server in (main, partner):
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._servers.append(server)
        return self

    def stop(self) -> None:
        """Shut both servers down and release their ports."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def __enter__(self) -> SampleSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def expected(self) -> dict[str, Any]:
        """Absolute URLs of what a complete, polite capture of the site holds (and must not)."""
        u, o = self.url, self.other_url
        return {
            "pages": [u + p for p in PAGES],
            "requisites": [u + p for p in REQUISITES] + [o + p for p in PARTNER_REQUISITES],
            "redirects": {u + a: u + b for a, b in REDIRECTS.items()},
            "disallowed": [u + p for p in DISALLOWED],
            "not_found": [u + p for p in NOT_FOUND],
            "gbk_page": u + GBK_PAGE,
            "external_links": [o + p for p in PARTNER_LINKS],
            "js_pages": [u + p for p in JS_PAGES],
            "js_requisites": [u + p for p in JS_REQUISITES],
            "js_disallowed": [u + "private/draft-posts.json"],
            "blog": u + "blog/",
        }

    def body(self, path: str) -> bytes:
        """The exact body bytes the main site sends for `path` (before any gzip), for tests."""
        status, _ctype, data = _resolve(self, SITE_ROOT, "/" + path.lstrip("/"), main=True)
        if status != 200:
            raise FileNotFoundError(path)
        return data

    def log(self, method: str, path: str, netloc: str, via: str = "") -> None:
        with self._lock:
            self.requests_log.append((method, path, netloc))
            self.via_log.append((path, netloc, via))


def _fill(site: SampleSite, data: bytes) -> bytes:
    # Pages name the two origins absolutely in a few places ("relative and absolute links").
    data = data.replace(b"{{ORIGIN}}", site.url.encode())
    return data.replace(b"{{PARTNER}}", site.other_url.encode())


def _reports_page(site: SampleSite, page: int) -> bytes:
    start = (page - 1) * REPORTS_PER_PAGE
    items = []
    for title, summary, href in REPORTS[start : start + REPORTS_PER_PAGE]:
        link = f'<a href="{href}">{title}</a>' if href else title
        items.append(f"    <li>{link} — {summary}</li>")
    pager = []
    for n in range(1, REPORT_PAGES + 1):
        target = "./" if n == 1 else f"?page={n}"
        pager.append(f"<strong>{n}</strong>" if n == page else f'<a href="{target}">{n}</a>')
    if page < REPORT_PAGES:
        pager.append(f'<a href="?page={page + 1}" rel="next">Next »</a>')
    html = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Reports, page {page} of {REPORT_PAGES} — Lantern Rights Watch</title>
<link rel="stylesheet" href="/css/main.css">
</head>
<body>
<header><nav><a href="/">Home</a> <a href="/news/">News</a></nav></header>
<main>
  <h1>Reports</h1>
  <ul>
{chr(10).join(items)}
  </ul>
  <p class="pager">{' '.join(pager)}</p>
</main>
</body>
</html>
"""
    return html.encode("utf-8")


def _resolve(site: SampleSite, root: Path, raw_path: str, main: bool) -> tuple[int, str, bytes]:
    """Map a request path to (status, content type, body); 301 bodies carry the Location."""
    parts = urlsplit(raw_path)
    path = parts.path
    rel = path.lstrip("/")
    if main and rel in REDIRECTS:
        return 301, "text/html; charset=utf-8", (site.url + REDIRECTS[rel]).encode()
    if main and rel == "reports/":
        pages = parse_qs(parts.query).get("page", ["1"])
        if len(pages) == 1 and pages[0].isdigit() and 1 <= int(pages[0]) <= REPORT_PAGES:
            return 200, CONTENT_TYPES[".html"], _reports_page(site, int(pages[0]))
        return 404, CONTENT_TYPES[".html"], _not_found(path)
    target = (root / rel).resolve()
    if target.is_dir():
        target = target / "index.html"
    if root not in target.parents or not target.is_file():
        return 404, CONTENT_TYPES[".html"], _not_found(path)
    ctype = CONTENT_TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0]
    ctype = ctype or "application/octet-stream"
    if main and rel == GBK_PAGE:
        ctype = "text/html; charset=GBK"
    data = target.read_bytes()
    if target.suffix in (".html", ".css", ".js"):
        data = _fill(site, data)
    return 200, ctype, data


def _not_found(path: str) -> bytes:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Not found</title></head>"
        f"<body><h1>Not found</h1><p>There is nothing at {path}.</p></body></html>"
    ).encode()


def _make_handler(site: SampleSite, root: Path, main: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "LanternSample/1.0"
        # Headers and body go out in separate writes; with Nagle on, delayed ACKs add ~40 ms each.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # tests read site.requests_log instead of stderr noise

        def do_HEAD(self) -> None:
            self._respond(head=True)

        def do_GET(self) -> None:
            self._respond(head=False)

        def _respond(self, head: bool) -> None:
            site.log(self.command, self.path, self.headers.get("Host", ""),
                     self.headers.get("Via", ""))
            if site.delay:
                time.sleep(site.delay)
            if main and self.path == "/" + WEBSOCKET and \
                    self.headers.get("Upgrade", "").lower() == "websocket":
                self._websocket()
                return
            status, ctype, data = _resolve(site, root, self.path, main)
            rel = urlsplit(self.path).path.lstrip("/")
            self.send_response(status)
            if status == 301:
                self.send_header("Location", data.decode())
                data = b""
            self.send_header("Content-Type", ctype)
            self.send_header("Cache-Control", "max-age=600")
            gzip_ok = "gzip" in self.headers.get("Accept-Encoding", "")
            if status == 200 and gzip_ok and ctype.startswith(GZIP_TYPES) and rel not in NO_GZIP:
                data = gzip.compress(data, mtime=0)
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Vary", "Accept-Encoding")
            chunked = main and status == 200 and rel in CHUNKED
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if head:
                return
            if chunked:
                # Two chunks and the terminator: framing a crawler must remove before digesting.
                half = len(data) // 2
                for piece in (data[:half], data[half:]):
                    if piece:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.wfile.write(data)

        def _websocket(self) -> None:
            # RFC 6455 handshake, one text message, then close: enough for a page to show it.
            key = self.headers.get("Sec-WebSocket-Key", "")
            accept = base64.b64encode(hashlib.sha1(
                (key + "258EAFA5-E914-47DA-95CA-C5AB0DC11B85").encode()).digest()).decode()
            self.send_response(101, "Switching Protocols")
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            text = b"Live: 3 volunteers are in the field today."
            self.wfile.write(bytes([0x81, len(text)]) + text + bytes([0x88, 0]))
            self.close_connection = True

    return Handler


def main() -> None:
    """Serve the sample site until Ctrl-C (`python -m mirrorkit.sample_site`)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait per response")
    args = parser.parse_args()
    with SampleSite(port=args.port, partner_port=args.port + 1, delay=args.delay) as site:
        print(f"Sample site on {site.url} (partner host {site.other_url}). Ctrl-C to stop.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


