"""WARC writing (WARC/1.1, one gzip member per record, rollover, digests, revisits) and recovery.

Writing goes through warcio's record builder, so headers, digests and lengths follow the same code
the rest of the ecosystem reads with. Two things are done here rather than in warcio: each record
becomes its own gzip member at level 6 (warcio's level 9 costs CPU for no real gain), and the
HTTP header block is written byte for byte as the server sent it (warcio would %-encode
non-ASCII header values, which changes the evidence).

Reading WARCs is `mirrorkit.formats.warc`; recovery (`member_ends`, `cut_to`) serves `--resume`.
"""

from __future__ import annotations

import io
import os
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Dict, List, Optional

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter as _WarcioWriter

from mirrorkit import __version__
from mirrorkit.errors import CaptureError

DEFAULT_MAX_FILE_SIZE = 1_000_000_000
SOFTWARE = f"mirrorkit/{__version__}"
REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"


def _record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def header_block(raw: bytes) -> bytes:
    """The HTTP head as it goes into the record: the bytes received, ending in one blank line.

    The record's block is this plus the body, so the fetcher can digest the block while it
    reads the body, and the body is never read again for WARC-Block-Digest.
    """
    return raw if raw.endswith(b"\r\n\r\n") else raw.rstrip(b"\r\n") + b"\r\n\r\n"


class _RawHeaders(StatusAndHeaders):
    """A status line + header block kept as the exact bytes received."""

    def __init__(self, raw: bytes) -> None:
        text = raw.decode("latin-1")
        first, _, rest = text.partition("\r\n")
        protocol, _, statusline = first.partition(" ")
        headers = []
        for line in rest.split("\r\n"):
            if ":" in line:
                name, _, value = line.partition(":")
                headers.append((name, value.strip()))
        super().__init__(statusline, headers, protocol=protocol)
        self._raw = header_block(raw)

    def compute_headers_buffer(self, header_filter: Any = None) -> None:
        self.headers_buff = self._raw


