"""One pass over each WARC of a bundle for `verify --deep`: the file's SHA-256 (for the manifest
check), each record's stored-bytes SHA-256 (for the index's recordDigest), each record's own
WARC digests, and the facts the index and revisit checks need — all from a single read.

The usual layout (one gzip member per record, as WACZ requires for random access) is parsed here
directly: zlib and hashlib do the work in C, which is what makes `--deep` faster than
`warcio check`. Anything else (a plain WARC, several records in one member, a record that spans
members) goes through warcio instead, reading the member again: correct, only slower.
The same pass also runs over a byte range of a member (`scan_range`), for parallel.py's pieces.
"""

from __future__ import annotations

import hashlib
import zlib as _stdlib_zlib
from dataclasses import dataclass, field
from typing import IO, Any, Dict, List, Optional, Tuple

from mirrorkit.formats.warcdigest import BlockDigests, record_digest_problems
from mirrorkit.formats.zipcheck import BundleZip, FileWindow, Member, Progress, hash_member

# zlib-ng inflates the same streams about 1.7x faster. It is a dependency of the installed tool;
# the USB kit, pure Python, has the standard library's zlib.
zlib: Any
try:
    from zlib_ng import zlib_ng as zlib
except ImportError:  # the kit
    zlib = _stdlib_zlib

CHUNK = 1024 * 1024
_MAX_WARC_HEAD = 1024 * 1024
_MAX_OUT = 4 * 1024 * 1024  # inflate at most this much at a time: a gzip bomb stays bounded
_WINDOW = 64 * 1024
# warcio (the fallback) inflates each block it reads in one call: reads of at most 32 KB bound a
# hostile gzip member to about 33 MB at once (deflate's ratio is at most ~1032:1).
_MAX_RAW_READ = 32 * 1024


@dataclass
class Record:
    """What the index and revisit checks need to know of one record."""

    offset: int
    length: int
    rec_type: str
    url: str
    date: str
    payload_digest: str
    refers_url: str = ""
    refers_date: str = ""


@dataclass
class ScannedWarc:
    """One WARC member, scanned: its records, their stored-bytes digests, its file digest."""

    name: str
    file_digest: str
    records: List[Record] = field(default_factory=list)
    hashes: Dict[int, str] = field(default_factory=dict)
    problems: List[Dict[str, Any]] = field(default_factory=list)


class _NotSimple(Exception):
    """The member is not laid out one record per gzip member: use warcio."""


class _Parser:
    """Splits the inflated bytes of one gzip member into exactly one WARC record."""

    def __init__(self) -> None:
        self.head = b""
        self.headers: Optional[Dict[str, str]] = None
        self.left = 0
        self.trailer = b""
        self.digests: Optional[BlockDigests] = None

    def feed(self, data: bytes) -> None:
        if self.headers is None:
            self.head += data
            cut = self.head.find(b"\r\n\r\n")
            if cut < 0:
                if len(self.head) > _MAX_WARC_HEAD:
                    raise _NotSimple
                return
            self._parse_head(self.head[:cut])
            data, self.head = self.head[cut + 4:], b""
        if self.left:
            block = data[:self.left]
            self.left -= len(block)
            assert self.digests is not None
            self.digests.feed(block)
            data = data[len(block):]
        if data:
            self.trailer += data
            # The record ends with CRLF CRLF; anything more is a second record in this member.
            if self.trailer.strip(b"\r\n") or len(self.trailer) > 4:
                raise _NotSimple

    def _parse_head(self, raw: bytes) -> None:
        lines = raw.decode("utf-8", "replace").split("\r\n")
        if not lines[0].startswith("WARC/"):
            raise _NotSimple
        headers: Dict[str, str] = {}
        last = ""
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and last:
                headers[last] += " " + line.strip()
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise _NotSimple
            last = name.strip().lower()
            headers.setdefault(last, value.strip())
        try:
            self.left = int(headers.get("content-length", ""))
        except ValueError:
            raise _NotSimple from None
        if self.left < 0:
            raise _NotSimple
        self.headers = headers
        self.digests = BlockDigests(headers.get("warc-type", ""), self.get)

    def get(self, name: str) -> str:
        return (self.headers or {}).get(name.lower(), "")

    def complete(self) -> bool:
        return self.headers is not None and self.left == 0


