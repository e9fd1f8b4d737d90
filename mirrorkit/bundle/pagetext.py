"""Pages of a bundle: which records are pages, their titles, their visible text for search, and
the page list (pages.jsonl).

Decoding is `mirrorkit.formats.charset.decode_html` (the sniffer replay uses too), so a GBK or
Big5 page without declarations still gives readable Chinese. Used only when writing bundles.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from typing import Any, Dict, List, Optional, Tuple

from mirrorkit.formats import timestamps
from mirrorkit.formats.charset import decode_html

HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xhtml")
SNAPSHOT = "urn:snapshot:"  # a browser capture's rendered page (conversion record)
MAX_HTML_BYTES = 8 * 1024 * 1024
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.I | re.S)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")
_SKIP = {"script", "style", "noscript", "template", "head", "svg", "math", "iframe", "object",
         "canvas", "select", "option"}
_BLOCK = {"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
          "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
          "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table",
          "td", "th", "tr", "ul", "title", "body", "html", "summary", "details", "caption"}


def is_page_record(record: Any, mime: str) -> bool:
    """True for a document to list as a page: an HTML document captured whole (a 200 response or
    a resource record), or a screenshot or other image a browser-based tool stored as a resource
    under a non-HTTP URI (Scoop's `file:///screenshot.png`, Browsertrix's `urn:screenshot:`)."""
    mime = mime.lower()
    if record.rec_type == "resource" and mime.startswith("image/"):
        return not is_http_url(record.rec_headers.get_header("WARC-Target-URI") or "")
    if mime not in HTML_TYPES:
        return False
    if record.rec_type == "response":
        return bool(record.http_headers) and record.http_headers.get_statuscode() == "200"
    return record.rec_type == "resource"


def is_http_url(url: str) -> bool:
    """Whether a WARC-Target-URI is an http(s) URL (not `file:`, `urn:`, `metadata:` ...)."""
    return url.strip().strip("<").lower().startswith(("http://", "https://"))


def resource_title(url: str) -> str:
    """A readable title for a non-HTTP record: `file:///screenshot.png` -> `screenshot.png`."""
    tail = url.rstrip("/").rsplit("/", 1)[-1] if "/" in url else url
    from urllib.parse import unquote

    return unquote(tail) or url


def read_body(record: Any, limit: int = MAX_HTML_BYTES) -> Tuple[bytes, Optional[str]]:
    """The record's body (chunking and Content-Encoding undone, cut at `limit`), Content-Type.

    Decoding is `formats.http.decode_body` (gzip, deflate, brotli, zstd), not warcio's, whose
    brotli support breaks with Google's `brotli` package. A body that does not decode gives b"".
    """
    from warcio.bufferedreaders import ChunkedDataReader

    from mirrorkit.formats.http import UndecodableBody, decode_body

    http = record.rec_type in ("response", "revisit") and bool(record.http_headers)
    headers = record.http_headers if http else record.rec_headers
    content_type = headers.get_header("Content-Type") if headers else None
    try:
        if not http:
            return record.raw_stream.read(limit), content_type
        stream = record.raw_stream
        if "chunked" in (headers.get_header("Transfer-Encoding") or "").lower():
            stream = ChunkedDataReader(stream, decomp_type=None)
        raw = stream.read(MAX_HTML_BYTES)
        body = decode_body(raw, headers.get_header("Content-Encoding"))[:limit]
    except UndecodableBody:
        body = b""
    except Exception:  # a damaged body in someone else's WARC: no title, no text, no crash
        body = b""
    return body, content_type


def quick_title(body: bytes, content_type: Optional[str]) -> Optional[str]:
    """The page's `<title>`, found without a full parse (for bundles without --text)."""
    text = decode_html(body[:262144], content_type)
    m = _TITLE.search(text)
    if not m:
        return None
    title = _SPACES.sub(" ", html.unescape(m.group(1))).strip()
    return title[:500] or None


def extract_text(body: bytes, content_type: Optional[str]) -> Tuple[Optional[str], str]:
    """(title, visible text) of an HTML page, parsed with html5lib as browsers parse it."""
    import html5lib

    document = html5lib.parse(decode_html(body, content_type), treebuilder="etree",
                              namespaceHTMLElements=False)
    title = None
    for element in document.iter("title"):
        title = _SPACES.sub(" ", "".join(element.itertext())).strip() or None
        break
    parts: List[str] = []
    _walk(document, parts)
    lines = [_SPACES.sub(" ", line).strip() for line in "".join(parts).split("\n")]
    return title, "\n".join(line for line in lines if line)


