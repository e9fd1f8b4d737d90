"""Real headless Chromium replays the sample bundle and iana.org through waitress: pages render,
every request goes to the replay server, none anywhere else."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any, Iterator, List
from urllib.parse import urlsplit

import pytest
from reader_support import launch_browser

from mirrorkit.bundle import create_bundle
from mirrorkit.trust.signing import generate_key
from serve.server import ReplayServer, start_server

pytestmark = pytest.mark.browser

@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_browser()


@pytest.fixture(scope="module")
def served(sample_bundle: Any) -> Iterator[ReplayServer]:
    # With --scripts: this test also checks that the pages' own scripts work from the archive.
    server = start_server([sample_bundle.path], port=0, scripts=True)
    server.start_in_thread()
    assert server.bundles[0].wait_verified(60)
    yield server
    server.close()


def _not_blank(png: bytes) -> bool:
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB").resize((64, 64))
    return len(set(img.getdata())) > 8


def _same_origin(url: str, server: ReplayServer) -> bool:
    """From the reader's origin or one of its content origins, nothing else."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    ports = {server.port} | {b.content_port for b in server.bundles}
    return parts.hostname == "127.0.0.1" and parts.port in ports


def archived_frame(page: Any) -> Any:
    """The reader page's frame holding the archived page."""
    page.wait_for_selector("#mk-frame")
    return page.frame_locator("#mk-frame"), next(f for f in page.frames if f != page.main_frame
                                                 and f.parent_frame == page.main_frame)


def test_every_sample_page_renders_with_no_request_leaving(
        browser: Any, served: ReplayServer, sample_bundle: Any, tmp_path: Path) -> None:
    context = browser.new_context()
    requests: List[str] = []
    failed: List[str] = []
    context.on("request", lambda req: requests.append(req.url))
    context.on("requestfailed", lambda req: failed.append(req.url))
    page = context.new_page()
    titles = {}
    for n, url in enumerate(sample_bundle.pages):
        resp = page.goto(f"{served.url}sample/20300101000000/{url}", wait_until="networkidle")
        assert resp is not None and resp.status == 200, url
        # the trust display is the reader page's, outside the archived page
        assert page.locator("#mk-bar .verdict").count() == 1, url
        _locator, frame = archived_frame(page)
        assert frame.url.startswith(served.content_url("sample")), url
        assert page.url == f"{served.url}sample/20300101000000/{url}" or "/sample/" in page.url
        shot = page.screenshot(path=str(tmp_path / f"page-{n}.png"), full_page=True)
        assert _not_blank(shot), url
        titles[url] = frame.title()
        if url.endswith("petition.html"):
            # the page's script fetched its JSON through the archive
            frame.wait_for_function("document.getElementById('signature-count')"
                                    ".textContent.indexOf('signed') >= 0", timeout=5000)
        if url == sample_bundle.pages[0]:
            # the partner host's script ran from the archive too
            assert "Delta Legal Aid" in frame.inner_text("#partner-widget")
    context.close()
    leaks = [u for u in requests if not _same_origin(u, served)]
    assert leaks == []
    assert len(requests) > len(sample_bundle.pages) * 2  # pages and their requisites
    assert titles[sample_bundle.expected["gbk_page"]] == "新闻简报：流域村民的证词"
    # the River Diary's script-made requests are not in a static capture (test_capture_browser)
    js_only = tuple(sample_bundle.expected["js_requisites"])
    assert [u for u in failed if "favicon" not in u and not u.endswith(js_only)] == []


@pytest.mark.interop
def test_iana_renders_with_css_fonts_images(browser: Any, interop: Path, tmp_path: Path) -> None:
    key = generate_key("IANA test")
    wacz = create_bundle([interop / "iana.warc.gz"], tmp_path / "iana.wacz", key=key, title="IANA")
    server = start_server([wacz], port=0)
    server.start_in_thread()
    try:
        context = browser.new_context()
        responses: List[Any] = []
        context.on("response",
                   lambda r: responses.append((r.url, r.status, r.request.resource_type)))
        page = context.new_page()
        page.goto(f"{server.url}iana/20140126200624/http://www.iana.org/",
                  wait_until="networkidle")
        assert _not_blank(page.screenshot(path=str(tmp_path / "iana.png")))
        _locator, frame = archived_frame(page)
        font = frame.evaluate("getComputedStyle(document.body).fontFamily") \
            if False else _locator.locator("body").evaluate(
                "b => getComputedStyle(b).fontFamily")
        context.close()
    finally:
        server.close()
    by_type = {}
    for url, status, kind in responses:
        assert _same_origin(url, server), url
        if status == 200:
            by_type.setdefault(kind, []).append(url)
    assert by_type.get("stylesheet") and by_type.get("image") and by_type.get("font")
    assert "Open Sans" in font or "OpenSans" in font


@pytest.mark.interop
def test_replaywebpage_opens_the_raw_wacz_with_ranges(browser: Any, sample_bundle: Any) -> None:
    """ReplayWeb.page (served from the same origin under /rwp/) loads /<bundle>.wacz with Range
    requests and replays a page from it."""
    rwp_dir = Path(__file__).resolve().parents[1] / ".cache" / "replaywebpage"
    if not (rwp_dir / "sw.js").is_file():
        pytest.skip("ReplayWeb.page is not unpacked in .cache/replaywebpage (./dev setup)")
    from waitress.server import create_server
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.middleware.shared_data import SharedDataMiddleware

    from serve import create_app

    app = create_app([sample_bundle.path])

    def nothing(environ: Any, start: Any) -> List[bytes]:
        start("404 Not Found", [("Content-Type", "text/plain")])
        return [b""]

    wsgi = DispatcherMiddleware(app, {"/rwp": SharedDataMiddleware(nothing, {"/": str(rwp_dir)})})
    server = create_server(wsgi, host="127.0.0.1", port=0)
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{server.effective_port}"
    try:
        context = browser.new_context()
        ranges: List[int] = []
        context.on("response", lambda r: ranges.append(r.status)
                   if r.url.endswith("/sample.wacz") else None)
        page = context.new_page()
        home = sample_bundle.pages[0]
        page.goto(f"{base}/rwp/index.html?source={base}/sample.wacz#view=pages&url={home}")
        frame = None
        for _ in range(100):
            frame = next((f for f in page.frames if "/rwp/w/" in f.url and "mp_/" in f.url), None)
            if frame is not None:
                try:
                    if "Documenting the right to clean water" in frame.content():
                        break
                except Exception:  # the frame may navigate while we read it
                    pass
            page.wait_for_timeout(200)
        assert frame is not None and "Documenting the right to clean water" in frame.content()
        context.close()
    finally:
        server.close()
        app.extensions["mirrorkit"].close()
    assert 206 in ranges
