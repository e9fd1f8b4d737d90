"""The crawl: worker threads take tasks from the frontier, fetch, find links, and hand the result
to the `Recorder` (output.py), which writes WARC records, journal, pages.jsonl and crawl.log."""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Tuple
from urllib.parse import urljoin, urlsplit

from mirrorkit.capture.extract import Extracted, extract_css, extract_html, extract_svg
from mirrorkit.capture.fetch import Fetcher, FetchError, Response
from mirrorkit.capture.frontier import MAX_HOPS, PAGE, REQ, ROBOTS, Frontier, Task, retry_after
from mirrorkit.capture.options import CaptureOptions, Stats, Summary

if TYPE_CHECKING:
    from mirrorkit.capture.browser import BrowserRun
from mirrorkit.capture.output import Recorder, StopCrawl
from mirrorkit.capture.robots import Robots
from mirrorkit.capture.urls import Scope, canonicalize, compile_patterns, host_key
from mirrorkit.errors import CaptureError, CaptureInterrupted

EXTRACT_LIMIT = 20 * 1024 * 1024


def _charset(content_type: str) -> Optional[str]:
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip("\"' ")
    return None


def _kind_of(resp: Response) -> str:
    ctype = resp.header("content-type").split(";")[0].strip().lower()
    if ctype in ("text/html", "application/xhtml+xml"):
        return "html"
    if ctype == "text/css":
        return "css"
    if ctype == "image/svg+xml":
        return "svg"
    if not ctype:
        path = urlsplit(resp.url).path.lower()
        if path.endswith(".css"):
            return "css"
        if path.endswith((".html", ".htm", "/")):
            return "html"
    return ""


