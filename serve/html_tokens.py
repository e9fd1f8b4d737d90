"""A linear HTML tokenizer that finds tags and their attributes the way browsers do.

`html.parser` is quadratic on unclosed tags (a page of `<a ` repeated 20,000 times took a minute)
and parses differently from browsers: `<!-->` is an empty comment for a browser but hides the
following links from it, `<svg><style>` holds markup for a browser but text for it. This
tokenizer follows the WHATWG tokenizer for what matters to URL rewriting:

- comments (`<!-->`, `<!--->`, `--!>` endings), bogus comments (`<?`, `</1`, `<!x`), doctypes,
  CDATA sections in SVG/MathML;
- tags: names up to whitespace, `/` or `>`; attributes with the spec's name, `=`, quoted and
  unquoted value rules (a `>` inside quotes does not end the tag); names ASCII-lowercased; a tag
  cut off by the end of the document is no tag at all;
- raw text elements (`script`, `style`, `textarea`, `title`, `xmp`, `iframe`, `noembed`,
  `noframes`, `plaintext`) end only at their own end tag — but not inside `<svg>`/`<math>`, where
  they hold markup, until an HTML "breakout" tag or the foreign element's end tag closes them;
  HTML integration points (`foreignObject`, `desc`, `title`, `mi`...) switch back to HTML rules.

Every step is a regular expression anchored at the current position, or a `find`, and each
consumes input: the whole pass is linear in the document. `noscript` is parsed as markup
(scripts are off in the safe reader). Not modelled: the script "double escaped" states
(`<!--<script>` inside a script) and the tree builder's other insertion modes — neither changes
which attributes hold URLs.

Tokens (tuples, to stay cheap): ``("start", name, start, end, attrs, self_closing)`` with attrs
a list of ``(name, name_start, name_end, raw_value or None, value_start, value_end)``;
``("end", name, start, end)``; ``("raw", name, start, end)`` for a raw text element's content;
``("css", start, end)`` for text inside a `<style>` in SVG (CSS that also holds markup).
Python 3.9-safe: travels in the USB kit.
"""

from __future__ import annotations

import re
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

from .records import RewriteTooLarge

__all__ = ["tokens", "Budget"]

_WS = "\t\n\f\r "
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_TAG_NAME = re.compile(r"[^\t\n\f\r />]*")
# One attribute (or none) after optional separators: whitespace and stray slashes.
_ATTR = re.compile(
    r"([\t\n\f\r /]*)"
    r"(?:([^\t\n\f\r />][^\t\n\f\r />=]*)"
    r"(?:[\t\n\f\r ]*=[\t\n\f\r ]*(\"[^\"]*\"?|'[^']*'?|[^\t\n\f\r >]*))?)?")
_COMMENT_END = re.compile(r"--!?>")
_RAW_TEXT = frozenset({"script", "style", "textarea", "title", "xmp", "iframe", "noembed",
                       "noframes", "plaintext"})
_RAW_END = {name: re.compile(r"</" + name + r"[\t\n\f\r />]", re.I) for name in _RAW_TEXT}
# Start tags that end SVG/MathML content (the tree builder's "breakout" list).
_BREAKOUT = frozenset([
    "b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt", "em",
    "embed", "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li", "listing",
    "menu", "meta", "nobr", "ol", "p", "pre", "ruby", "s", "small", "span", "strong", "strike",
    "sub", "sup", "table", "tt", "u", "ul", "var"])
_INTEGRATION = frozenset({"foreignobject", "desc", "title", "mi", "mo", "mn", "ms", "mtext",
                          "annotation-xml"})

# The tokens one page may cost: about 1.5 s of tokenizing on a laptop; a 2 MB page of ordinary
# markup needs a twentieth of it.
MAX_TOKENS = 1_000_000

# Open SVG/MathML elements tracked at most (Blink's parser stops nesting at 512 too): end tags
# search this stack, which must stay short for the pass to stay linear.
_MAX_FOREIGN_DEPTH = 512

Attr = Tuple[str, int, int, Optional[str], int, int]
Token = Tuple[Any, ...]


class Budget:
    """The work one page may cost: a number of tokens (tags, attributes, CSS tokens, URLs) and
    seconds of this thread's CPU time (checked every 1,024 tokens). `spend` raises
    RewriteTooLarge past either, so one hostile page cannot hold a server thread for minutes;
    the GIL is released between tokens, so other requests keep being answered meanwhile."""

    def __init__(self, max_tokens: int, max_seconds: float = 3.0) -> None:
        self.left = max_tokens
        self._check = 1024
        self._deadline = time.thread_time() + max_seconds
        self._seconds = max_seconds

    def spend(self, count: int = 1) -> None:
        """Account for `count` tokens; raises RewriteTooLarge when the budget is used up."""
        self.left -= count
        self._check -= count
        if self._check <= 0:
            self._check = 1024
            if time.thread_time() > self._deadline:
                raise RewriteTooLarge(f"this page takes more than {self._seconds:g} s to "
                                      "rewrite, more than this reader spends on one page")
        if self.left < 0:
            raise RewriteTooLarge("this page has more tags, attributes and links than this "
                                  "reader rewrites")


