"""Bounded JSON: every piece of JSON a bundle (or a QR code, or a capture) hands us is read here.

`json.loads` has no limits of its own: a 7 KB `[[[[...` nested 200,000 deep raises
`RecursionError` (a traceback that took the whole replay server down), and on Pythons without
`sys.set_int_max_str_digits` a long run of digits costs quadratic time. `loads` refuses input
larger than `max_bytes`, nested deeper than `max_depth`, or with integers longer than 4,300
digits, as the error class the caller names (a "damaged" verdict for that part), never as a
traceback. The depth check is a linear scan done only when the text could be deep (more
brackets than the limit), so the common small objects (index lines, page lines) pay nothing.
Python 3.9-safe: travels in the USB kit.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Callable, Optional, Type, Union

from mirrorkit.errors import InvalidBundle, MirrorkitError

__all__ = ["MAX_DEPTH", "JsonLimitError", "loads", "loads_object", "too_deep"]

MAX_DEPTH = 64
MAX_BYTES = 16 * 1024 * 1024
_MAX_INT_DIGITS = 4300  # what CPython >= 3.11 enforces by default
# A JSON string (so brackets inside strings do not count) or a bracket.
_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.S)
_NOT_BRACKETS = re.compile(rb"[^\[\]{}]+")
_OPEN = frozenset(b"[{")


class JsonLimitError(InvalidBundle):
    """A piece of JSON is larger or deeper than anything a genuine bundle holds."""


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


# Pythons that limit int() themselves (3.11+, and 3.9.14+/3.10.7+ security releases) keep the
# fast C path; older ones get the bounded hook.
_PARSE_INT: Optional[Callable[[str], int]] = (
    None if hasattr(sys, "get_int_max_str_digits") else _bounded_int)


def too_deep(data: Union[bytes, str], max_depth: int = MAX_DEPTH) -> bool:
    """Whether brackets outside strings nest deeper than `max_depth`; linear, never recursive."""
    if isinstance(data, str):
        if data.count("[") + data.count("{") <= max_depth:
            return False
        raw = data.encode("utf-8", "surrogatepass")
    else:
        raw = data
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return False  # cannot be deeper than the number of brackets it opens
    brackets = _NOT_BRACKETS.sub(b"", _STRINGS.sub(b"", raw))
    depth = 0
    for ch in brackets:
        if ch in _OPEN:
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def loads(data: Union[bytes, str], what: str, *, max_bytes: int = MAX_BYTES,
          max_depth: int = MAX_DEPTH,
          error: Type[MirrorkitError] = JsonLimitError) -> Any:
    """Parse JSON from a bundle part named `what` ("datapackage.json", "pages.jsonl line 3").

    Raises `error` (default `JsonLimitError`, an InvalidBundle) with a message naming `what`
    when the data is larger than `max_bytes`, nested deeper than `max_depth`, not UTF-8 or
    not JSON. Never raises RecursionError, MemoryError-by-design or ValueError.
    """
    if len(data) > max_bytes:
        raise error(f"{what} is damaged: {len(data):,} bytes, more than the {max_bytes:,} "
                    "this reader accepts")
    if too_deep(data, max_depth):
        raise error(f"{what} is damaged: JSON nested deeper than {max_depth} levels")
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        if _PARSE_INT is None:
            return json.loads(text)
        return json.loads(text, parse_int=_PARSE_INT)
    except UnicodeDecodeError:
        raise error(f"{what} is damaged: not UTF-8 text") from None
    except RecursionError:  # belt and braces: the scan above should have caught it
        raise error(f"{what} is damaged: JSON nested too deeply") from None
    except ValueError as err:
        raise error(f"{what} is not JSON ({str(err)[:80]})") from None


def loads_object(data: Union[bytes, str], what: str, *, max_bytes: int = MAX_BYTES,
                 max_depth: int = MAX_DEPTH,
                 error: Type[MirrorkitError] = JsonLimitError) -> dict:
    """`loads`, and the value must be a JSON object; raises `error` otherwise."""
    value = loads(data, what, max_bytes=max_bytes, max_depth=max_depth, error=error)
    if not isinstance(value, dict):
        raise error(f"{what} is not a JSON object")
    return value
