"""Lookup normalisation: the key form that our SURT keys and other tools' keys both meet.

Indexes written by other tools differ from ours in small ways (formats.md): js-wacz keeps the
trailing slash of a path (`com,example)/about/`), ArchiveWeb.page percent-encodes `:@;|` in query
strings (`family=roboto%3awght%40400`), writers disagree on the case of `%xx` escapes, and pages
add cache-busting arguments that change on every load. When the exact key is not in an index,
`IndexReader.find_key` looks at the few keys that could be the same resource (same path, with or
without a trailing slash, any query) and keeps those whose `normalize_key` is equal; failing that,
pywb's rule for files (a last path segment with an extension) accepts any query of that path.
Python 3.9-safe, standard library only.

>>> normalize_key("com,example)/about/")
'com,example)/about'
>>> normalize_key("com,googleapis,fonts)/css2?family=roboto%3Awght%40400%3B700")
'com,googleapis,fonts)/css2?family=roboto:wght@400;700'
>>> normalize_key("com,example)/a.js?_=1700000000000&v=2")
'com,example)/a.js?v=2'
"""

from __future__ import annotations

import re
from typing import List, Optional, Tuple

__all__ = ["file_like", "normalize_key", "path_part", "probe_prefixes"]

# Characters a writer may or may not escape without changing the meaning of a URL: unescaped in
# the normal form. `&`, `=`, `+`, `#`, `%` and `?` keep their escapes (they carry structure).
_SAFE_UNESCAPE = set("abcdefghijklmnopqrstuvwxyz0123456789-._~:@;|,!$'()*/[]^`{}\\\"<>")
_ESCAPE = re.compile(r"%([0-9a-fA-F]{2})")
# pywb's default `url_normalize` rules (pywb/rules.yaml): cache busters that change on each load.
_BUSTERS = [
    (re.compile(r"[?&](_|cb|uncache)=(\d+)(?=&|$)"), ""),
    (re.compile(r"[?&]utm_[^=]+=[^&]+(?=&|$)"), ""),
    (re.compile(r"[?&](callback=jsonp)[^&]+(?=&|$)"), r"&\1"),
    (re.compile(r"[?&]((?:\w+)=jquery)[\d]+_[\d]+"), r"&\1"),
    (re.compile(r"[?&](\w*(bust|ts)\w*=1[\d]{12,15})(?=&|$)"), ""),
    (re.compile(r"[?&](fbclid)=([^&]*)(?=&|$)"), ""),
]
# pywb's `not_exts`: extensions of pages whose query selects the content, never ignored.
_NOT_FILES = {"asp", "aspx", "jsp", "php", "pl", "exe", "dll", "cgi", "html", "htm", ""}


def _unescape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16)).lower()
    return char if char in _SAFE_UNESCAPE else "%" + match.group(1).lower()


def path_part(key: str) -> str:
    """The key up to its query, without a trailing slash (except the root's)."""
    path = key.split("?", 1)[0]
    if path.endswith("/") and not path.endswith(")/"):
        path = path.rstrip("/")
        if path.endswith(")"):
            path += "/"
    return path


def normalize_key(key: str) -> str:
    """A SURT key in the form both our keys and other tools' keys reduce to (see module doc)."""
    key = _ESCAPE.sub(_unescape, key.lower())
    path = path_part(key)
    query = key.split("?", 1)[1] if "?" in key else ""
    if query:
        query = "?" + query
        for rx, repl in _BUSTERS:
            query = rx.sub(repl, query)
        args = sorted(a for a in query.lstrip("?&").split("&") if a)
        query = ("?" + "&".join(args)) if args else ""
    return path + query


def probe_prefixes(key: str) -> List[Tuple[str, bool]]:
    """(prefix, exact) pairs that hold every key `normalize_key`-equal to `key`: the path with
    and without its trailing slash, as a whole key (`exact`) or followed by a query."""
    path = path_part(key.lower())
    forms = [path] if path.endswith(")/") else [path, path + "/"]
    out: List[Tuple[str, bool]] = []
    for form in forms:
        out.append((form, True))
        out.append((form + "?", False))
    return out


def file_like(key: str) -> Optional[str]:
    """The path of a key whose last segment looks like a file (`app.js`), else None: pywb then
    accepts a capture of that path with any query."""
    path = path_part(key.lower())
    last = path.rsplit("/", 1)[-1]
    ext = last.rsplit(".", 1)[1] if "." in last else ""
    if ext in _NOT_FILES or ")" in last:
        return None
    return path
