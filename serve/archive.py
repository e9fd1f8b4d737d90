"""A bundle opened for replay: metadata, verification state, capture lookup and checked records.

Nothing is extracted: the WACZ is read through `mirrorkit.formats.wacz.WaczReader`, index lookups
binary search ``index.idx`` and inflate one block, and each record is read at its offset inside the
STORED WARC member, then checked against its ``recordDigest`` before it is parsed.
"""

from __future__ import annotations

import re
import secrets
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, List, Optional, Tuple
from urllib.parse import urljoin

from mirrorkit.errors import InvalidBundle, MirrorkitError
from mirrorkit.formats import timestamps
from mirrorkit.formats.cdxj import CdxjEntry, pick_original
from mirrorkit.formats.http import revisit_headers
from mirrorkit.formats.surt import surt_key as _surt_key
from mirrorkit.formats.timestamps import pretty as pretty_ts
from mirrorkit.formats.timestamps import to14
from mirrorkit.formats.wacz import declared_damaged

from .cache import ByteLRU
from .records import DamagedAtSource, DamagedRecord, Record, check_digest, parse_record
from .search import Page, SearchIndex
from .storage import BundleStorage

_NAME_BAD = re.compile(r"[^A-Za-z0-9._-]+")
_REDIRECTS = (301, 302, 303, 307, 308)
MAX_REVISIT_HOPS = 3
SNAPSHOT_PREFIX = "urn:snapshot:"
SNAPSHOT_WINDOW = 24 * 3600  # seconds between a page's capture and its snapshot, at most
# SURT keys are pure functions of the URL and cost ~0.2 ms each: remember the recent ones.
surt_key = lru_cache(maxsize=65536)(_surt_key)


class NotArchived(MirrorkitError):
    """The requested URL has no capture in this bundle."""

    exit_code = 1


def bundle_name(path: Path, taken: set) -> str:
    """A URL-safe, unique short name for a bundle, from its file name."""
    base = _NAME_BAD.sub("-", path.name[:-5] if path.name.lower().endswith(".wacz") else path.stem)
    base = base.strip("-.") or "bundle"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


class Capture:
    """A response found for a request: the record to serve and where it came from."""

    def __init__(self, entry: CdxjEntry, record: Record, payload_from: Optional[Record],
                 payload_entry: Optional[CdxjEntry] = None, page_url: str = "") -> None:
        self.entry = entry
        # A rendered snapshot is indexed under urn:snapshot:<url> but stands for <url>.
        self.page_url = page_url
        self.snapshot = bool(page_url)
        self.record = record
        # For a revisit: the original record whose payload (and headers) stand in for it.
        self.payload_from = payload_from
        self.payload_entry = payload_entry

    @property
    def digests(self) -> Tuple[str, str]:
        """recordDigests of the record and of the original it resolves to ('' when absent)."""
        own = self.entry.record_digest or ""
        other = (self.payload_entry.record_digest or "") if self.payload_entry is not None \
            and self.payload_from else own
        return own, other

    @property
    def timestamp(self) -> str:
        return self.entry.timestamp

    @property
    def url(self) -> str:
        return self.page_url or self.entry.url

    @property
    def response(self) -> Record:
        """The record holding the HTTP status, headers and payload to replay: for a revisit,
        its own status and headers (`formats.http.revisit_headers`) with the original's
        payload."""
        original = self.payload_from
        if original is None:
            return self.record
        status, headers = revisit_headers(self.record.status, self.record.headers,
                                          original.status, original.headers)
        return Record(original.warc_type, original.warc_headers, status, headers,
                      original.payload)