class _GzipMember:
    """File-like sink turning everything written until `flush()` into one gzip member."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.zip = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS + 16)
        self.parts: List[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> None:
        chunk = self.zip.compress(data)
        if chunk:
            self.parts.append(chunk)
            self.size += len(chunk)
            if self.size > 4 * 1024 * 1024:
                self.out.write(b"".join(self.parts))
                self.parts, self.size = [], 0

    def flush(self) -> None:
        self.parts.append(self.zip.flush())
        # One write() per small record: a crash leaves either the whole member or a torn tail.
        self.out.write(b"".join(self.parts))
        self.parts = []


@dataclass
class Written:
    """Where a record landed: file name, start offset, end offset, record id and WARC-Date."""

    filename: str
    offset: int
    end: int
    record_id: str
    date: str


class WarcWriter:
    """Writes exchanges into PREFIX-TIMESTAMP-SERIAL.warc.gz files in `directory`, rolling over."""

    def __init__(
        self,
        directory: Path,
        info: Dict[str, str],
        *,
        prefix: str = "mirrorkit",
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        serial: int = 0,
    ) -> None:
        """Prepare a writer; no file is opened until the first record. Raises nothing."""
        self.directory = Path(directory)
        self.info = info
        self.prefix = prefix
        self.max_file_size = max_file_size
        self.serial = serial
        self._file: Optional[IO[bytes]] = None
        self.filename = ""
        self._warcinfo_id = ""
        self._builder = _WarcioWriter(None, gzip=False, warc_version="1.1")

    # -- files ------------------------------------------------------------------------------
    def _open_next(self) -> None:
        self.close()
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
        while True:
            name = f"{self.prefix}-{stamp}-{self.serial:05d}.warc.gz"
            self.serial += 1
            if not (self.directory / name).exists():
                break
        try:
            self._file = open(self.directory / name, "xb", buffering=1024 * 1024)  # noqa: SIM115
        except OSError as err:
            raise CaptureError(f"cannot create {self.directory / name}: {err.strerror}") from err
        self.filename = name
        info = {
            "software": SOFTWARE,
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            **self.info,
        }
        rec = self._builder.create_warcinfo_record(name, info)
        self._warcinfo_id = rec.rec_headers.get_header("WARC-Record-ID")
        self._done(self._emit(rec))

    def _emit(self, record: Any) -> Written:
        assert self._file is not None
        start = self._file.tell()
        self._builder.out = _GzipMember(self._file)
        self._builder.write_record(record)
        return Written(
            self.filename,
            start,
            self._file.tell(),
            record.rec_headers.get_header("WARC-Record-ID"),
            record.rec_headers.get_header("WARC-Date"),
        )

    def _ready(self) -> None:
        if self._file is None or self._file.tell() >= self.max_file_size:
            self._open_next()

    def _common(self, rtype: str, url: str, date: str, ip: Optional[str]) -> Dict[str, str]:
        headers = {"WARC-Type": rtype, "WARC-Record-ID": _record_id(), "WARC-Target-URI": url,
                   "WARC-Date": date, "WARC-Warcinfo-ID": self._warcinfo_id}
        if ip:
            headers["WARC-IP-Address"] = ip
        return headers

    # -- records ----------------------------------------------------------------------------
    def write_exchange(
        self,
        url: str,
        date: str,
        request_head: bytes,
        response_head: bytes,
        body: IO[bytes],
        body_length: int,
        payload_digest: str,
        *,
        block_digest: Optional[str] = None,
        ip: Optional[str] = None,
        truncated: Optional[str] = None,
    ) -> Written:
        """Write a response record then its request record; return the response's place.

        `response_head` is the status line and header block as received, `body` the payload after
        de-chunking and before content decoding, `payload_digest` its `sha1:BASE32`, and
        `block_digest` (if given) that of `header_block(response_head)` + body: then the body
        is read only once more, to be written. Raises OSError when the disk refuses the write.
        """
        self._ready()
        resp_headers = self._common("response", url, date, ip)
        resp_headers["WARC-Payload-Digest"] = payload_digest
        if block_digest:
            resp_headers["WARC-Block-Digest"] = block_digest
        if truncated:
            resp_headers["WARC-Truncated"] = truncated
        req_headers = self._common("request", url, date, ip)
        resp_headers["WARC-Concurrent-To"] = req_headers["WARC-Record-ID"]
        resp = self._builder.create_warc_record(
            url, "response", payload=body, length=body_length,
            warc_headers_dict=resp_headers, http_headers=_RawHeaders(response_head),
        )
        req_headers["WARC-Concurrent-To"] = resp_headers["WARC-Record-ID"]
        req = self._request(url, req_headers, request_head)
        where = self._emit(resp)
        self._emit(req)
        return self._done(where)

    def write_revisit(
        self,
        url: str,
        date: str,
        request_head: bytes,
        response_head: bytes,
        payload_digest: str,
        refers_to_uri: str,
        refers_to_date: str,
        *,
        ip: Optional[str] = None,
        container: Optional[str] = None,
    ) -> Written:
        """Write a revisit (identical payload digest) record and its request. Raises OSError.

        `container` ("file://OLD.wacz") marks a revisit into an earlier bundle (Browsertrix)."""
        self._ready()
        headers = self._common("revisit", url, date, ip)
        if container:
            headers["WARC-Refers-To-Container"] = container
        req_headers = self._common("request", url, date, ip)
        headers["WARC-Concurrent-To"] = req_headers["WARC-Record-ID"]
        req_headers["WARC-Concurrent-To"] = headers["WARC-Record-ID"]
        rec = self._builder.create_revisit_record(
            url, payload_digest, refers_to_uri, refers_to_date,
            http_headers=_RawHeaders(response_head), warc_headers_dict=headers,
        )
        req = self._request(url, req_headers, request_head)
        where = self._emit(rec)
        self._emit(req)
        return self._done(where)

    def _request(self, url: str, headers: Dict[str, str], head: bytes) -> Any:
        req = self._builder.create_warc_record(
            url, "request", payload=io.BytesIO(b""), length=0,
            warc_headers_dict=headers, http_headers=_RawHeaders(head),
        )
        req.rec_headers.remove_header("WARC-Payload-Digest")  # a GET has no payload
        return req

    def _done(self, where: Written) -> Written:
        # Hand the records to the OS now: a SIGKILL then loses nothing the journal vouches for.
        assert self._file is not None
        self._file.flush()
        where.end = self._file.tell()
        return where

    def sync(self) -> None:
        """Push everything written so far to the disk (flush + fsync). Raises OSError."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        """Flush, fsync and close the current file. Raises OSError."""
        if self._file is not None:
            try:
                self.sync()
            finally:
                self._file.close()
                self._file = None


# -- recovery -------------------------------------------------------------------------------
def member_ends(path: Path) -> List[int]:
    """End offsets of the complete gzip members of a .warc.gz file, in order. Raises OSError."""
    ends: List[int] = []
    pos = 0
    with open(path, "rb") as fh:
        buf = fh.read(1024 * 1024)
        while buf:
            dec = zlib.decompressobj(zlib.MAX_WBITS + 16)
            try:
                while True:
                    dec.decompress(buf, 0)
                    if dec.eof:
                        pos += len(buf) - len(dec.unused_data)
                        buf = dec.unused_data or fh.read(1024 * 1024)
                        break
                    pos += len(buf)
                    buf = fh.read(1024 * 1024)
                    if not buf:
                        return ends
            except zlib.error:
                return ends
            ends.append(pos)
    return ends


def cut_to(path: Path, length: int) -> int:
    """Truncate `path` to `length` bytes (fsynced); return how many bytes went. Raises OSError."""
    size = path.stat().st_size
    if length < size:
        with open(path, "r+b") as fh:
            fh.truncate(length)
            fh.flush()
            os.fsync(fh.fileno())
    return size - length


