"""Behaviours run in a page after it loaded, each bounded in time: wait for the network to go
quiet, scroll until the page stops growing (infinite scroll, lazy images), click "load more"
controls a bounded number of times. Then the links of the live DOM are read."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, List

from mirrorkit.capture.browser_launch import page_script as _js

QUIET_FOR = 0.5  # seconds with no request in flight
SCROLL_STEPS = 200
STILL_FOR = 1.0  # seconds at the bottom without growth before scrolling stops
CLICKS = 12  # at most this many clicks per page
CLICKS_PER_CONTROL = 6

# Buttons and [role=button] that do not navigate: not submit buttons of a form, not links, not
# disabled, visible. `extra` is the user's --click-selector. Marks each control it returns.
FIND_CLICKABLE_JS = _js("click.js")

# After a click settled: a control whose click changed nothing is not clicked again.
CLICK_SETTLED_JS = _js("click_settled.js")

SCROLL_JS = _js("scroll.js")

LINKS_JS = _js("links.js")


async def wait_quiet(busy: Callable[[], int], last: Callable[[], float], until: float,
                     quiet_for: float = QUIET_FOR) -> bool:
    """Wait until no request of the page is in flight for `quiet_for` s, or `until`."""
    while time.monotonic() < until:
        if busy() == 0 and time.monotonic() - last() >= quiet_for:
            return True
        await asyncio.sleep(0.05)
    return False


async def _scroll(page: Any, busy: Callable[[], int], last: Callable[[], float],
                  until: float) -> None:
    # Down a screen at a time; at the bottom, wait for the page to grow; stop when it stayed
    # the same for STILL_FOR seconds (or the time is up).
    previous = None
    since = time.monotonic()
    for _ in range(SCROLL_STEPS):
        if time.monotonic() >= until:
            return
        bottom, height, count = await page.evaluate(SCROLL_JS)
        await asyncio.sleep(0.15)  # let observers fire and fetches start
        await wait_quiet(busy, last, min(until, time.monotonic() + 5), 0.3)
        if not bottom:
            continue
        if (height, count) != previous:
            previous, since = (height, count), time.monotonic()
        elif time.monotonic() - since >= STILL_FOR:
            return
        else:
            await asyncio.sleep(0.1)


async def run_behaviors(page: Any, names: List[str], click_selector: str,
                        busy: Callable[[], int], last: Callable[[], float], until: float) -> int:
    """Run the chosen behaviours in order; return how many ran. Raises Playwright's errors when
    the page goes away."""
    ran = 0
    if "quiet" in names:
        await wait_quiet(busy, last, until)
        ran += 1
    if "scroll" in names and time.monotonic() < until:
        ran += 1
        await _scroll(page, busy, last, until)
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
                await _scroll(page, busy, last, until)
    if ran:
        await wait_quiet(busy, last, until)
    return ran
