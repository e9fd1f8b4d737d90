"""CDXJ indexes: building lines from WARC files, writing them, and reading them by binary search.

A line is `SURTKEY TIMESTAMP14 {json}`, sorted bytewise. Large indexes are kept as
`index.cdx.gz` (gzip members of up to `BLOCK_LINES` lines) plus `index.idx`, whose lines name
the first key of each block; a lookup reads only the `.idx`, then inflates one block.
Python 3.9-safe: shipped in the USB kit; needs only warcio (and only for building).
"""

from __future__ import annotations

import bisect
import calendar
import contextlib
import hashlib
import io
import json
import zlib
from collections import OrderedDict
from typing import IO, Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from mirrorkit.errors import InvalidBundle, WarcError
from mirrorkit.surt import surt_key

__all__ = [
    "BLOCK_LINES", "CdxjEntry", "IndexReader", "closest_entry", "find_original",
    "iter_warc_entries", "sort_lines", "surt_key", "write_cdxj", "write_compressed_index",
]

BLOCK_LINES = 1024
# Guards against hostile indexes: nothing is read or inflated beyond these sizes.
MAX_IDX_BYTES = 64 * 1024 * 1024
MAX_BLOCK_BYTES = 16 * 1024 * 1024
MAX_INFLATED_BLOCK = 128 * 1024 * 1024
MAX_LINE_BYTES = 1024 * 1024
_INDEXED_TYPES = ("response", "revisit", "resource", "metadata", "conversion")


class CdxjEntry:
    """One CDXJ line: its SURT key, its 14-digit timestamp and its JSON fields."""

    __slots__ = ("fields", "key", "timestamp")

    def __init__(self, key: str, timestamp: str, fields: Dict[str, Any]) -> None:
        self.key = key
        self.timestamp = timestamp
        self.fields = fields

    @classmethod
    def from_line(cls, line: str) -> CdxjEntry:
        """Parse one CDXJ line; raises InvalidBundle when it is not `KEY TS {json}`."""
        key, _, rest = line.strip().partition(" ")
        timestamp, _, data = rest.partition(" ")
        try:
            fields = json.loads(data)
        except ValueError:
            raise InvalidBundle(f"index line is not CDXJ: {line[:120]!r}") from None
        if not key or not timestamp.isdigit() or not isinstance(fields, dict):
            raise InvalidBundle(f"index line is not CDXJ: {line[:120]!r}")
        return cls(key, timestamp, fields)

    def to_line(self) -> str:
        """The line as written in an index (with its newline)."""
        return f"{self.key} {self.timestamp} {json.dumps(self.fields)}\n"

    @property
    def url(self) -> str:
        """The captured URL."""
        return str(self.fields.get("url", ""))

    @property
    def filename(self) -> str:
        """The WARC file (relative to `archive/`) that holds the record."""
        return str(self.fields.get("filename", ""))

    @property
    def offset(self) -> int:
        """Offset of the record's stored bytes in its WARC; raises InvalidBundle if absent."""
        return self._int("offset")

    @property
    def length(self) -> int:
        """Length of the record's stored bytes; raises InvalidBundle if absent."""
        return self._int("length")

    @property
    def mime(self) -> str:
        """The record's MIME type (`warc/revisit` for revisits)."""
        return str(self.fields.get("mime", ""))

    @property
    def status(self) -> Optional[int]:
        """The HTTP status, when the record has one."""
        try:
            return int(self.fields["status"])
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def digest(self) -> str:
        """The WARC payload digest."""
        return str(self.fields.get("digest", ""))

    @property
    def record_digest(self) -> Optional[str]:
        """`sha256:<hex>` of the record's stored bytes, when the index has it."""
        value = self.fields.get("recordDigest")
        return str(value) if value else None

    def _int(self, name: str) -> int:
        try:
            value = int(self.fields[name])
        except (KeyError, TypeError, ValueError):
            raise InvalidBundle(f"index entry for {self.url!r} has no valid {name!r}") from None
        if value < 0:
            raise InvalidBundle(f"index entry for {self.url!r} has a negative {name!r}")
        return value

    def __repr__(self) -> str:
        return f"CdxjEntry({self.key!r}, {self.timestamp!r}, {self.fields!r})"


# ---------------------------------------------------------------------------------------------
# Building


