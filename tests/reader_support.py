"""Test support for READER.html: a phone-sized Chromium context on file:// with every http(s)
request blocked and counted, and helpers that drive the reader's page list and frame.

Not collected by pytest (no test_ prefix).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, List, Optional

import pytest

from mirrorkit.reader import READER_PATH

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
SETTLED = "html[data-state=untrusted], html[data-state=failed], html[data-state=trusted]"
SHOWN = ("#view[data-page=shown], #view[data-page=missing], #view[data-page=damaged], "
         "#view[data-page=undecodable]")


def launch_browser() -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@dataclass
class Phone:
    """One reader tab on a phone-sized screen; `network` lists every http(s) URL it tried."""

    context: Any
    page: Any
    network: List[str] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)
    workers: List[str] = field(default_factory=list)

    def close(self) -> None:
        self.context.close()

    @property
    def state(self) -> str:
        return str(self.page.evaluate("document.documentElement.dataset.state"))

    def settle(self, timeout: float = 60000) -> str:
        """Waits for the verdict after the background check (never `verifying`)."""
        self.page.wait_for_selector(SETTLED, state="attached", timeout=timeout)
        return self.state

    def frame(self) -> Any:
        return self.page.frame_locator("#view")

    def frame_doc(self) -> Any:
        handle = self.page.query_selector("#view")
        assert handle is not None
        frame = handle.content_frame()
        assert frame is not None
        return frame

    def show(self, url: str) -> str:
        """Clicks `url` in the page list; returns the frame's outcome (shown/missing/damaged)."""
        self.page.evaluate("document.querySelector('#view').dataset.page = 'loading'")
        if self.page.is_visible("#to-list"):
            self.page.click("#to-list")
        if self.page.input_value("#search"):
            self.page.fill("#search", "")
        link = self.page.locator(f'#pages a.page[data-url="{url}"]').first
        link.tap()
        return self.wait_page()

    def wait_page(self) -> str:
        self.page.wait_for_selector(SHOWN, state="attached", timeout=30000)
        return str(self.page.get_attribute("#view", "data-page"))

    def search(self, text: str) -> List[str]:
        """Types `text` into the search field; returns the URLs found, in order."""
        if self.page.is_visible("#to-list"):
            self.page.click("#to-list")
        self.page.fill("#search", text)
        self.page.wait_for_selector(f'#pages[data-search="{text}"]', state="attached",
                                    timeout=30000)
        return self.listed()

    def back(self) -> str:
        self.page.evaluate("document.querySelector('#view').dataset.page = 'loading'")
        self.page.click("#back")
        return self.wait_page()

    def listed(self) -> List[str]:
        """URLs in the page list as shown."""
        return list(self.page.eval_on_selector_all(
            "#pages a.page", "els => els.map(e => e.dataset.url)"))

    def click_in_frame(self, selector: str) -> str:
        self.page.evaluate("document.querySelector('#view').dataset.page = 'loading'")
        self.frame().locator(selector).first.click()
        return self.wait_page()


def open_phone(browser: Any, url: Optional[str] = None) -> Phone:
    context = browser.new_context(**PHONE)
    phone = Phone(context, None)  # type: ignore[arg-type]

    def block(route: Any) -> None:
        phone.network.append(route.request.url)
        route.abort()

    context.route("http://**/*", block)
    context.route("https://**/*", block)
    context.on("request", lambda r: phone.network.append(r.url)
               if r.url.startswith(("http:", "https:", "ws:", "wss:")) else None)
    page = context.new_page()
    page.on("pageerror", lambda e: phone.errors.append(str(e)))
    page.on("worker", lambda w: phone.workers.append(w.url))
    phone.page = page
    page.goto(url or READER_PATH.resolve().as_uri())
    return phone


def open_bundle(browser: Any, bundle: Path) -> Phone:
    """The reader on file://, with `bundle` chosen through its file picker."""
    phone = open_phone(browser)
    phone.page.set_input_files("#file", str(bundle))
    phone.page.wait_for_selector("#reading:not([hidden]), #open-status.bad", state="attached",
                                 timeout=30000)
    return phone


def frame_images(phone: Phone) -> List[Any]:
    return phone.frame_doc().evaluate(
        "[...document.images].map(i => [i.getAttribute('alt'), "
        "(i.getAttribute('src') || '').slice(0, 5), i.naturalWidth])")


def frame_style(phone: Phone) -> Any:
    return phone.frame_doc().evaluate(
        "(() => { const a = document.querySelector('nav a');"
        " const s = getComputedStyle(document.body);"
        " return {link: a ? getComputedStyle(a).color : null, font: s.fontFamily,"
        " fonts: [...document.fonts].filter(f => f.status === 'loaded').map(f => f.family),"
        " title: document.title}; })()")
