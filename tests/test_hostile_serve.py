"""Hostile bundles against the replay server (issue 11): served beside a good bundle, whose pages
answer 200 throughout; no page answers 500; bombs are refused with a page saying so, within a
bounded memory; the rewriter finds the links a browser finds (checked against Chromium)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from hostile_bundles import BOMB_PAGE, NORMAL_PAGE, QUADRATIC_PAGE, all_bundles

from serve import create_app
from serve.rewrite_html import rewrite_html
from serve.urls import UrlRewriter

TS = "20260101000000"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    return all_bundles(tmp_path_factory.mktemp("hostile-serve"))


@pytest.fixture(scope="module")
def app(hostile: Dict[str, Path], sample_bundle: Any) -> Iterator[Any]:
    app = create_app([sample_bundle.path, *hostile.values()], {"background": False})
    yield app
    app.extensions["mirrorkit"].close()


@pytest.fixture(scope="module")
def client(app: Any) -> Any:
    return app.test_client()


def _content_get(app: Any, name: str, url: str) -> Any:
    """A page of bundle `name` from its own content origin (where archived bytes are served)."""
    from werkzeug.test import Client

    bundles = app.extensions["mirrorkit"]
    return Client(bundles.content_app(name)).get(f"/{bundles.get(name).secret}/{TS}/{url}")


def _good_pages_answer(app: Any, sample_bundle: Any) -> None:
    for url in sample_bundle.pages:
        resp = _content_get(app, "sample", url)
        assert resp.status_code == 200, url


def test_every_hostile_bundle_is_listed_and_the_good_one_fully_served(
        app: Any, client: Any, sample_bundle: Any, hostile: Dict[str, Path]) -> None:
    home = client.get("/")
    assert home.status_code == 200
    listed = client.get("/bundles.json")
    assert listed.status_code == 200
    states = {b["name"]: b["state"] for b in listed.get_json()}
    assert states["deep-datapackage"] == "failed"
    assert states["sample"] == "untrusted" and len(states) == 1 + len(hostile)
    _good_pages_answer(app, sample_bundle)
    for name in states:
        for path in (f"/{name}/", f"/{name}/pages.json", f"/{name}/main", f"/{name}.wacz"):
            assert client.get(path).status_code < 500, path
    assert "page list is damaged" in client.get("/deep-pages/").get_data(as_text=True)
    # An unreadable bundle gets no content origin at all; the reader says what is wrong.
    broken = client.get(f"/deep-datapackage/{TS}/{NORMAL_PAGE}")
    assert broken.status_code in (200, 502)  # an explanation, never an error of the server
    assert "datapackage.json is damaged" in broken.get_data(as_text=True) + client.get(
        "/").get_data(as_text=True)


@pytest.mark.parametrize("bundle, url, status, says", [
    ("inflating", BOMB_PAGE, 413, "too large to show"),
    ("plain-bomb", BOMB_PAGE, 413, "too large to show"),
    ("inflating", NORMAL_PAGE, 200, "the page next to the bomb"),
    ("quadratic", QUADRATIC_PAGE, 200, ""),
    ("deep-index", "http://hostile.example/z.html", 502, "nested deeper than 64"),
    ("deep-index", NORMAL_PAGE, 200, "hello"),
    ("deep-pages", NORMAL_PAGE, 200, "hello"),
])
def test_hostile_pages_answer_without_500(app: Any, sample_bundle: Any, bundle: str, url: str,
                                          status: int, says: str) -> None:
    resp = _content_get(app, bundle, url)
    assert resp.status_code == status
    assert says in resp.get_data(as_text=True)
    _good_pages_answer(app, sample_bundle)


def _serve(paths: List[Path]) -> Tuple[subprocess.Popen, Dict[str, str]]:
    """The real server in a process of its own; each bundle's content-origin prefix."""
    code = ("import json, sys\nfrom serve.server import start_server\n"
            "s = start_server(sys.argv[1:], port=0)\n"
            "print(json.dumps({b.name: s.content_url(b.name) for b in s.bundles}), flush=True)\n"
            "s.run()\n")
    proc = subprocess.Popen([sys.executable, "-c", code, *map(str, paths)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line.startswith("{"), proc.stderr.read() if proc.stderr else ""
    return proc, json.loads(line)


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=120) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as err:
        err.read()
        return int(err.code)


def _peak_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        line = [x for x in fh if x.startswith("VmHWM")][0]
    return int(line.split()[1]) / 1024


def test_six_bombs_at_once_stay_under_500_mb_and_good_pages_answer(
        hostile: Dict[str, Path], sample_bundle: Any) -> None:
    proc, prefix = _serve([sample_bundle.path, hostile["inflating"], hostile["plain-bomb"],
                           hostile["quadratic"]])
    try:
        statuses: List[int] = []
        targets = [f"{prefix[name]}{TS}/{BOMB_PAGE}" for name in ("inflating", "plain-bomb")] * 3
        threads = [threading.Thread(target=lambda u=u: statuses.append(_get(u)))
                   for u in targets]
        for t in threads:
            t.start()
        good = [_get(f"{prefix['sample']}{TS}/{url}") for url in sample_bundle.pages]
        for t in threads:
            t.join()
        assert statuses == [413] * 6
        assert good == [200] * len(good)
        assert _get(f"{prefix['quadratic']}{TS}/{QUADRATIC_PAGE}") == 200
        peak = _peak_mb(proc.pid)
        assert peak < 500, f"peak RSS {peak:.0f} MB"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# -- the rewriter parses as Chromium does ------------------------------------------------------

TRICKS = {
    "empty comment": '<!--><a href="http://outside.example/1">x</a>',
    "dash comment": '<!---><a href="http://outside.example/2">x</a>-->',
    "bang end": '<!-- a --!><a href="http://outside.example/3">x</a>',
    "duplicate attrs": '<a href="http://outside.example/4" href="/ok">x</a>',
    "svg style": '<svg><style><a href="http://outside.example/5">x</a></style></svg>',
    "math breakout": '<math><style><img src="http://outside.example/6"></style></math>',
    "unclosed tags": '<a ' * 500 + '><a href="http://outside.example/7">x</a>',
    "quoted gt": '<div title="a>b"><a href="http://outside.example/8">x</a></div>',
    "bogus comment": '<?x <a href="nolink"> ?><a href="http://outside.example/9">y</a>',
    "title text": '<title><a href="http://nolink.example/">x</a></title>'
                  '<a href="http://outside.example/10">y</a>',
    "noscript": '<noscript><a href="http://outside.example/11">x</a></noscript>',
    "slash attrs": '<a/href="http://outside.example/12">x</a>',
}


def _fulfill_with(doc: str) -> Any:
    def handler(route: Any) -> None:
        route.fulfill(body=doc, content_type="text/html")

    return handler


def test_rewriter_finds_every_link_chromium_finds() -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(java_script_enabled=False)
            for name, doc in TRICKS.items():
                page.route("**/*", _fulfill_with(doc))
                page.goto("http://doc.example/page.html")
                seen = page.evaluate("""() => Array.from(document.querySelectorAll(
                    '[href],[src]')).map(e => e.getAttribute('href') || e.getAttribute('src'))""")
                page.unroute("**/*")
                outside = {u for u in seen if "outside.example" in u}
                assert outside, name  # each trick hides a real link
                rewritten = rewrite_html(doc, UrlRewriter("/b", TS, "http://doc.example/")).text
                for url in outside:
                    assert f"/b/{TS}/{url}" in rewritten, (name, url)
                    assert f'"{url}"' not in rewritten, (name, url)
        finally:
            browser.close()


def test_meta_refresh_variants_browsers_follow_are_rewritten() -> None:
    from serve.rewrite_html import rewrite_refresh

    u = UrlRewriter("/b", TS, "http://doc.example/")
    for value in ("0 http://outside.example/r", "0;url=http://outside.example/r",
                  "0, 'http://outside.example/r'", " 1.5 ; URL = \"http://outside.example/r\"",
                  "0;http://outside.example/r"):
        assert f"/b/{TS}/http://outside.example/r" in rewrite_refresh(value, u), value
    assert rewrite_refresh("5", u) == "5" and rewrite_refresh("x; url=/a", u) == "x; url=/a"
    for doc in ('<meta http-equiv="&#82;efresh" content="0 http://outside.example/r">',
                '<meta http-equiv="refresh" http-equiv="x" content="0;url=http://outside.example/r">',
                '<svg><style><meta http-equiv=refresh content="0;url=http://outside.example/r">'):
        assert f"/b/{TS}/http://outside.example/r" in rewrite_html(doc, u).text, doc


def test_rewriting_is_linear_and_bounded() -> None:
    from serve.records import RewriteTooLarge
    from serve.rewrite_css import rewrite_css

    u = UrlRewriter("/b", TS, "http://doc.example/")
    # Work is counted, not timed: these would take minutes with html.parser or the old regex.
    for doc in ("<a " * 200_000, "<" * 500_000, "<!--" + "<a href=x>" * 50_000):
        rewrite_html(doc, u)
    rewrite_css("url(" * 100_000, u)
    with pytest.raises(RewriteTooLarge, match="more tags"):
        rewrite_html("<a b " * 600_000, u)
    with pytest.raises(RewriteTooLarge, match="grow past"):
        rewrite_html("<a href=x>" * 1000, u, max_output=5000)
