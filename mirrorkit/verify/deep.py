"""Deep verification: every WARC record against its index `recordDigest` and its own WARC digests,
every index entry against a real record, every revisit against a record inside the bundle.

The point is to say *which* URLs are damaged on a worn USB copy, not only that something is.
Python 3.9-safe: needs only warcio and the stdlib.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

from mirrorkit.formats import safejson
from mirrorkit.formats.timestamps import digits14
from mirrorkit.formats.zipcheck import BundleZip, Member, Progress, ZipProblem, iter_member
from mirrorkit.verify.parallel import scan_members
from mirrorkit.verify.scan import Record, ScannedWarc

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
                    if p.get("type") not in ("index", "pages")})

    @property
    def bad_index_entries(self) -> int:
        """How many index lines are wrong (not CDXJ, pointing at no record, ...)."""
        return sum(1 for p in self.problems if p.get("type") == "index")


def _index_lines(bundle: BundleZip, member: Member,
                 max_line: int = _MAX_INDEX_LINE) -> Iterator[Tuple[int, bytes]]:
    """(line number, line) of a CDXJ index (or JSONL) member, plain or gzip-compressed."""
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
            if len(line) > max_line:
                raise ZipProblem(f"{member.name} line {number} is longer than {max_line:,} "
                                 "bytes")
            yield number, line
        if len(pending) > max_line:
            raise ZipProblem(f"{member.name} line {number + 1} is longer than {max_line:,} "
                             "bytes")
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
                problem = f"index line {number} is not CDXJ"
                try:
                    entry = safejson.loads(parts[2], f"index line {number}",
                                           max_bytes=_MAX_INDEX_LINE,
                                           error=ZipProblem) if len(parts) == 3 else None
                except ZipProblem as err:
                    entry, problem = None, err.message
                if not isinstance(entry, dict):
                    result.problem(file=name, offset=number, url="", type="index",
                                   problem=problem)
                    continue
                entry["_where"] = (name, number)
                entries.append(entry)
        except ZipProblem as err:
            result.problem(file=name, offset=0, url="", type="index", problem=err.message)
    return entries


def _check_pages(bundle: BundleZip, result: DeepResult) -> None:
    """Every line of every page list is a JSON object within the reader's limits (what the replay
    server and the kit will read): a damaged line is named, not found later by a crash."""
    from mirrorkit.formats.wacz import MAX_PAGE_LINE

    for name, member in sorted(bundle.members.items()):
        if not name.startswith("pages/") or not name.endswith(".jsonl"):
            continue
        try:
            for number, line in _index_lines(bundle, member, MAX_PAGE_LINE):
                if not line.strip():
                    continue
                try:
                    page = safejson.loads(line, f"{name} line {number}", max_bytes=MAX_PAGE_LINE,
                                          error=ZipProblem)
                except ZipProblem as err:
                    result.problem(file=name, offset=number, url="", type="pages",
                                   problem=err.message)
                    continue
                if not isinstance(page, dict):
                    result.problem(file=name, offset=number, url="", type="pages",
                                   problem=f"{name} line {number} is not a JSON object")
        except ZipProblem as err:
            result.problem(file=name, offset=0, url="", type="pages", problem=err.message)


def _check_index(entries: List[Dict[str, Any]], by_file: Dict[str, Dict[int, Record]],
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


def _check_revisits(by_file: Dict[str, Dict[int, Record]], result: DeepResult,
                    indexed: Set[Tuple[str, int]]) -> None:
    """Every revisit the index offers must resolve inside the bundle. A revisit left out of the
    index (`bundle --drop-unresolved-revisits`, or another tool's choice) is never replayed:
    it is only counted."""
    unindexed = 0
    if not any(rec.rec_type == "revisit" for records in by_file.values()
               for rec in records.values()):
        return  # the SURT keys below are the slowest part of the deep pass: skip when unused
    keys: Dict[str, str] = {}
    originals: Set[Tuple[str, str]] = set()
    by_digest: Set[Tuple[str, str]] = set()
    for records in by_file.values():
        for rec in records.values():
            if rec.rec_type in ("response", "resource"):
                key = keys.get(rec.url) or keys.setdefault(rec.url, _key(rec.url))
                originals.add((key, digits14(rec.date)))
                by_digest.add((key, rec.payload_digest))
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


def scan_warcs(bundle: BundleZip, progress: Progress = None,
               jobs: Optional[int] = None) -> Dict[str, ScannedWarc]:
    """Every STORED WARC member of the bundle, scanned once (see `scan`), by member name, on up
    to `jobs` processes (default: every CPU; see `parallel`)."""
    members = [member for name, member in sorted(bundle.members.items())
               if name.startswith("archive/") and member.stored]
    return scan_members(bundle, members, progress, jobs)


def deep_check(bundle: BundleZip, progress: Progress = None,
               scanned: Optional[Dict[str, ScannedWarc]] = None,
               declared: Optional[Set[Tuple[str, int]]] = None) -> DeepResult:
    """Check every record, index entry and revisit in the bundle; never raises for damage
    (it is reported in the result), raises ZipProblem only for structural trouble.

    `scanned` is `scan_warcs(bundle)` when the caller already has it (verify does). `declared`
    holds (file, offset) of the records the signed datapackage lists as damaged before
    bundling: their digest problems go to `result.known`, not `result.problems`.
    """
    result = DeepResult()
    if scanned is None:
        scanned = scan_warcs(bundle, progress)
    by_file: Dict[str, Dict[int, Record]] = {}
    hashes: Dict[str, Dict[int, str]] = {}
    for name, member in sorted(bundle.members.items()):
        if name.startswith("archive/") and not member.stored:
            result.problem(file=name, offset=0, url="", type="",
                           problem="WARC is compressed inside the ZIP (must be STORED)")
    for name, warc in sorted(scanned.items()):
        fname = name.split("/", 1)[1]
        for problem in warc.problems:
            result.problem(**problem)
        result.records += len(warc.records)
        by_file[fname] = {r.offset: r for r in warc.records}
        hashes[fname] = warc.hashes
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
    _check_pages(bundle, result)
    if declared:
        known = [p for p in result.problems if p.get("type") != "index"
                 and (p.get("file"), p.get("offset")) in declared
                 and "Digest does not match" in str(p.get("problem"))]
        result.known = known
        result.problems = [p for p in result.problems if not any(p is k for k in known)]
    return result
