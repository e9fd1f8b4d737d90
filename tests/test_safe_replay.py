"""Safe replay, tried as an attacker would: an attack site captured and signed by an unknown key,
served beside a trusted bundle, in real Chromium, in safe mode and with --scripts.

The guarantees tested are the browser's (origins, sandbox, CSP), not the rewriting: the outside
host (127.0.0.2, TCP and UDP) receives nothing, the top window stays on the reader, the reader's
banner is never the page's, and the page never reads the reader or the trusted bundle.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from safe_support import RTC_VECTOR_PORT, Outside, build_attack_bundle

from serve.server import ReplayServer, start_server

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TS = "20300101000000"
PAGES = ["index.html", "static.html", "scripts.html", "forge.html", "refresh1.html",
         "refresh2.html", "refresh3.html", "refresh4.html", "refresh-header.html"]


@pytest.fixture(scope="module")
def playwright_api() -> Iterator[Any]:
    api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    with api.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright_api: Any) -> Iterator[Any]:
    b = playwright_api.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
    yield b
    b.close()


@pytest.fixture(scope="module")
def attack(sample_bundle: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    outside = Outside()
    path, site = build_attack_bundle(tmp_path_factory.mktemp("attack"), outside,
                                     sample_bundle.pages[0])
    outside.start()  # only now: nothing the capture did is counted
    yield outside, path, site
    outside.stop()


def serve(sample_bundle: Any, attack_path: Path, scripts: bool, port: int = 0) -> ReplayServer:
    server = start_server([sample_bundle.path, attack_path], port=port, scripts=scripts,
                          fingerprint=sample_bundle.fingerprint)
    server.start_in_thread()
    assert server.app.extensions["mirrorkit"].wait_verified(60)
    return server


def frame_of(page: Any) -> Any:
    page.wait_for_selector("#mk-frame", state="attached")
    for _ in range(50):
        frames = [f for f in page.frames if f.parent_frame == page.main_frame]
        if frames:
            return frames[0]
        page.wait_for_timeout(100)
    raise AssertionError("no archived frame")


def results_of(frame: Any, timeout: float = 15.0) -> Dict[str, str]:
    deadline = time.monotonic() + timeout
    data: Dict[str, str] = {}
    while time.monotonic() < deadline:
        try:
            raw = frame.evaluate("document.documentElement.getAttribute('data-results')")
        except Exception:  # navigated away or never ran
            raw = None
        if raw:
            data = json.loads(raw)
            if data.get("done") == "yes":
                return data
        time.sleep(0.1)
    return data


def _visit_all(browser: Any, server: ReplayServer, site: str, scripts: bool,
               outside: Any = None) -> Tuple[Dict[str, str], List[str]]:
    context = browser.new_context()
    seen: List[str] = []
    # responses, not requests: Playwright also reports requests that CSP refused to send
    context.on("response", lambda r: seen.append(r.url))
    page = context.new_page()
    reader = server.url.rstrip("/")
    found: Dict[str, str] = {}
    for name in PAGES:
        since = time.monotonic()
        url = f"{server.url}attack/{TS}/{site}{name}"
        page.goto(url, wait_until="load")
        frame = frame_of(page)
        page.wait_for_timeout(1200)
        if name == "scripts.html" and scripts:
            found = results_of(frame)
            page.wait_for_timeout(5000)  # its location= to the outside host, at 6 s
        if name == "static.html":
            locator = page.frame_locator("#mk-frame")
            assert "ATTACK-STATIC-TEXT" in locator.locator("#text").inner_text()
            ran = locator.locator("body").get_attribute("data-ran")
            assert ran == ("yes" if scripts else None)  # safe mode: the script did not run
            for link in ("#comment", "#ping", "#blank", "#top"):
                # the frame may have navigated (and failed) already
                with contextlib.suppress(Exception):
                    locator.locator(link).click(timeout=2000)
                page.wait_for_timeout(300)
            with contextlib.suppress(Exception):
                locator.locator("#form").evaluate("f => f.requestSubmit()") if scripts else \
                    locator.locator("#form input").press("Enter", timeout=2000)
            page.wait_for_timeout(800)
        # the top window stays on the reader, whose banner is its own and says "untrusted"
        assert page.url.startswith(reader + "/attack/"), (name, page.url)
        assert page.locator("#mk-bar .verdict").get_attribute("data-state") == "untrusted"
        top_text = page.locator("body").inner_text()
        assert "FORGED" not in top_text and "ATTACK-" not in top_text, name
        assert page.title() != "SCRIPT-FORGED"
        bar_bg = page.locator("#mk-bar").evaluate("e => getComputedStyle(e).backgroundColor")
        assert bar_bg == "rgb(32, 48, 63)", (name, bar_bg)  # the reader's, not the page's CSS
        assert len(context.pages) == 1, name  # no window was opened
        if outside is not None:
            hits = [t for t in outside.connects if t >= since]
            if hits:
                print(f"\n{name}: {len(hits)} TCP connection(s) to the outside host")
    page.wait_for_timeout(3000)  # scripts.html's delayed location= and anything late
    context.close()
    return found, seen


@pytest.mark.parametrize("scripts", [False, True], ids=["safe", "scripts"])
def test_attack_site_reaches_nothing(browser: Any, sample_bundle: Any, attack: Any,
                                     scripts: bool) -> None:
    outside, path, site = attack
    outside.tcp.clear()
    outside.udp.clear()
    outside.connects.clear()
    server = serve(sample_bundle, path, scripts)
    try:
        assert server.bundles[1].state == "untrusted" and server.bundles[0].state == "trusted"
        found, seen = _visit_all(browser, server, site, scripts, outside)
    finally:
        server.close()
    time.sleep(1)
    # Nothing reached the outside host: not a byte, and not even a connection. CSP alone let
    # Chromium open a TCP connection (no byte) before refusing a frame navigation to it
    # (`location=`, a meta refresh the rewriter misses or a script inserts, a missed link);
    # the Connection-Allowlist headers (serve.policy) stop that before any connection.
    print(f"\nTCP connections to the outside host: {len(outside.connects)}")
    assert outside.connects == [], len(outside.connects)
    assert outside.tcp == [], outside.tcp[:3]
    # The browser never even tried anything but the reader's own ports.
    ports = {server.port} | {b.content_port for b in server.bundles}
    tried = [u for u in seen if u.startswith("http") and
             not any(f"127.0.0.1:{p}/" in u for p in ports)]
    assert tried == [], tried[:5]
    assert outside.udp == [], outside.udp[:3]  # WebRTC too: also when a vector survives
    if not scripts:
        return
    print("\nattack results with --scripts:", json.dumps(found, indent=1, sort_keys=True))
    assert found.get("done") == "yes", found
    for probe in ("read_bundles_json", "read_home", "read_page_list", "read_trusted_page",
                  "read_raw_wacz", "blank_fetch_reader"):
        # either refused, or kept in the archive by the injected script (then it reads the
        # archive's own "not in this archive" page): never the reader's or the trusted bundle's
        value = found[probe]
        assert value == "failed" or ("Lantern sample" not in value and '"state"' not in value
                                     and "clean water" not in value.lower()), (probe, value)
    # fetch/XHR to the outside host: refused by CSP, or mapped into the archive by the injected
    # script (then "answered" by the archive's "not in this archive" page); the listener above
    # is what proves nothing left.
    assert found["service_worker"] != "registered"
    assert found["storage"].startswith("threw") and found["cookie"] in ("none", "") or \
        found["cookie"].startswith("threw")
    assert found["popup"] == "null" and found["blank_open"] in ("null", "threw SecurityError")
    # WebRTC: which vectors still got a working RTCPeerConnection, and what reached UDP
    survived = {v for v, p in RTC_VECTOR_PORT.items() if found.get("rtc_" + v) == "created"}
    udp_from = {name for name, _data in outside.udp}
    print("WebRTC vectors that survived:", sorted(survived), "UDP seen on:", sorted(udp_from))
    assert found["rtc_direct"] == "absent"
    # a frame the page makes is cross-origin to it (sandboxed documents get fresh opaque
    # origins), or had WebRTC removed: either way the page gets no RTCPeerConnection from it
    for vector in ("rtc_iframe_contentWindow", "rtc_window_index"):
        assert found[vector] in ("absent", "threw SecurityError"), (vector, found[vector])
    assert found["rtc_srcdoc_setter"] == "absent"  # the script is put in front of srcdoc
    assert found["rtc_archived_frame"] == "absent"  # served with the script first
    assert "rtc_data_frame" not in found  # frame-src refused the data: frame: it never ran


def test_service_worker_does_not_outlive_a_browser_restart(
        playwright_api: Any, sample_bundle: Any, attack: Any, tmp_path: Path) -> None:
    from safe_support import free_port

    _outside, path, site = attack
    port = free_port("127.0.0.1")
    profile = tmp_path / "profile"
    server = serve(sample_bundle, path, True, port)
    try:
        ctx = playwright_api.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=ARGS)
        page = ctx.new_page()
        page.goto(f"{server.url}attack/{TS}/{site}scripts.html")
        found = results_of(frame_of(page))
        assert found.get("service_worker") != "registered", found
        ctx.close()
    finally:
        server.close()
    # The browser restarts; the real trusted bundle is served on the same port.
    server = start_server([sample_bundle.path], port=port, fingerprint=sample_bundle.fingerprint)
    server.start_in_thread()
    try:
        ctx = playwright_api.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=ARGS)
        page = ctx.new_page()
        page.goto(f"{server.url}sample/{TS}/{sample_bundle.pages[0]}", wait_until="load")
        frame = frame_of(page)
        frame.wait_for_load_state()
        text = page.frame_locator("#mk-frame").locator("body").inner_text()
        assert "clean water" in text.lower() and "ATTACK" not in text
        assert page.evaluate("navigator.serviceWorker.getRegistrations()"
                             ".then(r => r.length)") == 0
        ctx.close()
    finally:
        server.close()


PROBE = """
async function probe(url) {
  const out = {};
  out.fetch = await fetch(url, {mode: "no-cors"}).then(() => "answer", () => "error");
  for (const tag of ["img", "script", "link"]) {
    out[tag] = await new Promise((done) => {
      const el = document.createElement(tag);
      el.onload = () => done("load");
      el.onerror = () => done("error");
      setTimeout(() => done("timeout"), 4000);
      if (tag === "link") { el.rel = "stylesheet"; el.href = url; } else { el.src = url; }
      document.body.appendChild(el);
    });
  }
  const w = window.open(url, "_blank");
  await new Promise((r) => setTimeout(r, 1200));
  try { out.frames = w ? w.length : "no window"; } catch (e) { out.frames = "threw"; }
  try { w && w.close(); } catch (e) {}
  return out;
}
"""


def test_probes_cannot_tell_the_reader_from_a_closed_port(browser: Any, sample_bundle: Any,
                                                          attack: Any) -> None:
    from safe_support import free_port, serve_blank

    _outside, path, _site = attack
    server = serve(sample_bundle, path, False)
    probes = [serve_blank(host) for host in ("127.0.0.2", "127.0.0.1")]
    closed = f"http://127.0.0.1:{free_port('127.0.0.1')}"
    reader = server.url.rstrip("/")
    content = f"http://127.0.0.1:{server.bundles[0].content_port}"
    targets = {
        "closed port": closed + "/", "reader /": reader + "/",
        "bundles.json": reader + "/bundles.json", "style": reader + "/_mk/static/style.css",
        "reader.js": reader + "/_mk/static/reader.js", "page list": reader + "/sample/",
        "raw wacz": reader + "/sample.wacz", "a page": f"{reader}/sample/{TS}/x",
        "content /": content + "/", "content guess": content + f"/sample/{TS}/x",
        "content logo": f"{content}/x/{TS}/{sample_bundle.pages[0]}img/logo.png",
    }
    try:
        context = browser.new_context()
        page = context.new_page()
        for p in probes:
            host, port = p.server_address[:2]
            page.goto(f"http://{host}:{port}/")
            got = {name: page.evaluate(f"(async () => {{ {PROBE}\n"
                                       f"return await probe({json.dumps(url)}); }})()")
                   for name, url in targets.items()}
            base = got.pop("closed port")
            assert base["fetch"] == "error"
            for name, result in got.items():
                assert result == base, (host, name, result, base)
        context.close()
    finally:
        for p in probes:
            p.shutdown()
            p.server_close()
        server.close()


@pytest.mark.parametrize("locale,word", [("zh-CN", "签名有效"), ("en-US", "signature valid")])
def test_language_and_phone_screen(browser: Any, sample_bundle: Any, attack: Any, locale: str,
                                   word: str, tmp_path: Path) -> None:
    _outside, path, site = attack
    server = serve(sample_bundle, path, False)
    try:
        context = browser.new_context(locale=locale, viewport={"width": 390, "height": 844})
        page = context.new_page()
        page.goto(f"{server.url}attack/{TS}/{site}static.html", wait_until="load")
        frame_of(page).wait_for_load_state()
        assert word in page.locator("#mk-bar").inner_text()
        page.screenshot(path=str(tmp_path / f"reader-{locale}.png"))
        bar = page.locator("#mk-bar").bounding_box()
        box = page.locator("#mk-frame").bounding_box()
        assert bar is not None and box is not None and bar["height"] <= 48
        assert box["y"] <= 48 and box["height"] >= 844 - 48 - 1  # the page fills the screen
        text = page.frame_locator("#mk-frame").locator("#text").bounding_box()
        assert text is not None and text["y"] + text["height"] < 844  # content above the fold
        home = page.goto(server.url).text() if False else None
        assert home is None
        page.goto(server.url)
        assert ("存档" if locale == "zh-CN" else "Archived bundles") in page.content()
        context.close()
    finally:
        server.close()


def test_the_outside_listener_sees_what_an_unconfined_page_sends(browser: Any,
                                                                 attack: Any) -> None:
    """Control: without the reader's confinement, the same vectors do reach 127.0.0.2, over TCP
    and over UDP (STUN), so "nothing received" above means something."""
    outside, _path, _site = attack
    outside.tcp.clear()
    outside.udp.clear()
    from safe_support import serve_blank

    blank = serve_blank("127.0.0.1")  # a loopback page: Local Network Access lets it through
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{blank.server_address[1]}/")
    udp = outside.udp_ports["UDP_1"]
    page.evaluate(f"""() => {{
        fetch("http://{outside.host}/control", {{mode: "no-cors"}}).catch(() => 0);
        const pc = new RTCPeerConnection({{iceServers: [{{urls: "stun:127.0.0.2:{udp}"}}]}});
        pc.createDataChannel("x");
        pc.createOffer().then(o => pc.setLocalDescription(o));
        window.keep = pc;
    }}""")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (outside.tcp and outside.udp):
        time.sleep(0.2)
    context.close()
    blank.shutdown()
    blank.server_close()
    assert any(d.startswith(b"GET /control") for d in outside.tcp), outside.tcp
    assert any(name == "UDP_1" for name, _ in outside.udp)


def test_address_follows_the_frame_and_damage_shows_as_damaged(
        browser: Any, sample_bundle: Any, tmp_path: Path) -> None:
    """Safe mode, no script in the frame: a click inside it still moves the reader's address
    and bar; a damaged bundle is not replayed unless asked, then its damaged record says so."""
    from serve_support import damage_record

    site = sample_bundle.expected["pages"][0]
    bad = tmp_path / "damaged.wacz"
    damage_record(sample_bundle.path, bad, site + "about.html")
    server = start_server([sample_bundle.path, bad], port=0)
    server.start_in_thread()
    assert server.app.extensions["mirrorkit"].wait_verified(60)
    try:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{server.url}sample/{TS}/{site}index.html", wait_until="load")
        frame_of(page).wait_for_load_state()
        page.frame_locator("#mk-frame").locator("a[href$='about.html']").first.click()
        page.wait_for_url(lambda u: u.endswith("about.html"), timeout=10000)
        assert page.locator("#mk-url").text_content() == site + "about.html"
        assert "/sample/" in page.url and "/_mk/" not in page.url
        # the damaged bundle: failed, so not shown; asked for, shown with its damage
        page.goto(f"{server.url}damaged/{TS}/{site}about.html", wait_until="load")
        assert page.locator("#mk-frame").count() == 0
        assert "failed verification" in page.locator("#mk-failed").inner_text()
        page.locator("#mk-failed a.open").click()
        page.wait_for_selector("#mk-frame")
        frame_of(page).wait_for_load_state()
        text = page.frame_locator("#mk-frame").locator("body").inner_text()
        assert "This record is damaged" in text and "About Lantern" not in text
        assert page.locator("#mk-bar .verdict").get_attribute("data-state") == "failed"
        page.goto(f"{server.url}damaged/~failed/{TS}/{site}contact.html", wait_until="load")
        frame_of(page).wait_for_load_state()
        assert page.frame_locator("#mk-frame").locator("body").inner_text().strip()
        assert page.locator("#mk-frame").get_attribute("sandbox") == "allow-forms"
        context.close()
    finally:
        server.close()


def test_archived_redirect_replays_under_the_connection_allowlist(browser: Any,
                                                                  sample_bundle: Any) -> None:
    # Content origins send `Connection-Allowlist: (response-origin);redirects=allow`: without
    # the parameter Chromium refuses every redirect, and archived redirects would stop working.
    old, new = next(iter(sample_bundle.expected["redirects"].items()))
    server = start_server([sample_bundle.path], port=0, fingerprint=sample_bundle.fingerprint)
    server.start_in_thread()
    try:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{server.url}sample/{TS}/{old}", wait_until="load")
        frame = frame_of(page)
        deadline = time.monotonic() + 10
        while not frame.url.endswith("/" + new) and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        assert frame.url.endswith("/" + new), frame.url
        assert frame.locator("body").inner_text().strip()  # the target page itself, rendered
        context.close()
    finally:
        server.close()
