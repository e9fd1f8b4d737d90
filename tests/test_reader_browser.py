"""READER.html in real headless Chromium on file://, phone-sized, every http(s) request blocked
and counted: the sample bundle through the file picker, fingerprint comparison, every page with
its images and styles, links, the GBK page, Chinese search; the single-file lite edition."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from reader_support import Phone, frame_images, frame_style, launch_browser, open_bundle, open_phone

from mirrorkit.reader import write_single_file

pytestmark = pytest.mark.browser

ACCENT = "rgb(180, 60, 20)"  # --accent in the sample site's main.css: nav links
GBK_TITLE = "新闻简报：流域村民的证词"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_browser()


def _fonts_ready(phone: Phone) -> Any:
    phone.frame_doc().evaluate("document.fonts.ready.then(() => 1)")
    return frame_style(phone)


def _check_page(phone: Phone, url: str, *, full: bool) -> Any:
    assert phone.show(url) == "shown", (url, phone.page.inner_text("#page-note"))
    style = _fonts_ready(phone)
    assert style["link"] == ACCENT, (url, style)
    assert "Lantern Sans" in style["font"], (url, style)
    if full:  # the web font and the images were archived (a lite edition keeps neither)
        assert "Lantern Sans" in style["fonts"], (url, style)
        for alt, src, width in frame_images(phone):
            assert src == "data:" and width > 0, (url, alt, src, width)
    return style


def test_sample_bundle_through_the_file_picker(browser: Any, sample_bundle: Any) -> None:
    phone = open_bundle(browser, sample_bundle.path)
    try:
        assert phone.settle() == "untrusted"
        assert phone.page.inner_text("#fingerprint") == sample_bundle.fingerprint
        assert "Lantern Rights Watch" in phone.page.inner_text("#publisher")
        # A wrong fingerprint is said to be wrong, and trusts nothing.
        phone.page.fill("#fp-input", "0000" * 16)
        assert phone.state == "untrusted"
        assert "NOT" in phone.page.inner_text("#match")
        # Spaces and case do not matter.
        phone.page.fill("#fp-input", sample_bundle.fingerprint.replace(" ", "").lower())
        assert phone.state == "trusted"

        listed = set(phone.listed())
        assert set(sample_bundle.pages) <= listed
        titles = {}
        for url in sample_bundle.pages:
            titles[url] = _check_page(phone, url, full=True)["title"]
        assert titles[sample_bundle.expected["gbk_page"]] == GBK_TITLE
        assert GBK_TITLE in phone.page.inner_text("#pages")

        # The home page shows its images, the partner's logo from another host included.
        home = sample_bundle.pages[0]
        phone.show(home)
        alts = {alt for alt, _src, width in frame_images(phone) if width > 0}
        assert {"Lantern Rights Watch", "The Silver River at dawn", "Partner logo"} <= alts
        # Links inside the page navigate inside the reader...
        assert phone.click_in_frame('a[href$="/about.html"]') == "shown"
        assert phone.page.get_attribute("#view", "data-url") == home + "about.html"
        assert frame_style(phone)["title"] == "About Lantern Rights Watch"
        phone.back()
        assert phone.page.get_attribute("#view", "data-url") == home
        # ... a redirect is followed inside the archive, and a link elsewhere is said to be so.
        assert phone.click_in_frame('a[href$="old-reports.html"]') == "shown"
        assert frame_style(phone)["title"].startswith("Reports, page 1")
        phone.show(home)
        partner = sample_bundle.expected["external_links"][0]  # a link to a host not captured
        phone.frame().locator(f'a[href="{partner}"]').first.click()
        phone.page.wait_for_selector("#page-note.bad", timeout=10000)
        assert "Not in this archive" in phone.page.inner_text("#page-note")

        # Search: a Chinese word (character bigrams), and an English one.
        assert sample_bundle.expected["gbk_page"] in phone.search("村民")
        found = phone.search("detention")
        assert found and found[0].endswith("2025-detention.html")

        # Scripts never ran: the petition page's counter stays as archived.
        phone.show(home + "petition.html")
        assert "signed" not in (phone.frame_doc().evaluate(
            "(document.getElementById('signature-count') || {}).textContent || ''"))
        assert phone.errors == []
    finally:
        phone.close()
    assert phone.network == []


def test_single_file_lite_edition_opens_by_itself(browser: Any, sample_bundle: Any,
                                                  tmp_path: Path) -> None:
    from mirrorkit.bundle import create_bundle
    from mirrorkit.trust.signing import generate_key

    capture = sample_bundle.path.parent / "capture"
    key = generate_key("Lantern Rights Watch")
    lite = create_bundle([capture], tmp_path / "lite.wacz", key=key, title="Lantern lite",
                         collection="lantern-lite", text=True, lite=True)
    edition = write_single_file(lite, tmp_path / "lantern.html")
    phone = open_phone(browser, edition.resolve().as_uri())
    try:
        assert phone.settle() == "untrusted"
        assert phone.page.inner_text("#fingerprint") == key.fingerprint
        assert not phone.page.is_visible("label[for=file]")  # no picker needed
        phone.page.fill("#fp-input", key.fingerprint)
        assert phone.state == "trusted"
        listed = phone.listed()
        # A lite edition drops revisits (index.html is one of "/"), so fewer pages than 16.
        assert len(listed) >= 12 and sample_bundle.expected["gbk_page"] in listed
        for url in listed:
            # A lite edition keeps HTML and CSS only: the stylesheet's colours still apply.
            _check_page(phone, url, full=False)
        phone.show(sample_bundle.expected["gbk_page"])
        assert frame_style(phone)["title"] == GBK_TITLE
        assert sample_bundle.expected["gbk_page"] in phone.search("流域")
        assert GBK_TITLE in phone.page.inner_text("#pages")
        assert phone.errors == []
    finally:
        phone.close()
    assert phone.network == []


def test_chinese_interface_and_switch(browser: Any, sample_bundle: Any) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 360, "height": 740},
                                  is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        from mirrorkit.reader import READER_PATH

        page.goto(READER_PATH.resolve().as_uri())
        assert page.inner_text("label[for=file]") == "打开存档包（.wacz）"
        page.set_input_files("#file", str(sample_bundle.path))
        page.wait_for_selector("html[data-state=untrusted]", state="attached", timeout=60000)
        assert "完整但尚未确认可信" in page.inner_text("#verdict-text")
        # Nothing is wider than a 360 px screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.click("#lang")
        assert page.inner_text("label[for=file]") == "Open a bundle (.wacz)"
    finally:
        context.close()


def test_drag_and_drop_opens_a_bundle(browser: Any, sample_bundle: Any) -> None:
    import base64

    phone = open_phone(browser)
    try:
        data = base64.b64encode(sample_bundle.path.read_bytes()).decode()
        transfer = phone.page.evaluate_handle(
            "(b64) => { const dt = new DataTransfer();"
            " const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));"
            " dt.items.add(new File([bytes], 'dropped.wacz')); return dt; }", data)
        phone.page.dispatch_event("body", "dragover", {"dataTransfer": transfer})
        phone.page.dispatch_event("body", "drop", {"dataTransfer": transfer})
        assert phone.settle() == "untrusted"
        assert phone.page.inner_text("#fingerprint") == sample_bundle.fingerprint
    finally:
        phone.close()
    assert phone.network == []
