"""Browser capture's network: every request a page makes is fetched here, by the crawler's own
fetcher, under the crawler's rules (scope exclusions, robots.txt, per-host limit, delay, retries,
proxy), recorded once, and handed back to the browser as a decoded body.

`BrowserFrontier` gives pages to browser tabs and everything else to the fetch threads, and lets a
tab take a per-host slot for each request its page makes (`acquire`/`release`), so `--per-host`
and `--delay` count the browser's requests together with the static ones.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, List, Optional, Set, Tuple

from mirrorkit.capture.fetch import FetchError, Response
from mirrorkit.capture.frontier import _PENDING, PAGE, ROBOTS, Frontier, Task, retry_after
from mirrorkit.capture.robots import Robots
from mirrorkit.capture.urls import canonicalize, host_key

if TYPE_CHECKING:
    from mirrorkit.capture.crawler import Crawler

# Bodies larger than this are recorded but not handed to the browser (CDP sends them base64).
HAND_LIMIT = 32 * 1024 * 1024
# Headers that describe the wire form of the body, not the decoded body the browser receives.
_WIRE_HEADERS = {"content-encoding", "content-length", "transfer-encoding",
                 "x-archive-orig-transfer-encoding"}


class BrowserFrontier(Frontier):
    """Pages wait in `host.pages` for tabs (`get_page`); the rest in `host.reqs` for fetchers."""

    def enqueue(self, tasks: Iterable[Task]) -> None:
        """Queue claimed tasks: pages (redirect targets too) for tabs, the rest for fetchers."""
        with self._cond:
            for task in tasks:
                host = self._host(host_key(task.url))
                if task.kind == ROBOTS:
                    host.reqs.appendleft(task)
                elif task.kind == PAGE:
                    host.pages.append(task)
                else:
                    host.reqs.append(task)
                self.queued += 1
            self._cond.notify_all()

    def _pick(self, now: float) -> Tuple[Optional[Task], float]:
        # Fetch threads: requisites and robots.txt only, under the per-host rules.
        soonest = now + 1.0
        for key, host in list(self.hosts.items()):
            if not host.reqs or host.active >= self.per_host:
                continue
            if host.next_at > now:
                soonest = min(soonest, host.next_at)
                continue
            if host.robots is _PENDING and host.reqs[0].kind != ROBOTS:
                continue
            task = host.reqs.popleft()
            self.queued -= 1
            robots = host.robots
            if isinstance(robots, Robots) and task.kind != ROBOTS and not robots.allows(task.url):
                self.skipped.append((task, "robots"))
                return None, now
            host.active += 1
            self.active += 1
            host.next_at = now + host.delay
            self.hosts[key] = self.hosts.pop(key)
            return task, now
        return None, soonest

    def _pick_page(self, now: float) -> Optional[Task]:
        for key, host in list(self.hosts.items()):
            if not host.pages or host.robots is _PENDING:
                continue
            task = host.pages.popleft()
            self.queued -= 1
            robots = host.robots
            if isinstance(robots, Robots) and not robots.allows(task.url):
                self.skipped.append((task, "robots"))
                return None
            if not self._count_page(task):
                return None
            self.active += 1  # the page's own requests take host slots through acquire()
            self.hosts[key] = self.hosts.pop(key)
            return task
        return None

    def get_page(self) -> Optional[Task]:
        """Block until a page may be loaded in a tab; None when the crawl is over or stopped."""
        with self._cond:
            while True:
                if self._over():
                    return None
                before = len(self.skipped)
                task = self._pick_page(time.monotonic())
                if task is not None:
                    return task
                if len(self.skipped) == before:
                    self._cond.wait(0.5)

    def finish(self, task: Task) -> None:
        """A fetch thread or a tab is done with `task`."""
        if task.kind != PAGE:
            super().finish(task)
            return
        with self._cond:
            self.active -= 1
            self._cond.notify_all()

    def acquire(self, url: str, deadline: float) -> str:
        """Take a per-host slot for one request a page makes: "ok", "robots" (disallowed),
        "timeout" or "stopped". The host's robots.txt must have been claimed (claim())."""
        key = host_key(url)
        with self._cond:
            while True:
                now = time.monotonic()
                if self.stopped:
                    return "stopped"
                if now >= deadline:
                    return "timeout"
                host = self._host(key)
                robots = host.robots
                if robots is _PENDING:
                    self._cond.wait(min(0.5, deadline - now))
                    continue
                if isinstance(robots, Robots) and not robots.allows(url):
                    return "robots"
                if host.active < self.per_host and host.next_at <= now:
                    host.active += 1
                    host.next_at = now + host.delay
                    return "ok"
                wake = host.next_at if host.active < self.per_host else now + 0.5
                self._cond.wait(max(0.001, min(wake, deadline) - now))

    def release(self, url: str, wait: float = 0.0) -> None:
        """Give the slot back; `wait` > 0 makes the host wait (backoff after an error)."""
        with self._cond:
            host = self._host(host_key(url))
            host.active -= 1
            if wait:
                host.next_at = max(host.next_at, time.monotonic() + wait)
            self._cond.notify_all()


@dataclass
class Served:
    """What the browser gets: status, headers (wire-only ones removed) and the decoded body."""

    status: int
    reason: str
    headers: List[Tuple[str, str]]
    body: bytes


@dataclass
class Outcome:
    """The result of `Net.obtain`: `served` for the browser, or `failed` (a CDP error reason).
    With hold=True, `resp` is the open response, not yet recorded, and `children` its links."""

    served: Optional[Served] = None
    failed: str = ""
    resp: Optional[Response] = None
    children: List[Task] = field(default_factory=list)
    title: str = ""
    task: Optional[Task] = None


