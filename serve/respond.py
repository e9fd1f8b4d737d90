"""Turning an archived response into the response the browser gets: headers, rewriting, banner."""

from __future__ import annotations

import codecs
import re
from typing import List, Optional, Tuple
from urllib.parse import urljoin

from mirrorkit.formats.charset import css_charset, declared_html, header_charset, html_charset
from mirrorkit.formats.http import valid_header_name, valid_header_value
from mirrorkit.formats.timestamps import to14

from .archive import Capture, ReplayBundle
from .inject import client_scripts
from .records import DamagedRecord, RecordTooLarge
from .rewrite_css import rewrite_css
from .rewrite_html import rewrite_html
from .urls import UrlRewriter

# Archived headers never replayed: transport framing, cookies, and anything that makes a browser
# contact another host (reporting, preloads, HSTS, pins) or overrides our policy.
_DROP = frozenset({
    "transfer-encoding", "content-length", "connection", "keep-alive", "proxy-connection",
    "proxy-authenticate", "upgrade", "trailer", "te", "set-cookie", "set-cookie2",
    "content-security-policy", "content-security-policy-report-only", "x-webkit-csp",
    "strict-transport-security", "public-key-pins", "public-key-pins-report-only", "alt-svc",
    "link", "report-to", "reporting-endpoints", "nel", "expect-ct", "service-worker-allowed",
    "clear-site-data", "date", "server", "accept-ranges", "etag", "last-modified", "vary",
    "age", "expires", "cache-control", "pragma", "x-xss-protection", "referrer-policy",
    "origin-agent-cluster", "x-dns-prefetch-control", "speculation-rules",
})
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_REFRESH_SAFE = re.compile(r"^\s*\d{1,6}\s*(?:;\s*url=(\S+))?\s*$", re.I)


def _refresh_inside(value: str, prefix: str) -> bool:
    m = _REFRESH_SAFE.match(value)
    target = m.group(1) if m else None
    return target is None or target.startswith(prefix.rstrip("/") + "/")
_CSS_TYPES = ("text/css",)


def _encode_errors(err: UnicodeError) -> Tuple[bytes, int]:
    """Encoding fallback: undecodable bytes kept as they were (surrogateescape) and characters
    the page's charset cannot hold percent-encoded as UTF-8 (they only occur in URLs we wrote)."""
    if not isinstance(err, UnicodeEncodeError):
        raise err
    out = bytearray()
    for ch in err.object[err.start:err.end]:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(code - 0xDC00)
        else:
            out.extend(b"".join(b"%%%02X" % b for b in ch.encode("utf-8", "surrogatepass")))
    return bytes(out), err.end


