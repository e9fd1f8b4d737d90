"""Pages of a bundle: which records are pages, their titles, their visible text for search, and
the page list (pages.jsonl).

Decoding follows the HTML rules in the order a browser uses them: byte-order mark, the HTTP
charset, a `<meta charset>` in the first bytes, then UTF-8 if the bytes are valid UTF-8, then a
statistical guess (charset-normalizer), so a GBK or Big5 page without declarations still gives
readable Chinese. Used only when writing bundles (not shipped in the kit).
"""

from __future__ import annotations

import codecs
import datetime
import hashlib
import html
import json
import re
from typing import Any, Dict, List, Optional, Tuple

from mirrorkit.index import timestamp_seconds

HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xhtml")
SNAPSHOT = "urn:snapshot:"  # a browser capture's rendered page (conversion record)
MAX_HTML_BYTES = 8 * 1024 * 1024
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_HTTP_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.I)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.I | re.S)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")
_SKIP = {"script", "style", "noscript", "template", "head", "svg", "math", "iframe", "object",
         "canvas", "select", "option"}
_BLOCK = {"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
          "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
          "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table",
          "td", "th", "tr", "ul", "title", "body", "html", "summary", "details", "caption"}


def is_page_record(record: Any, mime: str) -> bool:
    """True for an HTML document captured whole (a 200 response or a resource record)."""
    if mime.lower() not in HTML_TYPES:
        return False
    if record.rec_type == "response":
        return bool(record.http_headers) and record.http_headers.get_statuscode() == "200"
    return record.rec_type == "resource"


def read_body(record: Any, limit: int = MAX_HTML_BYTES) -> Tuple[bytes, Optional[str]]:
    """The record's body (transfer and content encodings undone, cut at `limit`), HTTP charset."""
    charset = None
    headers = record.http_headers if record.rec_type == "response" else record.rec_headers
    content_type = headers.get_header("Content-Type") if headers else None
    if content_type:
        m = _HTTP_CHARSET.search(content_type)
        charset = m.group(1) if m else None
    try:
        body = record.content_stream().read(limit)
    except Exception:
        body = b""
    return body, charset


def decode_html(body: bytes, http_charset: Optional[str]) -> str:
    """Decode an HTML body the way a browser would (see the module docstring)."""
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                      (codecs.BOM_UTF16_BE, "utf-16-be")):
        if body.startswith(bom):
            return body[len(bom):].decode(name, "replace")
    candidates: List[str] = []
    if http_charset:
        candidates.append(http_charset)
    m = _META_CHARSET.search(body[:4096])
    if m:
        candidates.append(m.group(1).decode("ascii", "replace"))
    for name in candidates:
        name = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030"}.get(name.lower(), name)
        try:
            return body.decode(name, "replace")
        except LookupError:
            continue
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(body[:65536]).best()
        if best is not None:
            return body.decode(best.encoding, "replace")
    except ImportError:  # pragma: no cover - charset-normalizer comes with requests
        pass
    return body.decode("windows-1252", "replace")


def quick_title(body: bytes, http_charset: Optional[str]) -> Optional[str]:
    """The page's `<title>`, found without a full parse (for bundles without --text)."""
    text = decode_html(body[:262144], http_charset)
    m = _TITLE.search(text)
    if not m:
        return None
    title = _SPACES.sub(" ", html.unescape(m.group(1))).strip()
    return title[:500] or None


def extract_text(body: bytes, http_charset: Optional[str]) -> Tuple[Optional[str], str]:
    """(title, visible text) of an HTML page, parsed with html5lib as browsers parse it."""
    import html5lib

    document = html5lib.parse(decode_html(body, http_charset), treebuilder="etree",
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


def _iso(timestamp: str) -> str:
    return datetime.datetime.fromtimestamp(timestamp_seconds(timestamp), datetime.timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%SZ")


def _ts14(value: str) -> Optional[str]:
    digits = re.sub(r"\D", "", value or "")
    return digits[:14] if len(digits) >= 8 else None


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
                page = {"url": url, "ts": _iso(ts or (match or {}).get("timestamp", "1970")),
                        "title": listed.get("title") or (match or {}).get("title") or url}
                if text and match and match.get("text"):
                    page["text"] = match["text"]
                _snapshot_text(page, snaps, url, ts)
                pages.append(page)
        else:
            for html in sorted(found, key=lambda h: h["timestamp"]):
                page = {"url": html["url"], "ts": _iso(html["timestamp"]),
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
    return min(same, key=lambda h: abs(timestamp_seconds(h["timestamp"]) - timestamp_seconds(ts)))


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