def iter_warc_entries(stream: IO[bytes], filename: str,
                      on_record: Optional[Callable[[Any, CdxjEntry], None]] = None
                      ) -> Iterator[CdxjEntry]:
    """Index one WARC the way cdxj-indexer does (requests and warcinfo skipped).

    `on_record(record, entry)` may read the record's content before its length is known.
    Entries carry `offset` and `length` but no `recordDigest` (the bundle writer adds it while it
    copies each record's bytes).
    Raises WarcError when the file is not a readable WARC.
    """
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed
    from warcio.timeutils import iso_date_to_timestamp

    it = ArchiveIterator(stream)
    try:
        for record in it:
            if record.format not in ("warc", "arc2warc") and not record.format.startswith("warc"):
                raise WarcError(f"{filename}: ARC files are not supported; convert it to WARC")
            if not _indexable(record):
                continue
            headers = record.rec_headers
            url = headers.get_header("WARC-Target-URI") or ""
            date = headers.get_header("WARC-Date") or ""
            try:
                timestamp = iso_date_to_timestamp(date)
            except (ValueError, IndexError):
                raise WarcError(f"{filename}: record for {url!r} has a bad WARC-Date "
                                f"{date!r}") from None
            fields: OrderedDict[str, Any] = OrderedDict()
            fields["url"] = url
            mime = _mime(record)
            if mime:
                fields["mime"] = mime
            if record.rec_type in ("response", "revisit") and record.http_headers:
                fields["status"] = record.http_headers.get_statuscode()
            fields["digest"] = headers.get_header("WARC-Payload-Digest") or ""
            entry = CdxjEntry(surt_key(url), timestamp, fields)
            if record.rec_type == "revisit":
                refers_url = headers.get_header("WARC-Refers-To-Target-URI")
                refers_date = headers.get_header("WARC-Refers-To-Date")
                if refers_url:
                    fields["refersToUrl"] = refers_url
                if refers_date:
                    with contextlib.suppress(ValueError, IndexError):
                        fields["refersToDate"] = iso_date_to_timestamp(refers_date)
            if not fields["digest"]:
                if record.rec_type == "revisit":
                    del fields["digest"]  # as cdxj-indexer: a revisit's digest is never computed
                else:
                    fields["digest"] = _payload_digest(record)
            if on_record is not None:
                on_record(record, entry)
            # Keys in cdxj-indexer's order, so our lines read like everyone else's.
            fields["length"] = str(it.get_record_length())
            fields["offset"] = str(it.get_record_offset())
            fields["filename"] = filename
            for name in ("refersToUrl", "refersToDate"):
                if name in fields:
                    fields.move_to_end(name)
            yield entry
    except ArchiveLoadFailed as err:
        raise WarcError(f"{filename}: not a readable WARC ({str(err).strip().splitlines()[0]})",
                        hint="Check the file with `warcio check`.") from None


def _indexable(record: Any) -> bool:
    if record.rec_type not in _INDEXED_TYPES:
        return False
    content_type = record.rec_headers.get_header("Content-Type") or ""
    return not (record.rec_type in ("resource", "metadata")
                and content_type == "application/warc-fields")


def _mime(record: Any) -> str:
    if record.rec_type == "revisit":
        return "warc/revisit"
    if record.rec_type == "response":
        value = record.http_headers.get_header("Content-Type") if record.http_headers else None
    else:
        value = record.rec_headers.get_header("Content-Type")
    if not value:
        return ""
    return value.replace(";", " ").split(None, 1)[0].strip() if value.strip() else ""


def _payload_digest(record: Any) -> str:
    """sha1 (base32) of the payload, as warcio computes a missing one; the record's stream is
    replaced by a spooled copy, so its content can still be read afterwards."""
    import base64
    import tempfile

    digester = hashlib.sha1()
    spool = tempfile.SpooledTemporaryFile(8 * 1024 * 1024)  # noqa: SIM115 - the record owns it
    while True:
        chunk = record.raw_stream.read(65536)
        if not chunk:
            break
        digester.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    record.raw_stream = spool
    return "sha1:" + base64.b32encode(digester.digest()).decode("ascii")


def sort_lines(entries: Iterable[CdxjEntry]) -> List[bytes]:
    """The entries as encoded lines, sorted bytewise like `LC_ALL=C sort`; raises nothing."""
    return sorted(entry.to_line().encode("utf-8") for entry in entries)


def write_cdxj(lines: Iterable[bytes], out: IO[bytes]) -> None:
    """Write sorted lines as a plain CDXJ file; raises OSError from `out`."""
    for line in lines:
        out.write(line)


