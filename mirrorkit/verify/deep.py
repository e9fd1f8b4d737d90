"""Deep verification: every WARC record against its index `recordDigest` and its own WARC digests,
every index entry against a real record, every revisit against a record inside the bundle.

The point is to say *which* URLs are damaged on a worn USB copy, not only that something is.
Python 3.9-safe: needs only warcio and the stdlib.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zlib
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

from mirrorkit.formats import safejson
from mirrorkit.formats.zipcheck import BundleZip, Member, Progress, ZipProblem, iter_member

_MAX_HTTP_HEAD = 1024 * 1024
_MAX_DECHUNK = 64 * 1024 * 1024
_MAX_INDEX_LINE = 1024 * 1024
_MAX_PROBLEMS = 1000
# warcio inflates each block it reads in one call: a block of 256 KB of a hostile gzip member can
# become 256 MB at once (and briefly twice that). Reads of at most 32 KB bound that to about
# 33 MB (deflate's ratio is at most ~1032:1); real records inflate a few times at most.
_MAX_RAW_READ = 32 * 1024
_HTTP_TYPES = ("response", "request", "revisit")


@dataclass
class DeepResult:
    """What the deep pass found: counts, and one entry per damaged record or index line."""

    records: int = 0
    index_entries: int = 0
    revisits: int = 0
    problems: List[Dict[str, Any]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def problem(self, **entry: Any) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(entry)


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
        want = min(len(buf), self._end - self._pos, _MAX_RAW_READ)
        if want <= 0:
            return 0
        self._fh.seek(self._pos)
        data = self._fh.read(want)
        buf[: len(data)] = data
        self._pos += len(data)
        if self._progress:
            self._progress(len(data))
        return len(data)


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


def _check_record_digests(record: Any, result: DeepResult, where: Dict[str, Any]) -> None:
    """Stream a record's block through its block and payload digests; record mismatches."""
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
        result.problem(problem="WARC-Block-Digest does not match the record", **where)
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
            result.problem(problem="WARC-Payload-Digest does not match the payload", **where)


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
            before = len(result.problems)
            _check_record_digests(record, result, where)
            it.read_to_end(record)
            # warcio knows a record's offset only once it has been read to its end.
            offset = it.get_record_offset()
            for problem in result.problems[before:]:
                problem["offset"] = offset
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


def _ts14(date: str) -> str:
    """A WARC date reduced to its 14 digits, so 1.0/1.1 precisions compare equal."""
    return "".join(c for c in date if c.isdigit())[:14]


def _key(url: str) -> str:
    """The SURT key pywb and ReplayWeb.page resolve revisits by (so http/https, www. match)."""
    from mirrorkit.formats.surt import surt_key

    try:
        return surt_key(url)
    except Exception:  # a malformed URL in a damaged record: compare it as it is
        return url


def _check_revisits(by_file: Dict[str, Dict[int, _Record]], result: DeepResult) -> None:
    originals: Set[Tuple[str, str]] = set()
    by_digest: Set[Tuple[str, str]] = set()
    for records in by_file.values():
        for rec in records.values():
            if rec.rec_type in ("response", "resource"):
                originals.add((_key(rec.url), _ts14(rec.date)))
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
            ok = ((target_date and (key, _ts14(target_date)) in originals)
                  or (key, rec.payload_digest) in by_digest)
            if not ok:
                result.problem(file=fname, offset=rec.offset, url=rec.url, type="revisit",
                               problem="revisit points at a record outside the bundle "
                                       f"({target_url[:80]} {target_date})")


def deep_check(bundle: BundleZip, progress: Progress = None) -> DeepResult:
    """Check every record, index entry and revisit in the bundle; never raises for damage
    (it is reported in the result), raises ZipProblem only for structural trouble."""
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
    _check_index(entries, by_file, hashes, result)
    _check_revisits(by_file, result)
    _check_pages(bundle, result)
    return result