codecs.register_error("mirrorkit-replay", _encode_errors)
ENCODE_ERRORS = "mirrorkit-replay"
def media_type(content_type: Optional[str]) -> str:
    """``text/html; charset=GBK`` -> ``text/html``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


class Prepared:
    """Status, headers and body ready to send."""

    def __init__(self, status: int, headers: List[Tuple[str, str]], body: bytes,
                 rewritten: bool) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.rewritten = rewritten


def prepare(bundle: ReplayBundle, capture: Capture, modifier: str, prefix: str,
            scripts: bool = False) -> Prepared:
    """Builds the replayed response for ``capture`` (``modifier`` as in `serve.urls`).

    The browser-enforced policy (CSP, sandbox) is added per request by `serve.content`, not
    here: this is only what the archive says, rewritten so that pages work. With ``scripts``
    the injected scripts (`serve.inject`) go into HTML; without, nothing is injected.
    """
    resp = capture.response
    # A revisit replays its original: status, headers and payload (a 304 revisit included).
    status = resp.status
    ts = capture.timestamp
    urls = UrlRewriter(prefix, ts, capture.url)
    headers: List[Tuple[str, str]] = []
    content_type = resp.header("content-type")
    for key, value in resp.headers:
        lk = key.lower()
        if lk in _DROP or not valid_header_name(key) or not valid_header_value(value):
            continue  # kept in the WARC; some clients hang on names that are not tokens
        if lk == "location":
            value = urls.rewrite(urljoin(capture.url, value.strip()), modifier)
        elif lk == "refresh":
            from .rewrite_html import rewrite_refresh

            value = rewrite_refresh(value, urls)
            # Kept only in the one plain form whose target is inside this archive: the
            # reader's frame-src refuses any other target anyway, but Chromium still opens a
            # TCP connection to a refused host, so a header the browser might read differently
            # from us is not passed on at all.
            if not _REFRESH_SAFE.match(value) or not _refresh_inside(value, prefix):
                continue
        elif lk == "content-location":
            value = urls.rewrite(value)
        headers.append((key, value))
    kind = media_type(content_type)
    body = resp.payload
    rewritten = False
    wants_rewrite = modifier != "id_" and status not in (204, 304) and (
        kind in _HTML_TYPES or kind in _CSS_TYPES)
    decoded = None
    if wants_rewrite and not resp.can_decode():
        # No decoder in this Python (the USB kit has no brotli or zstd): a page or style sheet
        # sent unrewritten would point at the live web and lose its banner, so it is not sent.
        return _undecodable(resp.content_encoding)
    if wants_rewrite and resp.can_decode():
        try:
            decoded = resp.decoded()
        except RecordTooLarge:
            raise  # a bomb, or too large to rewrite: the reader says so, never sends it as stored
        except DamagedRecord:
            decoded = None  # archived that way (e.g. truncated): send it as it was stored
    if decoded is not None:
        body = decoded
        headers = [(k, v) for k, v in headers if k.lower() != "content-encoding"]
        if kind in _CSS_TYPES:
            charset = css_charset(body, content_type)
            text = body.decode(charset, "surrogateescape")
            body = rewrite_css(text, urls).encode(charset, ENCODE_ERRORS)
        else:
            charset = html_charset(body, content_type)
            body = _rewrite_page(capture, body, charset, urls, modifier, scripts)
            if not header_charset(content_type) and (
                    charset != "utf-8" or declared_html(body, None)):
                # The injected script may push a <meta charset> past the browser's 1024-byte
                # prescan: say in the header what the page itself declared.
                label = "utf-8" if charset == "utf-8-sig" else charset
                headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
                headers.append(("Content-Type", f"{kind}; charset={label}"))
        rewritten = True
    headers.append(("Memento-Datetime", _http_date(to14(ts))))
    headers.append(("Cache-Control", "no-cache"))
    return Prepared(status, headers, body, rewritten)


def _undecodable(encoding: str) -> Prepared:
    from html import escape

    text = (f"<!doctype html><meta charset=utf-8><title>Cannot be decoded here</title>"
            f"<h1>This record cannot be decoded here · 此记录无法在此解码</h1>"
            f"<p>It is stored {escape(encoding)}-compressed, and this copy of the reader has no "
            f"{escape(encoding)} decoder, so it cannot be shown safely. Nothing is wrong with "
            f"the archive: open it with the full mirrorkit (<code>mirrorkit serve</code>) or "
            f"ReplayWeb.page.</p>")
    headers = [("Content-Type", "text/html; charset=utf-8")]  # the content origin adds its CSP
    return Prepared(501, headers, text.encode("utf-8"), True)


def _rewrite_page(capture: Capture, body: bytes, charset: str, urls: UrlRewriter,
                  modifier: str, scripts: bool) -> bytes:
    if charset == "utf-16":
        text = body.decode("utf-16", "replace")
    else:
        text = body.decode(charset, "surrogateescape")
    result = rewrite_html(text, urls)
    head = client_scripts(urls.archive_prefix(), capture.url) if scripts else ""
    out = result.inject(head, "")
    if charset == "utf-16":
        return out.encode("utf-16")
    return out.encode(charset, ENCODE_ERRORS)


def _http_date(ts14: str) -> str:
    import datetime as _dt
    from email.utils import format_datetime

    try:
        dt = _dt.datetime.strptime(ts14, "%Y%m%d%H%M%S").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        dt = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
    return format_datetime(dt, usegmt=True)