class Crawler:
    """One capture run. `run()` returns the Summary or raises CaptureError/CaptureInterrupted."""

    def __init__(self, opts: CaptureOptions, recorder: Recorder,
                 progress: Optional[Callable[[Stats], None]] = None) -> None:
        """Wire fetcher, scope and frontier from the options. Raises UsageError."""
        self.opts = opts
        self.rec = recorder
        self.progress = progress
        self.scope = Scope(opts.scope, opts.seeds, compile_patterns(opts.include, "--include"),
                           compile_patterns(opts.exclude, "--exclude"))
        self.fetcher = Fetcher(user_agent=opts.user_agent, timeout=opts.timeout,
                               max_size=opts.max_size, proxy=opts.proxy, insecure=opts.insecure,
                               pool_size=max(opts.per_host, 2))
        frontier_cls = Frontier
        if opts.browser:
            from mirrorkit.capture.browser_net import BrowserFrontier

            frontier_cls = BrowserFrontier  # pages go to browser tabs, the rest to fetchers
        self.frontier = frontier_cls(per_host=opts.per_host, delay=opts.delay,
                                     obey_robots=opts.obey_robots, max_pages=opts.max_pages,
                                     pages_done=recorder.stats.pages_dispatched)
        self.stop = threading.Event()
        self.fatal: Optional[BaseException] = None
        self.browser: Optional[BrowserRun] = None

    # -- start ------------------------------------------------------------------------------
    def check_seeds(self) -> None:
        """Fail early when a seed host cannot be resolved (not through a proxy). CaptureError."""
        if self.opts.proxy:
            return
        for host in dict.fromkeys(urlsplit(s).hostname for s in self.opts.seeds):
            try:
                socket.getaddrinfo(host, None)
            except (OSError, UnicodeError) as err:
                raise CaptureError(f"cannot resolve host {host!r}: {getattr(err, 'strerror', err)}",
                                   hint="check the spelling, your network, or use --proxy") from err

    def seed(self) -> None:
        """Queue the seeds (fresh crawl) or what the journal left (resume). Raises CaptureError."""
        if self.rec.resumed is not None:
            loaded = self.rec.resumed
            self.frontier.seen.update(t.url for t in loaded.queued)
            for url, entry in loaded.done.items():
                if entry.get("k") == ROBOTS:
                    self.frontier.set_robots(host_key(url), self.rec.robots_from(entry))
            pending = [t for t in loaded.queued if t.url not in loaded.done]
            tasks = self.frontier.claim(pending, force=True)
            old = {id(t) for t in pending}
            self.rec.journal.write([t for t in tasks if id(t) not in old])
            self.frontier.enqueue(tasks)
            return
        tasks = self.frontier.claim([Task(s, PAGE, 0) for s in self.opts.seeds])
        self.rec.journal.write(tasks)
        self.frontier.enqueue(tasks)

    # -- work -------------------------------------------------------------------------------
    def _worker(self) -> None:
        while not self.stop.is_set():
            task = self.frontier.get()
            if task is None:
                return
            try:
                self._process(task)
            except StopCrawl as err:
                self.fatal = self.fatal or err
                self.stop.set()
                self.frontier.stop()
            except Exception as err:
                self.rec.error(task, "internal", f"{type(err).__name__}: {err}")
            finally:
                self.frontier.finish(task)

    def _process(self, task: Task) -> None:
        if self.browser is None:
            self._fetch_task(task)
            return
        # Browser capture: a tab may be fetching this URL for its page, or have recorded it.
        if not self.browser.net.begin(task.url):
            return
        try:
            self._fetch_task(task)
        finally:
            self.browser.net.end(task.url)

    def _fetch_task(self, task: Task) -> None:
        try:
            resp = self.fetcher.fetch(task.url)
        except FetchError as err:
            if err.retryable and task.attempt < self.opts.retries:
                self.frontier.retry(task, self.opts.backoff * 2 ** task.attempt)
                return
            if task.kind == ROBOTS:
                self.frontier.set_robots(host_key(task.url), Robots(None))
            self.rec.error(task, err.kind, err.message)
            return
        try:
            status = resp.status
            if (status in (429, 503) or status >= 500) and task.attempt < self.opts.retries:
                wait = self.opts.backoff * 2 ** task.attempt
                if status in (429, 503):
                    wait = max(wait, retry_after(resp.header("retry-after"), wait))
                self.frontier.retry(task, wait)
                return
            if self.stop.is_set():
                return
            children, robots, title = self._children(task, resp)
            claimed = self.frontier.claim(children)
            self.rec.fetched(task, resp, claimed, title)
            if robots is not None:
                self.frontier.set_robots(host_key(task.url), robots)
            self.frontier.enqueue(claimed)
        finally:
            resp.close()

    def _children(self, task: Task, resp: Response) -> Tuple[List[Task], Optional[Robots], str]:
        if task.kind == ROBOTS:
            text = resp.decoded(512 * 1024).decode("utf-8", "replace")
            return [], Robots(resp.status, text), ""
        out: List[Task] = []
        location = resp.header("location")
        if 300 <= resp.status < 400 and location:
            if task.hops < MAX_HOPS:
                try:
                    target = canonicalize(urljoin(task.url, location.strip()))
                except ValueError:
                    target = None
                if target and not self.scope.excluded(target):
                    out.append(Task(target, task.kind, task.depth, task.hops + 1, task.url))
            return out, None, ""
        kind = _kind_of(resp)
        if not kind or resp.status >= 400 or resp.length > EXTRACT_LIMIT:
            return out, None, ""
        data = resp.decoded(EXTRACT_LIMIT)
        charset = _charset(resp.header("content-type"))
        found: Extracted
        if kind == "html":
            found = extract_html(data, resp.url, charset)
        elif kind == "css":
            found = extract_css(data, resp.url, charset)
        else:
            found = extract_svg(data, resp.url)
        for url in found.requisites:
            if not self.scope.excluded(url):
                out.append(Task(url, REQ, task.depth, 0, task.url))
        for url in found.redirects:
            if task.hops < MAX_HOPS and (task.kind == REQ or self.scope.follows(url)):
                out.append(Task(url, task.kind, task.depth, task.hops + 1, task.url))
        depth_ok = self.opts.depth is None or task.depth + 1 <= self.opts.depth
        if depth_ok:
            for url in found.links:
                if self.scope.follows(url):
                    out.append(Task(url, PAGE, task.depth + 1, 0, task.url))
        return out, None, found.title or ""

    # -- run --------------------------------------------------------------------------------
    def run(self) -> Summary:
        """Crawl until done, stopped or interrupted; always leaves a resumable folder."""
        started = time.monotonic()
        threads = [threading.Thread(target=self._worker, name=f"capture-{i}", daemon=True)
                   for i in range(max(1, self.opts.concurrency))]
        interrupted = False
        if self.opts.browser:
            from mirrorkit.capture.browser import BrowserRun

            self.browser = BrowserRun(self, self.opts.chromium or "")
        alive: List[Any] = list(threads) + ([self.browser] if self.browser else [])
        try:
            if self.browser:
                self.browser.start()
            for t in threads:
                t.start()
            last = 0.0
            while any(t.is_alive() for t in alive):
                threads[0].join(0.1) if threads[0].is_alive() else time.sleep(0.1)
                self._drain_skipped()
                now = time.monotonic()
                if now - last >= 0.25:
                    last = now
                    self.rec.maybe_sync()
                    if self.progress:
                        self.progress(self.rec.stats.snapshot(now - started))
        except KeyboardInterrupt:
            interrupted = True
            self.stop.set()
            self.frontier.stop()
            deadline = time.monotonic() + min(10.0, self.opts.timeout + 1)
            for t in alive:
                t.join(max(0.0, deadline - time.monotonic()))
        finally:
            self._drain_skipped()
            if self.browser:
                self.browser.join(10.0)
                self.browser.close()
            self.fetcher.close()
        self.rec.close()
        if self.progress:
            self.progress(self.rec.stats.snapshot(time.monotonic() - started))
        summary = self.rec.summary(time.monotonic() - started, complete=self.frontier.finished
                                   and not interrupted and self.fatal is None)
        if interrupted:
            raise CaptureInterrupted(
                f"capture interrupted; {summary.pages} pages and {summary.requisites} requisites "
                f"are safely written in {self.opts.out_dir}",
                hint=f"resume with: mirrorkit capture --resume -o {self.opts.out_dir}",
            )
        if self.fatal is None and self.browser is not None and self.browser.fatal is not None:
            err = self.browser.fatal
            raise CaptureError(f"the browser failed: {type(err).__name__}: {str(err)[:300]}",
                               hint=f"check --chromium, then resume: mirrorkit capture --resume "
                                    f"-o {self.opts.out_dir}") from err
        if self.fatal is not None:
            raise CaptureError(str(self.fatal),
                               hint=f"fix that, then resume: mirrorkit capture --resume -o "
                                    f"{self.opts.out_dir}")
        return summary

    def _drain_skipped(self) -> None:
        with self.frontier._cond:
            skipped, self.frontier.skipped = self.frontier.skipped, []
        for task, reason in skipped:
            self.rec.skipped(task, reason)
