"""`capture --browser` on the sample site's JavaScript-built blog, with real headless Chromium:
what scripts build is recorded (and a static capture misses it), records are valid and exact,
and replay with the site stopped shows every script-built item, from archived scripts running
(client-side rewriting) and from the rendered snapshot (scripts off)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List
from urllib.parse import urlsplit

import pytest
from warcio.archiveiterator import ArchiveIterator

from mirrorkit.bundle import create_bundle
from mirrorkit.cli import main
from mirrorkit.formats.warc import target_uri, warc_files
from mirrorkit.sample_site import BLOG_POSTS, SampleSite
from mirrorkit.trust.signing import generate_key

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
BIN = Path(sys.executable).parent
WARCIO = str(BIN / "warcio")
TS = "20300101000000"


def have_browser() -> None:
    pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")


@dataclass
class Captures:
    browser: Path
    static: Path
    expected: Dict[str, Any]
    summary: Dict[str, Any]
    site_log: List[Any]


def records(out: Path) -> List[Any]:
    """(type, uri, warc headers, http headers, raw payload) of every record, in order."""
    got = []
    for path in warc_files(out):
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                raw = rec.raw_stream.read()
                got.append((rec.rec_type, target_uri(rec), rec.rec_headers, rec.http_headers,
                            raw))
    return got


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> Captures:
    have_browser()
    base = tmp_path_factory.mktemp("browser-capture")
    with SampleSite() as site:
        out = base / "browser"
        argv = ["capture", site.url, "-o", str(out), "--browser", "--screenshots",
                "--chromium", CHROMIUM, "--json"]
        result = subprocess.run([sys.executable, "-m", "mirrorkit", *argv], capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        summary = json.loads(result.stdout)
        assert main(["capture", site.url, "-o", str(base / "static"), "--quiet"]) == 0
        expected = site.expected
        log = list(site.requests_log)
    return Captures(out, base / "static", expected, summary, log)


def test_warcs_pass_warcio_check(captures: Captures) -> None:
    files = [str(p) for p in warc_files(captures.browser)]
    result = subprocess.run([WARCIO, "check", *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_script_built_content_is_captured_and_static_capture_misses_it(
        captures: Captures) -> None:
    exp = captures.expected
    js = exp["js_pages"] + exp["js_requisites"]
    browser = {uri for t, uri, *_ in records(captures.browser) if t in ("response", "revisit")}
    static = {uri for t, uri, *_ in records(captures.static) if t in ("response", "revisit")}
    assert [u for u in js if u not in browser] == []
    assert [u for u in js if u in static] == []  # none of it: cannot pass by accident
    # the browser capture holds everything the static one does, too
    assert [u for u in exp["pages"] + exp["requisites"] if u not in browser] == []
    # robots.txt holds for script-made requests as for links
    assert not set(exp["js_disallowed"] + exp["disallowed"]) & browser
    assert not any(p.startswith("/private/") for _m, p, _h in captures.site_log)
    log = (captures.browser / "crawl.log").read_text("utf-8")
    assert f"{exp['js_disallowed'][0]} skipped: robots" in log


def test_summary_counts_browser_work(captures: Captures) -> None:
    s = captures.summary
    pages = captures.expected["pages"] + captures.expected["js_pages"]
    assert s["browser_pages"] >= len(pages) - 1  # "/" and index.html are one page (revisit)
    assert s["page_requests"] > len(captures.expected["js_requisites"])
    assert s["behaviors_run"] == 3 * s["browser_pages"]
    assert s["pages_timed_out"] == 0
    assert s["complete"] is True


def test_every_page_found_is_in_the_page_list(captures: Captures) -> None:
    lines = (captures.browser / "pages.jsonl").read_text("utf-8").splitlines()[1:]
    listed = {json.loads(line)["url"] for line in lines}
    exp = captures.expected
    assert set(exp["pages"] + exp["js_pages"]) <= listed | {exp["pages"][0] + "index.html"}


def test_gzip_bodies_stay_gzip_with_a_correct_digest(captures: Captures) -> None:
    # js/blog.js is sent gzip-encoded; the browser got it decoded, the WARC keeps the gzip bytes
    blog_js = captures.expected["pages"][0] + "js/blog.js"
    found = 0
    for path in warc_files(captures.browser):
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type == "response" and target_uri(rec) == blog_js:
                    found += 1
                    assert rec.http_headers.get_header("Content-Encoding") == "gzip"
                    body = rec.raw_stream.read()
                    assert body[:2] == b"\x1f\x8b"
                    want = "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()
                    assert rec.rec_headers.get_header("WARC-Payload-Digest") == want
    assert found == 1


def test_snapshot_and_screenshot_records(captures: Captures) -> None:
    blog = captures.expected["blog"]
    recs = records(captures.browser)
    ids = {h.get_header("WARC-Record-ID"): (t, u, h) for t, u, h, _hh, _r in recs}
    snaps = [r for r in recs if r[0] == "conversion" and r[1] == "urn:snapshot:" + blog]
    assert len(snaps) == 1
    _t, _u, headers, http_headers, raw = snaps[0]
    assert http_headers is None
    assert headers.get_header("Content-Type") == "text/html; charset=utf-8"
    assert headers.get_header("WARC-Refers-To-Target-URI") == blog
    refers = ids[headers.get_header("WARC-Refers-To")]
    assert refers[0] == "response" and refers[1] == blog
    assert headers.get_header("WARC-Refers-To-Date") == refers[2].get_header("WARC-Date")
    html = raw.decode("utf-8")
    assert html.count('class="post js-post"') == BLOG_POSTS
    assert "最新文章" in html and "第一口井" in html
    # what outerHTML leaves out, folded in: the CSSOM rule and the FontFace font
    assert 'data-mirrorkit="cssom"' in html  # the FontFace font, as @font-face
    assert "img/blog/footer-bg.png" in html  # the insertRule rule, as the <style>'s text
    assert "@font-face" in html and "Lantern Diary" in html and "lantern-blog.woff2" in html
    # URLs stay as the page had them (absolute live URLs)
    assert captures.expected["pages"][0] + "img/blog/post-1.png" in html
    shots = [r for r in recs if r[0] == "resource" and r[1] == "urn:screenshot:" + blog]
    assert len(shots) == 1 and shots[0][4][:8] == b"\x89PNG\r\n\x1a\n"
    assert shots[0][2].get_header("Content-Type") == "image/png"


# -- replay ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundles(captures: Captures, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    base = tmp_path_factory.mktemp("browser-bundles")
    key = generate_key("Lantern Rights Watch")
    out = {}
    for name, folder in (("jsdemo", captures.browser), ("flat", captures.static)):
        out[name] = Path(create_bundle([folder], base / f"{name}.wacz", key=key, title=name,
                                       collection="lantern", sequence=1, text=True))
    return out


def _start(bundles: Dict[str, Path], scripts: bool) -> Any:
    from serve.server import start_server

    server = start_server(list(bundles.values()), port=0, scripts=scripts)
    server.start_in_thread()
    # scripts run only once a bundle verified; safe mode waits too, so both see the same state
    assert server.app.extensions["mirrorkit"].wait_verified(120)
    assert {b.state for b in server.bundles} <= {"trusted", "untrusted"}
    return server


@pytest.fixture(scope="module")
def replay(bundles: Dict[str, Path]) -> Iterator[Any]:
    """Both bundles served with archived scripts running (``serve --scripts``)."""
    server = _start(bundles, scripts=True)
    yield server
    server.close()


@pytest.fixture(scope="module")
def safe_replay(bundles: Dict[str, Path]) -> Iterator[Any]:
    """Both bundles served in the default safe mode: archived scripts do not run."""
    server = _start(bundles, scripts=False)
    yield server
    server.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    have_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu",
                                          "--disable-background-networking",
                                          "--disable-component-update", "--disable-sync",
                                          "--no-first-run"])
        yield browser
        browser.close()


# What the page shows that its script built: posts (text and images), menu links, the inserted
# stylesheet's and the CSSOM rule's backgrounds (loaded), the FontFace font (loaded).
_VISIBLE_JS = r"""async () => {
  const imgs = Array.from(document.querySelectorAll("article.js-post img"));
  const bg = async (sel) => {
    const css = getComputedStyle(document.querySelector(sel)).backgroundImage;
    const m = /url\("?([^")]+)"?\)/.exec(css);
    if (!m) return false;
    const img = new Image(); img.src = m[1];
    try { await img.decode(); return img.naturalWidth > 0; } catch (e) { return false; }
  };
  await document.fonts.ready;
  return {
    posts: document.querySelectorAll("article.js-post").length,
    zh: ["第一口井", "旧文：为什么写日记"].every(t => document.body.innerText.includes(t)),
    images: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    menu: document.querySelectorAll("#blog-menu a.js-menu").length,
    header_bg: await bg(".blog-header"),
    footer_bg: await bg(".blog-footer"),
    font: Array.from(document.fonts).some(
      f => f.family.replace(/"/g, "") === "Lantern Diary" && f.status === "loaded"),
  };
}"""
ALL_VISIBLE = {"posts": BLOG_POSTS, "zh": True, "images": BLOG_POSTS, "menu": 4,
               "header_bg": True, "footer_bg": True, "font": True}


def _archived_frame(page: Any) -> Any:
    """The reader page's frame holding the archived page (served by the content origin)."""
    page.wait_for_selector("#mk-frame", state="attached")
    for _ in range(100):
        frames = [f for f in page.frames if f.parent_frame == page.main_frame]
        if frames and frames[0].url.startswith("http"):
            return frames[0]
        page.wait_for_timeout(100)
    raise AssertionError("no archived frame in the reader page")


def _scroll_through(page: Any, frame: Any) -> None:
    # Scroll like a reader, with the mouse over the archived frame, so infinite scroll and lazy
    # images load; press "Older posts" (inside the frame).
    box = page.locator("#mk-frame").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(40):
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(120)
    with contextlib.suppress(Exception):  # a static capture has no posts; a snapshot no button
        page.frame_locator("#mk-frame").locator("#older-posts").click(timeout=5000)
    for _ in range(10):
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(120)
    frame.wait_for_load_state("networkidle")
    # images further up: bring each one into view once (paced from here: a frame without
    # scripts runs no timers, so a setTimeout in evaluated code would never fire)
    for i in range(frame.evaluate("document.querySelectorAll('article img').length")):
        frame.evaluate("i => document.querySelectorAll('article img')[i].scrollIntoView()", i)
        page.wait_for_timeout(60)
    frame.wait_for_load_state("networkidle")
    page.wait_for_load_state("networkidle")


@dataclass
class Replayed:
    visible: Dict[str, Any]  # _VISIBLE_JS, evaluated inside the archived frame
    urls: List[str]  # every request Chromium made, reader page and frame
    frame_url: str
    ran: Dict[str, Any]  # what the archived scripts would have left in the frame
    at: Dict[str, Any]  # the reader's /_mk/at/<bundle> answer after the frame loaded


def _replay_blog(chromium: Any, server: Any, name: str, blog: str) -> Replayed:
    """Opens the reader page of ``blog`` in bundle ``name`` and reads the archived frame."""
    context = chromium.new_context(viewport={"width": 1000, "height": 800})
    urls: List[str] = []
    context.on("request", lambda r: urls.append(r.url))
    try:
        page = context.new_page()
        resp = page.goto(f"{server.url}{name}/{TS}/{blog}", wait_until="networkidle")
        assert resp is not None and resp.status == 200
        assert page.locator("#mk-bar .verdict").count() == 1  # the reader's own trust bar
        frame = _archived_frame(page)
        frame.wait_for_load_state("load")
        _scroll_through(page, frame)
        visible = frame.evaluate(_VISIBLE_JS)
        # Marks of archived scripts having run in the frame: the flag the injected client-side
        # rewriter sets, and the history entry blog.js's infinite scroll pushes (?feed=).
        ran = frame.evaluate("""() => ({
            rewriter: window.__MK_REWRITE_ON === true,
            pushed: location.search.indexOf("feed=") >= 0 })""")
        frame_url = frame.url
        # ask the reader itself, as its page does on every frame load
        at = page.evaluate(f"""() => fetch("/_mk/at/{name}", {{cache: "no-store"}})
                               .then(r => r.json())""")
        assert page.url.startswith(f"{server.url}{name}/")  # the top window stays the reader
    finally:
        context.close()
    return Replayed(visible, urls, frame_url, ran, at)


def _leaks(urls: List[str], server: Any, name: str) -> List[str]:
    """Requests to anywhere but the reader's origin and bundle ``name``'s content origin."""
    bundle = server.app.extensions["mirrorkit"].get(name)
    allowed = {server.port, bundle.content_port}
    out = []
    for u in urls:
        parts = urlsplit(u)
        if parts.scheme in ("data", "blob", "about"):
            continue
        if parts.scheme != "http" or parts.hostname != "127.0.0.1" or parts.port not in allowed:
            out.append(u)
    return out


def _assert_from_reader_and_content(got: Replayed, server: Any, name: str,
                                    captures: Captures) -> None:
    live = "{0.scheme}://{0.netloc}".format(urlsplit(captures.expected["pages"][0]))
    assert [u for u in got.urls if u.startswith(live + "/")] == []  # the stopped live site
    assert _leaks(got.urls, server, name) == []  # nor anywhere else
    content = server.content_url(name)
    assert got.frame_url.startswith(content)  # the frame is the bundle's content origin
    assert any(u.startswith(content) for u in got.urls)
    assert any(u.startswith(f"{server.url}{name}/") for u in got.urls)


def test_replay_with_archived_scripts_shows_every_script_built_item(
        chromium: Any, replay: Any, captures: Captures) -> None:
    blog = captures.expected["blog"]
    got = _replay_blog(chromium, replay, "jsdemo", blog)
    _assert_from_reader_and_content(got, replay, "jsdemo", captures)
    assert got.visible == ALL_VISIBLE
    # the archived scripts did run, in the frame, with client-side rewriting
    assert got.ran["rewriter"] is True and got.ran["pushed"] is True
    assert got.at["scripts"] is True and got.at["kind"] == "page" and got.at["url"] == blog
    # the same page from the static capture misses them
    flat = _replay_blog(chromium, replay, "flat", blog)
    _assert_from_reader_and_content(flat, replay, "flat", captures)
    v = flat.visible
    assert v["posts"] == 0 and v["images"] == 0 and v["menu"] == 0 and not v["zh"]
    assert not v["header_bg"] and not v["footer_bg"] and not v["font"]


def test_replay_from_the_snapshot_with_scripts_off(
        chromium: Any, safe_replay: Any, captures: Captures) -> None:
    """Default safe mode: the frame runs no script, the page is shown from its rendered snapshot,
    its URLs served by the bundle's content origin: every script-built item is there."""
    blog = captures.expected["blog"]
    got = _replay_blog(chromium, safe_replay, "jsdemo", blog)
    _assert_from_reader_and_content(got, safe_replay, "jsdemo", captures)
    assert got.visible == ALL_VISIBLE
    # shown from the snapshot, and the archived scripts did not run
    assert got.at["kind"] == "snapshot" and got.at["url"] == blog and got.at["scripts"] is False
    bundle = safe_replay.app.extensions["mirrorkit"].get("jsdemo")
    assert bundle.last_served[1:] == (blog, "snapshot")
    assert got.ran["rewriter"] is False and got.ran["pushed"] is False
    feeds = [u for u in got.urls if "/data/blog/" in u]  # only blog.js fetches its JSON feeds
    assert feeds == []


def test_bundle_indexes_the_snapshot_and_takes_page_text_from_it(
        bundles: Dict[str, Path], captures: Captures) -> None:
    from mirrorkit.formats.wacz import WaczReader

    blog = captures.expected["blog"]
    with WaczReader(bundles["jsdemo"]) as reader:
        entries = list(reader.index.lookup("urn:snapshot:" + blog))
        assert entries and entries[0].mime.startswith("text/html")
        pages = {p["url"]: p for p in reader.pages()}
    assert captures.expected["js_pages"][0] in pages
    text = pages[blog].get("text", "")
    assert "第一口井" in text and "The first well" in text  # JavaScript-built text, searchable


def test_demo_makes_a_browser_capture_when_chromium_is_found(tmp_path: Path) -> None:
    from mirrorkit.demo import run_demo

    lines: List[str] = []
    result = run_demo(tmp_path / "demo", serve=False, say=lines.append)
    assert result.kind == "browser"
    assert "with a browser capture" in lines[1]
    blog_pages = [p for p in (result.capture / "pages.jsonl").read_text("utf-8").splitlines()
                  if "blog/archive.html" in p]
    assert blog_pages  # found only through the script-built menu