class ReplayBundle:
    """One WACZ opened for replay. Thread-safe after construction."""

    def __init__(self, path: Path, name: str, cache_bytes: int = 32 * 1024 * 1024) -> None:
        self.path = path
        # parsed records and rewritten responses, keyed by verified record digests
        self.records_cache = ByteLRU(cache_bytes // 2)
        self.responses_cache = ByteLRU(cache_bytes // 2)
        self._lookups = ByteLRU(4 * 1024 * 1024)  # the index never changes while open
        self.name = name
        # Every URL of this bundle's content origin starts with this: a page elsewhere cannot
        # guess it, and it changes every run, so nothing learnt or stored last time is reachable.
        self.secret = secrets.token_urlsafe(18)
        self.content_port: Optional[int] = None
        self.scripts_asked = False  # the reader page's per-bundle switch; off at every start
        # What the content origin last served to a navigating frame: (ts14, url, kind)
        self.last_served: Tuple[str, str, str] = ("", "", "")
        self.filename = path.name
        self.storage = BundleStorage(path)
        dp = self.storage.datapackage
        raw_mk = dp.get("mirrorkit")
        mk = raw_mk if isinstance(raw_mk, dict) else {}
        self.title = str(dp.get("title") or path.name)
        self.description = str(dp.get("description") or "")
        self.created = str(dp.get("created") or "")
        self.publisher = str(mk.get("publisher") or "") or None
        self.fingerprint = str(mk.get("fingerprint") or "") or None
        self.main_page_url = str(dp.get("mainPageUrl") or "") or None
        self.damaged_at_source = declared_damaged(dp)
        date = dp.get("mainPageDate")
        self.main_page_ts = to14(str(date)) if date else None
        # verification state: "verifying" until verify() finishes, then trusted/untrusted/failed
        self.state = "verifying"
        self.reason = "The signature and file hashes are being checked."
        self.report: Any = None
        self._verified = threading.Event()
        self._pages: Optional[List[Page]] = None
        self._pages_lock = threading.Lock()
        self._search: Optional[SearchIndex] = None
        self.pages_problem = ""

    # -- verification -------------------------------------------------------------------------

    def verify(self, fingerprint: Optional[str] = None) -> None:
        """Runs `verify_bundle` and records the outcome; never raises."""

        def check() -> Tuple[Any, bool, str, str]:
            from mirrorkit.verify import verify_bundle

            report = verify_bundle(str(self.path), fingerprint=fingerprint, remember=False)
            signer = getattr(report, "fingerprint", None) or self.fingerprint
            if signer and not self.fingerprint:
                self.fingerprint = signer
            return (report, bool(getattr(report, "trusted", False)),
                    "Signature and every file hash verified; the signer is in your trust store.",
                    "Signature and every file hash verified, but the signer is not in your "
                    "trust store: compare the fingerprint with the publisher's card.")

        self._record_outcome(check)

    def _record_outcome(self, check: Any) -> None:
        """Run `check() -> (report, trusted, trusted reason, untrusted reason)` and set the
        state from it; never raises, and a verifier bug never makes a bundle look trusted."""
        try:
            report, trusted, yes, no = check()
            self.report = report
            self.state, self.reason = ("trusted", yes) if trusted else ("untrusted", no)
        except MirrorkitError as err:
            self.state = "failed"
            self.report = getattr(err, "report", None)
            self.reason = err.message
        except Exception as err:  # a verifier bug must not make a bundle look trusted
            self.state = "failed"
            self.reason = f"verification could not run: {type(err).__name__}: {err}"
        finally:
            self._verified.set()

    def wait_verified(self, timeout: Optional[float] = None) -> bool:
        """Blocks until verification finished (or ``timeout``); returns whether it did."""
        return self._verified.wait(timeout)

    # -- pages and search ---------------------------------------------------------------------

    @property
    def pages(self) -> List[Page]:
        """The bundle's pages (url, ts, title, text), read from pages.jsonl on first use."""
        if self._pages is None:
            with self._pages_lock:
                if self._pages is None:
                    pages: List[Page] = []
                    try:
                        for page in self.storage.pages():  # streamed: one dict at a time
                            if not isinstance(page, dict) or not page.get("url"):
                                continue
                            ts = str(page.get("ts") or "")
                            pages.append(Page(str(page["url"]), ts, to14(ts),
                                              str(page.get("title") or ""),
                                              str(page.get("text") or "")))
                    except InvalidBundle as err:
                        self.pages_problem = err.message  # keep the pages read so far
                    self._pages = pages
        return self._pages

    @property
    def page_count(self) -> int:
        return len(self.pages)

    @property
    def capture_range(self) -> str:
        """First and last capture day of the bundle's pages, e.g. ``2014-01-26 to 2014-02-02``."""
        stamps = sorted(p["ts14"] for p in self.pages if p["ts14"].strip("0"))
        if not stamps:
            return "unknown"
        first, last = pretty_ts(stamps[0])[:10], pretty_ts(stamps[-1])[:10]
        return first if first == last else f"{first} to {last}"

    def search(self, query: str) -> List[Page]:
        """Pages whose title or text contains every word of ``query``."""
        if self._search is None:
            self._search = SearchIndex(self.pages)
        return self._search.search(query)

    # -- lookup -------------------------------------------------------------------------------

    def _read_checked(self, entry: CdxjEntry) -> Record:
        filename = entry.filename
        try:
            offset, length = entry.offset, entry.length
        except InvalidBundle:
            raise DamagedRecord("its index entry has no usable offset and length") from None
        try:
            data = self.storage.read_record_bytes(filename, offset, length)
        except DamagedRecord:
            raise
        except InvalidBundle as err:
            raise DamagedRecord(err.message) from None
        digest = entry.record_digest
        problem = self.damaged_at_source.get((filename, offset))
        if problem is not None:
            raise DamagedAtSource(f"the bundle itself says this record of {entry.url} was "
                                  f"damaged before it was bundled ({problem})")
        if not check_digest(data, digest):
            raise DamagedRecord(
                f"the stored bytes of {entry.url} ({filename} at {offset}) do not match "
                "the recordDigest in the bundle's index: the file was changed or damaged")
        if not digest:
            return parse_record(data)
        record = self.records_cache.get(digest)
        if record is None:
            record = parse_record(data)
            self.records_cache.put(digest, record, len(record.payload) + 1024)
        return record

    def candidates(self, url: str, key: Optional[str] = None) -> List[CdxjEntry]:
        """Every index entry for ``url`` (same SURT key).

        Raises DamagedRecord when the index cannot be read. Returns a new list each time.
        """
        key = key or surt_key(url)
        cached = self._lookups.get(key)
        if cached is not None:
            return list(cached)
        try:
            entries = self.storage.lookup(key)
        except DamagedRecord:
            raise
        except InvalidBundle as err:
            raise DamagedRecord(f"the bundle's index is damaged: {err.message}") from None
        self._lookups.put(key, entries, 200 * len(entries) + 100)
        return list(entries)

    def find(self, url: str, ts14: str) -> Capture:
        """The capture of ``url`` closest in time to ``ts14``.

        Raises NotArchived when there is none and DamagedRecord when the chosen record (or the
        original a revisit points to) fails its digest.
        """
        key = surt_key(url)
        entries = self.candidates(url, key)
        def rank(e: CdxjEntry) -> Tuple[float, int, int]:
            exact = 0 if e.url == url else 1
            ok_status = 0 if str(e.fields.get("status", "200"))[:1] in ("2", "3") else 1
            return (timestamps.distance(e.timestamp, ts14), exact, ok_status)

        entries.sort(key=rank)
        damaged: Optional[DamagedRecord] = None
        loop: Optional[Capture] = None
        for entry in entries:
            try:
                capture = self._resolve(entry)
            except DamagedRecord as err:
                # Never fall back silently to another capture: the reader must see the damage.
                damaged = err
                break
            except NotArchived:
                continue
            if capture is None:
                continue
            if self._self_redirect(capture, key):
                loop = loop or capture  # replay it only if nothing else is there
                continue
            return capture
        if damaged is not None:
            raise damaged
        if loop is not None:
            return loop
        raise NotArchived(f"{url} is not in this archive")

    def find_snapshot(self, url: str, ts14: str) -> Optional[Capture]:
        """The rendered snapshot (a ``conversion`` record at ``urn:snapshot:<url>``, written by
        browser capture) closest to ``ts14`` and within a day of it, or None.

        Raises DamagedRecord when the chosen snapshot fails its digest.
        """
        return self._own_snapshot(url, ts14)

    def _own_snapshot(self, url: str, ts14: str) -> Optional[Capture]:
        # This bundle's own index only (a chain of editions picks the bundle first).
        try:
            entries = ReplayBundle.candidates(self, SNAPSHOT_PREFIX + url)
        except DamagedRecord:
            return None  # the page itself still has its own record to show
        entries = [e for e in entries if e.url == SNAPSHOT_PREFIX + url
                   and timestamps.distance(e.timestamp, ts14) <= SNAPSHOT_WINDOW]
        if not entries:
            return None
        entries.sort(key=lambda e: timestamps.distance(e.timestamp, ts14))
        record = ReplayBundle._read_checked(self, entries[0])
        if record.warc_type not in ("conversion", "resource"):
            return None
        return Capture(entries[0], record, None, page_url=url)

    def _self_redirect(self, capture: Capture, key: str) -> bool:
        # http -> https or trailing-slash redirects to a URL with the same key would loop.
        resp = capture.response
        if resp.status not in _REDIRECTS:
            return False
        loc = resp.header("location")
        return bool(loc) and surt_key(urljoin(capture.url, loc)) == key

    def _resolve(self, entry: CdxjEntry) -> Optional[Capture]:
        record = self._read_checked(entry)
        if record.warc_type in ("response", "resource", "metadata"):
            return Capture(entry, record, None)  # metadata: replayed with its stored type
        if record.warc_type != "revisit":
            return None  # request, metadata...: not something to replay
        original_entry, original = self._original_of(entry, record)
        return Capture(entry, record, original, original_entry)

    def _original_of(self, entry: CdxjEntry, record: Record,
                     hops: int = 0) -> Tuple[CdxjEntry, Record]:
        # The record's own headers first: other tools' indexes lack refersToUrl/refersToDate.
        target = (record.warc_header("WARC-Refers-To-Target-URI") or entry.url).strip("<>")
        digest = record.warc_header("WARC-Payload-Digest") or entry.digest
        options = self._original_options(self.candidates(target), record, digest)
        chosen = pick_original(options, record.warc_header("WARC-Refers-To-Date"), digest,
                               entry.timestamp)
        if chosen is None:
            raise NotArchived(f"the original of the revisit of {entry.url} is not in this archive")
        original = self._read_checked(chosen)
        if original.warc_type == "revisit" and hops < MAX_REVISIT_HOPS:
            return self._original_of(chosen, original, hops + 1)
        if original.warc_type not in ("response", "resource"):
            raise NotArchived("a revisit points to a record that is not a response")
        return chosen, original

    def _original_options(self, options: List[CdxjEntry], record: Record,
                          digest: str) -> List[CdxjEntry]:
        """Where a revisit's original may be; a chain of editions narrows this (serve/chain)."""
        return options

    def close(self) -> None:
        """Releases the open file."""
        self.storage.close()


def open_bundle(path: Path, name: str) -> ReplayBundle:
    """Opens a WACZ for replay; raises InvalidBundle (or UsageError) when it is not readable."""
    try:
        return ReplayBundle(path, name)
    except InvalidBundle:
        raise
    except OSError as err:
        raise InvalidBundle(f"cannot read {path}: {err.strerror or err}") from None