def _fast(bundle: BundleZip, member: Member, progress: Progress) -> ScannedWarc:
    """The single pass over a whole member; raises _NotSimple when the layout needs warcio."""
    fname = member.name.split("/", 1)[1]
    out = ScannedWarc(name=member.name, file_digest="")
    file_h = hashlib.sha256()
    why = _inflate_range(bundle.fh, member.data_start, 0, member.data_end - member.data_start,
                         out, file_h, progress)
    if why is not None:
        out.problems.append({"file": fname, "offset": why[0], "url": "", "type": "",
                             "problem": f"the WARC cannot be read from here on ({why[1][:140]})"})
    out.file_digest = "sha256:" + file_h.hexdigest()
    return out


def _inflate_range(fh: IO[bytes], base: int, lo: int, hi: int, out: ScannedWarc,
                   file_h: Any, progress: Progress) -> Optional[Tuple[int, str]]:
    """Scan the member's bytes [lo, hi) (`base` is where the member starts in the file), which
    must begin with a gzip member, into `out`. Returns None when [lo, hi) ended exactly where a
    gzip member did, else (offset, why) of the record that could not be read; raises
    _NotSimple."""
    fname = out.name.split("/", 1)[1]
    pos = start = consumed = lo  # WARC offsets: read so far, the gzip member, inflated so far
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    record_h = hashlib.sha256()
    parser = _Parser()
    broken: Optional[str] = None
    while pos < hi:
        fh.seek(base + pos)
        chunk = fh.read(min(CHUNK, hi - pos))
        if not chunk:
            break
        pos += len(chunk)
        if file_h is not None:
            file_h.update(chunk)
        if progress:
            progress(len(chunk))
        if broken:
            continue  # the file digest is still wanted, for the manifest check
        if consumed == lo and chunk[:2] != b"\x1f\x8b":
            raise _NotSimple
        view = memoryview(chunk)
        chunk_at = consumed  # the WARC offset of this chunk's first byte
        # Small windows: zlib copies what it leaves unused at each member's end.
        for at in range(0, len(view), _WINDOW):
            data: Any = view[at:at + _WINDOW]
            while True:
                try:
                    inflated = inflater.decompress(data, _MAX_OUT)
                except zlib.error as err:
                    broken = f"zlib.error: {err}"
                    break
                left = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
                consumed += len(data) - len(left)
                parser.feed(inflated)
                if inflater.eof:
                    # a record's stored bytes are hashed one piece per chunk, not per window
                    record_h.update(view[max(start, chunk_at) - chunk_at:consumed - chunk_at])
                    _finish(out, fname, start, consumed - start, parser, record_h)
                    start = consumed
                    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
                    record_h, parser = hashlib.sha256(), _Parser()
                    if left[:1] not in (b"", b"\x1f"):
                        raise _NotSimple  # trailing bytes that are not another gzip member
                    if not left:
                        break
                elif not left and len(inflated) < _MAX_OUT:
                    break  # this window is used up and zlib holds no more output for it
                data = left  # the next member, the rest of this window, or b"": drain zlib
            if broken:
                break
        if not broken and consumed > max(start, chunk_at):
            record_h.update(view[max(start, chunk_at) - chunk_at:consumed - chunk_at])
    if broken or consumed != start or pos != hi:
        return start, broken or "the WARC ends inside a record (truncated)"
    return None


