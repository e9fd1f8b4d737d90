"""The frontier: what is left to fetch, handed to workers under per-host politeness.

At most `per_host` fetches run against one host at once, at least `delay` seconds apart, and no
URL of a host is fetched before its robots.txt is known. Requisites go before links, so each page
is complete before the crawl moves on.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Deque, Dict, Iterable, List, Optional, Set, Tuple

from mirrorkit.capture.robots import Robots, robots_url
from mirrorkit.capture.urls import host_key

# Redirect hops and Retry-After waits: the limits static and browser capture share.
MAX_HOPS = 10
MAX_RETRY_AFTER = 120.0


def retry_after(value: str, fallback: float) -> float:
    """Seconds to wait for a Retry-After value (seconds or an HTTP date), capped; `fallback`
    when it says nothing usable."""
    value = value.strip()
    if not value:
        return fallback
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return fallback
    return max(0.0, min(when - time.time(), MAX_RETRY_AFTER))


PAGE, REQ, ROBOTS = "page", "req", "robots"


@dataclass
class Task:
    """One URL to fetch: its kind (page, req, robots), link depth and redirect hops."""

    url: str
    kind: str
    depth: int = 0
    hops: int = 0
    via: str = ""
    attempt: int = 0

    def to_json(self) -> list:
        """Compact form for the journal."""
        return [self.url, self.kind, self.depth, self.hops, self.via]

    @classmethod
    def from_json(cls, data: list) -> Task:
        """Inverse of to_json."""
        return cls(data[0], data[1], int(data[2]), int(data[3]), data[4])


_PENDING = object()


@dataclass
class _Host:
    reqs: Deque[Task] = field(default_factory=deque)
    pages: Deque[Task] = field(default_factory=deque)
    active: int = 0
    next_at: float = 0.0
    delay: float = 0.0
    robots: object = None  # None: unknown, _PENDING: being fetched, Robots: known


class Frontier:
    """Thread-safe queue of Tasks with per-host limits; `get()` blocks until work or the end."""

    def __init__(self, *, per_host: int, delay: float, obey_robots: bool,
                 max_pages: Optional[int] = None, pages_done: int = 0) -> None:
        """Set up an empty frontier. Raises nothing."""
        self.per_host = max(1, per_host)
        self.delay = max(0.0, delay)
        self.obey_robots = obey_robots
        self.max_pages = max_pages
        self.pages_dispatched = pages_done
        self.seen: Set[str] = set()
        self.hosts: Dict[str, _Host] = {}
        self.queued = 0
        self.active = 0
        self.stopped = False
        self.skipped: List[Tuple[Task, str]] = []  # robots / max-pages, for the log
        self._cond = threading.Condition()

    def _host(self, key: str) -> _Host:
        host = self.hosts.get(key)
        if host is None:
            host = self.hosts[key] = _Host(delay=self.delay)
        return host

    def claim(self, tasks: Iterable[Task], force: bool = False) -> List[Task]:
        """Mark tasks as seen and return the new ones, with robots.txt tasks put before a new
        host's first URL. `force` keeps tasks already seen (resume). Raises nothing."""
        out: List[Task] = []
        with self._cond:
            for task in tasks:
                if task.url in self.seen and not force:
                    continue
                self.seen.add(task.url)
                key = host_key(task.url)
                host = self._host(key)
                if task.kind == ROBOTS:
                    host.robots = _PENDING if host.robots is None else host.robots
                elif self.obey_robots and host.robots is None:
                    host.robots = _PENDING
                    rurl = robots_url(key)
                    if rurl not in self.seen:
                        self.seen.add(rurl)
                        out.append(Task(rurl, ROBOTS, task.depth, 0, task.url))
                out.append(task)
        return out

    def enqueue(self, tasks: Iterable[Task]) -> None:
        """Queue claimed tasks for fetching."""
        with self._cond:
            for task in tasks:
                host = self._host(host_key(task.url))
                if task.kind == ROBOTS:
                    host.reqs.appendleft(task)
                elif task.kind == REQ or task.hops:
                    host.reqs.append(task)
                else:
                    host.pages.append(task)
                self.queued += 1
            self._cond.notify_all()

    def set_robots(self, key: str, robots: Robots) -> None:
        """Record a host's robots.txt rules (and its Crawl-delay) and release its queue."""
        with self._cond:
            host = self._host(key)
            host.robots = robots
            host.delay = max(host.delay, robots.crawl_delay())
            self._cond.notify_all()

    def retry(self, task: Task, wait: float) -> None:
        """Put a task back to be fetched again after `wait` seconds (the host waits too)."""
        with self._cond:
            host = self._host(host_key(task.url))
            task.attempt += 1
            host.reqs.appendleft(task)
            host.next_at = max(host.next_at, time.monotonic() + wait)
            self.queued += 1
            self._cond.notify_all()

    def finish(self, task: Task) -> None:
        """A worker is done with `task` (fetched, failed or re-queued)."""
        with self._cond:
            self.hosts[host_key(task.url)].active -= 1
            self.active -= 1
            self._cond.notify_all()

    def stop(self) -> None:
        """Make every `get()` return None from now on."""
        with self._cond:
            self.stopped = True
            self._cond.notify_all()

    @property
    def finished(self) -> bool:
        """Nothing queued and nothing in flight."""
        return self.queued == 0 and self.active == 0

    def _pick(self, now: float) -> Tuple[Optional[Task], float]:
        soonest = now + 1.0
        for key, host in list(self.hosts.items()):
            if not host.reqs and not host.pages:
                continue
            if host.active >= self.per_host:
                continue
            if host.next_at > now:
                soonest = min(soonest, host.next_at)
                continue
            robots = host.robots
            queue = host.reqs if host.reqs else host.pages
            if robots is _PENDING and queue[0].kind != ROBOTS:
                continue
            task = queue.popleft()
            self.queued -= 1
            if isinstance(robots, Robots) and task.kind != ROBOTS and not robots.allows(task.url):
                self.skipped.append((task, "robots"))
                return None, now  # look again at once
            if not self._count_page(task):
                return None, now
            host.active += 1
            self.active += 1
            host.next_at = now + host.delay
            # rotate: the next worker starts looking at another host
            self.hosts[key] = self.hosts.pop(key)
            return task, now
        return None, soonest

    def _over(self) -> bool:
        """Whether a waiting taker gets None: stopped, or finished (then all are woken)."""
        if self.stopped:
            return True
        if self.finished:
            self._cond.notify_all()
            return True
        return False

    def _count_page(self, task: Task) -> bool:
        """Count a first-hop page against --max-pages; False (and skipped) once over it."""
        if task.kind == PAGE and not task.hops and self.max_pages is not None:
            if self.pages_dispatched >= self.max_pages:
                self.skipped.append((task, "max-pages"))
                return False
            self.pages_dispatched += 1
        return True

    def get(self) -> Optional[Task]:
        """Block until a task may be fetched; None when the crawl is over or stopped."""
        with self._cond:
            while True:
                if self._over():
                    return None
                now = time.monotonic()
                task, wake = self._pick(now)
                if task is not None:
                    return task
                if wake <= now:
                    continue
                self._cond.wait(min(1.0, wake - now))
