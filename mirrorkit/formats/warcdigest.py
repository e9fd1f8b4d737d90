"""A WARC record's own digests (WARC-Block-Digest, WARC-Payload-Digest), checked as its block
streams past, the one rule that deep verification and bundling both apply, so the two always
agree on what is damaged.

Payload digests are compared over the body as stored and, for a chunked body, also over the body
with its chunk framing removed (up to a limit): formats.md says the digest covers the de-chunked
body, but writers differ (wpull, Heritrix, warcio's own capture), and both forms are accepted.
Python 3.9-safe: needs only the standard library.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, Dict, List, Optional

__all__ = ["BlockDigests", "record_digest_problems"]

_MAX_HTTP_HEAD = 1024 * 1024
_MAX_DECHUNK = 64 * 1024 * 1024
HTTP_TYPES = ("response", "request", "revisit")


def digest_matches(claimed: str, hashers: Dict[str, Any]) -> Optional[bool]:
    """Whether a WARC digest header (`sha1:BASE32`, `sha256:hex`, ...) matches; None if the
    algorithm is unknown."""
    if ":" not in claimed:
        return None
    algo, value = claimed.split(":", 1)
    hasher = hashers.get(algo.strip().lower().replace("-", ""))
    if hasher is None:
        return None
    return spells(value, hasher.digest())


_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_B32_CHARS = frozenset(_B32)
_B32_AS_INT_DIGITS = str.maketrans(_B32, "0123456789abcdefghijklmnopqrstuv")


def spells(value: str, raw: bytes) -> bool:
    """Whether `value` is `raw` in base32 (RFC 4648, padded or not) or hex, in any case.

    Read as one base-32 integer: base64.b32encode is pure Python, and this runs twice per
    record in `verify --deep`."""
    value = value.strip().upper().rstrip("=")
    if value == raw.hex().upper():
        return True
    spare = 5 * len(value) - 8 * len(raw)  # base32 pads the last character with zero bits
    if not 0 <= spare < 5 or not _B32_CHARS.issuperset(value):
        return False
    return int(value.translate(_B32_AS_INT_DIGITS), 32) == int.from_bytes(raw, "big") << spare


def new_hashers(claim: str) -> Dict[str, Any]:
    """A hasher for the algorithm a digest header names, if we know it."""
    algo = claim.split(":", 1)[0].strip().lower().replace("-", "")
    return {algo: hashlib.new(algo)} if claim and algo in ("sha1", "sha256", "sha512", "md5") \
        else {}


def dechunk(body: bytes) -> Optional[bytes]:
    """Remove HTTP chunked framing; None when the body is not validly chunked."""
    out: List[bytes] = []
    pos = 0
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            return None
        try:
            size = int(body[pos:end].split(b";", 1)[0].strip() or b"x", 16)
        except ValueError:
            return None
        pos = end + 2
        if size == 0:
            return b"".join(out)
        out.append(body[pos:pos + size])
        pos += size + 2
        if pos > len(body):
            return None


class BlockDigests:
    """Feed a record's block, then ask which of its digests fail.

    `get(name)` reads a WARC header (any case). Revisits name their original's payload digest
    and carry no payload, so only their block digest is checked.
    """

    def __init__(self, rec_type: str, get: Any) -> None:
        self.block_claim = get("WARC-Block-Digest") or ""
        self.payload_claim = "" if rec_type == "revisit" else get("WARC-Payload-Digest") or ""
        self.block_h = new_hashers(self.block_claim)
        self.payload_h = new_hashers(self.payload_claim)
        http = rec_type in HTTP_TYPES and "application/http" in (get("Content-Type") or "")
        self.in_body = not http
        self.head = b""
        self.chunked = False
        self.body_buf: Optional[List[bytes]] = [] if self.payload_h else None
        self.body_len = 0

    def feed(self, chunk: bytes) -> None:
        for h in self.block_h.values():
            h.update(chunk)
        if not self.payload_h:
            return
        if not self.in_body:
            self.head += chunk
            cut = self.head.find(b"\r\n\r\n")
            if cut < 0:
                if len(self.head) > _MAX_HTTP_HEAD:  # no HTTP head: no payload digest to check
                    self.in_body, self.payload_h, self.head = True, {}, b""
                return
            lower = self.head[:cut].lower()
            self.chunked = b"chunked" in lower and b"transfer-encoding" in lower
            chunk, self.in_body, self.head = self.head[cut + 4:], True, b""
        for h in self.payload_h.values():
            h.update(chunk)
        if self.body_buf is not None and self.chunked:
            self.body_len += len(chunk)
            if self.body_len <= _MAX_DECHUNK:
                self.body_buf.append(chunk)
            else:
                self.body_buf = None

    def problems(self) -> List[str]:
        """What does not match (empty when every digest the record claims is right)."""
        out = []
        if self.block_claim and digest_matches(self.block_claim, self.block_h) is False:
            out.append("WARC-Block-Digest does not match the record")
        if self.payload_claim and self.payload_h and self.in_body:
            ok = digest_matches(self.payload_claim, self.payload_h)
            if ok is False and self.chunked and self.body_buf is not None:
                # formats.md: the payload digest is over the dechunked body; writers differ.
                plain = dechunk(b"".join(self.body_buf))
                if plain is not None:
                    fresh = new_hashers(self.payload_claim)
                    for h in fresh.values():
                        h.update(plain)
                    ok = digest_matches(self.payload_claim, fresh)
            if ok is False:
                out.append("WARC-Payload-Digest does not match the payload")
        return out


def record_digest_problems(record: Any) -> List[str]:
    """Stream a warcio record (read with `no_record_parse=True`) through its digests; the
    mismatches, as sentences. Never raises for bad digests; reads the raw stream to its end."""
    digests = BlockDigests(record.rec_type or "", record.rec_headers.get_header)
    for chunk in iter(functools.partial(record.raw_stream.read, 1024 * 1024), b""):
        digests.feed(chunk)
    return digests.problems()
