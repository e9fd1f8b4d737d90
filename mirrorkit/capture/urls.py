"""URL canonicalisation and crawl scope.

Two spellings of one resource must map to one key, or the crawler fetches it twice; but the
canonical form is also the URL we request, so it never changes what the server sees (the query
keeps its order, only equivalent encodings are unified).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import List, Optional, Pattern, Sequence
from urllib.parse import quote, urlsplit, urlunsplit

from mirrorkit.errors import UsageError

DEFAULT_PORTS = {"http": 80, "https": 443}
SCOPES = ("page", "prefix", "host", "domain")

_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Characters left as they are when re-quoting a path or query: reserved delimiters and '%'.
_SAFE_PATH = "/:@!$&'()*+,;=-._~%"
_SAFE_QUERY = _SAFE_PATH + "?"
# Text that quote() leaves unchanged under both safe sets above, when it holds no "%" (and, for a
# path, no "?"): letters, digits and -._~ plus the delimiters kept.
_PLAIN = re.compile(r"[A-Za-z0-9\-._~/:@!$&'()*+,;=?]*")


def _fix_escapes(text: str, safe: str) -> str:
    # Quote what must be quoted (spaces, non-ASCII as UTF-8), then give every %XX one spelling:
    # uppercase hex, and unreserved characters decoded (RFC 3986 section 6.2.2).
    if _PLAIN.fullmatch(text) and ("?" in safe or "?" not in text):
        return text  # nothing to quote and no escapes: the common case, left as it is
    text = quote(text, safe=safe)

    def norm(m: re.Match[str]) -> str:
        char = chr(int(m.group(1), 16))
        return char if char in _UNRESERVED else "%" + m.group(1).upper()

    return _PCT.sub(norm, text)


def _remove_dot_segments(path: str) -> str:
    if "." not in path:
        return path
    out: List[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        if seg == ".":
            if i == len(segments) - 1:
                out.append("")
            continue
        if seg == "..":
            if len(out) > 1:
                out.pop()
            if i == len(segments) - 1:
                out.append("")
            continue
        out.append(seg)
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result


def canonicalize(url: str) -> str:
    """The canonical form of an absolute http(s) URL; raises ValueError when it is not one.

    >>> canonicalize("HTTP://Example.COM:80/a/./b/../c%7e?q=%2a#frag")
    'http://example.com/a/c~?q=%2A'
    """
    return _canonical(url.strip())


@lru_cache(maxsize=65536)
def _canonical(url: str) -> str:
    # Crawls meet the same absolute URLs again and again (menus, pagination): cached.
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"unsupported scheme {parts.scheme!r}" if parts.scheme else "not absolute")
    host = parts.hostname
    if not host:
        raise ValueError("no host")
    try:
        port = parts.port
    except ValueError as err:
        raise ValueError(f"bad port in {url!r}") from err
    if ":" in host:
        netloc = f"[{ipaddress.ip_address(host).compressed}]"
    else:
        try:
            netloc = host.encode("idna").decode("ascii").lower()
        except UnicodeError as err:
            raise ValueError(f"bad host name {host!r}") from err
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    if parts.username is not None:
        userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{userinfo}@{netloc}"
    path = _remove_dot_segments(_fix_escapes(parts.path, _SAFE_PATH)) or "/"
    query = _fix_escapes(parts.query, _SAFE_QUERY)
    return urlunsplit((scheme, netloc, path, query, ""))


@lru_cache(maxsize=65536)
def host_key(url: str) -> str:
    """scheme://host[:port] of a canonical URL: the unit of politeness and of robots.txt."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def check_seed(url: str) -> str:
    """Canonicalise a seed URL given by the user; raises UsageError with a fix when it is bad."""
    text = url.strip()
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", text) and not re.match(r"^[^:]+:\d", text):
            raise UsageError(f"unsupported URL scheme in {url!r}: only http:// and https:// work")
        raise UsageError(f"{url!r} is not a full URL: write it as https://{text}")
    try:
        return canonicalize(text)
    except ValueError as err:
        if str(err).startswith("unsupported scheme"):
            raise UsageError(
                f"unsupported URL scheme in {url!r}: only http:// and https:// work"
            ) from err
        raise UsageError(f"malformed URL {url!r}: {err}") from err


@dataclass
class Scope:
    """Which discovered links are followed: the seeds' page, prefix, host or domain."""

    mode: str
    seeds: Sequence[str]
    include: List[Pattern[str]] = field(default_factory=list)
    exclude: List[Pattern[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mode not in SCOPES:
            raise UsageError(f"unknown scope {self.mode!r}: use one of {', '.join(SCOPES)}")
        self._pages = set(self.seeds)
        self._prefixes = [s[: s.rfind("/") + 1] if s.count("/") > 2 else s for s in self.seeds]
        self._hosts = {host_key(s).split("://", 1)[1] for s in self.seeds}
        self._domains = {_domain_of(urlsplit(s).hostname or "") for s in self.seeds}

    def excluded(self, url: str) -> bool:
        """True when an --exclude pattern matches `url`."""
        return any(p.search(url) for p in self.exclude)

    def follows(self, url: str) -> bool:
        """True when a link to `url` is inside the scope (or --include) and not --exclude'd."""
        if self.excluded(url):
            return False
        if any(p.search(url) for p in self.include):
            return True
        return self._in_scope(url)

    def _in_scope(self, url: str) -> bool:
        if self.mode == "page":
            return url in self._pages
        if self.mode == "prefix":
            return any(url.startswith(p) for p in self._prefixes)
        if self.mode == "host":
            return host_key(url).split("://", 1)[1] in self._hosts
        host = urlsplit(url).hostname or ""
        return any(host == d or host.endswith("." + d) for d in self._domains)


def _domain_of(host: str) -> str:
    # Without a public-suffix list (it would need a download), "domain" means the seed's host
    # minus a leading www., and every subdomain of it.
    return re.sub(r"^www\d?\.", "", host)


def compile_patterns(patterns: Optional[Sequence[str]], option: str) -> List[Pattern[str]]:
    """Compile --include/--exclude regexes; raises UsageError naming the bad one."""
    out = []
    for pat in patterns or ():
        try:
            out.append(re.compile(pat))
        except re.error as err:
            raise UsageError(f"{option} {pat!r} is not a valid regular expression: {err}") from err
    return out
