"""Neutral text: what a bundle says, made unable to act on a terminal, a log or a file name.

A signed bundle's publisher, collection, title, URLs and file names are chosen by whoever signed
it, and anyone can sign. ANSI escape sequences in them can repaint a terminal (a "not trusted"
verdict shown as "TRUSTED"), bidirectional overrides can reverse what a reader sees
(`report\u202etxt.exe` looks like `reportexe.txt`). `neutral()` escapes exactly those: C0
controls, DEL, C1 controls, and the bidi embeddings, overrides and isolates — shown as `\\x1b`,
`\\u202e`, visible and harmless. Nothing else changes: ZWJ and ZWNJ are part of Persian and Indic
words and of emoji, the implicit marks (LRM, RLM) of right-to-left text stay, and letters of every
script stay as they are.
Python 3.9-safe: travels in the USB kit.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["UNSAFE", "has_unsafe", "neutral", "neutral_lines", "neutral_json"]

# C0 (U+0000-001F), DEL, C1 (U+0080-009F); the embeddings and overrides U+202A-202E; the
# isolates U+2066-2069.
_UNSAFE_CLASS = "\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
UNSAFE = re.compile("[" + _UNSAFE_CLASS + "]")
_UNSAFE_KEEP_LINES = re.compile("[" + _UNSAFE_CLASS.replace("\x00-\x1f", "\x00-\x08\x0b-\x1f")
                                + "]")
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def has_unsafe(text: str) -> bool:
    """Whether `text` holds a control character or a bidi control."""
    return UNSAFE.search(text) is not None


def neutral(value: Any) -> str:
    """`str(value)` with control characters and bidi overrides and isolates escaped.

    For one field (a name, a title, a URL): a newline is escaped too, so a field can never
    start a line of its own that looks like the program's.

    >>> neutral("Lantern\\x1b[32m OK\\u202e")
    'Lantern\\\\x1b[32m OK\\\\u202e'
    >>> neutral("می\u200cخواهم") == "می\u200cخواهم"
    True
    """
    text = value if isinstance(value, str) else str(value)
    if UNSAFE.search(text) is None:
        return text
    return UNSAFE.sub(_escape, text)


def neutral_lines(text: str) -> str:
    """For text the program assembled (whole messages): like `neutral`, but keeps newlines and
    tabs. A last line of defence before printing; fields should
    already have gone through `neutral`."""
    if UNSAFE.search(text) is None:
        return text
    return _UNSAFE_KEEP_LINES.sub(_escape, text)


def neutral_json(text: str) -> str:
    """JSON text (from `json.dumps(..., ensure_ascii=False)`) with DEL, C1 and bidi controls
    written as `\\uXXXX` escapes: still the same JSON value, but inert on a terminal. (json.dumps
    already escapes C0.) Those characters can only occur inside JSON strings."""
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)
