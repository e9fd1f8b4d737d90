"""Safe replay without a browser: origins and secrets, the unanswered drop, the scripts switch,
failed and verifying bundles, rendered snapshots, languages, --lan addresses."""

from __future__ import annotations

import io
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from mirrorkit.bundle import create_bundle
from mirrorkit.trust.signing import generate_key
from serve import create_app
from serve.server import start_server

TS = "20300101000000"


def _apps(*paths: Path, **config: Any) -> Any:
    app = create_app(list(paths), dict({"background": False}, **config))
    return app, app.extensions["mirrorkit"]


def _raw(port: int, request: bytes) -> bytes:
    """Sends ``request`` and returns whatever comes back before the connection ends."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except ConnectionResetError:
            pass
        return out


def test_only_the_secret_opens_a_content_origin_and_the_rest_gets_no_answer(
        sample_bundle: Any) -> None:
    server = start_server([sample_bundle.path], port=0)
    server.start_in_thread()
    try:
        b = server.bundles[0]
        assert b.content_port not in (None, server.port)
        good = f"GET /{b.secret}/{TS}/{sample_bundle.pages[0]} HTTP/1.1\r\nHost: 127.0.0.1\r\n" \
               "Connection: close\r\n\r\n"
        assert _raw(b.content_port, good.encode()).startswith(b"HTTP/1.1 200")
        for path in ("/", f"/sample/{TS}/{sample_bundle.pages[0]}", f"/{b.secret[:-1]}x/{TS}/x",
                     "/_mk/static/style.css"):
            req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
            assert _raw(b.content_port, req) == b"", path  # nothing, as a closed port
        # the reader: answered to its own pages and to the user, not to other origins' pages
        ok = _raw(server.port, b"GET /bundles.json HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               b"Sec-Fetch-Site: none\r\nConnection: close\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200")
        for site in (b"same-site", b"cross-site"):
            req = b"GET /bundles.json HTTP/1.1\r\nHost: 127.0.0.1\r\nSec-Fetch-Site: " + site + \
                  b"\r\n\r\n"
            assert _raw(server.port, req) == b""
        assert _raw(server.port, b"GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n") == b""
        assert _raw(server.port, b"NONSENSE\r\n\r\n") == b""  # no "400 Bad Request" either
        # a new run, new secrets: nothing from the last run's addresses still works
        first = b.secret
    finally:
        server.close()
    server = start_server([sample_bundle.path], port=0)
    try:
        assert server.bundles[0].secret != first
    finally:
        server.close()


def test_reader_page_frames_only_its_content_origin(sample_bundle: Any) -> None:
    app, bundles = _apps(sample_bundle.path)
    bundles.bind_ports(8090, {"sample": 41234})
    b = bundles.get("sample")
    r = app.test_client().get(f"/sample/{TS}/{sample_bundle.pages[0]}",
                              headers={"Host": "192.168.1.5:8090"})  # as a phone over --lan
    html = r.get_data(as_text=True)
    assert f'src="http://192.168.1.5:41234/{b.secret}/{TS}/' in html
    csp = r.headers["Content-Security-Policy"]
    assert "frame-src http://192.168.1.5:41234;" in csp and "script-src 'self'" in csp
    assert r.headers["Clear-Site-Data"] == '"cache", "storage"'  # first page of a run
    again = app.test_client().get("/sample/")
    assert "frame-src 'none'" in again.headers["Content-Security-Policy"]
    assert again.headers["X-Frame-Options"] == "DENY"
    # the connection fence under the CSP: the reader page may connect to itself and its frame's
    # content origin only; other reader pages to themselves only
    assert r.headers["Connection-Allowlist"] == '(response-origin "http://192.168.1.5:41234/*");redirects=allow'
    assert again.headers["Connection-Allowlist"] == "(response-origin)"
    page = Client(bundles.content_app("sample")).get(
        f"/{b.secret}/{TS}/{sample_bundle.pages[0]}", headers={"Host": "192.168.1.5:41234"})
    assert "default-src http://192.168.1.5:41234 data:" in page.headers["Content-Security-Policy"]
    assert "Set-Cookie" not in page.headers
    assert page.headers["Connection-Allowlist"] == "(response-origin);redirects=allow"
    bundles.close()


def test_scripts_only_when_asked_and_verified(sample_bundle: Any) -> None:
    app, bundles = _apps(sample_bundle.path)
    bundles.bind_ports(8090, {"sample": 41234})
    b = bundles.get("sample")
    content = Client(bundles.content_app("sample"))
    url = f"/{b.secret}/{TS}/{sample_bundle.pages[0]}"
    safe = content.get(url)
    assert "script-src 'none'" in safe.headers["Content-Security-Policy"]
    assert b"RTCPeerConnection" not in safe.data
    reader = app.test_client()
    page = f"/sample/{TS}/{sample_bundle.pages[0]}"
    form = {"on": "1", "back": page}
    # a form elsewhere cannot switch scripts on (over --lan it would carry no Sec-Fetch-Site)
    assert reader.post("/_mk/scripts/sample", data=form,
                       headers={"Origin": "http://evil.example"}).status_code == 403
    assert reader.post("/_mk/scripts/sample", data=form).status_code == 403  # no Origin
    r = reader.post("/_mk/scripts/sample", data=form, headers={"Origin": "http://localhost"})
    assert r.status_code == 303 and r.headers["Location"].endswith(page)
    on = content.get(url)
    csp = on.headers["Content-Security-Policy"]
    assert "script-src http://" in csp and "worker-src 'none'" in csp
    assert "sandbox allow-forms allow-scripts;" in csp and "allow-same-origin" not in csp
    assert b"RTCPeerConnection" in on.data  # the WebRTC removal went in first
    assert b'sandbox="allow-forms allow-scripts"' in reader.get(page).data
    # still verifying, or failed: never scripts, whatever was asked
    for state in ("verifying", "failed"):
        b.state = state
        assert "script-src 'none'" in content.get(url).headers["Content-Security-Policy"]
        r = reader.post("/_mk/scripts/sample", data=form, headers={"Origin": "http://localhost"})
        assert r.status_code == 409
    bundles.close()


def test_failed_bundle_with_scripts_flag_stays_in_safe_mode(sample_bundle: Any,
                                                           tmp_path: Path) -> None:
    from serve_support import tamper_title

    bad = tmp_path / "tampered.wacz"
    tamper_title(sample_bundle.path, bad, "Totally legit")
    app, bundles = _apps(bad, scripts=True)
    b = bundles.get("tampered")
    assert b.state == "failed"
    r = Client(bundles.content_app("tampered")).get(f"/{b.secret}/{TS}/{sample_bundle.pages[0]}")
    assert "script-src 'none'" in r.headers["Content-Security-Policy"]
    page = app.test_client().get(f"/tampered/{TS}/{sample_bundle.pages[0]}")
    assert b"<iframe" not in page.data and b"failed verification" in page.data
    bundles.close()


def _snapshot_bundle(tmp_path: Path) -> Path:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    page = b"<!doctype html><title>Posts</title><div id=list></div>" \
           b"<script>document.getElementById('list').textContent='BUILT-BY-SCRIPT'</script>"
    shot = b"<!doctype html><html><head><title>Posts</title></head><body><div id=list>" \
           b"BUILT-BY-SCRIPT <a href='/older'>older</a></div></body></html>"
    warc = tmp_path / "snap.warc.gz"
    with open(warc, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                              ("Content-Length", str(len(page)))],
                                   protocol="HTTP/1.1")
        resp = w.create_warc_record("http://snap.example/", "response", payload=io.BytesIO(page),
                                    http_headers=headers)
        w.write_record(resp)
        conv = w.create_warc_record(
            "urn:snapshot:http://snap.example/", "conversion", payload=io.BytesIO(shot),
            warc_content_type="text/html; charset=utf-8",
            warc_headers_dict={"WARC-Refers-To-Target-URI": "http://snap.example/",
                               "WARC-Refers-To": resp.rec_headers.get_header("WARC-Record-ID")})
        w.write_record(conv)
    return Path(create_bundle([warc], tmp_path / "snap.wacz", key=generate_key("snap")))


def test_safe_mode_shows_the_rendered_snapshot(tmp_path: Path) -> None:
    wacz = _snapshot_bundle(tmp_path)
    app, bundles = _apps(wacz)
    b = bundles.get("snap")
    content = Client(bundles.content_app("snap"))
    url = f"/{b.secret}/2030/http://snap.example/"
    nav = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}
    r = content.get(url, headers=nav)
    assert r.status_code == 200 and b"BUILT-BY-SCRIPT <a" in r.data
    assert f"href='/{b.secret}/".encode() in r.data  # rewritten like any archived HTML
    assert b.last_served[1:] == ("http://snap.example/", "snapshot")
    at = app.test_client().get("/_mk/at/snap").get_json()
    assert at["url"] == "http://snap.example/" and at["kind"] == "snapshot"
    b.scripts_asked = True  # with scripts: the page itself, whose script builds the list
    r = content.get(url, headers=nav)
    assert b"<div id=list></div>" in r.data and b"RTCPeerConnection" in r.data
    bundles.close()


@pytest.mark.parametrize("accept,word", [("zh-CN,zh;q=0.9", "签名有效"),
                                         ("en-US", "signature valid")])
def test_languages_follow_the_browser_with_a_switch(sample_bundle: Any, accept: str,
                                                    word: str) -> None:
    app, bundles = _apps(sample_bundle.path)
    reader = app.test_client()
    for path in ("/", "/sample/", f"/sample/{TS}/{sample_bundle.pages[0]}"):
        html = reader.get(path, headers={"Accept-Language": accept}).get_data(as_text=True)
        assert word in html, path
    other = "signature valid" if word == "签名有效" else "签名有效"
    switched = reader.get("/?lang=" + ("en" if word == "签名有效" else "zh"),
                          headers={"Accept-Language": accept}).get_data(as_text=True)
    assert other in switched
    page = reader.get(f"/sample/~zh/{TS}/{sample_bundle.pages[0]}").get_data(as_text=True)
    assert "签名有效" in page and 'lang="zh-CN"' in page
    missing = Client(bundles.content_app("sample")).get(
        f"/{bundles.get('sample').secret}/{TS}/http://nowhere.example/",
        headers={"Accept-Language": accept})
    assert missing.status_code == 404
    assert ("存档中没有此页面" if word == "签名有效" else "Not in this archive") in \
        missing.get_data(as_text=True)
    bundles.close()


def test_archived_strings_never_reach_the_verdict(tmp_path: Path) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    warc = tmp_path / "f.warc.gz"
    with open(warc, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        body = b"<title>x</title>"
        h = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        w.write_record(w.create_warc_record("http://f.example/", "response",
                                            payload=io.BytesIO(body), http_headers=h))
    forged = '<span class="badge ok verdict">✔ verified, trusted signer</span>'
    key = generate_key(forged)
    wacz = create_bundle([warc], tmp_path / "f.wacz", key=key, title=forged)
    app, bundles = _apps(wacz)
    reader = app.test_client()
    for path in ("/", "/f/", f"/f/{TS}/http://f.example/"):
        html = reader.get(path).get_data(as_text=True)
        assert forged not in html  # escaped, inside a dashed "archived" box
        assert html.count('class="badge') == 1 and 'data-state="untrusted"' in html
        assert '<bdi class="archived' in html
    bundles.close()


def test_cli_json_names_each_content_origin(sample_bundle: Any,
                                            capsys: pytest.CaptureFixture) -> None:
    import _thread
    import json
    import threading
    import time

    from mirrorkit.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def stop_soon() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/bundles.json", timeout=2)
                break
            except OSError:
                time.sleep(0.05)
        _thread.interrupt_main()

    threading.Thread(target=stop_soon, daemon=True).start()
    assert main(["serve", str(sample_bundle.path), "--port", str(port), "--json",
                 "--scripts"]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first["scripts"] is True
    assert first["bundles"][0]["content"].startswith("http://127.0.0.1:")


def test_refresh_header_only_ever_inside_the_archive(tmp_path: Path) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    warc = tmp_path / "r.warc.gz"
    cases = {"http://r.example/a": "0;url=http://r.example/b",
             "http://r.example/b": "0 http://evil.example/",
             "http://r.example/c": "1; url='http://evil.example/'"}
    with open(warc, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        for url, refresh in cases.items():
            h = StatusAndHeaders("200 OK", [("Content-Type", "text/plain"), ("Refresh", refresh)],
                                 protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(b"x"),
                                                http_headers=h))
    wacz = create_bundle([warc], tmp_path / "r.wacz", key=generate_key("r"))
    app, bundles = _apps(wacz)
    b = bundles.get("r")
    content = Client(bundles.content_app("r"))
    kept = content.get(f"/{b.secret}/2030/http://r.example/a").headers.get("Refresh")
    assert kept is not None and kept.split("url=", 1)[1].startswith(f"/{b.secret}/")
    for url in ("http://r.example/b", "http://r.example/c"):
        assert "Refresh" not in content.get(f"/{b.secret}/2030/{url}").headers
    bundles.close()


def test_lan_binds_every_origin_on_every_interface(sample_bundle: Any) -> None:
    from waitress.server import TcpWSGIServer

    server = start_server([sample_bundle.path], port=0, lan=True)
    try:
        socks = [s.socket.getsockname() for s in server.server.map.values()
                 if isinstance(s, TcpWSGIServer)]
        ports = {port for _host, port in socks}
        assert {host for host, _port in socks} == {"0.0.0.0"}
        assert ports == {server.port, server.bundles[0].content_port}
    finally:
        server.close()
