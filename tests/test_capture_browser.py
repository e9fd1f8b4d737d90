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


@pytest.fixture(scope="module")
def replay(bundles: Dict[str, Path]) -> Iterator[Any]:
    from serve.server import start_server

    server = start_server(list(bundles.values()), port=0)
    server.start_in_thread()
    yield server
    server.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    have_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
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


def _scroll_through(page: Any) -> None:
    # Scroll like a reader, so infinite scroll and lazy images load; press "Older posts".
    for _ in range(40):
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(120)
    page.click("#older-posts", timeout=5000)
    for _ in range(10):
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(120)
    page.wait_for_load_state("networkidle")
    # images further up: bring each one into view once
    page.evaluate("""async () => { for (const i of document.querySelectorAll('article img')) {
        i.scrollIntoView(); await new Promise(r => setTimeout(r, 60)); } }""")
    page.wait_for_load_state("networkidle")


def _replay_blog(chromium: Any, server: Any, name: str, blog: str) -> Dict[str, Any]:
    context = chromium.new_context(viewport={"width": 1000, "height": 800})
    urls: List[str] = []
    context.on("request", lambda r: urls.append(r.url))
    page = context.new_page()
    page.goto(f"{server.url}{name}/{TS}/{blog}", wait_until="networkidle")
    with contextlib.suppress(Exception):  # a static capture has no posts, so no button
        _scroll_through(page)
    got = page.evaluate(_VISIBLE_JS)
    got["urls"] = urls
    context.close()
    return got


def test_replay_with_archived_scripts_shows_every_script_built_item(
        chromium: Any, replay: Any, captures: Captures) -> None:
    blog = captures.expected["blog"]
    got = _replay_blog(chromium, replay, "jsdemo", blog)
    origin = replay.url.rstrip("/")
    leaks = [u for u in got.pop("urls") if not u.startswith(origin)
             and urlsplit(u).scheme not in ("data", "blob", "about")]
    assert leaks == []  # everything came from the replay server, none from the (stopped) site
    assert got == ALL_VISIBLE
    # the same page from the static capture misses them
    flat = _replay_blog(chromium, replay, "flat", blog)
    flat.pop("urls")
    assert flat["posts"] == 0 and flat["images"] == 0 and flat["menu"] == 0
    assert not flat["header_bg"] and not flat["footer_bg"] and not flat["font"]


def test_replay_from_the_snapshot_with_scripts_off(
        chromium: Any, replay: Any, captures: Captures) -> None:
    """The rendered snapshot, shown with JavaScript off (as the safe-replay frame will), its
    URLs served by the replay server: every script-built item is there."""
    blog = captures.expected["blog"]
    snap = [r for r in records(captures.browser)
            if r[0] == "conversion" and r[1] == "urn:snapshot:" + blog][0][4]
    live = captures.expected["pages"][0]
    context = chromium.new_context(java_script_enabled=False,
                                   viewport={"width": 1000, "height": 800})
    served: List[Any] = []

    def route(r: Any) -> None:
        url = r.request.url
        if url == blog:
            r.fulfill(status=200, body=snap, content_type="text/html; charset=utf-8")
        elif url.startswith(live + "jsdemo/"):  # a URL the replay server rewrote
            resp = r.fetch(url=replay.url + url[len(live):])
            served.append((url, resp.status))
            r.fulfill(response=resp)
        elif url.startswith(live):
            resp = r.fetch(url=f"{replay.url}jsdemo/{TS}/{url}")
            served.append((url, resp.status))
            r.fulfill(response=resp)
        else:
            served.append((url, "blocked"))
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.goto(blog, wait_until="networkidle")
    got = page.evaluate(_VISIBLE_JS)
    context.close()
    assert got == ALL_VISIBLE, [u for u, _s in served if "post-" not in u]
    assert [s for s in served if s[1] != 200] == []
    assert len(served) > BLOG_POSTS


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
