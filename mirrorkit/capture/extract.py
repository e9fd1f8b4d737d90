"""Finding links and page requisites in HTML (Lexbor via selectolax, an HTML5 parser in C) and
CSS (tinycss2).

URLs are resolved against `<base href>` and the document URL, after the document is decoded in its
own charset (HTTP header, BOM or `<meta charset>`, as a browser would; html5lib's encoding sniffer
decides). Only absolute http(s) URLs come out, canonicalised; everything else (data:,
javascript:, mailto:) is dropped.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Dict, Iterable, List, Optional, Tuple
from urllib.parse import urljoin

import tinycss2
import webencodings  # the WHATWG encoding labels (a dependency of tinycss2 and html5lib)
from selectolax.lexbor import LexborHTMLParser

from mirrorkit.capture.urls import canonicalize

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
# Namespaces, as the HTML parsing algorithm assigns them: an element inside <svg> or <math> is
# foreign (so an SVG <a> or <title> is not a link or the page's title) until an integration point
# (<foreignObject>, <mi>, annotation-xml as text/html, ...) switches back to HTML.
_HTML_NS, _SVG_NS, _MATH_NS = 0, 1, 2
_SVG_HREF_TAGS = {"image", "use", "feImage"}
_SVG_HTML_POINTS = {"foreignObject", "desc", "title"}
_MATH_TEXT_POINTS = {"mi", "mo", "mn", "ms", "mtext"}
_HTML_ENCODINGS = {"text/html", "application/xhtml+xml"}
_UTF8 = webencodings.lookup("utf-8")
_UTF16_BOMS = {codecs.BOM_UTF16_LE: webencodings.lookup("utf-16le"),
               codecs.BOM_UTF16_BE: webencodings.lookup("utf-16be")}


def _decode(data: bytes, charset: Optional[str], encoding: Any = None) -> Tuple[str, Any, bool]:
    """(text, encoding, tentative): the document decoded as html5lib decides, a browser would.

    BOM, then the HTTP charset, then a `<meta>` in the first 1,024 bytes, then a guess (chardet
    when installed), then windows-1252; bytes invalid in that encoding become U+FFFD. With
    `encoding` given (a re-parse), the bytes are decoded in it and nothing is sniffed.
    """
    start, tentative = 0, False
    if encoding is None:
        # The common cases as html5lib's determineEncoding() takes them (a UTF-8 or UTF-16 BOM,
        # else a known HTTP charset label), without importing it.
        if data[:3] == codecs.BOM_UTF8:
            encoding, start = _UTF8, 3
        elif data[:4] in (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE):
            pass  # html5lib's own handling below
        elif data[:2] in _UTF16_BOMS:
            encoding, start = _UTF16_BOMS[data[:2]], 2
        elif charset:
            encoding = webencodings.lookup(charset)
    if encoding is None:
        # Everything else (<meta> prescan, chardet's guess, windows-1252): html5lib's code.
        from html5lib._inputstream import HTMLBinaryInputStream

        stream = HTMLBinaryInputStream(data, transport_encoding=charset)
        encoding, confidence = stream.charEncoding
        start = stream.rawStream.tell()  # past a byte order mark
        tentative = confidence == "tentative"
    text = encoding.codec_info.decode(data[start:] if start else data, "replace")[0]
    return text, encoding, tentative


def _meta_encoding(metas: List[Dict[str, Optional[str]]], current: Any) -> Any:
    """The encoding a `<meta>` met while parsing switches a tentative decoding to (html5lib's
    rule, which re-parses the document in it), or None to keep `current`."""
    from html5lib._inputstream import ContentAttrParser, EncodingBytes, lookupEncoding

    for attrs in metas:
        if "charset" in attrs:
            label: Any = attrs["charset"]
        elif "content" in attrs and (attrs.get("http-equiv") or "").lower() == "content-type":
            content = (attrs["content"] or "").encode("utf-8")
            label = ContentAttrParser(EncodingBytes(content)).parse()
        else:
            continue
        encoding = lookupEncoding(label) if label is not None else None
        if encoding is None or encoding.name in ("utf-16be", "utf-16le"):
            continue
        return None if encoding == current else encoding
    return None


def _first_text(node: Any) -> Optional[str]:
    # The text before the element's first child element (what html5lib's etree calls `.text`).
    child = node.first_child
    return child.text_content if child is not None and child.is_text_node else None


def _mark_foreign(root: Any, ns: int, foreign: Dict[int, int]) -> None:
    """Record the namespace of `root` (an <svg> or <math>) and of every foreign element in it.

    Iterative, so that a deeply nested SVG cannot exhaust the recursion limit.
    """
    stack = [(root, ns)]
    while stack:
        node, ns = stack.pop()
        foreign[node.mem_id] = ns
        tag = node.tag
        if ns == _SVG_NS and tag in _SVG_HTML_POINTS:
            continue  # its children are HTML (a nested <svg>/<math> is marked when reached)
        if ns == _MATH_NS and tag in _MATH_TEXT_POINTS:
            stack += [(c, ns) for c in node.iter() if c.tag in ("mglyph", "malignmark")]
            continue
        if ns == _MATH_NS and tag == "annotation-xml":
            if (node.attributes.get("encoding") or "").lower() in _HTML_ENCODINGS:
                continue  # an HTML integration point
            stack += [(c, ns) for c in node.iter() if c.tag and c.tag[0] != "-" and c.tag != "svg"]
            continue
        stack += [(c, ns) for c in node.iter() if c.tag and c.tag[0] != "-"]


class _Scan:
    """One pass over the parsed tree, collecting raw URLs in document order (resolved later,
    once the first <base> is known). A requisite entry is a raw URL or (css text, is_inline)."""

    def __init__(self, tentative: bool) -> None:
        self.base: Optional[str] = None
        self.base_seen = False
        self.title: Optional[str] = None
        self.reqs: List[Any] = []
        self.links: List[Optional[str]] = []
        self.redirects: List[str] = []
        self.metas: Optional[List[Dict[str, Optional[str]]]] = [] if tentative else None
        self.foreign: Dict[int, int] = {}

    def walk(self, root: Any) -> None:
        # A <template>'s content is a separate fragment, walked where the element stands (as
        # html5lib, which keeps it as the element's children, did): a stack of tree walks.
        walks = [root.traverse()]
        while walks:
            for node in walks[-1]:
                fragments = self._visit(node)
                if fragments:
                    walks += [f.traverse() for f in reversed(fragments)]
                    break
            else:
                walks.pop()

    def _visit(self, node: Any) -> Optional[List[Any]]:
        """Collect what one node points to; return a <template>'s content fragments."""
        tag = node.tag
        if not tag or tag[0] == "-":
            return None  # comments, the document, a template's fragment root
        reqs, foreign = self.reqs, self.foreign
        ns = foreign.get(node.mem_id, _HTML_NS) if foreign else _HTML_NS
        if ns == _HTML_NS and (tag == "svg" or tag == "math"):
            ns = _SVG_NS if tag == "svg" else _MATH_NS
            _mark_foreign(node, ns, foreign)
        attrs = node.attributes
        style = attrs.get("style")
        if ns != _HTML_NS:
            if ns == _SVG_NS and tag in _SVG_HREF_TAGS:
                reqs.append(attrs.get("href") or attrs.get("xlink:href"))
            elif ns == _SVG_NS and tag == "style":
                text = _first_text(node)
                if text:
                    reqs.append((text, False))
            if style:
                reqs.append((style, True))
            return None
        names = _SRC_ATTRS.get(tag)
        if names:
            for name in names:
                reqs.append(attrs.get(name))
        if tag in _SRCSET_TAGS:
            srcset = attrs.get("srcset")
            if srcset:
                reqs.extend(parse_srcset(srcset))
        fragments = None
        if tag == "a" or tag == "area":
            self.links.append(attrs.get("href"))
        elif tag == "link":
            rels = set((attrs.get("rel") or "").lower().split())
            if rels & _REQ_RELS:
                reqs.append(attrs.get("href"))
                if attrs.get("imagesrcset"):
                    reqs.extend(parse_srcset(attrs.get("imagesrcset") or ""))
            elif rels & {"alternate", "next", "prev"}:
                self.links.append(attrs.get("href"))
        elif tag == "style":
            text = _first_text(node)
            if text:
                reqs.append((text, False))
        elif tag == "meta":
            if self.metas is not None:
                self.metas.append(attrs)
            if (attrs.get("http-equiv") or "").lower() == "refresh":
                match = _REFRESH.match(attrs.get("content") or "")
                if match and not match.group(2).strip().isdigit():
                    self.redirects.append(match.group(2))
        elif tag == "title":
            if self.title is None:
                self.title = " ".join((_first_text(node) or "").split())
        elif tag == "base":
            if not self.base_seen:
                self.base_seen = True
                href = attrs.get("href")
                if href and href.strip():
                    self.base = href.strip()
        elif tag == "template":
            fragments = node.template_fragments()
        if style:
            reqs.append((style, True))
        return fragments


