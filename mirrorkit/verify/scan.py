"""One pass over each WARC of a bundle for `verify --deep`: the file's SHA-256 (for the manifest
check), each record's stored-bytes SHA-256 (for the index's recordDigest), each record's own
WARC digests, and the facts the index and revisit checks need — all from a single read.

The usual layout (one gzip member per record, as WACZ requires for random access) is parsed here
directly: zlib and hashlib do the work in C, which is what makes `--deep` faster than
`warcio check`. Anything else (a plain WARC, several records in one member, a record that spans
members) goes through warcio instead, reading the member again: correct, only slower.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from mirrorkit.formats.warcdigest import BlockDigests, record_digest_problems
from mirrorkit.formats.zipcheck import BundleZip, FileWindow, Member, Progress, hash_member

CHUNK = 1024 * 1024
_MAX_WARC_HEAD = 1024 * 1024
_MAX_OUT = 4 * 1024 * 1024  # inflate at most this much at a time: a gzip bomb stays bounded
_WINDOW = 64 * 1024
# warcio (the fallback) inflates each block it reads in one call: reads of at most 32 KB bound a
# hostile gzip member to about 33 MB at once (deflate's ratio is at most ~1032:1).
_MAX_RAW_READ = 32 * 1024
_BATCH = 2 * 1024 * 1024  # bytes handed to the digest thread at once (fewer queue operations)


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


class _Lane(threading.Thread):
    """One worker thread fed batches of calls through a bounded queue, run in order. hashlib
    and zlib release the GIL on large buffers, so lanes run beside the inflating thread."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.jobs: queue.Queue[Optional[List[Tuple[Any, ...]]]] = queue.Queue(maxsize=8)
        self.batch: List[Tuple[Any, ...]] = []
        self.size = 0
        self.error: Optional[BaseException] = None

    def add(self, size: int, fn: Any, *args: Any) -> None:
        self.batch.append((fn, args))
        self.size += size
        if self.size >= _BATCH or len(self.batch) >= 512:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            self.jobs.put(self.batch)
            self.batch, self.size = [], 0

    def run(self) -> None:
        while True:
            batch = self.jobs.get()
            if batch is None:
                return
            if self.error is not None:
                continue
            try:
                for fn, args in batch:
                    fn(*args)
            except BaseException as err:  # reported by close(), in the calling thread
                self.error = err

    def close(self) -> None:
        self.flush()
        self.jobs.put(None)
        self.join()


class _Digester:
    """The work beside the inflating thread: the file's SHA-256 and each record's stored-bytes
    SHA-256 on one lane, each record's own WARC digests (two SHA-1s, as most tools write them)
    on another. Measured on two cores, this keeps the three threads about even; with the record
    hashes on the inflating thread, that thread was the whole pass's critical path."""

    def __init__(self, out: ScannedWarc, fname: str) -> None:
        self.out = out
        self.fname = fname
        self.file_h = hashlib.sha256()
        self.file_lane = _Lane("mirrorkit-deep-file-digest")
        self.digest_lane = _Lane("mirrorkit-deep-warc-digests")

    def start(self) -> None:
        self.file_lane.start()
        self.digest_lane.start()

    def raw(self, chunk: bytes) -> None:
        self.file_lane.add(len(chunk), self.file_h.update, chunk)

    def stored(self, record_h: Any, data: Any) -> None:
        # A record's stored bytes are the file's bytes: hashed on the file lane too, which
        # keeps the inflating thread (the slowest of the three) to zlib and parsing.
        self.file_lane.add(len(data), record_h.update, data)

    def stored_end(self, record_h: Any, offset: int) -> None:
        self.file_lane.add(64, self._record_digest, record_h, offset)

    def _record_digest(self, record_h: Any, offset: int) -> None:
        self.out.hashes[offset] = "sha256:" + record_h.hexdigest()

    def block(self, digests: BlockDigests, data: bytes) -> None:
        self.digest_lane.add(len(data), digests.feed, data)

    def end(self, digests: BlockDigests, where: Dict[str, Any]) -> None:
        # Problems are appended on the digest lane only, so they come out in record order.
        self.digest_lane.add(64, self._report, digests, where)

    def problem(self, entry: Dict[str, Any]) -> None:
        self.digest_lane.add(64, self.out.problems.append, entry)

    def _report(self, digests: BlockDigests, where: Dict[str, Any]) -> None:
        for problem in digests.problems():
            self.out.problems.append(dict(where, problem=problem))

    def close(self) -> None:
        """Wait for every queued job; then the file digest is known. Re-raises a failure."""
        self.file_lane.close()
        self.digest_lane.close()
        for lane in (self.file_lane, self.digest_lane):
            if lane.error is not None:
                raise lane.error
        self.out.file_digest = "sha256:" + self.file_h.hexdigest()


