"""A WARC record's own digests (WARC-Block-Digest, WARC-Payload-Digest), checked as deep
verification and bundling both check them, so the two always agree on what is damaged.

Payload digests are compared over the body as stored and, for a chunked body, also over the body
with its chunk framing removed: formats.md says the digest covers the de-chunked body, but
writers differ (wpull, Heritrix, warcio's own capture), and both forms are accepted.
Python 3.9-safe: needs only the standard library.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Dict, List, Optional

__all__ = ["record_digest_problems"]

_MAX_HTTP_HEAD = 1024 * 1024
_MAX_DECHUNK = 64 * 1024 * 1024
_HTTP_TYPES = ("response", "request", "revisit")


def _digest_matches(claimed: str, data_digests: Dict[str, Any]) -> Optional[bool]:
    """Whether a WARC digest header (`sha1:BASE32`, `sha256:hex`, ...) matches; None if the
    algorithm is unknown."""
    if ":" not in claimed:
        return None
    algo, value = claimed.split(":", 1)
    algo = algo.strip().lower().replace("-", "")
    hasher = data_digests.get(algo)
    if hasher is None:
        return None
    raw = hasher.digest()
    value = value.strip()
    candidates = {base64.b32encode(raw).decode("ascii"), raw.hex()}
    return value.upper().rstrip("=") in {c.upper().rstrip("=") for c in candidates}


def _new_hashers(claims: List[str]) -> Dict[str, Any]:
    out = {}
    for claim in claims:
        algo = claim.split(":", 1)[0].strip().lower().replace("-", "")
        if algo in ("sha1", "sha256", "sha512", "md5") and algo not in out:
            out[algo] = hashlib.new(algo)
    return out


def _dechunk(body: bytes) -> Optional[bytes]:
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


def record_digest_problems(record: Any) -> List[str]:
    """Stream a record (read with `no_record_parse=True`) through its WARC-Block-Digest and
    WARC-Payload-Digest; the mismatches, as sentences. Never raises for bad digests; reads the
    record's raw stream to its end."""
    problems: List[str] = []
    headers = record.rec_headers
    block_claim = headers.get_header("WARC-Block-Digest") or ""
    payload_claim = headers.get_header("WARC-Payload-Digest") or ""
    if record.rec_type == "revisit":
        payload_claim = ""  # it names the original's payload; the revisit carries none
    block_h = _new_hashers([block_claim] if block_claim else [])
    payload_h = _new_hashers([payload_claim] if payload_claim else [])
    http = (record.rec_type in _HTTP_TYPES
            and "application/http" in (headers.get_header("Content-Type") or ""))
    head = b""
    in_body = not http
    chunked = False
    body_buf: Optional[List[bytes]] = [] if payload_h else None
    body_len = 0
    stream = record.raw_stream
    while True:
        chunk = stream.read(1024 * 1024)
        if not chunk:
            break
        for h in block_h.values():
            h.update(chunk)
        if not payload_h:
            continue
        if not in_body:
            head += chunk
            cut = head.find(b"\r\n\r\n")
            if cut < 0:
                if len(head) > _MAX_HTTP_HEAD:
                    in_body, chunk = True, b""  # no HTTP head: give up on the payload digest
                    payload_h = {}
                continue
            chunked = b"chunked" in head[:cut].lower() and b"transfer-encoding" in head.lower()
            chunk, in_body = head[cut + 4:], True
        for h in payload_h.values():
            h.update(chunk)
        if body_buf is not None and chunked:
            body_len += len(chunk)
            if body_len <= _MAX_DECHUNK:
                body_buf.append(chunk)
            else:
                body_buf = None
    if block_claim and _digest_matches(block_claim, block_h) is False:
        problems.append("WARC-Block-Digest does not match the record")
    if payload_claim and payload_h and in_body:
        ok = _digest_matches(payload_claim, payload_h)
        if ok is False and chunked and body_buf is not None:
            # formats.md: the payload digest is over the dechunked body; writers differ.
            plain = _dechunk(b"".join(body_buf))
            if plain is not None:
                fresh = _new_hashers([payload_claim])
                for h in fresh.values():
                    h.update(plain)
                ok = _digest_matches(payload_claim, fresh)
        if ok is False:
            problems.append("WARC-Payload-Digest does not match the payload")
    return problems
