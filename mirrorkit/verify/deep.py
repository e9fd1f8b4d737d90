"""Deep verification: every WARC record against its index `recordDigest` and its own WARC digests,
every index entry against a real record, every revisit against a record inside the bundle.

The point is to say *which* URLs are damaged on a worn USB copy, not only that something is.
Python 3.9-safe: needs only warcio and the stdlib.
"""

from __future__ import annotations

import hashlib
import io
import json
import zlib
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

from mirrorkit.formats.timestamps import digits14
from mirrorkit.formats.warcdigest import record_digest_problems
from mirrorkit.formats.zipcheck import BundleZip, Member, Progress, ZipProblem, iter_member

_MAX_INDEX_LINE = 1024 * 1024
_MAX_PROBLEMS = 1000


@dataclass
class DeepResult:
    """What the deep pass found: counts, and one entry per damaged record or index line."""

    records: int = 0
    index_entries: int = 0
    revisits: int = 0
    problems: List[Dict[str, Any]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    # Problems of records the signed datapackage declares damaged before bundling.
    known: List[Dict[str, Any]] = field(default_factory=list)

    def problem(self, **entry: Any) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(entry)

    @property
    def damaged_records(self) -> int:
        """How many distinct WARC records have a problem (a record can have several)."""
        return len({(p.get("file"), p.get("offset")) for p in self.problems
                    if p.get("type") != "index"})

    @property
    def bad_index_entries(self) -> int:
        """How many index lines are wrong (not CDXJ, pointing at no record, ...)."""
        return sum(1 for p in self.problems if p.get("type") == "index")


@dataclass
class _Record:
    offset: int
    length: int
    rec_type: str
    url: str
    date: str
    payload_digest: str
    refers_url: str = ""
    refers_date: str = ""


class _Slice(io.RawIOBase):
    """A read-only, seekable window [start, end) of the bundle file (a STORED member)."""

    def __init__(self, fh: Any, start: int, end: int, progress: Progress = None) -> None:
        self._fh, self._start, self._end, self._pos = fh, start, end, start
        self._progress = progress

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos - self._start

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: self._start, 1: self._pos, 2: self._end}[whence]
        self._pos = min(max(self._start, base + offset), self._end)
        return self.tell()

    def readinto(self, buf: Any) -> int:
        want = min(len(buf), self._end - self._pos)
        if want <= 0:
            return 0
        self._fh.seek(self._pos)
        data = self._fh.read(want)
        buf[: len(data)] = data
        self._pos += len(data)
        if self._progress:
            self._progress(len(data))
        return len(data)


def _scan_warc(bundle: BundleZip, member: Member, result: DeepResult,
               progress: Progress) -> List[_Record]:
    """Parse one STORED WARC member record by record, checking each record's own digests."""
    from warcio.archiveiterator import ArchiveIterator

    fname = member.name.split("/", 1)[1]
    records: List[_Record] = []
    # Unbuffered on purpose: warcio buffers itself (and misreads through io.BufferedReader).
    raw = _Slice(bundle.fh, member.data_start, member.data_end, progress)
    offset = 0
    try:
        it = ArchiveIterator(raw, no_record_parse=True, block_size=256 * 1024)
        for record in it:
            headers = record.rec_headers
            url = (headers.get_header("WARC-Target-URI") or "").strip().strip("<>")
            where = {"file": fname, "offset": offset, "url": url, "type": record.rec_type}
            problems = record_digest_problems(record)
            it.read_to_end(record)
            # warcio knows a record's offset only once it has been read to its end.
            offset = it.get_record_offset()
            where["offset"] = offset
            for problem in problems:
                result.problem(problem=problem, **where)
            records.append(_Record(
                offset=offset, length=it.get_record_length(), rec_type=record.rec_type or "",
                url=url, date=(headers.get_header("WARC-Date") or "").strip(),
                payload_digest=(headers.get_header("WARC-Payload-Digest") or "").strip(),
                refers_url=(headers.get_header("WARC-Refers-To-Target-URI") or "").strip(),
                refers_date=(headers.get_header("WARC-Refers-To-Date") or "").strip()))
            result.records += 1
    except Exception as err:  # warcio raises ArchiveLoadFailed, zlib.error, ValueError, ...
        result.problem(file=fname, offset=offset, url="", type="",
                       problem=f"the WARC cannot be read from here on ({type(err).__name__}: "
                               f"{str(err)[:120]})")
    return records


