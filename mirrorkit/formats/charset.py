"""Which charset a stored HTML or CSS body is in: BOM, then HTTP header, then the document's own
declaration (`<meta charset>`, `@charset`), as browsers decide it.

One sniffer for replay (which must re-encode a rewritten page in the charset it came in) and for
page titles and text (which must read the Chinese of a GBK page as Chinese). Never raises.
"""

from __future__ import annotations

import codecs
import re
from typing import Optional

_META_CHARSET = re.compile(rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_HTTP_CHARSET = re.compile(r"charset\s*=\s*[\"']?([^\s;\"']+)", re.I)
_CSS_CHARSET = re.compile(rb'@charset "([^"]+)";')
# WHATWG maps these labels to supersets; decoding with the superset is what browsers do.
_SUPERSETS = {"gb2312": "gbk", "gb_2312-80": "gbk", "x-gbk": "gbk", "iso-8859-1": "cp1252",
              "latin1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252"}


def known(label: str) -> Optional[str]:
    """The Python codec for a charset label (WHATWG supersets applied), or None.

    >>> known("GB2312"), known("x-no-such")
    ('gbk', None)
    """
    name = label.strip().lower()
    name = _SUPERSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def header_charset(content_type: Optional[str]) -> Optional[str]:
    """The charset parameter of a Content-Type, if it names a codec Python knows."""
    m = _HTTP_CHARSET.search(content_type or "")
    return known(m.group(1)) if m else None


def _bom(body: bytes) -> Optional[str]:
    if body.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def declared_html(body: bytes, content_type: Optional[str]) -> Optional[str]:
    """An HTML body's declared charset (BOM, HTTP header, `<meta>` in the first 4 KB), or None."""
    found = _bom(body) or header_charset(content_type)
    if found:
        return found
    m = _META_CHARSET.search(body[:4096])
    if m:
        found = known(m.group(1).decode("ascii", "replace"))
        if found and not found.startswith("utf-16"):  # a meta in an ASCII-compatible doc
            return found
    return None


def declared_css(body: bytes, content_type: Optional[str]) -> Optional[str]:
    """A style sheet's declared charset (BOM, HTTP header, `@charset`), or None."""
    found = _bom(body) or header_charset(content_type)
    if found:
        return found
    m = _CSS_CHARSET.match(body)
    return known(m.group(1).decode("ascii", "replace")) if m else None


def html_charset(body: bytes, content_type: Optional[str]) -> str:
    """The codec to read (and re-encode) an HTML body with: as declared, else UTF-8."""
    return declared_html(body, content_type) or "utf-8"


def css_charset(body: bytes, content_type: Optional[str]) -> str:
    """The codec to read (and re-encode) a style sheet with: as declared, else UTF-8."""
    return declared_css(body, content_type) or "utf-8"


def decode_html(body: bytes, content_type: Optional[str]) -> str:
    """An HTML body as text, as a browser would decode it; undeclared non-UTF-8 bodies are
    guessed (charset-normalizer when present, else windows-1252)."""
    declared = declared_html(body, content_type)
    if declared:
        return body.decode(declared, "replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(body[:65536]).best()
        if best is not None:
            return body.decode(best.encoding, "replace")
    except ImportError:  # not in the USB kit; requests brings it elsewhere
        pass
    return body.decode("cp1252", "replace")