def _scan(data: bytes, charset: Optional[str]) -> _Scan:
    text, encoding, tentative = _decode(data, charset)
    scan = _Scan(tentative)
    scan.walk(LexborHTMLParser(text).root)
    if scan.metas:
        switch = _meta_encoding(scan.metas, encoding)
        if switch is not None:
            text, _, _ = _decode(data, None, switch)
            scan = _Scan(False)
            scan.walk(LexborHTMLParser(text).root)
    return scan


def extract_html(data: bytes, url: str, charset: Optional[str] = None) -> Extracted:
    """Links, requisites and title of an HTML document (bytes as served). Raises nothing.

    Parsed by Lexbor (selectolax), an HTML5 parser: the tree is the one a browser builds.
    """
    scan = _scan(data, charset)
    base = urljoin(url, scan.base) if scan.base else url
    found = Extracted(title=scan.title)
    reqs: List[str] = []
    for item in scan.reqs:
        if item.__class__ is tuple:
            _inline_css(item[0], base, reqs, declarations=item[1])
        else:
            absolute = _absolute(base, item)
            if absolute:
                reqs.append(absolute)
    links = [u for u in (_absolute(base, raw) for raw in scan.links) if u]
    found.redirects = [u for u in (_absolute(base, raw) for raw in scan.redirects) if u]
    found.requisites = list(dict.fromkeys(reqs))
    found.links = list(dict.fromkeys(links))
    return found


def extract_svg(data: bytes, url: str) -> Extracted:
    """Requisites of an SVG file (image/use hrefs, its CSS), parsed as HTML-embedded SVG."""
    return extract_html(b"<!doctype html><body>" + data, url, "utf-8")