def write_compressed_index(lines: List[bytes], cdx_out: IO[bytes], idx_out: IO[bytes], *,
                           cdx_name: str = "index.cdx.gz",
                           block_lines: int = BLOCK_LINES) -> None:
    """Write sorted lines as `index.cdx.gz` blocks plus its `index.idx`; raises OSError."""
    meta = json.dumps({"format": "cdxj-gzip-1.0", "filename": cdx_name})
    idx_out.write(f"!meta 0 {meta}\n".encode())
    offset = 0
    for start in range(0, len(lines), block_lines):
        block = lines[start:start + block_lines]
        comp = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        data = comp.compress(b"".join(block)) + comp.flush()
        cdx_out.write(data)
        prefix = block[0].split(b" {", 1)[0]
        info = {"offset": offset, "length": len(data),
                "digest": "sha256:" + hashlib.sha256(data).hexdigest()}
        idx_out.write(prefix + b" " + json.dumps(info).encode() + b"\n")
        offset += len(data)


# ---------------------------------------------------------------------------------------------
# Reading


def timestamp_seconds(timestamp: str) -> int:
    """Seconds since 1970 of a (possibly short) 14-digit timestamp; raises ValueError."""
    digits = (timestamp + "19700101000000"[len(timestamp):])[:14]
    if not digits.isdigit():
        raise ValueError(f"not a timestamp: {timestamp!r}")
    parts = [int(digits[0:4]), int(digits[4:6]) or 1, int(digits[6:8]) or 1,
             int(digits[8:10]), int(digits[10:12]), int(digits[12:14])]
    return calendar.timegm((parts[0], min(parts[1], 12), min(parts[2], 31),
                            min(parts[3], 23), min(parts[4], 59), min(parts[5], 59)))


