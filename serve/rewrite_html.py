"""Rewrites the URLs in an HTML document so that every resource and link points into the archive.

The stdlib tokenizer (`html.parser`) finds the tags; each edit is recorded as a span of the
original text and applied at the end, so every byte outside a rewritten attribute value stays as
archived (whitespace, case, entity spelling, broken markup). ``<style>`` blocks and ``style``
attributes go through the CSS rewriter; ``<base href>`` changes how later URLs resolve.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from html.parser import HTMLParser
from typing import List, Optional, Tuple

from .rewrite_css import rewrite_css
from .urls import UrlRewriter

# Attribute values that are one URL. (element-specific cases are handled in _rewrite_attr)
_URL_ATTRS = frozenset({
    "href", "src", "action", "formaction", "poster", "background", "longdesc", "cite",
    "xlink:href", "data-src", "manifest", "icon",
})
_SRCSET_ATTRS = frozenset({"srcset", "imagesrcset", "data-srcset"})
_FRAME_TAGS = frozenset({"iframe", "frame"})
# name, then an optional value: quoted, or unquoted up to whitespace or '>'.
_ATTR_RE = re.compile(
    r"""([^\s/>"'=][^\s/>=]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?""", re.S)
_TAGNAME_RE = re.compile(r"<\s*[^\s/>]+")
_REFRESH_RE = re.compile(r"^(\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?)(['\"]?)(.*?)\2\s*$", re.I | re.S)

Edit = Tuple[int, int, str]


def rewrite_srcset(value: str, urls: UrlRewriter) -> str:
    """Rewrites each candidate URL of a ``srcset`` and keeps the descriptors and spacing.

    Candidates are separated by commas; a URL itself may contain commas but not whitespace,
    so the URL runs to the first whitespace (or to a trailing comma).
    """
    out: List[str] = []
    i, n = 0, len(value)
    while i < n:
        j = i
        while j < n and (value[j].isspace() or value[j] == ","):
            j += 1
        out.append(value[i:j])
        if j >= n:
            break
        k = j
        while k < n and not value[k].isspace():
            k += 1
        url = value[j:k]
        trail = ""
        while url.endswith(","):
            url, trail = url[:-1], trail + ","
        out.append(urls.rewrite(url) + trail)
        i = k
        if not trail:
            # descriptors up to the next comma
            m = value.find(",", i)
            end = n if m < 0 else m + 1
            out.append(value[i:end])
            i = end
    return "".join(out)


def rewrite_refresh(content: str, urls: UrlRewriter) -> str:
    """Rewrites the URL part of a ``<meta http-equiv=refresh content="5; url=...">``."""
    m = _REFRESH_RE.match(content)
    if not m or not m.group(3) or not re.search(r"[;,]|url", m.group(1), re.I):
        return content
    return m.group(1) + m.group(2) + urls.rewrite(m.group(3)) + m.group(2)


def _escape_attr(value: str, quote: str) -> str:
    value = value.replace("&", "&amp;")
    if quote == '"':
        return value.replace('"', "&quot;")
    if quote == "'":
        return value.replace("'", "&#39;")
    return value


class _Rewriter(HTMLParser):
    def __init__(self, text: str, urls: UrlRewriter) -> None:
        super().__init__(convert_charrefs=True)
        self.text = text
        self.urls = urls
        self.edits: List[Edit] = []
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.style_start: Optional[int] = None
        self.head_end_of_start: Optional[int] = None  # offset just after <head ...>
        self.html_end_of_start: Optional[int] = None
        self.body_close: Optional[int] = None
        self.head_close: Optional[int] = None
        self.first_script: Optional[int] = None

    def _abs_pos(self) -> int:
        line, col = self.getpos()
        return self.line_starts[line - 1] + col

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._start(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self._start(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self.style_start is not None:
            start, end = self.style_start, self._abs_pos()
            css = self.text[start:end]
            new = rewrite_css(css, self.urls)
            if new != css:
                self.edits.append((start, end, new))
            self.style_start = None
        elif tag == "body":
            self.body_close = self._abs_pos()
        elif tag == "head" and self.head_close is None:
            self.head_close = self._abs_pos()

    def _start(self, tag: str) -> None:
        raw = self.get_starttag_text() or ""
        start = self._abs_pos()
        if tag == "script" and self.first_script is None:
            self.first_script = start
        if tag == "style":
            self.style_start = start + len(raw)
        elif tag == "head" and self.head_end_of_start is None:
            self.head_end_of_start = start + len(raw)
        elif tag == "html" and self.html_end_of_start is None:
            self.html_end_of_start = start + len(raw)
        m = _TAGNAME_RE.match(raw)
        if not m:
            return
        # (name, raw value or None when bare, name span, value span or None)
        attrs: List[Tuple[str, Optional[str], Tuple[int, int], Optional[Tuple[int, int]]]] = []
        for am in _ATTR_RE.finditer(raw, m.end()):
            if am.group(2) is None:
                attrs.append((am.group(1).lower(), None, am.span(1), None))
            else:
                attrs.append((am.group(1).lower(), am.group(2), am.span(1), am.span(2)))
        names = {a[0]: a[1] for a in attrs}
        for name, value, name_span, value_span in attrs:
            if name == "integrity" and tag == "link":
                # The stylesheet is rewritten, so its hash no longer matches: keep the value
                # under another name rather than have the browser refuse the style.
                s, e = name_span
                self.edits.append((start + s, start + e, "data-mk-integrity"))
                continue
            if value is None or value_span is None:
                continue
            new = self._rewrite_attr(tag, name, value, names)
            if new is not None:
                s, e = value_span
                self.edits.append((start + s, start + e, new))

    def _rewrite_attr(self, tag: str, name: str, raw: str, names: dict) -> Optional[str]:
        quote = raw[0] if raw[:1] in ("'", '"') else ""
        value = html.unescape(raw[1:-1] if quote else raw)
        if name == "href" and tag == "base":
            self.urls.set_base(value)
            new = self.urls.rewrite(value)
        elif name in _URL_ATTRS:
            if name == "data-src" and tag not in ("img", "iframe", "source", "video", "audio"):
                return None
            mod = "if_" if tag in _FRAME_TAGS and name == "src" else ""
            new = self.urls.rewrite(value, mod)
        elif name == "data" and tag == "object":
            new = self.urls.rewrite(value)
        elif name in _SRCSET_ATTRS:
            new = rewrite_srcset(value, self.urls)
        elif name == "ping":
            new = " ".join(self.urls.rewrite(u) for u in value.split())
        elif name == "style":
            new = rewrite_css(value, self.urls)
        elif name == "content" and tag == "meta":
            equiv = (names.get("http-equiv") or "").strip("'\"").strip().lower()
            if equiv != "refresh":
                return None
            new = rewrite_refresh(value, self.urls)
        else:
            return None
        if new == value:
            return None
        if not quote:
            quote = '"'
        return quote + _escape_attr(new, quote) + quote


class RewriteResult:
    """A rewritten document and where an injected head snippet and banner belong."""

    def __init__(self, text: str, head_at: int, body_at: int) -> None:
        self.text = text
        self.head_at = head_at
        self.body_at = body_at

    def inject(self, head: str, body: str) -> str:
        """Returns the text with ``head`` after ``<head>`` and ``body`` before ``</body>``."""
        t = self.text
        return t[: self.head_at] + head + t[self.head_at: self.body_at] + body + t[self.body_at:]


def rewrite_html(text: str, urls: UrlRewriter) -> RewriteResult:
    """Rewrites a decoded HTML document; never raises on malformed markup."""
    parser = _Rewriter(text, urls)
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError, IndexError):
        # The stdlib tokenizer gives up on some broken declarations; the edits found up to
        # there are still good, the rest of the document stays as archived.
        pass
    edits = sorted(parser.edits)
    out: List[str] = []
    last = 0
    mapping: List[Tuple[int, int]] = []  # (original offset, shift) to move insertion points
    shift = 0
    for s, e, new in edits:
        if s < last:
            continue  # overlapping edit from a confused parse: skip it
        out.append(text[last:s])
        out.append(new)
        shift += len(new) - (e - s)
        mapping.append((e, shift))
        last = e
    out.append(text[last:])
    result = "".join(out)

    def moved(pos: int) -> int:
        keys = [m[0] for m in mapping]
        i = bisect_right(keys, pos)
        return pos + (mapping[i - 1][1] if i else 0)

    # The script goes before the page's first script (so it runs first) but as late as possible,
    # so that a <meta charset> stays within the browser's 1024-byte prescan.
    if parser.first_script is not None:
        head_at = parser.first_script
    elif parser.head_close is not None:
        head_at = parser.head_close
    elif parser.head_end_of_start is not None:
        head_at = parser.head_end_of_start
    elif parser.html_end_of_start is not None:
        head_at = parser.html_end_of_start
    else:
        head_at = _after_doctype(text)
    body_at = parser.body_close if parser.body_close is not None else len(text)
    body_at = max(body_at, head_at)
    return RewriteResult(result, moved(head_at), moved(body_at))


def _after_doctype(text: str) -> int:
    m = re.match(r"\s*(?:<!--.*?-->\s*)*(?:<!doctype[^>]*>)?", text, re.I | re.S)
    return m.end() if m else 0