class _Parser:
    """Splits the inflated bytes of one gzip member into exactly one WARC record."""

    def __init__(self, work: _Digester) -> None:
        self.work = work
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
            self.work.block(self.digests, block)
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
    """The single pass; raises _NotSimple when the layout needs warcio."""
    fname = member.name.split("/", 1)[1]
    out = ScannedWarc(name=member.name, file_digest="")
    work = _Digester(out, fname)
    work.start()
    try:
        _inflate_all(bundle, member, progress, out, fname, work)
    finally:
        work.close()
    return out


def _inflate_all(bundle: BundleZip, member: Member, progress: Progress, out: ScannedWarc,
                 fname: str, work: _Digester) -> None:
    fh = bundle.fh
    pos, end = member.data_start, member.data_end
    start = consumed = 0  # WARC offsets: of the gzip member being read, and of what is read
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    record_h = hashlib.sha256()
    parser = _Parser(work)
    broken: Optional[str] = None
    while pos < end:
        fh.seek(pos)
        chunk = fh.read(min(CHUNK, end - pos))
        if not chunk:
            break
        pos += len(chunk)
        work.raw(chunk)
        if progress:
            progress(len(chunk))
        if broken:
            continue  # the file digest is still wanted, for the manifest check
        if consumed == 0 and chunk[:2] != b"\x1f\x8b":
            raise _NotSimple
        view = memoryview(chunk)
        base = consumed  # the WARC offset of this chunk's first byte
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
                used = len(data) - len(left)
                consumed += used
                parser.feed(inflated)
                if inflater.eof:
                    # a record's stored bytes go to its hash in one piece per chunk, not per
                    # window: fewer calls between the threads
                    work.stored(record_h, view[max(start, base) - base:consumed - base])
                    _finish(out, fname, start, consumed - start, parser, record_h)
                    start = consumed
                    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
                    record_h, parser = hashlib.sha256(), _Parser(work)
                    if left[:1] not in (b"", b"\x1f"):
                        raise _NotSimple  # trailing bytes that are not another gzip member
                    if not left:
                        break
                elif not left and len(inflated) < _MAX_OUT:
                    break  # this window is used up and zlib holds no more output for it
                data = left  # the next member, the rest of this window, or b"": drain zlib
            if broken:
                break
        if not broken and consumed > max(start, base):
            work.stored(record_h, view[max(start, base) - base:consumed - base])
    if broken or consumed != start:
        why = broken or "the WARC ends inside a record (truncated)"
        work.problem({"file": fname, "offset": start, "url": "", "type": "",
                      "problem": f"the WARC cannot be read from here on ({why[:140]})"})


def _finish(out: ScannedWarc, fname: str, offset: int, length: int, parser: _Parser,
            record_h: Any) -> None:
    if not parser.complete():
        raise _NotSimple  # a record that goes on in the next member
    get = parser.get
    url = get("WARC-Target-URI").strip().strip("<>")
    rec_type = get("WARC-Type")
    assert parser.digests is not None
    parser.work.end(parser.digests, {"file": fname, "offset": offset, "url": url,
                                     "type": rec_type})
    out.records.append(Record(
        offset=offset, length=length, rec_type=rec_type, url=url, date=get("WARC-Date"),
        payload_digest=get("WARC-Payload-Digest"), refers_url=get("WARC-Refers-To-Target-URI"),
        refers_date=get("WARC-Refers-To-Date")))
    parser.work.stored_end(record_h, offset)


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
    digest = hashlib.sha256()
    pos, end = member.data_start + rec.offset, member.data_start + rec.offset + rec.length
    while pos < end:
        bundle.fh.seek(pos)
        data = bundle.fh.read(min(CHUNK, end - pos))
        if not data:
            break
        digest.update(data)
        pos += len(data)
    return "sha256:" + digest.hexdigest()


def scan_warc(bundle: BundleZip, member: Member, progress: Progress = None) -> ScannedWarc:
    """Scan one STORED WARC member; damage is reported in the result, never raised."""
    try:
        return _fast(bundle, member, progress)
    except _NotSimple:
        return _with_warcio(bundle, member, progress)
