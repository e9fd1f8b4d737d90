"""Rewrites the URLs in an HTML document so that every resource and link points into the archive.

`serve.html_tokens` finds the tags as a browser would (linear in the document, whatever it holds);
each edit is recorded as a span of the original text and applied at the end, so every byte outside
a rewritten attribute value stays as archived (whitespace, case, entity spelling, broken markup).
``<style>`` blocks and ``style`` attributes go through the CSS rewriter; ``<base href>`` changes
how later URLs resolve. Work is bounded: a document of more than `MAX_TOKENS` tags and attributes,
or whose rewritten text would pass `max_output` characters, raises `RewriteTooLarge` (the reader
then shows a page saying so) instead of holding a thread and its memory for minutes.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from html.entities import html5 as _ENTITIES
from typing import List, Optional, Tuple

from .html_tokens import MAX_TOKENS, Budget, tokens
from .records import MAX_PAGE_BYTES, RewriteTooLarge
from .rewrite_css import rewrite_css
from .urls import UrlRewriter

# Attribute values that are one URL. (element-specific cases are handled in _rewrite_attr)
_URL_ATTRS = frozenset({
    "href", "src", "action", "formaction", "poster", "background", "longdesc", "cite",
    "xlink:href", "data-src", "manifest", "icon",
})
_SRCSET_ATTRS = frozenset({"srcset", "imagesrcset", "data-srcset"})
_FRAME_TAGS = frozenset({"iframe", "frame"})
_WS = "\t\n\f\r "
_CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")


__all__ = ["RewriteResult", "RewriteTooLarge", "rewrite_html", "rewrite_refresh",
           "rewrite_srcset"]


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
    """Rewrites the URL of a refresh value (``<meta http-equiv=refresh content=...>`` or a
    ``Refresh:`` header) as browsers parse it (the WHATWG "shared declarative refresh steps"):
    ``5; url=x``, ``5,x``, ``0 http://x`` (a space is separator enough), quoted or not."""
    n = len(content)
    i = 0
    while i < n and content[i] in _WS:
        i += 1
    j = i
    while j < n and content[j] in "0123456789":
        j += 1
    if j == i and not content.startswith(".", j):
        return content  # no delay: browsers ignore the whole value
    while j < n and content[j] in "0123456789.":
        j += 1
    if j >= n or content[j] not in ";," + _WS:
        return content  # a refresh of the page itself, or an invalid value
    while j < n and content[j] in _WS:
        j += 1
    if j < n and content[j] in ";,":
        j += 1
    while j < n and content[j] in _WS:
        j += 1
    start = j
    if content[j:j + 3].lower() == "url":
        k = j + 3
        while k < n and content[k] in _WS:
            k += 1
        if k < n and content[k] == "=":
            k += 1
            while k < n and content[k] in _WS:
                k += 1
            start = k
    end = n
    if start < n and content[start] in "'\"":
        close = content.find(content[start], start + 1)
        start += 1
        end = n if close < 0 else close
    url = content[start:end].strip(_WS)
    if not url:
        return content
    lead = len(content[start:end]) - len(content[start:end].lstrip(_WS))
    url_start = start + lead
    return content[:url_start] + urls.rewrite(url) + content[url_start + len(url):]


def _escape_attr(value: str, quote: str) -> str:
    value = value.replace("&", "&amp;")
    if quote == '"':
        return value.replace('"', "&quot;")
    if quote == "'":
        return value.replace("'", "&#39;")
    return value


def _attr_unescape(value: str) -> str:
    """Character references in an attribute value, decoded as browsers do there: a named
    reference without ``;`` followed by a letter, digit or ``=`` stays as written
    (``?a=1&copy=2`` keeps its ``&copy``), unlike `html.unescape`, which is for text."""
    if "&" not in value:
        return value

    def one(m: re.Match[str]) -> str:
        ref = m.group(0)
        if ref[1] != "#" and not ref.endswith(";"):
            name = ref[1:]
            for k in range(len(name), 0, -1):  # the longest legacy name, as html.unescape does
                if name[:k] in _ENTITIES:
                    after = name[k:k + 1] or m.string[m.end():m.end() + 1]
                    if after and (after == "=" or (after.isascii() and after.isalnum())):
                        return ref
                    break
        return html.unescape(ref)

    return _CHARREF.sub(one, value)


