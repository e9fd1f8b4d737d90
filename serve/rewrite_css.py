"""Rewrites the URLs in CSS (``url()``, ``@import "..."``) and leaves every other byte alone.

A small tokenizer rather than a CSS parser: comments and strings are skipped as units, so a
``url(`` inside a comment or a string is never touched, and the text between matches is copied
verbatim. Quoting style is kept; characters the new URL needs escaped are escaped.

Linear in the stylesheet: an unquoted `url(` value stops at the next `(` as well (CSS makes such
a value a bad-url token anyway), so `url(url(url(...` costs one short attempt each instead of a
scan to the end each (80 KB of it took two minutes).
"""

from __future__ import annotations

import re
from typing import Callable, Optional

from .html_tokens import MAX_TOKENS, Budget
from .urls import UrlRewriter

# Characters a token can start with: found by a plain character-class search (fast, in C), then
# the token is matched there. One `finditer` over hostile CSS could hold the GIL for seconds.
_START = re.compile(r"[/uU@\"']")

# Unrolled loops, no IGNORECASE and no leading lookbehind: the regex engine can then skip every
# position whose first character starts no token, and each attempt fails fast.
_STR_DQ = r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"'
_STR_SQ = r"'[^'\\\n]*(?:\\.[^'\\\n]*)*'"
_UNQUOTED = r"[^()\s\\'\"]*(?:\\.[^()\s\\'\"]*)*"
_TOKEN = re.compile(
    r"(?P<comment>/\*(?:[^*]*\*+(?:[^/*][^*]*\*+)*/|.*))"
    r"|(?P<url>[uU](?<![\w-][uU])[rR][lL]\(\s*(?P<uval>" + _STR_DQ + "|" + _STR_SQ
    + "|" + _UNQUOTED + r")\s*\))"
    r"|(?P<import>@[iI][mM][pP][oO][rR][tT]\s*(?P<ival>" + _STR_DQ + "|" + _STR_SQ + "))"
    r"|(?P<string>" + _STR_DQ + "|" + _STR_SQ + ")",
    re.S,
)
_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})\s?|(\n)|(.))", re.S)


def _unescape(text: str) -> str:
    """Undoes CSS escapes (``\\28`` -> ``(``), as a browser does before using a URL."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1):
            code = int(m.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF else "\ufffd"
        if m.group(2):
            return ""
        return m.group(3)

    return _ESCAPE.sub(sub, text)


def _quoted(value: str) -> tuple[str, str]:
    """Splits a possibly quoted CSS value into (quote char or '', unescaped content)."""
    if len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0]:
        return value[0], _unescape(value[1:-1])
    return "", _unescape(value)


def _requote(quote: str, url: str) -> str:
    if quote:
        return quote + url.replace("\\", "\\\\").replace(quote, "\\" + quote).replace(
            "\n", "\\a ") + quote
    return re.sub(r"([()\s'\"\\])", lambda m: f"\\{ord(m.group(1)):x} ", url)


def rewrite_css_urls(css: str, rewrite: Callable[[str], str],
                     budget: Optional[Budget] = None) -> str:
    """Returns ``css`` with each ``url()`` and ``@import`` target replaced by ``rewrite(url)``.

    With a `budget`, every token and URL is accounted (RewriteTooLarge when it runs out)."""
    out = []
    last = 0
    pos = 0
    search, match = _START.search, _TOKEN.match
    while True:
        found = search(css, pos)
        if found is None:
            break
        at = found.start()
        if budget is not None:
            budget.spend()
        m = match(css, at)
        if m is None:
            pos = at + 1
            continue
        pos = max(m.end(), at + 1)
        if m.group("url") is not None:
            start, end = m.span("uval")
        elif m.group("import") is not None:
            start, end = m.span("ival")
        else:
            continue
        quote, url = _quoted(css[start:end])
        if budget is not None:
            budget.spend(10)
        new = rewrite(url)
        if new == url:
            continue
        out.append(css[last:start])
        out.append(_requote(quote, new))
        last = end
    if not out:
        return css
    out.append(css[last:])
    return "".join(out)


def rewrite_css(css: str, urls: UrlRewriter, budget: Optional[Budget] = None) -> str:
    """Rewrites a stylesheet or a ``<style>`` block so that its resources load from the archive.

    Raises RewriteTooLarge when `budget` (default: one page's, `MAX_TOKENS`) runs out."""
    if budget is None:
        budget = Budget(MAX_TOKENS)
    return rewrite_css_urls(css, urls.rewrite, budget)