def _record_hashes(bundle: BundleZip, member: Member, records: List[_Record]) -> Dict[int, str]:
    """sha256 of each record's stored bytes (its gzip member), keyed by offset."""
    out = {}
    fh = bundle.fh
    for rec in records:
        if rec.length <= 0 or member.data_start + rec.offset + rec.length > member.data_end:
            continue
        digest = hashlib.sha256()
        pos, end = member.data_start + rec.offset, member.data_start + rec.offset + rec.length
        while pos < end:
            fh.seek(pos)
            data = fh.read(min(4 * 1024 * 1024, end - pos))
            if not data:
                break
            digest.update(data)
            pos += len(data)
        out[rec.offset] = "sha256:" + digest.hexdigest()
    return out


def _index_lines(bundle: BundleZip, member: Member) -> Iterator[Tuple[int, bytes]]:
    """(line number, line) of a CDXJ index member, plain or gzip-compressed."""
    data = iter_member(bundle, member)
    if member.name.endswith(".gz"):
        data = _gunzip_chunks(data, member.name)
    pending = b""
    number = 0
    for chunk in data:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            number += 1
            yield number, line
        if len(pending) > _MAX_INDEX_LINE:
            raise ZipProblem(f"{member.name} has a line longer than {_MAX_INDEX_LINE} bytes")
    if pending:
        yield number + 1, pending


