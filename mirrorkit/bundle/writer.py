"""Writing signed WACZ 1.1.1 bundles from captures (folders of WARCs, or WARC files).

Two streaming passes per WARC, never the whole file in memory: the first parses records for the
index and the pages; the second copies the WARC into the ZIP (STORED) while hashing the whole
file and each indexed record (`recordDigest`). The bundle is written to a temporary file next to
the target and moved into place only when complete, so a crash never leaves half a bundle.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
import os
import queue
import re
import tempfile
import threading
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from mirrorkit import __version__
from mirrorkit.bundle import damage, pagetext
from mirrorkit.bundle.revisits import unresolved_revisits
from mirrorkit.bundle.sources import SequenceStore, Source, rechunk, resolve_sources
from mirrorkit.errors import MirrorkitError, UsageError, WarcError
from mirrorkit.formats.cdxj import (
    BLOCK_LINES,
    CdxjEntry,
    sort_lines,
    write_cdxj,
    write_compressed_index,
)
from mirrorkit.formats.outpath import check_replaceable_bundle
from mirrorkit.formats.wacz import DATAPACKAGE, DIGEST, PAGES, WACZ_VERSION
from mirrorkit.formats.warcindex import iter_warc_entries
from mirrorkit.trust.store import config_dir

Progress = Callable[[int, int], None]
PLAIN_INDEX_MAX_LINES = 1024
_COLLECTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CHUNK = 1 << 20


class _Counting:
    """File wrapper that reports bytes read, for progress during the parsing pass."""

    def __init__(self, fh: IO[bytes], tick: Callable[[int], None]) -> None:
        self._fh = fh
        self._tick = tick

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self._tick(len(data))
        return data

    def tell(self) -> int:
        return self._fh.tell()


class _Warc:
    """One WARC going into the bundle: where it is, its name in `archive/`, its entries."""

    def __init__(self, path: Path, name: str, source: Source) -> None:
        self.path = path
        self.origin = path  # the user's file, for messages (`path` may become a converted copy)
        self.name = name
        self.source = source
        self.entries: List[CdxjEntry] = []
        self.html: List[Dict[str, Any]] = []
        # Records whose own WARC digests are wrong in the source (see damage.py).
        self.damaged: List[Dict[str, Any]] = []


def create_bundle(captures: Sequence[Union[str, os.PathLike]], out: Union[str, os.PathLike], *,
                  key: Any, title: Optional[str] = None, description: Optional[str] = None,
                  collection: Optional[str] = None, sequence: Optional[int] = None,
                  text: bool = False, record_filter: Optional[Callable[[CdxjEntry], bool]] = None,
                  progress: Optional[Progress] = None, index_format: str = "auto",
                  keep_damaged: bool = False, drop_unresolved_revisits: bool = False,
                  package_extra: Optional[Dict[str, Any]] = None,
                  revisit_elsewhere: Optional[Callable[[CdxjEntry], bool]] = None) -> Path:
    """Write a signed WACZ bundle; raises UsageError, WarcError or MirrorkitError (disk, key).

    Update bundles (bundle/update.py) pass `package_extra` (top-level datapackage fields, signed,
    e.g. `relation`) and `revisit_elsewhere(entry)`: True when a revisit's original is in a base.

    `record_filter(entry)` keeps a record in the bundle when it returns True (the WARCs are then
    rewritten with only the kept records). `index_format` is "auto", "cdxj" or "compressed".
    Every record's own WARC digests are checked: a source with damaged records is refused
    (WarcError listing them) unless `keep_damaged`, which lists them in the signed
    `mirrorkit.damaged` so every reader says they were damaged before bundling. A revisit whose
    original is in none of the captures is refused (UsageError) unless
    `drop_unresolved_revisits`, which leaves it out of the index (counted in
    `mirrorkit.droppedRevisits`; the WARCs stay byte for byte as given).
    """
    out = Path(out)
    if index_format not in ("auto", "cdxj", "compressed"):
        raise UsageError(f"unknown index format {index_format!r}")
    if collection is not None and not _COLLECTION.match(collection):
        raise UsageError(f"bad collection id {collection!r}",
                         hint="Use letters, digits, '.', '_' or '-' (up to 128 characters).")
    if sequence is not None and sequence < 1:
        raise UsageError("--sequence must be 1 or more")
    if not out.parent.is_dir():
        raise UsageError(f"output folder {out.parent} does not exist")
    check_replaceable_bundle(out)  # an older bundle may be replaced; nothing else
    sources = resolve_sources(captures)
    workdir = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp_out = workdir / "bundle.wacz"
    try:
        result = _build(sources, out, tmp_out, workdir, key=key, title=title,
                        description=description, collection=collection, sequence=sequence,
                        text=text, record_filter=record_filter, progress=progress,
                        index_format=index_format, keep_damaged=keep_damaged,
                        drop_revisits=drop_unresolved_revisits, package_extra=package_extra,
                        revisit_elsewhere=revisit_elsewhere)
    except OSError as err:
        where = f" ({err.filename})" if err.filename else ""
        raise MirrorkitError(f"bundling failed: {err.strerror or err}{where}",
                             hint=f"Check free space and permissions; {out} was not changed.") \
            from None
    finally:
        for leftover in sorted(workdir.rglob("*"), reverse=True):
            if leftover.is_dir():
                leftover.rmdir()
            else:
                leftover.unlink()
        workdir.rmdir()
    return result


def _build(sources: List[Source], out: Path, tmp_out: Path, workdir: Path, *, key: Any,
           title: Optional[str], description: Optional[str], collection: Optional[str],
           sequence: Optional[int], text: bool,
           record_filter: Optional[Callable[[CdxjEntry], bool]], progress: Optional[Progress],
           index_format: str, keep_damaged: bool = False, drop_revisits: bool = False,
           package_extra: Optional[Dict[str, Any]] = None,
           revisit_elsewhere: Optional[Callable[[CdxjEntry], bool]] = None) -> Path:
    warcs = _plan(sources)
    size = sum(w.path.stat().st_size for w in warcs)
    done = [0]

    def tick(count: int) -> None:
        # Each byte is read twice (parse, then copy): report half, in terms of the input size.
        done[0] += count
        if progress is not None:
            progress(min(done[0] // 2, size), size)

    with zipfile.ZipFile(tmp_out, "w", allowZip64=True) as zf:
        resources = _index_and_copy(warcs, zf, workdir, text, tick, record_filter)
        damaged = damage.listing(warcs)
        if damaged and not keep_damaged:
            raise damage.refusal(damaged)
        dropped = unresolved_revisits(warcs, drop_revisits, revisit_elsewhere)
        pages = pagetext.build_pages(warcs, text)
        created = _now()
        fingerprint = str(key.fingerprint)
        collection = collection or _default_collection(title, pages, warcs)
        seq_store = SequenceStore(config_dir() / "sequences.json")
        if sequence is None:
            sequence = seq_store.next(fingerprint, collection)
        lines = sort_lines(e for w in warcs for e in w.entries)
        compressed = index_format == "compressed" or (
            index_format == "auto" and len(lines) > PLAIN_INDEX_MAX_LINES)
        if compressed:
            cdx_path, idx_path = workdir / "index.cdx.gz", workdir / "index.idx"
            with open(cdx_path, "wb") as cdx, open(idx_path, "wb") as idx:
                write_compressed_index(lines, cdx, idx, block_lines=BLOCK_LINES)
            resources.append(_add_file(zf, "indexes/index.cdx.gz", cdx_path, stored=True))
            resources.append(_add_file(zf, "indexes/index.idx", idx_path, stored=False))
        else:
            cdxj_path = workdir / "index.cdxj"
            with open(cdxj_path, "wb") as cdxj:
                write_cdxj(lines, cdxj)
            resources.append(_add_file(zf, "indexes/index.cdxj", cdxj_path, stored=False))
        del lines
        resources.append(_add_bytes(zf, PAGES, pagetext.pages_jsonl(pages, title, text)))
        main = pages[0] if pages else None
        package: Dict[str, Any] = {
            "profile": "data-package",
            "wacz_version": WACZ_VERSION,
            "title": title or (main.get("title") if main else None) or "Web archive",
            "description": description or "",
            "created": created,
            "modified": created,
            "software": f"mirrorkit {__version__}",
        }
        if main:
            # The project contract spells it mainPageUrl; py-wacz and the spec use mainPageURL.
            package["mainPageUrl"] = package["mainPageURL"] = main["url"]
            package["mainPageDate"] = main["ts"]
        package["resources"] = resources
        package.update(package_extra or {})
        block: Dict[str, Any] = {"publisher": str(key.name), "fingerprint": fingerprint,
                                 "collection": collection, "sequence": sequence, "format": 1}
        if damaged:  # signed: "damaged before it was bundled", not later
            block["damaged"] = [{k: v for k, v in d.items() if k != "source"} for d in damaged]
        if dropped:
            block["droppedRevisits"] = dropped
        package["mirrorkit"] = block
        package_bytes = json.dumps(package, indent=2, ensure_ascii=False).encode("utf-8")
        signed = key.sign_datapackage(package_bytes, created)
        digest = {"path": DATAPACKAGE,
                  "hash": "sha256:" + hashlib.sha256(package_bytes).hexdigest(),
                  "signedData": signed}
        _add_bytes(zf, DATAPACKAGE, package_bytes)
        _add_bytes(zf, DIGEST, json.dumps(digest, indent=2).encode("utf-8"))
    with open(tmp_out, "rb") as fh:
        os.fsync(fh.fileno())
    check_replaceable_bundle(out)  # again: something may have appeared there meanwhile
    os.replace(tmp_out, out)
    seq_store.record(fingerprint, collection, sequence)
    return out


# -- planning and indexing ---------------------------------------------------------------------


def _index_and_copy(warcs: List[_Warc], zf: zipfile.ZipFile, workdir: Path, text: bool,
                    tick: Callable[[int], None],
                    record_filter: Optional[Callable[[CdxjEntry], bool]]) -> List[Dict[str, Any]]:
    """Index each WARC, and copy the ones already indexed into the ZIP meanwhile.

    The copy (reading, sha256, crc32, writing) runs mostly outside the GIL, so on two cores it
    overlaps with the parsing of the next WARC.
    """
    if record_filter is not None:  # filtered WARCs are rewritten first: no overlap
        for warc in warcs:
            _index_warc(warc, workdir, text, tick)
            _apply_filter(warc, workdir, record_filter)
        return [_add_warc(zf, warc, tick) for warc in warcs]
    todo: queue.Queue[Optional[_Warc]] = queue.Queue()
    resources: List[Dict[str, Any]] = []
    failed: List[BaseException] = []
    cancel = threading.Event()

    def copier() -> None:
        while True:
            warc = todo.get()
            if warc is None:
                return
            try:
                resources.append(_add_warc(zf, warc, tick, cancel))
            except BaseException as err:  # handed to the main thread, raised there
                failed.append(err)
                return

    thread = threading.Thread(target=copier, name="bundle-copy", daemon=True)
    thread.start()
    try:
        for warc in warcs:
            if failed:
                break
            _index_warc(warc, workdir, text, tick)
            todo.put(warc)
    except BaseException:
        cancel.set()
        raise
    finally:
        todo.put(None)
        thread.join()
    if failed:
        raise failed[0]
    return resources


def _plan(sources: List[Source]) -> List[_Warc]:
    warcs: List[_Warc] = []
    taken = set()
    for source in sources:
        for path in source.warcs:
            name = path.name
            if not name.endswith(".warc.gz"):
                name = (name[:-5] if name.endswith(".warc") else name) + ".warc.gz"
            stem, number = name, 2
            while name.lower() in taken:
                name = f"{number}-{stem}"
                number += 1
            taken.add(name.lower())
            warcs.append(_Warc(path, name, source))
    if not warcs:
        raise UsageError("no WARC files to bundle")
    return warcs


def _index_warc(warc: _Warc, workdir: Path, text: bool, tick: Callable[[int], None]) -> None:
    origin = warc.path
    try:
        _index_warc_at(warc, workdir, text, tick)
    except WarcError as err:
        # Messages name the WARC as the bundle will; the user knows it by its own path.
        if err.message.startswith(warc.name + ":"):
            err.message = str(origin) + err.message[len(warc.name):]
            err.args = (err.message,)
        raise


def _index_warc_at(warc: _Warc, workdir: Path, text: bool, tick: Callable[[int], None]) -> None:
    with open(warc.path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    if gzipped:
        try:
            _parse(warc, warc.path, text, tick)
            return
        except WarcError as err:
            if "non-chunked gzip" not in err.message:
                raise
    # Replay seeks records by offset: one gzip member per record is a must, so convert.
    converted = workdir / f"{len(list(workdir.iterdir()))}-{warc.name}"
    rechunk(warc.path, converted, workdir)
    warc.path = converted
    _parse(warc, converted, text, tick)


def _parse(warc: _Warc, path: Path, text: bool, tick: Callable[[int], None]) -> None:
    entries: List[CdxjEntry] = []
    html: List[Dict[str, Any]] = []

    def on_record(record: Any, entry: CdxjEntry) -> None:
        if record.rec_type == "conversion" and entry.url.startswith(pagetext.SNAPSHOT):
            # a browser capture's rendered page: its text includes what scripts built
            if text:
                body, charset = pagetext.read_body(record)
                html.append({"url": entry.url[len(pagetext.SNAPSHOT):], "snapshot": True,
                             "timestamp": entry.timestamp,
                             "text": pagetext.extract_text(body, charset)[1]})
            return
        if not pagetext.is_page_record(record, entry.mime):
            return
        found: Dict[str, Any] = {"url": entry.url, "timestamp": entry.timestamp,
                                 "digest": entry.digest}
        if entry.mime.lower().startswith("image/"):  # a screenshot: listed, not read
            found["title"] = pagetext.resource_title(entry.url)
            html.append(found)
            return
        body, charset = pagetext.read_body(record)
        if text:
            found["title"], found["text"] = pagetext.extract_text(body, charset)
        else:
            found["title"] = pagetext.quick_title(body, charset)
        html.append(found)

    suspects: List[Dict[str, Any]] = []
    try:
        with open(path, "rb") as fh:
            for entry in iter_warc_entries(_Counting(fh, tick), warc.name,  # type: ignore[arg-type]
                                           on_record, suspects.append):
                entries.append(entry)
    except WarcError as err:
        if "non-chunked gzip" in err.message:
            raise
        # warcio's digest checker raises on some malformed digest values (bad base32): read
        # the WARC again without it (this raises if the WARC itself is unreadable), then check
        # every record's digests the way `verify --deep` does.
        entries, html = [], []
        with open(path, "rb") as fh:
            entries = list(iter_warc_entries(fh, warc.name, on_record))
        warc.entries, warc.html = entries, html
        warc.damaged = damage.scan(path, warc.name, entries)
        return
    warc.entries, warc.html = entries, html
    warc.damaged = damage.confirm(path, warc.name, suspects)


def _apply_filter(warc: _Warc, workdir: Path, keep: Callable[[CdxjEntry], bool]) -> None:
    """Rewrite the WARC with its warcinfo records and the kept records only, each re-gzipped at
    the best compression (a filtered WARC is a small edition for paper or QR codes).

    The records' bytes do not change, only their gzip framing; `recordDigest` is computed later
    over the new spans."""
    from warcio.archiveiterator import ArchiveIterator

    kept = {(e.offset, e.length): e for e in warc.entries if keep(e)}
    spans: List[Tuple[int, int]] = []
    with open(warc.path, "rb") as fh:
        it = ArchiveIterator(fh, no_record_parse=True)
        for record in it:
            span = (it.get_record_offset(), it.get_record_length())
            if record.rec_type == "warcinfo" or span in kept:
                spans.append(span)
    target = workdir / f"filtered-{len(list(workdir.iterdir()))}-{warc.name}"
    entries = []
    moved: Dict[int, int] = {}
    with open(warc.path, "rb") as src, open(target, "wb") as dst:
        for offset, length in spans:
            new_offset = dst.tell()
            src.seek(offset)
            member = src.read(length)
            try:
                record = zlib.decompress(member, 16 + zlib.MAX_WBITS)
            except zlib.error as err:
                raise WarcError(f"{warc.name}: a record at {offset} is damaged ({err})") from None
            dst.write(gzip.compress(record, compresslevel=9, mtime=0))
            moved[offset] = new_offset
            entry = kept.get((offset, length))
            if entry is not None:
                entry.fields["offset"] = str(new_offset)
                entry.fields["length"] = str(dst.tell() - new_offset)
                entries.append(entry)
    urls = {e.url for e in entries}
    warc.path, warc.entries = target, entries
    warc.html = [h for h in warc.html if h["url"] in urls]
    warc.damaged = [dict(d, offset=moved[d["offset"]]) for d in warc.damaged
                    if d["offset"] in moved]


def _default_collection(title: Optional[str], pages: List[Dict[str, Any]],
                        warcs: List[_Warc]) -> str:
    from urllib.parse import urlsplit

    if title:
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:64].strip("-")
        if slug:
            return slug
    urls = [p["url"] for p in pages] or [e.url for w in warcs for e in w.entries]
    for url in urls:
        host = (urlsplit(url).hostname or "").lower()
        host = re.sub(r"^www\d*\.", "", host)
        slug = re.sub(r"[^a-z0-9.-]+", "-", host).strip("-.")[:64]
        if slug:
            return slug
    return "bundle"


# -- ZIP members -------------------------------------------------------------------------------


def _zipinfo(name: str, stored: bool, size: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, datetime.datetime.now(datetime.timezone.utc).timetuple()[:6])
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    info.file_size = size
    info.external_attr = 0o644 << 16
    return info


def _resource(name: str, digest: str, size: int) -> Dict[str, Any]:
    resource_name = re.sub(r"[^-a-z0-9._/]", "-", name.rsplit("/", 1)[-1].lower())
    return {"name": resource_name, "path": name, "hash": "sha256:" + digest, "bytes": size}


def _add_warc(zf: zipfile.ZipFile, warc: _Warc, tick: Callable[[int], None],
              cancel: Optional[threading.Event] = None) -> Dict[str, Any]:
    """Copy a WARC in (STORED), hashing the file and each indexed record on the way."""
    size = warc.path.stat().st_size
    spans = sorted(((e.offset, e.length, e) for e in warc.entries), key=lambda s: s[0])
    file_hash = hashlib.sha256()
    name = "archive/" + warc.name
    with open(warc.path, "rb") as src, zf.open(_zipinfo(name, True, size), "w") as dst:
        pos = 0

        def take(count: int, record_hash: Optional[Any]) -> None:
            nonlocal pos
            while count > 0:
                if cancel is not None and cancel.is_set():
                    raise KeyboardInterrupt  # the main thread failed: stop copying
                chunk = src.read(min(count, _CHUNK))
                if not chunk:
                    raise WarcError(f"{warc.path} changed or was cut short while bundling")
                file_hash.update(chunk)
                if record_hash is not None:
                    record_hash.update(chunk)
                dst.write(chunk)
                count -= len(chunk)
                pos += len(chunk)
                tick(len(chunk))

        for offset, length, entry in spans:
            if offset < pos:
                raise WarcError(f"{warc.path}: overlapping records at offset {offset}")
            take(offset - pos, None)
            record_hash = hashlib.sha256()
            take(length, record_hash)
            entry.fields["recordDigest"] = "sha256:" + record_hash.hexdigest()
        take(size - pos, None)
        if src.read(1):
            raise WarcError(f"{warc.path} grew while bundling; bundle a finished capture")
    return _resource(name, file_hash.hexdigest(), size)


def _add_file(zf: zipfile.ZipFile, name: str, path: Path, *, stored: bool) -> Dict[str, Any]:
    size = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as src, zf.open(_zipinfo(name, stored, size), "w") as dst:
        for chunk in iter(lambda: src.read(_CHUNK), b""):
            digest.update(chunk)
            dst.write(chunk)
    return _resource(name, digest.hexdigest(), size)


def _add_bytes(zf: zipfile.ZipFile, name: str, data: bytes) -> Dict[str, Any]:
    zf.writestr(_zipinfo(name, False, len(data)), data)
    return _resource(name, hashlib.sha256(data).hexdigest(), len(data))


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