def _finish(out: ScannedWarc, fname: str, offset: int, length: int, parser: _Parser,
            record_h: Any) -> None:
    if not parser.complete():
        raise _NotSimple  # a record that goes on in the next member
    get = parser.get
    url = get("WARC-Target-URI").strip().strip("<>")
    rec_type = get("WARC-Type")
    assert parser.digests is not None
    for problem in parser.digests.problems():
        out.problems.append({"file": fname, "offset": offset, "url": url, "type": rec_type,
                             "problem": problem})
    out.records.append(Record(
        offset=offset, length=length, rec_type=rec_type, url=url, date=get("WARC-Date"),
        payload_digest=get("WARC-Payload-Digest"), refers_url=get("WARC-Refers-To-Target-URI"),
        refers_date=get("WARC-Refers-To-Date")))
    out.hashes[offset] = "sha256:" + record_h.hexdigest()


def _with_warcio(bundle: BundleZip, member: Member, progress: Progress) -> ScannedWarc:
    """Any other layout: warcio finds the records, then each record's bytes are hashed."""
    from warcio.archiveiterator import ArchiveIterator

    fname = member.name.split("/", 1)[1]
    out = ScannedWarc(name=member.name, file_digest=hash_member(bundle, member, progress))
    # Unbuffered on purpose: warcio buffers itself (and misreads through io.BufferedReader).
    raw = FileWindow(bundle.fh, member.data_start, member.data_end, _MAX_RAW_READ)
    offset = 0
    try:
        it = ArchiveIterator(raw, no_record_parse=True, block_size=256 * 1024)
        for record in it:
            headers = record.rec_headers
            url = (headers.get_header("WARC-Target-URI") or "").strip().strip("<>")
            problems = record_digest_problems(record)
            it.read_to_end(record)
            # warcio knows a record's offset only once it has been read to its end.
            offset = it.get_record_offset()
            for problem in problems:
                out.problems.append({"file": fname, "offset": offset, "url": url,
                                     "type": record.rec_type, "problem": problem})
            out.records.append(Record(
                offset=offset, length=it.get_record_length(), rec_type=record.rec_type or "",
                url=url, date=(headers.get_header("WARC-Date") or "").strip(),
                payload_digest=(headers.get_header("WARC-Payload-Digest") or "").strip(),
                refers_url=(headers.get_header("WARC-Refers-To-Target-URI") or "").strip(),
                refers_date=(headers.get_header("WARC-Refers-To-Date") or "").strip()))
    except Exception as err:  # warcio raises ArchiveLoadFailed, zlib.error, ValueError, ...
        out.problems.append({"file": fname, "offset": offset, "url": "", "type": "",
                             "problem": f"the WARC cannot be read from here on "
                                        f"({type(err).__name__}: {str(err)[:120]})"})
    for rec in out.records:
        out.hashes[rec.offset] = _hash_range(bundle, member, rec)
    return out


def _hash_range(bundle: BundleZip, member: Member, rec: Record) -> str:
    if rec.length <= 0 or member.data_start + rec.offset + rec.length > member.data_end:
        return ""
    start = member.data_start + rec.offset
    return sha256_range(bundle.fh, start, start + rec.length)


def sha256_range(fh: IO[bytes], start: int, end: int) -> str:
    """`sha256:<hex>` of the file's bytes [start, end) (fewer if the file is shorter)."""
    digest = hashlib.sha256()
    pos = start
    while pos < end:
        fh.seek(pos)
        data = fh.read(min(CHUNK, end - pos))
        if not data:
            break
        digest.update(data)
        pos += len(data)
    return "sha256:" + digest.hexdigest()


def scan_range(fh: IO[bytes], name: str, base: int, lo: int, hi: int) -> Optional[ScannedWarc]:
    """One piece of a member, [lo, hi), for the parallel pass: its records, hashes and problems
    (no file digest), or None unless the piece is simple and both its ends are gzip member
    boundaries. Then, and only then, the pieces of a member joined are its single pass."""
    out = ScannedWarc(name=name, file_digest="")
    try:
        return out if _inflate_range(fh, base, lo, hi, out, None, None) is None else None
    except _NotSimple:
        return None


def scan_warc(bundle: BundleZip, member: Member, progress: Progress = None) -> ScannedWarc:
    """Scan one STORED WARC member; damage is reported in the result, never raised."""
    try:
        return _fast(bundle, member, progress)
    except _NotSimple:
        return _with_warcio(bundle, member, progress)