def _tag_name(text: str, pos: int) -> Tuple[str, int]:
    """(ASCII-lowercased tag name starting at `pos`, where it ends)."""
    end = pos
    m = _TAG_NAME.match(text, pos)
    if m is not None:  # always: the pattern matches the empty string
        end = m.end()
    return text[pos:end].translate(_ASCII_LOWER), end


def _attributes(text: str, pos: int, budget: Optional[Budget]
                ) -> Tuple[List[Attr], int, bool]:
    """Attributes from `pos` to the end of the tag: (attrs, end after '>' or -1, self-closing)."""
    attrs: List[Attr] = []
    n = len(text)
    match = _ATTR.match
    while True:
        m = match(text, pos)
        if m is None:  # cannot happen: every part of the pattern is optional
            return attrs, -1, False
        end = m.end()
        name = m.group(2)
        if name is not None:
            value = m.group(3)
            if value is None:
                attrs.append((name.translate(_ASCII_LOWER), m.start(2), m.end(2), None, 0, 0))
            else:
                attrs.append((name.translate(_ASCII_LOWER), m.start(2), m.end(2), value,
                              m.start(3), m.end(3)))
            if budget is not None:
                budget.spend()
        if end >= n:
            return attrs, -1, False  # the document ends inside the tag: no tag
        if text[end] == ">":
            closing = name is None and m.group(1).endswith("/")
            return attrs, end + 1, closing
        if end == pos:  # cannot happen (every other character starts a name); never loop
            end += 1
        pos = end


def tokens(text: str, budget: Optional[Budget] = None) -> Iterator[Token]:
    """The tags of an HTML document, in order; never raises except RewriteTooLarge (budget)."""
    n = len(text)
    pos = 0
    foreign: List[str] = []  # open SVG/MathML elements (lowercased), innermost last
    opened: Dict[str, int] = {}  # how many of each name `foreign` holds: O(1) end-tag lookups
    find = text.find
    while pos < n:
        lt = find("<", pos)
        in_foreign = bool(foreign) and foreign[-1] not in _INTEGRATION
        if in_foreign and foreign[-1] == "style" and (lt < 0 or lt > pos):
            yield ("css", pos, n if lt < 0 else lt)
        if lt < 0 or lt + 1 >= n:
            return
        if budget is not None:
            budget.spend()
        nxt = text[lt + 1]
        if nxt.isascii() and nxt.isalpha():
            name, name_end = _tag_name(text, lt + 1)
            attrs, end, closing = _attributes(text, name_end, budget)
            if end < 0:
                return
            pos = end
            if in_foreign:
                if name in _BREAKOUT or (name == "font" and any(
                        a[0] in ("color", "face", "size") for a in attrs)):
                    foreign.clear()
                    opened.clear()
                    in_foreign = False
                elif not closing and len(foreign) < _MAX_FOREIGN_DEPTH:
                    foreign.append(name)
                    opened[name] = opened.get(name, 0) + 1
            elif name in ("svg", "math") and not closing and len(foreign) < _MAX_FOREIGN_DEPTH:
                foreign.append(name)
                opened[name] = opened.get(name, 0) + 1
            yield ("start", name, lt, end, attrs, closing)
            if not in_foreign and name in _RAW_TEXT:
                if name == "plaintext":
                    yield ("raw", name, end, n)
                    return
                close = _RAW_END[name].search(text, end)
                stop = n if close is None else close.start()
                yield ("raw", name, end, stop)
                pos = stop
            continue
        if nxt == "/":
            after = text[lt + 2: lt + 3]
            if after.isascii() and after.isalpha():
                name, name_end = _tag_name(text, lt + 2)
                _attrs, end, _closing = _attributes(text, name_end, budget)
                if end < 0:
                    return
                pos = end
                if foreign:
                    if name in ("br", "p") and in_foreign:
                        foreign.clear()
                        opened.clear()
                    elif opened.get(name):
                        while foreign:  # pop up to and including the innermost `name`
                            top = foreign.pop()
                            opened[top] -= 1
                            if top == name:
                                break
                yield ("end", name, lt, end)
            elif after == ">":
                pos = lt + 3  # `</>` is dropped
            elif not after:
                return
            else:
                pos = _bogus_comment(text, lt + 2)
            continue
        if nxt == "!":
            if text.startswith("<!--", lt):
                if text.startswith(">", lt + 4):
                    pos = lt + 5  # `<!-->`: an empty comment, as browsers read it
                elif text.startswith("->", lt + 4):
                    pos = lt + 6  # `<!--->`
                else:
                    m2 = _COMMENT_END.search(text, lt + 4)
                    pos = n if m2 is None else m2.end()
            elif in_foreign and text.startswith("[CDATA[", lt + 2):
                close_at = find("]]>", lt + 9)
                pos = n if close_at < 0 else close_at + 3
            else:
                pos = _bogus_comment(text, lt + 2)  # doctypes end the same way
            continue
        if nxt == "?":
            pos = _bogus_comment(text, lt + 1)
            continue
        pos = lt + 1  # a lone '<' is text


def _bogus_comment(text: str, start: int) -> int:
    close = text.find(">", start)
    return len(text) if close < 0 else close + 1
