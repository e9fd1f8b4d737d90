"""Browser capture: pages are loaded in headless Chromium tabs; every request they make is paused
by CDP (`Fetch` at the request stage, so each redirect hop is paused too), fetched by the
crawler's fetcher (browser_net.py) and fulfilled with the decoded body, while the WARC keeps the
server's bytes. After the behaviours (browser_behaviors.py) the live DOM's links go to the
frontier and the rendered snapshot is written with the page's response (browser_snapshot.py).

Runs in its own thread with an asyncio loop (Playwright's async API); blocking work (frontier,
fetches, disk) runs in thread pools.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Set

from mirrorkit.capture.browser_behaviors import LINKS_JS, run_behaviors
from mirrorkit.capture.browser_launch import ARGS, DeadEnd, proxy_setting
from mirrorkit.capture.browser_net import Net, Outcome
from mirrorkit.capture.browser_snapshot import INIT_SCRIPT, SNAPSHOT_JS
from mirrorkit.capture.frontier import MAX_HOPS, PAGE, REQ, Task
from mirrorkit.capture.output import StopCrawl
from mirrorkit.capture.urls import canonicalize

if TYPE_CHECKING:
    from mirrorkit.capture.crawler import Crawler

VIEWPORT: Any = {"width": 1280, "height": 900}


class BrowserRun:
    """The tabs of one capture. `start()` launches; `join()` waits; errors land in `fatal`."""

    def __init__(self, crawler: Crawler, executable: str) -> None:
        """Prepare (nothing launched yet)."""
        self.c = crawler
        self.opts = crawler.opts
        self.executable = executable
        self.net = Net(crawler)
        self.dead_end = DeadEnd()
        self.fatal: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._thread, name="capture-browser", daemon=True)
        tabs = max(1, self.opts.tabs)
        self.fetch_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=tabs * max(2, self.opts.per_host) + 2, thread_name_prefix="capture-page")
        self.wait_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=tabs, thread_name_prefix="capture-tab")
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.opening: Optional[asyncio.Lock] = None
        self.browser: Any = None
        self.context: Any = None
        self.context_id = ""
        self.idle = 0  # tabs waiting for the frontier to give them a page

    def start(self) -> None:
        """Launch the browser thread."""
        self.thread.start()

    def is_alive(self) -> bool:
        """Whether the tabs are still working."""
        return self.thread.is_alive()

    def join(self, timeout: Optional[float] = None) -> None:
        """Wait for the tabs to end."""
        self.thread.join(timeout)

    def close(self) -> None:
        """Free the pools and the dead-end proxy (the browser is closed by its thread); say in
        crawl.log how many connections got past the interception (and were refused)."""
        if self.dead_end.escaped:
            seen = "; ".join(dict.fromkeys(self.dead_end.targets))
            self.c.rec.note("-", f"browser: {self.dead_end.escaped} connection(s) escaped the "
                                 f"interception and were refused ({seen or 'unknown'})")
        self.fetch_pool.shutdown(wait=False, cancel_futures=True)
        self.wait_pool.shutdown(wait=False, cancel_futures=True)
        self.dead_end.close()

    def _thread(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as err:  # reported by the crawler, never lost in a thread
            self.fatal = err
            self.c.stop.set()
            self.c.frontier.stop()

    async def _main(self) -> None:
        from playwright.async_api import async_playwright

        self.loop = asyncio.get_running_loop()
        self.opening = asyncio.Lock()
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=self.executable, headless=True, args=ARGS,
                # always the dead end, even with --proxy: the crawler's fetcher carries every page
                # request through --proxy, and what the browser would send on its own (Chromium's
                # update and account checks, WebSockets) is refused rather than sent via Tor
                proxy=proxy_setting(self.dead_end.port),  # type: ignore[arg-type]
                handle_sigint=False, handle_sigterm=False, handle_sighup=False,
                timeout=max(30_000, self.opts.page_timeout * 1000))
            try:
                self.browser = browser
                context = self.context = await browser.new_context(
                    service_workers="block", accept_downloads=False, viewport=VIEWPORT,
                    user_agent=self.opts.user_agent, ignore_https_errors=True)
                await context.add_init_script(INIT_SCRIPT)
                tabs = [Tab(self, context) for _ in range(max(1, self.opts.tabs))]
                await asyncio.gather(*(t.run() for t in tabs))
            finally:
                await browser.close()

    async def new_page(self) -> Any:
        """A page for a tab, in a window of its own: Chromium renders only the front tab of a
        window at the frame rate, a tab behind it waits up to a second for a frame, so scrolling
        (one frame per step) and lazy images stall there. Raises Playwright's errors."""
        assert self.opening is not None
        async with self.opening:  # the other tabs' windows open together once this is known
            if not self.context_id:  # the context's first page opens the context's first window
                page = await self.context.new_page()
                self.context_id = (await _target_info(self.context, page))["browserContextId"]
                return page
        known = {id(p) for p in self.context.pages}
        try:
            cdp = await self.browser.new_browser_cdp_session()
            made = await cdp.send("Target.createTarget", {
                "url": "about:blank", "browserContextId": self.context_id, "newWindow": True})
            await _quietly(cdp.detach())
        except Exception:  # a browser without windows (headless shell): a tab, then
            return await self.context.new_page()
        # Playwright announces the page once it has set it up; other tabs' windows and pop-ups
        # may appear meanwhile, so the page is told apart by its target id
        for _ in range(1000):
            for page in self.context.pages:
                if id(page) in known:
                    continue
                known.add(id(page))
                try:
                    target = (await _target_info(self.context, page))["targetId"]
                except Exception:  # a pop-up closed meanwhile: not ours
                    continue
                if target == made["targetId"]:
                    return page
            await asyncio.sleep(0.01)
        raise RuntimeError("browser: the new tab's window did not appear")

    async def blocking(self, fn: Any, *args: Any, pool: Any = None) -> Any:
        """Run blocking `fn(*args)` in a pool thread."""
        assert self.loop is not None
        return await self.loop.run_in_executor(pool or self.fetch_pool, fn, *args)


