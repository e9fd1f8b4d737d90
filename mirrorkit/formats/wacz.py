"""WACZ 1.1.1 bundles: `WaczReader` reads one straight from the ZIP, `create_bundle` writes one.

The reader never extracts: STORED members (WARCs, `index.cdx.gz`) are read in place at their
offset, which is what lets the replay server and the verifier start fast on a large bundle. It
refuses ZIPs that could trick a reader (absolute or `..` names, duplicates, overlapping or
out-of-bounds members, compressed WARCs) and bounds every read. Python 3.9-safe: the reading side
needs only the standard library and warcio, and travels in the USB kit.
"""

from __future__ import annotations

import io
import os
import struct
import threading
import zipfile
import zlib
from pathlib import Path
from typing import (
    IO,
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Tuple,
    Union,
)

from mirrorkit.errors import InvalidBundle, UsageError
from mirrorkit.formats import safejson
from mirrorkit.formats.cdxj import CdxjEntry, IndexReader, find_original
from mirrorkit.formats.zipcheck import check_members

WARC_NOT_WACZ = ("this is a WARC file, not a WACZ bundle: bundle it first "
                 "(mirrorkit bundle FILE.warc.gz --key KEY -o FILE.wacz)")


def looks_like_warc(head: bytes) -> bool:
    """Whether the first bytes of a file hold a WARC record's header (plain or gzipped), read
    by warcio. Never raises."""
    start = head
    if head[:2] == b"\x1f\x8b":
        try:
            start = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 64)
        except zlib.error:
            return False
    if start.lstrip(b"\r\n")[:5] != b"WARC/":
        return False
    try:
        from warcio.archiveiterator import ArchiveIterator

        record = next(iter(ArchiveIterator(io.BytesIO(head), no_record_parse=True)))
        return bool(record.rec_headers.get_header("WARC-Type"))
    except Exception:  # truncated or not a WARC after all: then it is just "not a ZIP"
        return False

__all__ = ["WACZ_VERSION", "WaczReader", "bundle_summary"]

WACZ_VERSION = "1.1.1"
DATAPACKAGE = "datapackage.json"
DIGEST = "datapackage-digest.json"
PAGES = "pages/pages.jsonl"
MAX_JSON_BYTES = 16 * 1024 * 1024
# A page line carries the page's full text for search (`--text`, from at most 8 MB of HTML);
# anything longer is not a page line but an attempt on the reader's memory.
MAX_PAGE_LINE = 32 * 1024 * 1024
MAX_MEMORY_INDEX = 64 * 1024 * 1024


def _must_be_stored(name: str) -> bool:
    return (name.startswith("archive/") and not name.endswith("/")) or name.endswith(".cdx.gz")


class _Window(io.RawIOBase):
    """A read-only, seekable view of `size` bytes at `start` of the bundle (a STORED member)."""

    def __init__(self, read_at: Callable[[int, int], bytes], start: int, size: int) -> None:
        super().__init__()
        self._read_at = read_at
        self._start = start
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def read(self, size: Optional[int] = -1) -> bytes:
        left = self._size - self._pos
        if left <= 0:
            return b""
        count = left if size is None or size < 0 else min(size, left)
        data = self._read_at(self._start + self._pos, count)
        if len(data) != count:
            raise InvalidBundle("the bundle ends before one of its members does (truncated?)")
        self._pos += count
        return data

    def readall(self) -> bytes:
        return self.read(-1)