class IndexReader:
    """Finds CDXJ entries by URL or key prefix, reading as little of the index as it can.

    Build it with `from_cdxj` (a plain sorted CDXJ file, binary-searched in place) or
    `from_compressed` (`index.idx` + `index.cdx.gz`). File objects must be seekable; they may be
    views into a ZIP member. Start-up reads only the `.idx`.
    """

    def __init__(self) -> None:
        self._plain: Optional[IO[bytes]] = None
        self._plain_size = 0
        self._cdx: Optional[IO[bytes]] = None
        self._block_keys: List[str] = []
        self._blocks: List[Tuple[int, int, Optional[str]]] = []
        self._cache: OrderedDict = OrderedDict()

    @classmethod
    def from_cdxj(cls, fileobj: IO[bytes]) -> IndexReader:
        """Reader over a plain sorted CDXJ file; raises InvalidBundle if it is not seekable."""
        reader = cls()
        try:
            fileobj.seek(0, io.SEEK_END)
            reader._plain_size = fileobj.tell()
            fileobj.seek(0)
        except (OSError, ValueError):
            raise InvalidBundle("the CDXJ index cannot be read (not seekable)") from None
        reader._plain = fileobj
        return reader

    @classmethod
    def from_compressed(cls, idx: IO[bytes], cdx: IO[bytes]) -> IndexReader:
        """Reader over `index.idx` and its `index.cdx.gz`; raises InvalidBundle on a bad idx."""
        reader = cls()
        data = idx.read(MAX_IDX_BYTES + 1)
        if len(data) > MAX_IDX_BYTES:
            raise InvalidBundle("index.idx is implausibly large")
        for raw in data.splitlines():
            line = raw.decode("utf-8", "replace").strip()
            if not line or line.startswith("!"):
                continue
            prefix, _, info = line.partition(" {")
            try:
                block = json.loads("{" + info)
                offset, length = int(block["offset"]), int(block["length"])
            except (ValueError, KeyError, TypeError):
                raise InvalidBundle(f"index.idx has a bad line: {line[:120]!r}") from None
            if offset < 0 or length <= 0 or length > MAX_BLOCK_BYTES:
                raise InvalidBundle(f"index.idx has a block of bad size: {line[:120]!r}")
            digest = block.get("digest")
            reader._block_keys.append(prefix)
            reader._blocks.append((offset, length, str(digest) if digest else None))
        if reader._block_keys != sorted(reader._block_keys):
            raise InvalidBundle("index.idx is not sorted")
        reader._cdx = cdx
        return reader

    @property
    def block_count(self) -> int:
        """Number of compressed blocks (0 for a plain CDXJ index)."""
        return len(self._blocks)

    def lookup(self, url: str) -> List[CdxjEntry]:
        """Every entry for `url` (all timestamps, oldest first); raises InvalidBundle."""
        return self.lookup_key(surt_key(url))

    def lookup_key(self, key: str) -> List[CdxjEntry]:
        """Every entry whose SURT key is exactly `key`; raises InvalidBundle."""
        return [e for e in self.iter_prefix(key + " ")]

    def closest(self, url: str, timestamp: str) -> Optional[CdxjEntry]:
        """The entry for `url` nearest to `timestamp` (earlier wins); raises InvalidBundle."""
        return closest_entry(self.lookup(url), timestamp)

    def iter_prefix(self, prefix: str) -> Iterator[CdxjEntry]:
        """Entries whose line starts with `prefix`, in order; raises InvalidBundle."""
        for line in self._lines_from(prefix):
            if line.startswith(prefix):
                yield CdxjEntry.from_line(line)
            elif line > prefix:
                return

    def __iter__(self) -> Iterator[CdxjEntry]:
        """Every entry, in index order; raises InvalidBundle on a damaged index."""
        for line in self._lines_from(""):
            yield CdxjEntry.from_line(line)

    # -- internals -----------------------------------------------------------------------------

    def _lines_from(self, prefix: str) -> Iterator[str]:
        """Lines of the index starting at (or a little before) the first one >= prefix."""
        if self._plain is not None:
            yield from self._plain_lines_from(prefix)
            return
        start = max(0, bisect.bisect_left(self._block_keys, prefix) - 1)
        for number in range(start, len(self._blocks)):
            first = self._block_keys[number]
            if number > start and first > prefix and not first.startswith(prefix):
                return  # this block (and all after it) starts past the prefix: don't inflate it
            for line in self._block(number):
                if line >= prefix:
                    yield line

    def _block(self, number: int) -> List[str]:
        cached = self._cache.get(number)
        if cached is not None:
            self._cache.move_to_end(number)
            return cached  # type: ignore[no-any-return]
        offset, length, digest = self._blocks[number]
        assert self._cdx is not None
        self._cdx.seek(offset)
        data = self._cdx.read(length)
        if len(data) != length:
            raise InvalidBundle(f"index.cdx.gz is shorter than index.idx says (block {number})")
        if digest and digest.startswith("sha256:") \
                and hashlib.sha256(data).hexdigest() != digest[7:]:
            raise InvalidBundle(f"index block {number} does not match its digest in index.idx")
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            text = inflater.decompress(data, MAX_INFLATED_BLOCK)
        except zlib.error:
            raise InvalidBundle(f"index block {number} is not valid gzip") from None
        if inflater.unconsumed_tail:
            raise InvalidBundle(f"index block {number} inflates beyond a sane size")
        lines = text.decode("utf-8", "replace").splitlines()
        self._cache[number] = lines
        if len(self._cache) > 8:
            self._cache.popitem(last=False)
        return lines

    def _plain_lines_from(self, prefix: str) -> Iterator[str]:
        fh = self._plain
        assert fh is not None
        target = prefix.encode("utf-8")
        lo, hi = 0, self._plain_size
        # Invariant: the first line >= target starts at or after `lo`, and at or before `hi`.
        while hi - lo > 4096:
            mid = (lo + hi) // 2
            fh.seek(mid)
            fh.readline(MAX_LINE_BYTES)  # skip to the start of the next line
            pos = fh.tell()
            probe = fh.readline(MAX_LINE_BYTES)
            if not probe or probe >= target:
                hi = mid
            else:
                lo = pos
        fh.seek(lo)  # always a line start: 0 or just after a newline
        while True:
            raw = fh.readline(MAX_LINE_BYTES)
            if not raw:
                return
            if not raw.endswith(b"\n") and len(raw) >= MAX_LINE_BYTES:
                raise InvalidBundle("the CDXJ index has an implausibly long line")
            if raw < target:
                continue
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line and not line.startswith("!"):
                yield line


def closest_entry(entries: Iterable[CdxjEntry], timestamp: str) -> Optional[CdxjEntry]:
    """Of `entries`, the one captured nearest to `timestamp` (earlier wins a tie); never raises."""
    try:
        target = timestamp_seconds(timestamp)
    except ValueError:
        target = None
    best: Optional[CdxjEntry] = None
    best_distance = 0
    for entry in entries:
        try:
            distance = abs(timestamp_seconds(entry.timestamp) - target) if target is not None \
                else 0
        except ValueError:
            continue
        if best is None or distance < best_distance:
            best, best_distance = entry, distance
    return best


def find_original(reader: IndexReader, revisit: CdxjEntry) -> Optional[CdxjEntry]:
    """The original of a revisit (by refers-to URL and date, else digest) or None; raises
    InvalidBundle on a damaged index."""
    target_url = str(revisit.fields.get("refersToUrl") or revisit.url)
    refers_date = revisit.fields.get("refersToDate")
    candidates = [e for e in reader.lookup(target_url) if e.mime != "warc/revisit"]
    if refers_date:
        for entry in candidates:
            if entry.timestamp == refers_date:
                return entry
    same_digest = [e for e in candidates if revisit.digest and e.digest == revisit.digest]
    return closest_entry(same_digest, revisit.timestamp)
