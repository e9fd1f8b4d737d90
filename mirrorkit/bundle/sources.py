"""What goes into a bundle: captures resolved to WARC files and page lists, WARC re-chunking,
and the config dir where the bundle side keeps its sequence numbers."""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Union

from mirrorkit.bundle.pagetext import quick_title, read_body
from mirrorkit.errors import UsageError, WarcError
from mirrorkit.formats import safejson
from mirrorkit.formats.warc import iter_records, target_uri, warc_files
from mirrorkit.trust.store import read_json_store, write_json_store

_CHUNK = 1 << 20


class Source:
    """One capture given on the command line: its WARC files and its own page list, if any."""

    def __init__(self, path: Path, warcs: List[Path],
                 pages: Optional[List[Dict[str, Any]]]) -> None:
        self.path = path
        self.warcs = warcs
        self.pages = pages


def resolve_sources(captures: Sequence[Union[str, os.PathLike]]) -> List[Source]:
    """Each capture as a Source; raises UsageError for a missing path or one without WARCs."""
    if not captures:
        raise UsageError("give at least one capture (a folder of WARCs or a WARC file)")
    sources = []
    seen: Set[Path] = set()
    for capture in captures:
        path = Path(capture)
        if not path.exists():
            raise UsageError(f"no such capture: {path}")
        warcs = _warc_files(path)
        fresh = [w for w in warcs if w.resolve() not in seen]
        seen.update(w.resolve() for w in warcs)
        if fresh:
            sources.append(Source(path, fresh, _read_pages(path)))
    return sources


def _warc_files(path: Path) -> List[Path]:
    return [Path(p) for p in warc_files(path)]


def _read_pages(path: Path) -> Optional[List[Dict[str, Any]]]:
    """The capture's own page list (its pages.jsonl), or None: then pages are detected."""
    if not (path.is_dir() and (path / "pages.jsonl").is_file()):
        return None
    return [dict(page) for page in read_pages(path)]


def rechunk(src: Path, dst: Path, workdir: Path) -> None:
    """Rewrite a WARC (plain, or gzipped as a whole) with one gzip member per record.

    Raises WarcError when the file is not a WARC.
    """
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    with open(src, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    plain = src
    if gzipped:
        plain = workdir / (dst.name + ".plain")
        try:
            with gzip.open(src, "rb") as zin, open(plain, "wb") as zout:
                for chunk in iter(lambda: zin.read(_CHUNK), b""):
                    zout.write(chunk)
        except (OSError, EOFError, zlib.error) as err:
            raise WarcError(f"{src}: damaged gzip ({err})") from None
    try:
        with open(plain, "rb") as scan, open(plain, "rb") as raw, open(dst, "wb") as out:
            it = ArchiveIterator(scan, no_record_parse=True)
            for _record in it:
                offset, length = it.get_record_offset(), it.get_record_length()
                raw.seek(offset)
                comp = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
                left = length
                while left > 0:
                    chunk = raw.read(min(left, _CHUNK))
                    if not chunk:
                        raise WarcError(f"{src}: ends inside a record")
                    out.write(comp.compress(chunk))
                    left -= len(chunk)
                # Uncompressed record lengths exclude the two CRLFs that end every record.
                out.write(comp.compress(b"\r\n\r\n") + comp.flush())
    except ArchiveLoadFailed as err:
        raise WarcError(f"{src}: not a readable WARC ({str(err).strip().splitlines()[0]})") \
            from None
    finally:
        if plain != src:
            plain.unlink()


class SequenceStore:
    """The last sequence number used per (key fingerprint, collection), in the config dir."""

    FORMAT = "mirrorkit-sequences-1"

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> Dict[str, Any]:
        return read_json_store(self.path, self.FORMAT, "sequence-number store")

    def next(self, fingerprint: str, collection: str) -> int:
        """The sequence number for the next bundle of this collection; raises TrustStoreError."""
        keys = self._load().get("keys", {})
        last = keys.get(fingerprint.replace(" ", ""), {}).get(collection, 0)
        return int(last) + 1 if isinstance(last, int) else 1

    def record(self, fingerprint: str, collection: str, sequence: int) -> None:
        """Remember `sequence` as used (never lowering what is stored); atomic write."""
        data = self._load()
        mine = data.setdefault("keys", {}).setdefault(fingerprint.replace(" ", ""), {})
        mine[collection] = max(int(mine.get(collection, 0) or 0), sequence)
        write_json_store(self.path, data, "sequence-number store")


def read_pages(path: Path | str) -> List[Dict[str, Any]]:
    """The capture's pages (url, ts, status, title).

    From its pages.jsonl when it has one, else from the HTML responses in its WARCs (other tools).
    Raises UsageError, WarcError.
    """
    path = Path(path)
    jsonl = path / "pages.jsonl" if path.is_dir() else None
    if jsonl is not None and jsonl.is_file():
        pages = []
        for n, line in enumerate(jsonl.read_text("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            entry = safejson.loads(line, f"{jsonl} line {n}", error=WarcError)
            if isinstance(entry, dict) and "url" in entry:
                pages.append(entry)
        return pages
    pages = []
    seen = set()
    for rec in iter_records(path):
        if rec.rec_type != "response" or not rec.http_headers:
            continue
        ctype = (rec.http_headers.get_header("Content-Type") or "").lower()
        status = str(rec.http_headers.get_statuscode() or "")
        if "html" not in ctype or not status.startswith("2") or not status.isdigit():
            continue
        url = target_uri(rec)
        if url in seen:
            continue
        seen.add(url)
        # The page's own charset (HTTP header, BOM, <meta>), as bundling reads it.
        body, charset = read_body(rec, limit=262144)
        title = quick_title(body, charset) or ""
        pages.append({"url": url, "ts": rec.rec_headers.get_header("WARC-Date"),
                      "status": int(status), "title": title})
    return pages