def _walk(element: Any, parts: List[str]) -> None:
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag in _SKIP:
        if element.tail:
            parts.append(element.tail)
        return
    block = tag in _BLOCK
    if block:
        parts.append("\n")
    if element.text and tag:
        parts.append(element.text)
    for child in element:
        _walk(child, parts)
    if block:
        parts.append("\n")
    if element.tail:
        parts.append(element.tail)


# -- the page list ------------------------------------------------------------------------


def _ts14(value: str) -> Optional[str]:
    digits = timestamps.digits14(value)
    return digits if len(digits) >= 8 else None


def build_pages(warcs: List[Any], text: bool) -> List[Dict[str, Any]]:
    """Pages for pages.jsonl: a capture's own list when it has one, else its HTML documents.

    `warcs` are the writer's WARCs (with `.source`, `.entries` and the `.html` documents found
    while indexing). Raises nothing.
    """
    pages: List[Dict[str, Any]] = []
    seen_sources = set()
    for warc in warcs:
        source = warc.source
        if id(source) in seen_sources:
            continue
        seen_sources.add(id(source))
        own = [w for w in warcs if w.source is source]
        found = [h for w in own for h in w.html if not h.get("snapshot")]
        snaps = [h for w in own for h in w.html if h.get("snapshot")]
        urls = {e.url for w in own for e in w.entries}
        # A page stored as a revisit gets its title and text from the record it duplicates.
        by_digest = {h["digest"]: h for h in found if h.get("digest")}
        for entry in (e for w in own for e in w.entries):
            if entry.mime == "warc/revisit" and entry.digest in by_digest:
                found.append(dict(by_digest[entry.digest], url=entry.url,
                                  timestamp=entry.timestamp))
        if source.pages is not None:
            for listed in source.pages:
                url = str(listed.get("url") or "")
                ts = _ts14(str(listed.get("ts") or listed.get("timestamp") or ""))
                if url not in urls:
                    continue  # a page the bundle cannot show is left out of the list
                match = _closest_html(found, url, ts)
                when = ts or (match or {}).get("timestamp", "1970")
                page = {"url": url, "ts": timestamps.iso(when),
                        "title": listed.get("title") or (match or {}).get("title") or url}
                if text and match and match.get("text"):
                    page["text"] = match["text"]
                _snapshot_text(page, snaps, url, ts)
                pages.append(page)
        else:
            for html in sorted(found, key=lambda h: h["timestamp"]):
                page = {"url": html["url"], "ts": timestamps.iso(html["timestamp"]),
                        "title": html.get("title") or html["url"]}
                if text and html.get("text"):
                    page["text"] = html["text"]
                _snapshot_text(page, snaps, html["url"], html["timestamp"])
                pages.append(page)
    for page in pages:
        page["id"] = hashlib.sha1(f"{page['ts']}/{page['url']}".encode()).hexdigest()[:22]
    return pages


def _snapshot_text(page: Dict[str, Any], snaps: List[Dict[str, Any]], url: str,
                   ts: Optional[str]) -> None:
    # A browser capture's snapshot holds the text scripts built: it wins over the raw HTML's.
    snap = _closest_html(snaps, url, ts)
    if snap and snap.get("text"):
        page["text"] = snap["text"]


def _closest_html(found: List[Dict[str, Any]], url: str,
                  ts: Optional[str]) -> Optional[Dict[str, Any]]:
    same = [h for h in found if h["url"] == url]
    if not same:
        return None
    if ts is None:
        return same[0]
    return min(same, key=lambda h: timestamps.distance(h["timestamp"], ts))


def pages_jsonl(pages: List[Dict[str, Any]], title: Optional[str], text: bool) -> bytes:
    """pages/pages.jsonl: its header line, then one page per line. Raises nothing."""
    header: Dict[str, Any] = {"format": "json-pages-1.0", "id": "pages",
                              "title": title or "All Pages"}
    if text and any("text" in p for p in pages):
        header["hasText"] = True
    lines = [json.dumps(header, ensure_ascii=False)]
    lines += [json.dumps({k: p[k] for k in ("id", "url", "ts", "title", "text") if k in p},
                         ensure_ascii=False) for p in pages]
    return ("\n".join(lines) + "\n").encode("utf-8")
