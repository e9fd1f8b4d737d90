"""One archived HTTP response, read from its stored bytes and checked against its recordDigest.

Everything inflated here is bounded, because a record is hostile until shown otherwise: a
1 KB gzip member can hold 1 MB of gzip that holds 1 GB of HTML. The record itself (its WARC gzip
layer) is inflated to at most `record_limit(stored size)` — the larger of `MAX_PAGE_BYTES` and
`MAX_RATIO` times its stored size, so a real 500 MB video (stored at about its own size) still
replays while a bomb stops at 16 MB — and a payload's Content-Encoding is undone to at most
`MAX_PAGE_BYTES` (what the rewriter accepts). Past either limit `RecordTooLarge` is raised; the
reader then answers with a page saying so instead of rewriting (see `serve/replay.py`).
"""

from __future__ import annotations

import hashlib
import io
import zlib
from typing import List, Optional, Tuple

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader

from mirrorkit.errors import InvalidBundle
from mirrorkit.formats.http import (
    BodyTooLarge,
    UndecodableBody,
    can_decode,
    decode_body,
    inflate_bounded,
    replay_status,
)


class DamagedRecord(InvalidBundle):
    """A record's bytes do not match the digest the signed index gives for them."""


class DamagedAtSource(DamagedRecord):
    """The signed bundle itself says this record was damaged before it was bundled."""


class RecordTooLarge(DamagedRecord):
    """A record or its payload inflates beyond what this reader handles (a decompression bomb,
    or a page too big to rewrite)."""


class RewriteTooLarge(RecordTooLarge):
    """A document needs more work (tags, URLs, CPU time) or output than the reader spends on
    one page."""


# Decoded HTML or CSS the reader rewrites; also the floor of what one record may inflate to.
MAX_PAGE_BYTES = 16 * 1024 * 1024
# Real records compress by at most about 10:1 (text) in their WARC gzip member.
MAX_RATIO = 20


def record_limit(stored: int) -> int:
    """How many bytes a record stored in `stored` bytes may inflate to."""
    return max(MAX_PAGE_BYTES, MAX_RATIO * stored)


class Record:
    """A parsed WARC record: WARC headers, HTTP status and headers, and the payload bytes.

    ``payload`` is the body as the server sent it (content-encoded, chunking removed);
    ``decoded()`` undoes the Content-Encoding when this Python can.
    """

    def __init__(
        self,
        warc_type: str,
        warc_headers: List[Tuple[str, str]],
        status: int,
        headers: List[Tuple[str, str]],
        payload: bytes,
    ) -> None:
        self.warc_type = warc_type
        self.warc_headers = warc_headers
        self.status = status
        self.headers = headers
        self.payload = payload

    def warc_header(self, name: str) -> Optional[str]:
        """The value of a WARC header, or None."""
        name = name.lower()
        for key, value in self.warc_headers:
            if key.lower() == name:
                return value
        return None

    def header(self, name: str) -> Optional[str]:
        """The value of an HTTP response header, or None."""
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    @property
    def content_encoding(self) -> str:
        """The response's Content-Encoding, lowercased ('' for none or identity)."""
        enc = (self.header("content-encoding") or "").strip().lower()
        return "" if enc == "identity" else enc

    def can_decode(self) -> bool:
        """Whether the payload's Content-Encoding can be undone here (brotli may be missing)."""
        return can_decode(self.content_encoding)

    def decoded(self, limit: int = MAX_PAGE_BYTES) -> bytes:
        """The payload with its Content-Encoding undone, at most `limit` bytes; raises
        RecordTooLarge beyond that and DamagedRecord if it won't decode."""
        try:
            return decode_body(self.payload, self.content_encoding, limit, "this page")
        except BodyTooLarge as err:
            raise RecordTooLarge(err.message) from None
        except UndecodableBody as err:  # the stored body is not what it says, or no decoder
            raise DamagedRecord(err.message) from None


def check_digest(data: bytes, record_digest: Optional[str]) -> bool:
    """True when ``data`` matches ``sha256:<hex>``; False when it does not. None digest -> True."""
    if not record_digest:
        return True
    algo, _, want = record_digest.partition(":")
    if algo.lower() != "sha256" or not want:
        return False
    return hashlib.sha256(data).hexdigest() == want.lower()


def parse_record(data: bytes) -> Record:
    """Parses one stored WARC record (gzip member or plain); raises DamagedRecord if unreadable
    and RecordTooLarge when it inflates beyond `record_limit(len(data))`."""
    if data[:2] == b"\x1f\x8b":
        limit = record_limit(len(data))
        try:
            data = inflate_bounded(data, limit, "this record")
        except BodyTooLarge as err:
            raise RecordTooLarge(err.message) from None
        except zlib.error as err:
            raise DamagedRecord(f"the WARC record is not valid gzip: {err}") from None
    try:
        it = iter(ArchiveIterator(io.BytesIO(data), arc2warc=True))
        rec = next(it)
        warc_headers = list(rec.rec_headers.headers)
        status = 200
        headers: List[Tuple[str, str]] = []
        if rec.http_headers is not None and rec.rec_type in ("response", "revisit"):
            code = rec.http_headers.get_statuscode() or "200"
            status = replay_status(code)
            headers = list(rec.http_headers.headers)
            stream = rec.raw_stream
            if (rec.http_headers.get_header("transfer-encoding") or "").lower() == "chunked":
                stream = ChunkedDataReader(stream, decomp_type=None)
            payload = stream.read()
        else:
            payload = rec.raw_stream.read()
            ctype = rec.rec_headers.get_header("content-type")
            if ctype:
                headers = [("Content-Type", ctype)]
        return Record(rec.rec_type, warc_headers, status, headers, payload)
    except DamagedRecord:
        raise
    except StopIteration:
        raise DamagedRecord("no WARC record at the indexed offset") from None
    except Exception as err:  # warcio raises many kinds on garbage: all mean the same here
        raise DamagedRecord(f"the WARC record cannot be parsed: {err}") from None