def _gunzip_chunks(chunks: Iterator[bytes], name: str) -> Iterator[bytes]:
    """Inflate concatenated gzip members chunk by chunk; raises ZipProblem when damaged."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        for chunk in chunks:
            while chunk:
                yield inflater.decompress(chunk, 4 * 1024 * 1024)
                chunk = inflater.unconsumed_tail or b""
                if inflater.eof:
                    chunk = inflater.unused_data + chunk
                    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        if not inflater.eof and inflater.flush():
            raise ZipProblem(f"{name} is truncated")
    except zlib.error as err:
        raise ZipProblem(f"{name} is damaged ({err})") from None


def _index_entries(bundle: BundleZip, result: DeepResult) -> List[Dict[str, Any]]:
    entries = []
    for name, member in sorted(bundle.members.items()):
        if not name.startswith("indexes/") or not name.endswith((".cdx", ".cdxj", ".cdx.gz")):
            continue
        try:
            for number, line in _index_lines(bundle, member):
                line = line.strip()
                if not line or line.startswith(b"!"):
                    continue
                parts = line.split(b" ", 2)
                try:
                    entry = json.loads(parts[2]) if len(parts) == 3 else None
                except ValueError:
                    entry = None
                if not isinstance(entry, dict):
                    result.problem(file=name, offset=number, url="", type="index",
                                   problem=f"index line {number} is not CDXJ")
                    continue
                entry["_where"] = (name, number)
                entries.append(entry)
        except ZipProblem as err:
            result.problem(file=name, offset=0, url="", type="index", problem=err.message)
    return entries


def _check_index(entries: List[Dict[str, Any]], by_file: Dict[str, Dict[int, _Record]],
                 hashes: Dict[str, Dict[int, str]], result: DeepResult) -> None:
    missing_digest = 0
    for entry in entries:
        index_name, number = entry.pop("_where")
        url = str(entry.get("url", ""))
        where = {"file": index_name, "offset": number, "url": url, "type": "index"}
        fname = entry.get("filename")
        try:
            offset, length = int(entry["offset"]), int(entry["length"])
        except (KeyError, TypeError, ValueError):
            result.problem(problem="index entry has no valid offset/length", **where)
            continue
        if not isinstance(fname, str) or fname not in by_file:
            result.problem(problem=f"index entry points at a WARC not in the bundle "
                                   f"({str(fname)[:80]})", **where)
            continue
        record = by_file[fname].get(offset)
        if record is None:
            result.problem(problem=f"index entry points at no record ({fname} @ {offset})",
                           **where)
            continue
        if record.length != length:
            result.problem(problem=f"index length {length} differs from the record's "
                                   f"{record.length}", **where)
        if url and record.url and url != record.url:
            result.problem(problem=f"index entry names another URL than its record "
                                   f"({record.url[:80]})", **where)
        claimed = entry.get("recordDigest")
        if claimed is None:
            missing_digest += 1
        elif claimed != hashes[fname].get(offset):
            result.problem(file=fname, offset=offset, url=record.url, type=record.rec_type,
                           problem="record does not match its index recordDigest")
    if missing_digest:
        result.notes.append(f"{missing_digest} index entries carry no recordDigest; those "
                            "records were checked against their own WARC digests only")


def _key(url: str) -> str:
    """The SURT key pywb and ReplayWeb.page resolve revisits by (so http/https, www. match)."""
    from mirrorkit.formats.surt import surt_key

    try:
        return surt_key(url)
    except Exception:  # a malformed URL in a damaged record: compare it as it is
        return url


def _check_revisits(by_file: Dict[str, Dict[int, _Record]], result: DeepResult,
                    indexed: Set[Tuple[str, int]]) -> None:
    """Every revisit the index offers must resolve inside the bundle. A revisit left out of the
    index (`bundle --drop-unresolved-revisits`, or another tool's choice) is never replayed:
    it is only counted."""
    unindexed = 0
    originals: Set[Tuple[str, str]] = set()
    by_digest: Set[Tuple[str, str]] = set()
    for records in by_file.values():
        for rec in records.values():
            if rec.rec_type in ("response", "resource"):
                originals.add((_key(rec.url), digits14(rec.date)))
                by_digest.add((_key(rec.url), rec.payload_digest))
    for fname, records in by_file.items():
        for rec in records.values():
            if rec.rec_type != "revisit":
                continue
            result.revisits += 1
            target_url, target_date = (rec.refers_url or rec.url).strip("<>"), rec.refers_date
            key = _key(target_url)
            # The rule bundle and replay (index.find_original) apply: same URL, and the
            # refers-to date or else the same payload.
            ok = ((target_date and (key, digits14(target_date)) in originals)
                  or (key, rec.payload_digest) in by_digest)
            if not ok and indexed and (fname, rec.offset) not in indexed:
                unindexed += 1
            elif not ok:
                result.problem(file=fname, offset=rec.offset, url=rec.url, type="revisit",
                               problem="revisit points at a record outside the bundle "
                                       f"({target_url[:80]} {target_date})")
    if unindexed:
        result.notes.append(f"{unindexed} revisit record(s) whose original is not in the bundle "
                            "are left out of its index (they do not replay)")


def deep_check(bundle: BundleZip, progress: Progress = None,
               declared: Optional[Set[Tuple[str, int]]] = None) -> DeepResult:
    """Check every record, index entry and revisit in the bundle; never raises for damage
    (it is reported in the result), raises ZipProblem only for structural trouble.

    `declared` holds (file, offset) of the records the signed datapackage lists as damaged
    before bundling: their digest problems go to `result.known`, not `result.problems`.
    """
    result = DeepResult()
    by_file: Dict[str, Dict[int, _Record]] = {}
    hashes: Dict[str, Dict[int, str]] = {}
    for name, member in sorted(bundle.members.items()):
        if not name.startswith("archive/"):
            continue
        if not member.stored:
            result.problem(file=name, offset=0, url="", type="",
                           problem="WARC is compressed inside the ZIP (must be STORED)")
            continue
        records = _scan_warc(bundle, member, result, progress)
        fname = name.split("/", 1)[1]
        by_file[fname] = {r.offset: r for r in records}
        hashes[fname] = _record_hashes(bundle, member, records)
    entries = _index_entries(bundle, result)
    result.index_entries = len(entries)
    indexed = set()
    for entry in entries:
        try:
            indexed.add((str(entry.get("filename")), int(entry.get("offset", ""))))
        except (TypeError, ValueError):
            continue
    _check_index(entries, by_file, hashes, result)
    _check_revisits(by_file, result, indexed)
    if declared:
        known = [p for p in result.problems if p.get("type") != "index"
                 and (p.get("file"), p.get("offset")) in declared
                 and "Digest does not match" in str(p.get("problem"))]
        result.known = known
        result.problems = [p for p in result.problems if not any(p is k for k in known)]
    return result
