"""Pages of a bundle: which records are pages, their titles, and their visible text for search.

Decoding follows the HTML rules in the order a browser uses them: byte-order mark, the HTTP
charset, a `<meta charset>` in the first bytes, then UTF-8 if the bytes are valid UTF-8, then a
statistical guess (charset-normalizer), so a GBK or Big5 page without declarations still gives
readable Chinese. Used only when writing bundles (not shipped in the kit).
"""

from __future__ import annotations

import codecs
import html
import re
from typing import Any, List, Optional, Tuple

HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xhtml")
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
