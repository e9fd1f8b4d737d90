"""Finding links and page requisites in HTML (html5lib, a real HTML5 parser) and CSS (tinycss2).

URLs are resolved against `<base href>` and the document URL, after the document is decoded in its
own charset (HTTP header, BOM or `<meta charset>`, as a browser would). Only absolute http(s)
URLs come out, canonicalised; everything else (data:, javascript:, mailto:) is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, List, Optional
from urllib.parse import urljoin

import html5lib
import tinycss2

from mirrorkit.capture.urls import canonicalize

_SVG = "{http://www.w3.org/2000/svg}"
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_ICON_RELS = {"icon", "shortcut", "apple-touch-icon", "apple-touch-icon-precomposed", "mask-icon"}
_REQ_RELS = _ICON_RELS | {"stylesheet", "preload", "modulepreload", "manifest"}
_REFRESH = re.compile(r"^\s*\d*(?:\.\d*)?\s*[;,]?\s*(?:url\s*=\s*)?(['\"]?)(.+?)\1\s*$", re.I)
# element -> attributes holding one requisite URL each
_SRC_ATTRS = {
    "img": ("src",),
    "script": ("src",),
    "iframe": ("src",),
    "frame": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "source": ("src",),
    "track": ("src",),
    "audio": ("src",),
    "video": ("src", "poster"),
    "input": ("src",),
    "body": ("background",),
    "table": ("background",),
    "td": ("background",),
    "th": ("background",),
}
_SRCSET_TAGS = {"img", "source"}


@dataclass
class Extracted:
    """What a document points to: links to follow, requisites to fetch, and its title."""

    links: List[str] = field(default_factory=list)
    requisites: List[str] = field(default_factory=list)
    redirects: List[str] = field(default_factory=list)
    title: Optional[str] = None


def _absolute(base: str, raw: Optional[str]) -> Optional[str]:
    if not raw:
        return None
    raw = raw.strip()
    if not raw or raw.startswith("#") or raw.lower().startswith(("data:", "javascript:")):
        return None
    return _resolve(base, raw)


@lru_cache(maxsize=32768)
def _resolve(base: str, raw: str) -> Optional[str]:
    # Sites repeat the same few hundred URLs on every page (menus, stylesheets, logos).
    try:
        return canonicalize(urljoin(base, raw))
    except ValueError:
        return None


def parse_srcset(value: str) -> List[str]:
    """The URLs of a srcset attribute.

    >>> parse_srcset("a.jpg 1x, b,c.jpg 2x,d.jpg")
    ['a.jpg', 'b,c.jpg', 'd.jpg']
    """
    urls = []
    pos, n = 0, len(value)
    while pos < n:
        while pos < n and (value[pos].isspace() or value[pos] == ","):
            pos += 1
        start = pos
        while pos < n and not value[pos].isspace():
            pos += 1
        url = value[start:pos]
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            # skip the descriptors, up to the next comma outside parentheses
            depth = 0
            while pos < n and (value[pos] != "," or depth):
                depth += {"(": 1, ")": -1}.get(value[pos], 0)
                pos += 1
        if url:
            urls.append(url)
    return urls


# -- CSS ------------------------------------------------------------------------------------
def _css_urls(nodes: Iterable[object], in_image_set: bool = False) -> Iterable[str]:
    for node in nodes:
        kind = getattr(node, "type", None)
        if kind == "url":
            yield node.value  # type: ignore[attr-defined]
        elif kind == "function":
            name = node.lower_name  # type: ignore[attr-defined]
            args = node.arguments  # type: ignore[attr-defined]
            if name == "url":
                for arg in args:
                    if arg.type == "string":
                        yield arg.value
            else:
                yield from _css_urls(args, name in ("image-set", "-webkit-image-set"))
        elif kind == "string" and in_image_set:
            yield node.value  # type: ignore[attr-defined]
        elif kind in ("() block", "[] block", "{} block"):
            yield from _css_urls(node.content, in_image_set)  # type: ignore[attr-defined]
        elif kind == "at-rule":
            if node.lower_at_keyword == "import":  # type: ignore[attr-defined]
                for tok in node.prelude:  # type: ignore[attr-defined]
                    if tok.type == "string":
                        yield tok.value
                        break
            yield from _css_urls(node.prelude or (), False)  # type: ignore[attr-defined]
            yield from _css_urls(node.content or (), False)  # type: ignore[attr-defined]
        elif kind == "qualified-rule":
            yield from _css_urls(node.content or (), False)  # type: ignore[attr-defined]
        elif kind == "declaration":
            yield from _css_urls(node.value, False)  # type: ignore[attr-defined]


def _css_collect(base: str, nodes: Iterable[object], out: List[str]) -> None:
    for raw in _css_urls(nodes):
        url = _absolute(base, raw)
        if url:
            out.append(url)


def extract_css(data: bytes, url: str, charset: Optional[str] = None) -> Extracted:
    """Requisites of a stylesheet: @import, url(), image-set(). Raises nothing."""
    rules, _enc = tinycss2.parse_stylesheet_bytes(
        data, protocol_encoding=charset, skip_comments=True, skip_whitespace=True
    )
    found = Extracted()
    _css_collect(url, rules, found.requisites)
    return found


def _inline_css(text: str, base: str, out: List[str], declarations: bool) -> None:
    if "url" not in text.lower() and "@import" not in text.lower():
        return
    if declarations:
        nodes = tinycss2.parse_blocks_contents(text, skip_comments=True, skip_whitespace=True)
    else:
        nodes = tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True)
    _css_collect(base, nodes, out)


# -- HTML -----------------------------------------------------------------------------------
def extract_html(data: bytes, url: str, charset: Optional[str] = None) -> Extracted:
    """Links, requisites and title of an HTML document (bytes as served). Raises nothing."""
    doc = html5lib.parse(
        data, treebuilder="etree", namespaceHTMLElements=False, transport_encoding=charset
    )
    found = Extracted()
    base = url
    for el in doc.iter("base"):
        href = el.get("href")
        if href and href.strip():
            base = urljoin(url, href.strip())
        break
    reqs, links = found.requisites, found.links

    def add(target: List[str], raw: Optional[str]) -> None:
        absolute = _absolute(base, raw)
        if absolute:
            target.append(absolute)

    for el in doc.iter():
        tag = el.tag
        if not isinstance(tag, str):
            continue
        if tag.startswith(_SVG):
            if tag in (_SVG + "image", _SVG + "use", _SVG + "feImage"):
                add(reqs, el.get("href") or el.get(_XLINK_HREF))
            elif tag == _SVG + "style" and el.text:
                _inline_css(el.text, base, reqs, declarations=False)
            style = el.get("style")
            if style:
                _inline_css(style, base, reqs, declarations=True)
            continue
        attrs = _SRC_ATTRS.get(tag)
        if attrs:
            for name in attrs:
                add(reqs, el.get(name))
        if tag in _SRCSET_TAGS:
            srcset = el.get("srcset")
            if srcset:
                for item in parse_srcset(srcset):
                    add(reqs, item)
        if tag in ("a", "area"):
            add(links, el.get("href"))
        elif tag == "link":
            rels = set((el.get("rel") or "").lower().split())
            if rels & _REQ_RELS:
                add(reqs, el.get("href"))
                if el.get("imagesrcset"):
                    for item in parse_srcset(el.get("imagesrcset") or ""):
                        add(reqs, item)
            elif rels & {"alternate", "next", "prev"}:
                add(links, el.get("href"))
        elif tag == "style" and el.text:
            _inline_css(el.text, base, reqs, declarations=False)
        elif tag == "meta" and (el.get("http-equiv") or "").lower() == "refresh":
            match = _REFRESH.match(el.get("content") or "")
            if match and not match.group(2).strip().isdigit():
                add(found.redirects, match.group(2))
        elif tag == "title" and found.title is None:
            found.title = " ".join((el.text or "").split())
        style = el.get("style")
        if style:
            _inline_css(style, base, reqs, declarations=True)
    found.requisites = list(dict.fromkeys(reqs))
    found.links = list(dict.fromkeys(links))
    return found


def extract_svg(data: bytes, url: str) -> Extracted:
    """Requisites of an SVG file (image/use hrefs, its CSS), parsed as HTML-embedded SVG."""
    return extract_html(b"<!doctype html><body>" + data, url, "utf-8")
