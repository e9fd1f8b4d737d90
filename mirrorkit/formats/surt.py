"""SURT keys exactly as pywb, cdxj-indexer and wabac.js build them for CDXJ indexes.

The rules are those of the `surt` package (Google then Internet Archive canonicalisation), written
again here because that package imports `tldextract` (and through it `requests`) at import time,
which the USB kit cannot carry. Python 3.9-safe, standard library only.

>>> surt_key("https://www.Example.org/a?b=2&a=1")
'org,example)/a?a=1&b=2'
>>> surt_key("http://example.com:80/Path/To/?Q=1#frag")
'com,example)/path/to?q=1'
>>> surt_key("https://example.com:8443/")
'com,example:8443)/'
>>> surt_key("http://www2.example.co.uk")
'uk,co,example)/'
>>> surt_key("http://%E4%BE%8B%E5%AD%90.%E4%B8%AD%E5%9B%BD/%E6%96%B0")
'xn--fiqs8s,xn--fsqu00a)/%e6%96%b0'
>>> surt_key("dns:example.com")
'dns:example.com'
>>> surt_key("http://1.2.3.4/x/../y")
'4,3,2,1)/y'
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
from typing import Optional, Tuple
from urllib.parse import quote_from_bytes, unquote_to_bytes

__all__ = ["surt_key"]

_HAS_SCHEME = re.compile(rb"^([a-zA-Z][a-zA-Z0-9+\-.]*):")
_MULTI_PROTOCOLS = re.compile(rb"^(https?://)+")
_CTRL_SPACES = re.compile(b"[\n\r\t]")
# RFC 2396 appendix B, with the scheme limited to legal characters (as in surt's handyurl).
_URI = re.compile(rb"^(([a-zA-Z][a-zA-Z0-9+.-]*):)?((//([^/?#]*))?([^?#]*)(\?([^#]*))?)?(#(.*))?$",
                  re.DOTALL)
_OCTAL_IP = re.compile(rb"^(0[0-7]*)(\.[0-7]+)?(\.[0-7]+)?(\.[0-7]+)?$")
_DECIMAL_IP = re.compile(rb"^([1-9][0-9]*)(\.[0-9]+)?(\.[0-9]+)?(\.[0-9]+)?$")
_WWW = re.compile(rb"www\d*\.")
_PATH_SESSION = [
    re.compile(rb"^(.*/)(\((?:[a-z]\([0-9a-z]{24}\))+\)/)([^\?]+\.aspx.*)$", re.I | re.DOTALL),
    re.compile(rb"^(.*/)(\([0-9a-z]{24}\)/)([^\?]+\.aspx.*)$", re.I | re.DOTALL),
]
_QUERY_SESSION = [
    re.compile(rb"^(.*)(?:jsessionid=[0-9a-zA-Z]{32})(?:&(.*))?$", re.I | re.DOTALL),
    re.compile(rb"^(.*)(?:phpsessid=[0-9a-zA-Z]{32})(?:&(.*))?$", re.I | re.DOTALL),
    re.compile(rb"^(.*)(?:sid=[0-9a-zA-Z]{32})(?:&(.*))?$", re.I | re.DOTALL),
    re.compile(rb"^(.*)(?:ASPSESSIONID[a-zA-Z]{8}=[a-zA-Z]{24})(?:&(.*))?$", re.I | re.DOTALL),
    re.compile(rb"^(.*)(?:cfid=[^&]+&cftoken=[^&]+)(?:&(.*))?$", re.I | re.DOTALL),
]
_SAFE = b"!\"$&'()*+,-./:;<=>?@[\\]^_`{|}~"


def surt_key(url: str) -> str:
    """The SURT sort key of `url`, as pywb indexes it; a URL it cannot parse is returned as is.

    Raises nothing: like cdxj-indexer, an unparseable URL becomes its own key.
    """
    if not url:
        return "-"
    if url.startswith("filedesc"):
        return url
    try:
        return _surt(url.encode("utf-8")).decode("utf-8")
    except (ValueError, UnicodeError):
        return url


def _surt(url: bytes) -> bytes:
    scheme, host, port, path, query = _parse(url)
    host, path, query = _google(host, path, query)
    return _ia_and_render(scheme, host, port, path, query)


def _parse(url: bytes) -> Tuple[bytes, Optional[bytes], Optional[int], Optional[bytes],
                                Optional[bytes]]:
    url = _CTRL_SPACES.sub(b"", url.strip())
    if not url:
        raise ValueError("empty URL")
    if not _HAS_SCHEME.match(url):
        url = b"http://" + url
    url = _MULTI_PROTOCOLS.sub(lambda m: m.group(1), url)
    m = _URI.match(url)
    if m is None:  # the pattern matches every string; kept for type checkers
        raise ValueError("unparseable URL")
    scheme = m.group(2) or b""
    netloc = (m.group(5) or b"").rstrip(b":")
    path = m.group(6) or None
    query = m.group(8) or None
    # Host and port exactly as urllib's SplitResultBytes finds them (surt relies on it).
    hostinfo = netloc.rpartition(b"@")[2]
    _, open_bracket, bracketed = hostinfo.partition(b"[")
    if open_bracket:
        host_part, _, rest = bracketed.partition(b"]")
        port_text: Optional[bytes] = rest.partition(b":")[2] or None
    else:
        host_part, _, port_text_raw = hostinfo.partition(b":")
        port_text = port_text_raw or None
    name, percent, zone = host_part.partition(b"%")
    host = (name.lower() + percent + zone) if host_part else None
    port = _parse_port(port_text)
    if scheme.startswith(b"http") and host is None and path is not None:
        first, _, rest = path.lstrip(b"/").partition(b"/")
        host, path = first, b"/" + rest
    return scheme, host, port, path, query


def _parse_port(text: Optional[bytes]) -> Optional[int]:
    if text is None:
        return None
    if not (text.isdigit() and text.isascii()):
        raise ValueError("bad port")
    value = int(text)
    if value > 65535:
        raise ValueError("port out of range")
    return value or None


def _unescape_repeatedly(data: bytes) -> bytes:
    while True:
        decoded = unquote_to_bytes(data)
        if decoded == data:
            return data
        data = decoded


def _escape_once(data: bytes) -> bytes:
    return quote_from_bytes(data, safe=_SAFE).encode("ascii") if data else data


def _google(host: Optional[bytes], path: Optional[bytes],
            query: Optional[bytes]) -> Tuple[Optional[bytes], bytes, Optional[bytes]]:
    if query:
        query = _escape_once(_unescape_repeatedly(query))
    if host:
        host = _unescape_repeatedly(host)
        try:
            host.decode("ascii")
        except UnicodeDecodeError:
            with contextlib.suppress(ValueError):
                host = host.decode("utf-8", "ignore").encode("idna")
        host = host.replace(b"..", b".").strip(b".")
        ip = _ip_address(host)
        host = ip if ip else _escape_once(host.lower())
    path = _unescape_repeatedly(path) if path is not None else None
    if host:
        path = _normalize_path(path)
    return host, _escape_once(path) if path else (path or b""), query


def _ip_address(host: bytes) -> Optional[bytes]:
    # The surt package resolves numeric forms with gethostbyname, which for these patterns is
    # inet_aton; doing it directly avoids any DNS query for names that are not addresses.
    if host.isdigit():
        return socket.inet_ntoa(struct.pack(">L", int(host) & 0xFFFFFFFF)).encode("ascii")
    if _DECIMAL_IP.match(host) or _OCTAL_IP.match(host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host.decode("ascii"))).encode("ascii")
        except OSError:
            return None
    return None


def _normalize_path(path: Optional[bytes]) -> bytes:
    if not path:
        return b"/"
    kept: list = []
    for part in path.split(b"/")[1:]:
        if part == b".":
            continue
        if part == b"..":
            if kept:
                kept.pop()
            else:
                kept.append(part)
        else:
            kept.append(part)
    out = b"/"
    if kept:
        for part in kept[:-1]:
            if part:
                out += part + b"/"
        out += kept[-1]
    return out


def _ia_and_render(scheme: bytes, host: Optional[bytes], port: Optional[int], path: bytes,
                   query: Optional[bytes]) -> bytes:
    if host:
        host = host.lower()  # again: percent-escapes made by the Google step are lowercased too
    if host and scheme != b"dns":
        m = _WWW.match(host)
        if m:
            host = host[len(m.group(0)):]
    default_port = {b"http": 80, b"https": 443}.get(scheme.lower(), 0)
    if port == default_port:
        port = None
    if path:
        path = path.lower()
        for pattern in _PATH_SESSION:
            m = pattern.match(path)
            if m:
                path = m.group(1) + m.group(3)
        if path.endswith(b"/") and len(path) > 1:
            path = path[:-1]
    if query:
        for pattern in _QUERY_SESSION:
            m = pattern.match(query)
            if m:
                query = m.group(1) + m.group(2) if m.group(2) else m.group(1)
        query = _sort_query(query.lower()) or None
    else:
        query = None

    if host:
        out = b",".join(reversed(host.split(b".")))
        if port is not None:
            out += b":%d" % port
        out += b")"
    else:
        out = scheme + b":"
    if path:
        out += path
    elif query is not None:
        out += b"/"
    if query is not None:
        out += b"?" + query
    return out


def _sort_query(query: bytes) -> bytes:
    if len(query) <= 1:
        return query
    args = sorted(tuple(arg.split(b"=", 1)) for arg in query.split(b"&"))
    return b"&".join(b"=".join(arg) for arg in args)
