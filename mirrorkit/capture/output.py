"""Everything a capture writes into its folder: WARCs, the resume journal, pages.jsonl, crawl.log.

One lock serialises the writers, so the order on disk is always: WARC records (handed to the OS),
then the journal line vouching for them, then pages.jsonl and crawl.log.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
import time
from pathlib import Path
from typing import IO, Any, Dict, List, Optional, Tuple

from mirrorkit.capture.fetch import Response
from mirrorkit.capture.frontier import PAGE, REQ, ROBOTS, Task
from mirrorkit.capture.options import CaptureOptions, Stats, Summary
from mirrorkit.capture.robots import Robots
from mirrorkit.capture.state import (
    JOURNAL,
    Journal,
    Loaded,
    load_journal,
    load_options,
    recover,
    save_options,
    state_dir,
)
from mirrorkit.capture.warcwriter import WarcWriter
from mirrorkit.errors import CaptureError, UsageError

SYNC_EVERY = 1.0
PAGES_HEADER = {"format": "json-pages-1.0", "id": "pages", "title": "Pages"}
_PAGE_LINE = json.JSONEncoder(ensure_ascii=False).encode  # = json.dumps(..., ensure_ascii=False)


class StopCrawl(Exception):
    """Writing failed (disk full, unwritable): the crawl must stop; the folder stays resumable."""


def _disk_message(err: OSError, what: str) -> str:
    if err.errno == errno.ENOSPC:
        return f"the disk is full while writing {what}"
    return f"cannot write {what}: {err.strerror or err}"


def _redact(argv: List[str]) -> str:
    # Proxy credentials must not end up in an archive that is shared.
    out = []
    for arg in argv:
        if "://" in arg and "@" in arg.split("://", 1)[1].split("/", 1)[0]:
            scheme, rest = arg.split("://", 1)
            arg = f"{scheme}://***@{rest.split('@', 1)[1]}"
        out.append(arg if arg and " " not in arg else json.dumps(arg))
    return " ".join(out)


class Recorder:
    """Owns the capture folder. Create with `open()`; thread-safe; `close()` when done."""

    def __init__(self, opts: CaptureOptions) -> None:
        """Prepare (not yet open) the folder `opts.out_dir`."""
        self.opts = opts
        self.out = Path(opts.out_dir)
        self.stats = Stats()
        self.lock = threading.Lock()
        self.closed = False
        self.resumed: Optional[Loaded] = None
        # payload digest -> (url, date[, container]): a 3-tuple is a record in a base bundle.
        self.digests: Dict[str, Tuple[str, ...]] = {}
        self.seed_errors: Dict[str, Tuple[str, str]] = {}
        # url -> (WARC file, offset, URL of the original when a revisit): browser capture hands
        # already-recorded responses back to the browser from here instead of fetching again.
        self.locations: Dict[str, Tuple[str, int, Optional[str]]] = {}
        self._last_sync = time.monotonic()
        self.journal: Journal
        self.warc: WarcWriter
        self._pages: IO[str]
        self._log: IO[str]

    # -- opening ----------------------------------------------------------------------------
    def open(self) -> None:
        """Create or (with resume) repair the folder. Raises UsageError, CaptureError."""
        sdir = state_dir(self.out)
        if self.opts.resume:
            saved = load_options(self.out)
            for name, value in saved.items():
                setattr(self.opts, name, value)
            self.resumed = load_journal(sdir / JOURNAL)
            warcs = sorted(self.out.glob("*.warc.gz"))
            recover(self.out, self.resumed, warcs)
            self._restore(self.resumed)
        else:
            if self.out.exists() and (sdir.exists() or any(self.out.glob("*.warc*"))):
                raise UsageError(f"{self.out} already holds a capture",
                                 hint="add --resume to continue it, or choose another -o folder")
            try:
                sdir.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise CaptureError(f"cannot create the output folder {self.out}: "
                                   f"{err.strerror}") from err
            save_options(self.out, self.opts.crawl_fields())
        info = {
            "operator": self.opts.operator or "anonymous",
            "robots": "obey" if self.opts.obey_robots else "ignore (--ignore-robots)",
            "http-header-user-agent": self.opts.user_agent,
            "tls-verification": "off (--insecure)" if self.opts.insecure else "on",
            "scope": self.opts.scope,
            "command": _redact(["mirrorkit", "capture", *self.opts.argv]),
            "isPartOf": self.out.resolve().name,
        }
        info.update(self._load_bases())  # --dedup-against (issue 15)
        serial = len(list(self.out.glob("*.warc.gz")))
        self.warc = WarcWriter(self.out, info, max_file_size=self.opts.warc_size, serial=serial)
        self.journal = Journal(sdir / JOURNAL)
        try:
            self._pages = open(self.out / "pages.jsonl", "a", encoding="utf-8", buffering=1)  # noqa: SIM115
            if self._pages.tell() == 0:
                self._pages.write(json.dumps(PAGES_HEADER) + "\n")
            self._log = open(self.out / "crawl.log", "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        except OSError as err:
            raise CaptureError(_disk_message(err, str(self.out))) from err

    def _load_bases(self) -> Dict[str, str]:
        from mirrorkit.capture.dedup import load_bases, warcinfo_fields

        if not self.opts.dedup_against:
            return {}
        bases, originals = load_bases(self.opts.dedup_against)
        for digest, original in originals.items():
            self.digests[digest] = tuple(original)  # the base wins over this crawl's own copy
        return warcinfo_fields(bases)

    def _restore(self, loaded: Loaded) -> None:
        # Rebuild pages.jsonl, the duplicate map and the counts from what survived.
        pages = [PAGES_HEADER]
        for url, e in loaded.done.items():
            self._count(e)
            if e.get("dg") and e.get("n") and not e.get("rv") and not e.get("tr") \
                    and 200 <= e.get("s", 0) < 300:
                self.digests.setdefault(e["dg"], (url, e["dt"]))
            if e.get("f"):
                orig = self.digests.get(e.get("dg", ""), ("",))[0] if e.get("rv") else None
                self.locations[url] = (e["f"], e["o"], orig)
            if e.get("pg"):
                pages.append({"url": url, "ts": e["dt"], "status": e["s"], "title": e.get("t", "")})
        tmp = self.out / "pages.jsonl.tmp"
        tmp.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pages), "utf-8")
        os.replace(tmp, self.out / "pages.jsonl")

    def robots_from(self, entry: Dict[str, Any]) -> Robots:
        """Rebuild a host's robots rules from its recorded robots.txt response."""
        if entry.get("err") or not entry.get("f"):
            return Robots(None)
        from warcio.archiveiterator import ArchiveIterator

        with open(self.out / entry["f"], "rb") as fh:
            fh.seek(entry["o"])
            for rec in ArchiveIterator(fh):
                text = rec.content_stream().read(512 * 1024).decode("utf-8", "replace")
                return Robots(rec.http_headers.get_statuscode() and int(
                    rec.http_headers.get_statuscode()), text)
        return Robots(None)

    # -- counting ---------------------------------------------------------------------------
    def _count(self, e: Dict[str, Any]) -> None:
        st = self.stats
        kind, status = e.get("k"), e.get("s")
        if e.get("k") == PAGE and not e.get("h") and e.get("skip") != "max-pages" \
                and e.get("skip") != "robots":
            st.pages_dispatched += 1
        if e.get("skip"):
            if e["skip"] == "robots":
                st.robots_blocked += 1
            else:
                st.skipped += 1
            return
        if e.get("err"):
            st.errors[e["err"]] += 1
            return
        st.fetches += 1
        st.bytes += e.get("n", 0)
        st.page_requests += e.get("pr", 0)
        st.browser_pages += e.get("br", 0)
        st.behaviors_run += e.get("bh", 0)
        st.pages_timed_out += e.get("to", 0)
        if kind == ROBOTS:
            return  # a 404 robots.txt is normal, not an error
        if e.get("rv"):
            st.duplicates += 1
        if status and status >= 400:
            st.errors[f"http-{status // 100}xx"] += 1
        elif status and 300 <= status < 400:
            st.redirects += 1
        elif kind == PAGE:
            st.pages += 1
        elif kind == REQ:
            st.requisites += 1

    def _log_line(self, status: Any, size: int, url: str, error: str) -> None:
        now = time.time()  # UTC, to the millisecond
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        self._log.write(f"{stamp}.{int(now % 1 * 1000):03d}Z {status} {size} {url} {error}\n")

    # -- events from workers ----------------------------------------------------------------
    def fetched(self, task: Task, resp: Response, claimed: List[Task], title: str,
                browser: Optional[Dict[str, Any]] = None) -> None:
        """Write one fetch and the tasks it discovered. Raises StopCrawl when the disk fails.

        `browser` (browser capture) holds journal counters ("br", "pr", "bh", "to") and, for a
        rendered page, "snapshot" (HTML text) and "screenshot" (PNG bytes), written as records
        that refer to the response (capture/browser_snapshot.py)."""
        with self.lock:
            if self.closed:
                return
            entry: Dict[str, Any] = {"d": task.url, "k": task.kind, "h": task.hops,
                                     "s": resp.status, "n": resp.length, "dg": resp.payload_digest,
                                     "dt": resp.date}
            original = None
            if resp.length and not resp.truncated and 200 <= resp.status < 300:
                original = self.digests.get(resp.payload_digest)
            try:
                # Into a base (3-tuple), the same URL is the usual case: an unchanged page.
                if original and (len(original) > 2 or original[0] != task.url):
                    where = self.warc.write_revisit(
                        task.url, resp.date, resp.request_head, resp.head, resp.payload_digest,
                        original[0], original[1], ip=resp.ip,
                        container=original[2] if len(original) > 2 else None)
                    entry["rv"] = 1
                else:
                    body_len = resp.length
                    where = self.warc.write_exchange(
                        task.url, resp.date, resp.request_head, resp.head, resp.body, body_len,
                        resp.payload_digest, block_digest=resp.block_digest, ip=resp.ip,
                        truncated=resp.truncated)
                    if resp.truncated:
                        entry["tr"] = resp.truncated
                    elif resp.length and 200 <= resp.status < 300:
                        self.digests.setdefault(resp.payload_digest, (task.url, resp.date))
                self.locations[task.url] = (where.filename, where.offset,
                                            original[0] if entry.get("rv") and original else None)
                if browser:
                    from mirrorkit.capture.browser_snapshot import write_page_records

                    end = write_page_records(self.warc, task.url, where, browser)
                    entry.update({k: v for k, v in browser.items()
                                  if k in ("br", "pr", "bh", "to")})
                    where.end = max(where.end, end)
                entry.update(f=where.filename, o=where.offset, e=where.end)
                is_page = (task.kind == PAGE and 200 <= resp.status < 300 and
                           "html" in resp.header("content-type").lower())
                if is_page:
                    entry["pg"], entry["t"] = 1, title
                self.journal.write(claimed, entry)
                if is_page:
                    self._pages.write(_PAGE_LINE({"url": task.url, "ts": resp.date,
                                                  "status": resp.status, "title": title}) + "\n")
                self._log_line(resp.status, resp.length, task.url,
                               f"truncated:{resp.truncated}" if resp.truncated else "-")
            except OSError as err:
                raise StopCrawl(_disk_message(err, str(self.out))) from err
            self._count(entry)

    def error(self, task: Task, kind: str, message: str) -> None:
        """Record a fetch that failed for good. Raises StopCrawl when the disk fails."""
        with self.lock:
            if self.closed:
                return
            entry = {"d": task.url, "k": task.kind, "h": task.hops, "err": kind, "msg": message}
            if task.kind == PAGE and task.depth == 0 and not task.hops:
                self.seed_errors[task.url] = (kind, message)
            try:
                self.journal.write([], entry)
                self._log_line("-", 0, task.url, f"{kind}: {message}")
            except OSError as err:
                raise StopCrawl(_disk_message(err, str(self.out))) from err
            self._count(entry)

    def skipped(self, task: Task, reason: str) -> None:
        """Record a URL left out (robots.txt, --max-pages). Raises StopCrawl on disk failure."""
        with self.lock:
            if self.closed:
                return
            entry = {"d": task.url, "k": task.kind, "h": task.hops, "skip": reason}
            try:
                self.journal.write([], entry)
                self._log_line("-", 0, task.url, f"skipped: {reason}")
            except OSError as err:
                raise StopCrawl(_disk_message(err, str(self.out))) from err
            self._count(entry)

    def queued(self, tasks: List[Task]) -> None:
        """Journal tasks claimed outside a fetch (robots.txt of a host a page's script named)."""
        with self.lock:
            if self.closed or not tasks:
                return
            try:
                self.journal.write(tasks)
            except OSError as err:
                raise StopCrawl(_disk_message(err, str(self.out))) from err

    def note(self, url: str, text: str) -> None:
        """A line in crawl.log only (a request the browser made that was not fetched)."""
        with self.lock:
            if not self.closed:
                # on a disk error, the next record write reports it with its context
                with contextlib.suppress(OSError):
                    self._log_line("-", 0, url, text)

    def maybe_sync(self, force: bool = False) -> None:
        """Checkpoint (WARC fsync, then journal fsync) at most once a second."""
        now = time.monotonic()
        if not force and now - self._last_sync < SYNC_EVERY:
            return
        with self.lock:
            if self.closed:
                return
            self._last_sync = now
            try:
                self.warc.sync()
                self.journal.sync()
                self._pages.flush()
                self._log.flush()
            except OSError:
                pass  # the next record write reports the problem with its context

    def close(self) -> None:
        """Final checkpoint and close every file. Raises CaptureError when that fails."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            try:
                self.warc.close()
                self.journal.close()
                self._pages.close()
                self._log.close()
            except OSError as err:
                raise CaptureError(_disk_message(err, str(self.out)),
                                   hint="free some space, then run again with --resume") from err

    def summary(self, elapsed: float, complete: bool) -> Summary:
        """The final figures."""
        st = self.stats
        return Summary(
            out_dir=str(self.out), complete=complete, pages=st.pages, requisites=st.requisites,
            redirects=st.redirects, duplicates=st.duplicates, bytes=st.bytes, fetches=st.fetches,
            robots_blocked=st.robots_blocked, skipped=st.skipped, errors=dict(st.errors),
            warc_files=sorted(p.name for p in self.out.glob("*.warc.gz")),
            elapsed=round(elapsed, 3), resumed=self.resumed is not None,
            browser_pages=st.browser_pages, page_requests=st.page_requests,
            behaviors_run=st.behaviors_run, pages_timed_out=st.pages_timed_out,
        )