class WaczReader:
    """Reads a WACZ bundle in place: manifest, signature file, pages, index and WARC records."""

    def __init__(self, source: Union[str, os.PathLike, IO[bytes]]) -> None:
        """Open and sanity-check a bundle; raises InvalidBundle (or UsageError if missing)."""

        self._own = False
        if isinstance(source, (str, os.PathLike)):
            self.path: Optional[Path] = Path(source)
            try:
                self._fh: IO[bytes] = open(source, "rb")  # noqa: SIM115 (closed in close())
            except FileNotFoundError:
                raise UsageError(f"no such bundle: {source}") from None
            except OSError as err:
                raise UsageError(f"cannot open {source}: {err.strerror}") from None
            self._own = True
        else:
            self.path = None
            self._fh = source
        self._lock = threading.Lock()
        try:
            self._fileno: Optional[int] = self._fh.fileno() if hasattr(os, "pread") else None
        except (OSError, AttributeError, io.UnsupportedOperation):
            self._fileno = None
        try:
            self._fh.seek(0, io.SEEK_END)
            self.size = self._fh.tell()
            self._zip = zipfile.ZipFile(self._fh)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
                struct.error, NotImplementedError) as err:
            self._fh.seek(0)
            head = self._fh.read(64 * 1024)
            self.close()
            if looks_like_warc(head):
                raise InvalidBundle(WARC_NOT_WACZ) from None
            raise InvalidBundle(f"not a readable ZIP/WACZ file ({err})") from None
        self._spans: Dict[str, Tuple[int, int]] = {}
        self._infos: Dict[str, zipfile.ZipInfo] = {}
        try:
            self._check_members()
        except InvalidBundle:
            self.close()
            raise
        self._datapackage_bytes: Optional[bytes] = None
        self._index: Optional[IndexReader] = None

    # -- ZIP sanity ----------------------------------------------------------------------------

    def _check_members(self) -> None:
        # The same structural check `verify` runs (names, methods, sizes, local headers,
        # overlaps, ZIP-bomb ratios), plus the WACZ rule that WARCs and indexes are STORED.
        members, _directories = check_members(self._zip, self._fh)
        for name, member in members.items():
            if _must_be_stored(name) and not member.stored:
                raise InvalidBundle(f"{name!r} is compressed in the ZIP; WACZ requires STORED")
            self._infos[name] = member.info
            self._spans[name] = (member.data_start, member.info.file_size)

    def _read_at(self, offset: int, count: int) -> bytes:
        if self._fileno is not None:
            chunks = []
            while count > 0:
                chunk = os.pread(self._fileno, min(count, 1 << 24), offset)
                if not chunk:
                    break
                chunks.append(chunk)
                offset += len(chunk)
                count -= len(chunk)
            return b"".join(chunks)
        with self._lock:
            self._fh.seek(offset)
            return self._fh.read(count)

    # -- members -------------------------------------------------------------------------------

    @property
    def names(self) -> List[str]:
        """Member names, in ZIP order."""
        return list(self._infos)

    def info(self, name: str) -> zipfile.ZipInfo:
        """The ZipInfo of member `name`; raises InvalidBundle when there is none."""
        try:
            return self._infos[name]
        except KeyError:
            raise InvalidBundle(f"the bundle has no {name!r}") from None

    def member_span(self, name: str) -> Tuple[int, int]:
        """(offset in the bundle, size) of a member's data; for STORED members, the raw bytes."""
        self.info(name)
        return self._spans[name]

    def open_member(self, name: str) -> IO[bytes]:
        """A seekable reader of a member (in place when STORED); raises InvalidBundle."""
        info = self.info(name)
        if info.compress_type == zipfile.ZIP_STORED:
            start, size = self._spans[name]
            return io.BufferedReader(_Window(self._read_at, start, size), 1 << 16)
        with self._lock:
            try:
                return self._zip.open(info)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
                raise InvalidBundle(f"cannot read {name!r}: {err}") from None

    def read_member(self, name: str, limit: int = MAX_JSON_BYTES) -> bytes:
        """A whole (small) member's bytes; raises InvalidBundle if larger than `limit`."""
        info = self.info(name)
        if info.file_size > limit:
            raise InvalidBundle(f"{name!r} is implausibly large ({info.file_size} bytes)")
        try:
            with self.open_member(name) as fh:
                data = fh.read(limit + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as err:
            raise InvalidBundle(f"{name!r} is damaged: {err}") from None
        if len(data) != info.file_size:
            raise InvalidBundle(f"{name!r} does not have its declared size")
        return data

    # -- manifest ------------------------------------------------------------------------------

    @property
    def datapackage_bytes(self) -> bytes:
        """The exact stored bytes of `datapackage.json` (what the signature covers)."""
        if self._datapackage_bytes is None:
            self._datapackage_bytes = self.read_member(DATAPACKAGE)
        return self._datapackage_bytes

    @property
    def datapackage(self) -> Dict[str, Any]:
        """`datapackage.json`, parsed; raises InvalidBundle when it is not a JSON object, or
        when the file is a multi-WACZ package (refused by name: see `multi_wacz_message`)."""
        package = _json_object(self.datapackage_bytes, DATAPACKAGE)
        parts = multi_wacz_parts(package, self.names)
        if parts is not None:
            raise InvalidBundle(multi_wacz_message(parts))
        return package

    @property
    def digest_bytes(self) -> Optional[bytes]:
        """The bytes of `datapackage-digest.json`, or None when the bundle has none."""
        return self.read_member(DIGEST, 1024 * 1024) if DIGEST in self._infos else None

    @property
    def digest(self) -> Optional[Dict[str, Any]]:
        """`datapackage-digest.json`, parsed, or None; raises InvalidBundle if malformed."""
        data = self.digest_bytes
        return None if data is None else _json_object(data, DIGEST)

    def pages(self, name: str = PAGES) -> Iterator[Dict[str, Any]]:
        """Page entries of a pages file (its header line skipped); raises InvalidBundle."""
        if name not in self._infos:
            return
        try:
            with self.open_member(name) as fh:
                yield from _page_lines(fh, name)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as err:
            raise InvalidBundle(f"{name} is damaged: {err}") from None

    # -- index and records ---------------------------------------------------------------------

    @property
    def index(self) -> IndexReader:
        """The bundle's CDXJ index, read in place; raises InvalidBundle when there is none."""
        if self._index is None:
            try:
                self._index = self._open_index()
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as err:
                raise InvalidBundle(f"the bundle's index is damaged: {err}") from None
        return self._index

    def _open_index(self) -> IndexReader:
        names = sorted(n for n in self._infos if n.startswith("indexes/"))
        for name in names:
            if name.endswith(".idx"):
                cdx_name = self._idx_target(name)
                return IndexReader.from_compressed(self.open_member(name),
                                                   self.open_member(cdx_name))
        for name in names:
            if name.endswith((".cdxj", ".cdx")):
                info = self._infos[name]
                if info.compress_type == zipfile.ZIP_STORED:
                    return IndexReader.from_cdxj(self.open_member(name))
                return IndexReader.from_cdxj(io.BytesIO(self.read_member(name,
                                                                         MAX_MEMORY_INDEX)))
        raise InvalidBundle("the bundle has no index (indexes/index.idx or index.cdxj)")

    def _idx_target(self, idx_name: str) -> str:
        with self.open_member(idx_name) as fh:
            first = fh.readline(64 * 1024).decode("utf-8", "replace")
        target = "index.cdx.gz"
        if first.startswith("!meta"):
            parts = first.split(" ", 2)
            meta = safejson.loads(parts[2], f"{idx_name}'s !meta line") if len(parts) == 3 \
                else None
            if not isinstance(meta, dict):
                raise InvalidBundle(f"{idx_name} has a bad !meta line")
            target = str(meta.get("filename") or target)
        name = idx_name.rsplit("/", 1)[0] + "/" + target
        if name not in self._infos:
            raise InvalidBundle(f"{idx_name} names {target!r}, which the bundle does not hold")
        return name

    @property
    def warc_names(self) -> List[str]:
        """WARC file names under `archive/`, as index entries name them."""
        return [n[len("archive/"):] for n in self._infos
                if n.startswith("archive/") and not n.endswith("/")]

    def open_record(self, filename: str, offset: int, length: int) -> IO[bytes]:
        """A bounded reader of one record's stored bytes; raises InvalidBundle if out of range."""
        name = "archive/" + filename
        if name not in self._infos or "/" in filename or filename in ("", ".", ".."):
            raise InvalidBundle(f"the index points to {filename!r}, which is not in the bundle")
        start, size = self._spans[name]
        if offset < 0 or length <= 0 or offset + length > size:
            raise InvalidBundle(f"the index points outside {filename!r} "
                                f"(offset {offset}, length {length}, file size {size})")
        return io.BufferedReader(_Window(self._read_at, start + offset, length), 1 << 16)

    def read_record(self, filename: str, offset: int, length: int) -> bytes:
        """The stored bytes (one gzip member) of a record; raises InvalidBundle if out of range."""
        with self.open_record(filename, offset, length) as fh:
            return fh.read()

    def read_entry(self, entry: CdxjEntry) -> bytes:
        """The stored bytes of the record an index entry points to; raises InvalidBundle."""
        return self.read_record(entry.filename, entry.offset, entry.length)

    @staticmethod
    def parse_record(data: Union[bytes, IO[bytes]]) -> Any:
        """Parse stored record bytes into a warcio record (headers, http_headers, content).

        Raises InvalidBundle when the bytes are not one WARC record.
        """
        from warcio.archiveiterator import ArchiveIterator
        from warcio.exceptions import ArchiveLoadFailed

        stream = io.BytesIO(data) if isinstance(data, bytes) else data
        try:
            return next(iter(ArchiveIterator(stream)))
        except InvalidBundle:
            raise
        except (StopIteration, ArchiveLoadFailed, Exception) as err:  # hostile bytes: any error
            raise InvalidBundle(f"a record in the bundle is not valid WARC ({err})") from None

    def find_original(self, revisit: CdxjEntry) -> Optional[CdxjEntry]:
        """The entry a revisit's payload comes from, or None when the bundle lacks it."""
        return find_original(self.index, revisit)

    # -- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the bundle file if this reader opened it."""
        zf = getattr(self, "_zip", None)
        if zf is not None:
            zf.close()
        if self._own:
            self._fh.close()

    def __enter__(self) -> WaczReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _page_lines(fh: IO[bytes], name: str) -> Iterator[Dict[str, Any]]:
    for number, raw in enumerate(iter(lambda: fh.readline(MAX_PAGE_LINE + 1), b"")):
        if len(raw) > MAX_PAGE_LINE:
            raise InvalidBundle(f"{name} line {number + 1} is damaged: longer than "
                                f"{MAX_PAGE_LINE:,} bytes")
        if not raw.strip():
            continue
        page = safejson.loads_object(raw, f"{name} line {number + 1}",
                                     max_bytes=MAX_PAGE_LINE)
        if number == 0 and "format" in page:
            continue
        yield page


def _json_object(data: bytes, name: str) -> Dict[str, Any]:
    return safejson.loads_object(data, name, max_bytes=MAX_JSON_BYTES)


def bundle_summary(path: Union[str, os.PathLike]) -> Dict[str, Any]:
    """What a bundle holds, for printing: manifest fields, counts, signer; raises InvalidBundle."""
    with WaczReader(path) as reader:
        package = reader.datapackage
        return {
            "path": str(path),
            "bytes": reader.size,
            "title": package.get("title"),
            "created": package.get("created"),
            "mainPageUrl": package.get("mainPageUrl") or package.get("mainPageURL"),
            "mirrorkit": package.get("mirrorkit") or {},
            "warcs": reader.warc_names,
            "records": sum(1 for _ in reader.index),
            "pages": sum(1 for _ in reader.pages()),
            "index": [n for n in reader.names if n.startswith("indexes/")],
        }


MULTI_WACZ_PROFILE = "multi-wacz-package"


def multi_wacz_parts(package: Dict[str, Any], names: List[str]) -> Optional[List[str]]:
    """The nested WACZ files when this ZIP is a multi-WACZ package (Browsertrix's collection
    download: profile `multi-wacz-package`, WACZ files inside), else None. Never raises."""
    nested = [n for n in names if n.lower().endswith(".wacz")]
    if package.get("profile") == MULTI_WACZ_PROFILE or (nested and not any(
            n.startswith("archive/") for n in names)):
        return nested
    return None


def multi_wacz_message(parts: List[str]) -> str:
    """Why a multi-WACZ package is refused, and what to do instead."""
    shown = ", ".join(parts[:5]) + (f" and {len(parts) - 5} more" if len(parts) > 5 else "")
    shown = ": " + shown if shown else ""
    return (f"this is a multi-WACZ package (profile {MULTI_WACZ_PROFILE!r}, as Browsertrix "
            f"exports a collection) holding {len(parts)} WACZ file(s){shown}"
            ". `mirrorkit verify` checks each part; replay and USB kits take one bundle at a "
            "time: unzip the package and give each .wacz inside it on its own")


def declared_damaged(package: Dict[str, Any]) -> Dict[Tuple[str, int], str]:
    """{(WARC file, offset): problem} of the records a signed bundle declares damaged before
    it was bundled (`mirrorkit.damaged`, written by `bundle --keep-damaged`). Never raises."""
    block = package.get("mirrorkit")
    listed = block.get("damaged") if isinstance(block, dict) else None
    out: Dict[Tuple[str, int], str] = {}
    for item in listed if isinstance(listed, list) else []:
        if isinstance(item, dict) and isinstance(item.get("offset"), int):
            out[(str(item.get("file")), item["offset"])] = str(item.get("problem") or "damaged")
    return out
