"""Rewrites the URLs in CSS (``url()``, ``@import "..."``) and leaves every other byte alone.

A small tokenizer rather than a CSS parser: comments and strings are skipped as units, so a
``url(`` inside a comment or a string is never touched, and the text between matches is copied
verbatim. Quoting style is kept; characters the new URL needs escaped are escaped.
"""

from __future__ import annotations

import re
from typing import Callable

from .urls import UrlRewriter

_STR_DQ = r'"(?:[^"\\\n]|\\.|\\\n)*"'
_STR_SQ = r"'(?:[^'\\\n]|\\.|\\\n)*'"
_TOKEN = re.compile(
    r"(?P<comment>/\*.*?(?:\*/|\Z))"
    r"|(?P<url>(?<![\w-])url\(\s*(?P<uval>" + _STR_DQ + "|" + _STR_SQ
    + r"|(?:[^)\s\\'\"]|\\.)*)\s*\))"
    r"|(?P<import>@import\s*(?P<ival>" + _STR_DQ + "|" + _STR_SQ + "))"
    r"|(?P<string>" + _STR_DQ + "|" + _STR_SQ + ")",
    re.S | re.I,
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


def rewrite_css_urls(css: str, rewrite: Callable[[str], str]) -> str:
    """Returns ``css`` with each ``url()`` and ``@import`` target replaced by ``rewrite(url)``."""
    out = []
    last = 0
    for m in _TOKEN.finditer(css):
        if m.group("url") is not None:
            start, end = m.span("uval")
        elif m.group("import") is not None:
            start, end = m.span("ival")
        else:
            continue
        quote, url = _quoted(css[start:end])
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


def rewrite_css(css: str, urls: UrlRewriter) -> str:
    """Rewrites a stylesheet or a ``<style>`` block so that its resources load from the archive."""
    return rewrite_css_urls(css, urls.rewrite)