class Tab:
    """One tab: takes pages from the frontier until the crawl ends."""

    def __init__(self, run: BrowserRun, context: Any) -> None:
        """Bind to the run; the page is opened in run()."""
        self.run_ = run
        self.c = run.c
        self.opts = run.opts
        self.context = context
        self.page: Any = None
        self.cdp: Any = None
        self.main_frame = ""
        self.gen = 0
        self.task: Optional[Task] = None
        self.allowed: Set[str] = set()
        self.doc: Optional[Outcome] = None
        self.pending: Dict[int, int] = {}  # requests in flight, by page generation
        self.last = 0.0
        self.requests = 0
        self.sending: Set[asyncio.Future[None]] = set()

    async def _open(self) -> None:
        self.page = await self.run_.new_page()
        self.page.on("dialog", lambda d: asyncio.ensure_future(_quietly(d.dismiss())))
        self.page.on("popup", lambda p: asyncio.ensure_future(self._popup(p)))
        self.cdp = await self.context.new_cdp_session(self.page)
        self.cdp.on("Fetch.requestPaused", lambda ev: asyncio.ensure_future(self._paused(ev)))
        await self.cdp.send("Fetch.enable", {"patterns": [{"urlPattern": "*",
                                                           "requestStage": "Request"}]})
        tree = await self.cdp.send("Page.getFrameTree")
        self.main_frame = tree["frameTree"]["frame"]["id"]

    async def run(self) -> None:
        """Load pages until the frontier has none left."""
        await self._open()
        while not self.c.stop.is_set():
            self.run_.idle += 1
            try:
                task = await self.run_.blocking(self.run_.net.frontier.get_page,
                                               pool=self.run_.wait_pool)
            finally:
                self.run_.idle -= 1
            if task is None:
                return
            try:
                await self._capture(task)
            except StopCrawl as err:
                self.c.fatal = self.c.fatal or err
                self.c.stop.set()
                self.c.frontier.stop()
            except Exception as err:
                self.c.rec.error(task, "internal", f"browser: {type(err).__name__}: {err}")
                if self.page.is_closed():
                    await self._open()
            finally:
                self._release_doc()
                self.c.frontier.finish(task)

    def _release_doc(self) -> None:
        doc, self.doc = self.doc, None
        if doc is not None and doc.resp is not None:
            doc.resp.close()
        if self.task is not None:
            self.run_.net.end(self.task.url)
        self.task = None

    # -- one page -----------------------------------------------------------------------------
    async def _capture(self, task: Task) -> None:
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        if not self.run_.net.begin(task.url):
            return  # recorded already (resume) or being captured by another tab
        self.gen += 1
        self.task, self.allowed, self.doc = task, {task.url}, None
        self.requests, self.last = 0, time.monotonic()
        gen = self.gen
        timeout = self.opts.page_timeout
        timed_out = False
        try:
            await self.page.goto(task.url, timeout=timeout * 1000, wait_until="load")
        except PlaywrightTimeout:
            timed_out = True
        except PlaywrightError:
            pass  # navigation aborted (not HTML, error status, redirect elsewhere) or failed
        doc = self.doc
        if doc is None or doc.resp is None or self.task is None:
            await self._blank()
            return
        page_task = self.task
        until = time.monotonic() + timeout
        behaviors = 0
        try:
            behaviors = await run_behaviors(self.page, self.opts.behaviors,
                                            self.opts.click_selector,
                                            lambda: self.pending.get(gen, 0),
                                            lambda: self.last, until,
                                            lambda: self._early_links(page_task))
            snap: Dict[str, Any] = await asyncio.wait_for(self.page.evaluate(SNAPSHOT_JS),
                                                          max(1.0, until - time.monotonic()))
            links: List[str] = snap.get("links") or []
            shot = None
            if self.opts.screenshots:
                shot = await self.page.screenshot(type="png", timeout=timeout * 1000)
        except (PlaywrightError, asyncio.TimeoutError) as err:
            # the page hung in its scripts: keep what was fetched, record without a snapshot
            timed_out = True
            links, snap, shot = [], {}, None
            self.c.rec.note(page_task.url, f"browser: no snapshot ({str(err)[:120]})")
        if self.c.stop.is_set():
            return
        claimed = self.c.frontier.claim(list(doc.children) + self._link_tasks(page_task, links))
        title = snap.get("title") or doc.title
        info: Dict[str, Any] = {"br": 1, "pr": self.requests, "bh": behaviors,
                                "to": int(timed_out)}
        if snap.get("html"):
            info["snapshot"] = snap["html"]
        if shot:
            info["screenshot"] = shot
        assert doc.resp is not None
        await self.run_.blocking(self.c.rec.fetched, page_task, doc.resp, claimed, title, info)
        self.c.frontier.enqueue(claimed)
        await self._blank()

    def _link_tasks(self, page_task: Task, links: List[str]) -> List[Task]:
        # The live DOM's links as pages to capture (in scope, within --depth).
        if self.opts.depth is not None and page_task.depth + 1 > self.opts.depth:
            return []
        out = []
        for link in links:
            try:
                url = canonicalize(link)
            except ValueError:
                continue
            if self.c.scope.follows(url):
                out.append(Task(url, PAGE, page_task.depth + 1, 0, page_task.url))
        return out

    async def _early_links(self, page_task: Task) -> None:
        # After a scroll step settled, while another tab has nothing to do (the crawl's start, a
        # narrow site): the links the page's scripts built so far go to the frontier now rather
        # than after the behaviours. Journaled as queued, so a kill does not lose them; the
        # snapshot's links are claimed again later, and only the new ones count then.
        if not self.run_.idle:
            return
        links: List[str] = await self.page.evaluate(LINKS_JS)
        claimed = self.c.frontier.claim(self._link_tasks(page_task, links))
        if claimed:
            self.c.rec.queued(claimed)
            self.c.frontier.enqueue(claimed)

    async def _blank(self) -> None:
        # Stops whatever the page still loads; about:blank makes no request. Its commit is
        # enough: the old document (and whatever it would still fetch) is gone by then.
        self.gen += 1
        with contextlib.suppress(Exception):
            await self.page.goto("about:blank", timeout=5000, wait_until="commit")

    async def _popup(self, popup: Any) -> None:
        # A pop-up is a page of its own: its URL goes to the frontier (in scope), it is closed.
        try:
            url = popup.url
            if url in ("", "about:blank"):
                req = await popup.wait_for_event("request", timeout=3000)
                url = req.url
            task = self.task
            if task is not None:
                target = canonicalize(url)
                if self.c.scope.follows(target):
                    claimed = self.c.frontier.claim([Task(target, PAGE, task.depth + 1, 0,
                                                          task.url)])
                    self.c.rec.queued(claimed)
                    self.c.frontier.enqueue(claimed)
        except Exception:
            pass
        await _quietly(popup.close())

    # -- interception -------------------------------------------------------------------------
    async def _paused(self, ev: Dict[str, Any]) -> None:
        rid = ev["requestId"]
        req = ev["request"]
        url = req["url"]
        gen = self.gen
        self.pending[gen] = self.pending.get(gen, 0) + 1
        try:
            if req.get("method", "GET") != "GET":
                self.c.rec.note(url, f"browser: {req.get('method')} request not fetched "
                                     "(only GET is recorded)")
                await self._fail(rid, "BlockedByClient")
                return
            main_doc = ev.get("resourceType") == "Document" and ev.get("frameId") == self.main_frame
            task = self.task
            if task is None:
                await self._fail(rid, "Aborted")
                return
            deadline = time.monotonic() + self.opts.page_timeout
            if main_doc:
                await self._document(rid, url, task, gen, deadline)
                return
            if ev.get("resourceType") == "Other" and url.endswith("/favicon.ico") \
                    and url not in self.c.frontier.seen:
                await self._fail(rid, "BlockedByClient")  # Chromium's own guess, not the page's
                return
            self.requests += 1
            sub = Task(url, REQ, task.depth, 0, task.url)
            out = await self.run_.blocking(self.run_.net.obtain, url, sub, deadline)
            await self._answer(rid, out)
        except StopCrawl as err:
            self.c.fatal = self.c.fatal or err
            self.c.stop.set()
            self.c.frontier.stop()
            await self._fail(rid, "Aborted")
        except Exception:
            await self._fail(rid, "Failed")
        finally:
            left = self.pending[gen] = self.pending[gen] - 1
            if not left:
                del self.pending[gen]
            self.last = time.monotonic()

    async def _document(self, rid: str, url: str, task: Task, gen: int, deadline: float) -> None:
        try:
            canon = canonicalize(url)
        except ValueError:
            await self._fail(rid, "BlockedByClient")
            return
        if canon not in self.allowed or self.doc is not None:
            # a navigation after load (link clicked, location set, meta refresh): a page of its
            # own, captured in its turn
            depth_ok = self.opts.depth is None or task.depth + 1 <= self.opts.depth
            if depth_ok and self.c.scope.follows(canon):
                claimed = self.c.frontier.claim([Task(canon, PAGE, task.depth + 1, 0, task.url)])
                self.c.rec.queued(claimed)
                self.c.frontier.enqueue(claimed)
            await self._fail(rid, "Aborted")
            return
        if canon != task.url:  # a redirect hop: its target was claimed when the 3xx came
            task = self.task = Task(canon, PAGE, task.depth, task.hops + 1, task.url)
        out = await self.run_.blocking(self.run_.net.obtain, canon, task, deadline, True)
        if gen != self.gen or out.resp is None or out.served is None:
            if out.resp is not None:  # the tab moved on: record it as a plain fetch
                await self.run_.blocking(self._record_plain, task, out, out.children)
            await self._fail(rid, out.failed or "Aborted")
            return
        resp, status = out.resp, out.resp.status
        if 300 <= status < 400:
            hops = [t for t in out.children if t.hops > task.hops][:1]
            claimed = self.c.frontier.claim(hops) if task.hops < MAX_HOPS else []
            # the hop's target is journaled with the 3xx (so a kill retries it) and followed by
            # this tab (Chromium asks for it again, paused like any request): not queued
            await self.run_.blocking(self._record_plain, task, out, claimed, False)
            self.c.frontier.enqueue([t for t in claimed if t.kind != PAGE])
            target = [t for t in claimed if t.kind == PAGE]
            if target and self.run_.net.begin(target[0].url):
                self.allowed.add(target[0].url)
                await self._answer(rid, out)
            else:
                await self._fail(rid, "Aborted")
            return
        html = "html" in resp.header("content-type").lower()
        if status >= 300 or status < 200 or not html or resp.truncated:
            # not a page to render: recorded as the static crawl would
            await self.run_.blocking(self._record_plain, task, out, out.children)
            await self._fail(rid, "Aborted")
            return
        self.doc = out
        await self._answer(rid, out)

    def _record_plain(self, task: Task, out: Outcome, children: List[Task],
                      enqueue: bool = True) -> None:
        assert out.resp is not None
        try:
            claimed = self.c.frontier.claim(children) if enqueue else children
            self.c.rec.fetched(task, out.resp, claimed, out.title)
            if enqueue:
                self.c.frontier.enqueue(claimed)
        finally:
            out.resp.close()
            out.resp = None
            self.run_.net.end(task.url)

    async def _answer(self, rid: str, out: Outcome) -> None:
        if out.served is None:
            await self._fail(rid, out.failed or "Failed")
            return
        s = out.served
        params: Dict[str, Any] = {
            "requestId": rid, "responseCode": s.status,
            "responseHeaders": [{"name": n, "value": v} for n, v in s.headers],
            "body": base64.b64encode(s.body).decode("ascii")}
        if s.reason:
            params["responsePhrase"] = s.reason
        self._send("Fetch.fulfillRequest", params)

    async def _fail(self, rid: str, reason: str) -> None:
        self._send("Fetch.failRequest", {"requestId": rid, "errorReason": reason})

    def _send(self, method: str, params: Dict[str, Any]) -> None:
        # The answer is on its way once sent; waiting for Chromium's acknowledgement (a round
        # trip through Playwright's driver, ~10 ms) would only keep the request counted as in
        # flight and every quiet wait longer. Sends leave in the order they are made.
        sent = asyncio.ensure_future(_quietly(self.cdp.send(method, params)))
        self.sending.add(sent)
        sent.add_done_callback(self.sending.discard)


async def _target_info(context: Any, page: Any) -> Dict[str, Any]:
    cdp = await context.new_cdp_session(page)
    try:
        info: Dict[str, Any] = (await cdp.send("Target.getTargetInfo"))["targetInfo"]
        return info
    finally:
        await _quietly(cdp.detach())


async def _quietly(awaitable: Any) -> None:
    # The page or request may be gone by now (timed out, closed): nothing to answer any more.
    with contextlib.suppress(Exception):
        await awaitable
