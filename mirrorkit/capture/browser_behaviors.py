"""Behaviours run in a page after it loaded, each bounded in time: wait for the network to go
quiet, scroll until the page stops growing (infinite scroll, lazy images), click "load more"
controls a bounded number of times. (The live DOM's links are read with the snapshot.)"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, List, Optional

from mirrorkit.capture.browser_launch import page_script as _js

QUIET_FOR = 0.4  # seconds with no request in flight
SCROLL_STEPS = 200
STEP_PAUSE = 0.03  # after each scroll step and its frames, for the requests they start
BOTTOM_QUIET = 0.3  # at the bottom: quiet this long before deciding the page stopped growing
CLICKS = 12  # at most this many clicks per page
CLICKS_PER_CONTROL = 6

# Buttons and [role=button] that do not navigate: not submit buttons of a form, not links, not
# disabled, visible. `extra` is the user's --click-selector. Marks each control it returns.
FIND_CLICKABLE_JS = _js("click.js")

# After a click settled: a control whose click changed nothing is not clicked again.
CLICK_SETTLED_JS = _js("click_settled.js")

SCROLL_JS = _js("scroll.js")
# The live DOM's links as the snapshot reads them (snapshot.js), without touching the page.
LINKS_JS = _js("links.js")
SIZE_JS = """() => [(document.scrollingElement || document.documentElement).scrollHeight,
  document.getElementsByTagName("*").length]"""



async def wait_quiet(busy: Callable[[], int], last: Callable[[], float], until: float,
                     quiet_for: float = QUIET_FOR, since: float = 0.0) -> bool:
    """Wait until no request of the page is in flight and none ended for `quiet_for` s (counted
    from `since` at the earliest), or until `until`."""
    while True:
        now = time.monotonic()
        if now >= until:
            return False
        if busy():
            await asyncio.sleep(min(0.01, until - now))
            continue
        # Nothing in flight: sleep through the rest of the quiet time at once (four tabs polling
        # every 10 ms cost the event loop's thread CPU); a request that starts and ends meanwhile
        # moves last(), one still running shows in busy(), so the check after waking decides.
        left = max(last(), since) + quiet_for - now
        if left <= 0:
            return True
        await asyncio.sleep(min(left, until - now))


async def _scroll(page: Any, busy: Callable[[], int], last: Callable[[], float],
                  until: float, settled: Optional[Callable[[], Awaitable[None]]]) -> None:
    # Down a screen at a time, letting the page render and finish what each step started; at
    # the bottom, wait a moment for the network to go quiet, stop when the page did not grow.
    for _ in range(SCROLL_STEPS):
        if time.monotonic() >= until:
            return
        bottom, height, count = await page.evaluate(SCROLL_JS)
        now = time.monotonic()
        await wait_quiet(busy, last, min(until, now + 5), STEP_PAUSE, now)
        if settled is not None:
            await settled()
        if not bottom:
            continue
        now = time.monotonic()
        await wait_quiet(busy, last, min(until, now + 5), BOTTOM_QUIET, now)
        if await page.evaluate(SIZE_JS) == [height, count]:
            return  # the page did not grow while the network went quiet: the end


async def run_behaviors(page: Any, names: List[str], click_selector: str,
                        busy: Callable[[], int], last: Callable[[], float], until: float,
                        settled: Optional[Callable[[], Awaitable[None]]] = None) -> int:
    """Run the chosen behaviours in order; return how many ran. `settled` is awaited after each
    scroll step once its requests are done. Raises Playwright's errors when the page goes away."""
    ran = 0
    if "quiet" in names:
        ran += 1
        if "scroll" not in names:  # scrolling waits for what each step starts, and for the rest
            await wait_quiet(busy, last, until)
    if "scroll" in names and time.monotonic() < until:
        ran += 1
        await _scroll(page, busy, last, until, settled)
    if "click" in names and time.monotonic() < until:
        ran += 1
        for _ in range(CLICKS):
            if time.monotonic() >= until:
                break
            clicked = await page.evaluate(FIND_CLICKABLE_JS, [click_selector, CLICKS_PER_CONTROL])
            if not clicked:
                break
            await asyncio.sleep(0.15)
            await wait_quiet(busy, last, min(until, time.monotonic() + 5), 0.3)
            await page.evaluate(CLICK_SETTLED_JS)
            if "scroll" in names:  # what a click added may load more when scrolled to
                await _scroll(page, busy, last, until, settled)
    if "quiet" in names or "scroll" in names or "click" in names:
        await wait_quiet(busy, last, until)  # what the last step started
    return ran