class _Rewriter:
    """Collects edits (spans of the original text) and the injection points of one document."""

    def __init__(self, text: str, urls: UrlRewriter, budget: Budget) -> None:
        self.text = text
        self.urls = urls
        self.budget = budget
        self.edits: List[Edit] = []
        self.head_end_of_start: Optional[int] = None  # offset just after <head ...>
        self.html_end_of_start: Optional[int] = None
        self.body_close: Optional[int] = None
        self.head_close: Optional[int] = None
        self.first_script: Optional[int] = None

    def run(self) -> None:
        for token in tokens(self.text, self.budget):
            kind = token[0]
            if kind == "start":
                self._start(token[1], token[2], token[3], token[4])
            elif kind == "raw":
                if token[1] == "style":
                    self._css(token[2], token[3])
            elif kind == "css":
                self._css(token[1], token[2])
            elif kind == "end":
                if token[1] == "body":
                    self.body_close = token[2]
                elif token[1] == "head" and self.head_close is None:
                    self.head_close = token[2]

    def _css(self, start: int, end: int) -> None:
        css = self.text[start:end]
        new = rewrite_css(css, self.urls, budget=self.budget)
        if new != css:
            self.edits.append((start, end, new))

    def _start(self, tag: str, start: int, end: int, attrs: list) -> None:
        if tag == "script" and self.first_script is None:
            self.first_script = start
        elif tag == "head" and self.head_end_of_start is None:
            self.head_end_of_start = end
        elif tag == "html" and self.html_end_of_start is None:
            self.html_end_of_start = end
        if not attrs:
            return
        names: dict = {}
        for attr in attrs:  # a duplicate attribute is ignored by browsers: the first one counts
            names.setdefault(attr[0], attr[3])
        for name, name_start, name_end, value, value_start, value_end in attrs:
            if name == "integrity" and tag == "link":
                # The stylesheet is rewritten, so its hash no longer matches: keep the value
                # under another name rather than have the browser refuse the style.
                self.edits.append((name_start, name_end, "data-mk-integrity"))
                continue
            if value is None:
                continue
            new = self._rewrite_attr(tag, name, value, names)
            if new is not None:
                self.edits.append((value_start, value_end, new))

    def _rewrite_attr(self, tag: str, name: str, raw: str, names: dict) -> Optional[str]:
        quote = raw[0] if raw[:1] in ("'", '"') else ""
        inner = raw[1:-1] if quote and len(raw) > 1 and raw[-1] == quote else raw[1:] if quote \
            else raw
        value = _attr_unescape(inner)
        # A URL costs about ten tokens' time; a srcset or ping can hold thousands of them.
        self.budget.spend(10 * (1 + value.count(",") + value.count(" ")) if name in _SRCSET_ATTRS
                          or name == "ping" else 10)
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
            new = rewrite_css(value, self.urls, budget=self.budget)
        elif name == "content" and tag == "meta":
            equiv = _attr_unescape(_unquote(names.get("http-equiv") or ""))
            if equiv.strip(_WS).lower() != "refresh":  # `&#82;efresh` is "Refresh" too
                return None
            new = rewrite_refresh(value, self.urls)
        else:
            return None
        if new == value:
            return None
        if not quote:
            quote = '"'
        return quote + _escape_attr(new, quote) + quote


def _unquote(raw: str) -> str:
    if raw[:1] in ("'", '"'):
        return raw[1:-1] if len(raw) > 1 and raw[-1] == raw[0] else raw[1:]
    return raw


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


def rewrite_html(text: str, urls: UrlRewriter, *, max_tokens: int = MAX_TOKENS,
                 max_output: int = 3 * MAX_PAGE_BYTES) -> RewriteResult:
    """Rewrites a decoded HTML document; never raises on malformed markup.

    Raises `RewriteTooLarge` when the document has more than `max_tokens` tags and attributes
    or the rewritten text would be longer than `max_output` characters."""
    budget = Budget(max_tokens)
    parser = _Rewriter(text, urls, budget)
    parser.run()
    edits = sorted(parser.edits)
    out: List[str] = []
    last = 0
    mapping: List[Tuple[int, int]] = []  # (original offset, shift) to move insertion points
    shift = 0
    for s, e, new in edits:
        if s < last:
            continue  # overlapping edits cannot come from one pass; kept as a safety net
        out.append(text[last:s])
        out.append(new)
        shift += len(new) - (e - s)
        mapping.append((e, shift))
        last = e
        if len(text) + shift > max_output:
            raise RewriteTooLarge(f"this page would grow past {max_output // (1024 * 1024)} MB "
                                  "when rewritten, more than this reader serves")
    out.append(text[last:])
    result = "".join(out)
    keys = [m[0] for m in mapping]

    def moved(pos: int) -> int:
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
    """Where a document without <html>, <head> or <script> gets the head snippet: after leading
    whitespace, comments and a doctype. Linear: each step is a find."""
    pos = 0
    n = len(text)
    while True:
        while pos < n and text[pos].isspace():
            pos += 1
        if text.startswith("<!--", pos):
            close = text.find("-->", pos + 4)
            if close < 0:
                return pos
            pos = close + 3
            continue
        if text[pos:pos + 9].lower() == "<!doctype":
            close = text.find(">", pos)
            return n if close < 0 else close + 1
        return pos