def parse_head(head: bytes) -> Tuple[int, str, List[Tuple[str, str]]]:
    """(status, reason, headers) from a recorded status line and header block."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 200
    reason = parts[2] if len(parts) > 2 else ""
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip():
            headers.append((name.strip(), value.strip()))
    return status, reason, headers


def for_browser(status: int, reason: str, headers: List[Tuple[str, str]], body: bytes) -> Served:
    """The response as the browser must get it: decoded body, no wire-only headers."""
    kept = [(n, v) for n, v in headers if n.lower() not in _WIRE_HEADERS]
    return Served(status, reason, kept, body)


class Net:
    """Shared by all tabs: obtains each URL once (fetch, or read back from the WARC)."""

    def __init__(self, crawler: Crawler) -> None:
        """Use the crawler's fetcher, frontier, scope and recorder."""
        self.c = crawler
        self.frontier: BrowserFrontier = crawler.frontier  # type: ignore[assignment]
        self.lock = threading.Lock()
        self.inflight: dict[str, threading.Event] = {}
        self.blocked: Set[str] = set()

    # -- coordination with the fetch threads ------------------------------------------------
    def begin(self, url: str) -> bool:
        """Claim the fetch of `url`; False when it is recorded already or being fetched."""
        with self.lock:
            if url in self.c.rec.locations or url in self.inflight or url in self.blocked:
                return False
            self.inflight[url] = threading.Event()
            return True

    def end(self, url: str) -> None:
        """The fetch of `url` is over (recorded or failed): wake whoever waits for it."""
        with self.lock:
            event = self.inflight.pop(url, None)
        if event is not None:
            event.set()

    # -- one request of a page --------------------------------------------------------------
    def obtain(self, raw_url: str, task: Task, deadline: float, hold: bool = False) -> Outcome:
        """Get `raw_url` for a page (`task` says kind, depth and which page asks). Raises
        nothing; StopCrawl (disk failure) is passed on."""
        try:
            url = canonicalize(raw_url)
        except ValueError:
            return Outcome(failed="BlockedByClient")
        task.url = url
        if self.c.scope.excluded(url):
            return Outcome(failed="BlockedByClient")
        if hold:  # a tab's own page: the tab holds its begin()/end()
            return self._fetch(url, task, deadline, hold)
        while True:
            with self.lock:
                if url in self.blocked:
                    return Outcome(failed="BlockedByClient")
                located = self.c.rec.locations.get(url)
                event = self.inflight.get(url)
                if located is None and event is None:
                    self.inflight[url] = threading.Event()
                    break
            if located is not None:
                return self._from_archive(url, located, hold)
            assert event is not None
            if not event.wait(max(0.0, deadline - time.monotonic())):
                return Outcome(failed="TimedOut")
        try:
            return self._fetch(url, task, deadline, hold)
        finally:
            if not hold:
                self.end(url)

    def _from_archive(self, url: str, located: Tuple[str, int, Optional[str]],
                      hold: bool) -> Outcome:
        from mirrorkit.capture.browser_snapshot import read_recorded

        if hold:
            return Outcome(failed="Aborted")  # a page recorded already: not a page to render
        got = read_recorded(self.c.rec.out, located, self.c.rec.locations)
        if got is None:
            return Outcome(failed="Failed")
        status, reason, headers, body = got
        return Outcome(served=for_browser(status, reason, headers, body))

    def _fetch(self, url: str, task: Task, deadline: float, hold: bool) -> Outcome:
        rec, frontier, opts = self.c.rec, self.frontier, self.c.opts
        new = frontier.claim([task])
        robots_tasks = [t for t in new if t.kind == ROBOTS]
        if robots_tasks:
            rec.queued(robots_tasks)
            frontier.enqueue(robots_tasks)
        attempt = 0
        while True:
            got = frontier.acquire(url, deadline)
            if got == "robots":
                with self.lock:
                    self.blocked.add(url)
                rec.skipped(task, "robots")
                return Outcome(failed="BlockedByClient")
            if got != "ok":
                return Outcome(failed="TimedOut" if got == "timeout" else "Aborted")
            wait = 0.0
            try:
                resp = self.c.fetcher.fetch(url)
            except FetchError as err:
                wait = opts.backoff * 2 ** attempt
                if err.retryable and attempt < opts.retries and \
                        time.monotonic() + wait < deadline:
                    attempt += 1
                    frontier.release(url, wait)
                    continue
                frontier.release(url)
                rec.error(task, err.kind, err.message)
                return Outcome(failed="TimedOut" if err.kind == "timeout" else "Failed")
            status = resp.status
            if (status in (429, 503) or status >= 500) and attempt < opts.retries:
                wait = opts.backoff * 2 ** attempt
                if status in (429, 503):
                    wait = max(wait, retry_after(resp.header("retry-after"), wait))
                if time.monotonic() + wait < deadline:
                    resp.close()
                    attempt += 1
                    frontier.release(url, wait)
                    continue
            frontier.release(url)
            break
        try:
            children, robots, title = self.c._children(task, resp)
            status, reason, headers = parse_head(resp.head)
            body = resp.decoded(HAND_LIMIT) if resp.length <= HAND_LIMIT else b""
            served = for_browser(status, reason, headers, body)
            if hold:
                return Outcome(served=served, resp=resp, children=children, title=title,
                               task=task)
            claimed = frontier.claim(children)
            rec.fetched(task, resp, [task, *claimed], title)
            frontier.enqueue(claimed)
            if resp.length > HAND_LIMIT:
                return Outcome(failed="Failed")
            return Outcome(served=served)
        finally:
            if not hold:
                resp.close()
