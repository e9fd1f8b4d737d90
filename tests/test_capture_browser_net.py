"""Browser capture's network guarantees and robustness, with real Chromium: all traffic through
--proxy (WebSockets included) or nowhere, a page that never finishes loading is cut off, resume
after SIGKILL and Ctrl-C, a clear error without a browser; other tools read the result."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from test_capture_browser import WARCIO, have_browser
from warcio.archiveiterator import ArchiveIterator

from mirrorkit.bundle import create_bundle
from mirrorkit.cli import main
from mirrorkit.formats.warc import target_uri, warc_files
from mirrorkit.sample_site import SampleSite
from mirrorkit.trust.signing import generate_key

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _cli(*args: str) -> List[str]:
    return [sys.executable, "-m", "mirrorkit", "capture", *args]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _responses(out: Path) -> List[str]:
    urls = []
    for path in warc_files(out):
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type in ("response", "revisit"):
                    urls.append(target_uri(rec))
    return urls


# -- a marking proxy --------------------------------------------------------------------------
class _ViaProxy(socketserver.ThreadingTCPServer):
    """An HTTP proxy on 127.0.0.1 that adds `Via: 1.1 test-proxy` to everything it forwards:
    plain requests (absolute form) and the first request inside a CONNECT tunnel (a WebSocket
    handshake to a ws:// URL goes that way)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.seen: List[str] = []


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _pipe(a: socket.socket, b: socket.socket) -> None:
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def _mark(head: bytes) -> bytes:
    line, _, rest = head.partition(b"\r\n")
    return line + b"\r\nVia: 1.1 test-proxy\r\n" + rest


class _ProxyHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        client = self.request
        head = _read_head(client)
        if not head:
            return
        method, target = head.split(b" ", 2)[:2]
        self.server.seen.append(f"{method.decode()} {target.decode()}")  # type: ignore[attr-defined]
        if method == b"CONNECT":
            host, _, port = target.decode().rpartition(":")
            upstream = socket.create_connection((host, int(port)))
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            inner = _read_head(client)
            upstream.sendall(_mark(inner))
        else:
            from urllib.parse import urlsplit

            parts = urlsplit(target.decode())
            upstream = socket.create_connection((parts.hostname, parts.port or 80))
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            line, _, rest = head.partition(b"\r\n")
            version = line.rsplit(b" ", 1)[1]
            # one request per connection: simple, and the reply says Connection: close
            lines = [ln for ln in rest.split(b"\r\n") if not ln.lower().startswith(
                (b"proxy-connection", b"connection"))]
            head = b"\r\n".join([b"GET " + path.encode() + b" " + version, *lines])
            head = head.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
            upstream.sendall(_mark(head))
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
        _pipe(client, upstream)


@pytest.fixture()
def via_proxy() -> Iterator[_ViaProxy]:
    proxy = _ViaProxy()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    yield proxy
    proxy.shutdown()
    proxy.server_close()


def test_all_traffic_goes_through_the_proxy_websockets_never_direct(
        tmp_path: Path, via_proxy: _ViaProxy) -> None:
    have_browser()
    with SampleSite() as site:
        proxy = f"http://127.0.0.1:{via_proxy.server_address[1]}"
        code = main(["capture", site.url + "blog/", "-o", str(tmp_path / "p"), "--browser",
                     "--depth", "0", "--proxy", proxy, "--quiet"])
        assert code == 0
        log = list(site.via_log)
        exp = site.expected
    assert len(log) > 15
    direct = [(path, via) for path, _host, via in log if via != "1.1 test-proxy"]
    assert direct == []
    # the page's WebSocket (which CDP cannot pause) did not go direct: it was refused
    assert not any(path == "/ws/live" for path, _h, _v in log)
    # robots.txt came through the proxy and was obeyed for the script's request
    assert not any(path.startswith("/private/") for path, _h, _v in log)
    urls = set(_responses(tmp_path / "p"))
    assert set(exp["js_requisites"]) <= urls


def test_without_proxy_nothing_escapes_the_fetcher(tmp_path: Path) -> None:
    """No --proxy: the browser's proxy leads nowhere; the WebSocket (which CDP cannot pause)
    fails instead of going direct, and crawl.log says so."""
    have_browser()
    with SampleSite() as site:
        assert main(["capture", site.url + "blog/", "-o", str(tmp_path / "n"), "--browser",
                     "--depth", "0", "--quiet"]) == 0
        paths = [path for path, _h, _v in site.via_log]
        netloc = site.url.split("/")[2]
    assert "/ws/live" not in paths
    fetched = Counter(paths)
    assert [p for p, n in fetched.items() if n > 1] == []  # each URL fetched once, by us
    log = (tmp_path / "n" / "crawl.log").read_text("utf-8")
    assert "escaped the interception" in log
    assert f"CONNECT {netloc}" in log  # named: the page's WebSocket, refused at the dead end


# -- a page that never finishes loading ------------------------------------------------------
class _Hanging(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        pages = {
            "/": b'<html><head><title>Hangs</title></head><body><h1>Start</h1>'
                 b'<img src="/forever.png"><a href="/next.html">next</a></body></html>',
            "/next.html": b"<html><head><title>Next</title></head><body>fine</body></html>",
        }
        if self.path == "/forever.png":
            time.sleep(6)  # longer than --page-timeout
        body = pages.get(self.path, b"")
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html" if body else "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_page_that_never_finishes_loading_is_cut_off(tmp_path: Path, capsys: Any) -> None:
    have_browser()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hanging)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        code = main(["capture", url, "-o", str(tmp_path / "h"), "--browser", "--page-timeout",
                     "2", "--timeout", "20", "--json", "--ignore-robots"])
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["pages_timed_out"] == 1
    assert summary["browser_pages"] == 2
    urls = _responses(tmp_path / "h")
    assert url in urls and url + "next.html" in urls  # the capture went on


# -- resume ---------------------------------------------------------------------------------------
def test_resume_after_sigkill_during_a_browser_capture(tmp_path: Path) -> None:
    have_browser()
    out = tmp_path / "killed"
    with SampleSite(delay=0.05) as site:
        proc = subprocess.Popen(_cli(site.url, "-o", str(out), "--browser", "--quiet"),
                                env=_env(), start_new_session=True)
        deadline = time.monotonic() + 60
        while len(site.requests_log) < 40 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # the browser and Playwright's driver go with it (same session); clean up leftovers
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        first = list(site.requests_log)
        assert 0 < len(first) < 70, "the capture was not killed mid-way"
        before = set(_responses(out))
        code = main(["capture", "--resume", "-o", str(out), "--quiet"])
        assert code == 0
        second = site.requests_log[len(first):]
        exp = site.expected
    recs = _responses(out)
    for url in exp["pages"] + exp["requisites"] + exp["js_pages"] + exp["js_requisites"]:
        assert url in recs, f"missing after resume: {url}"
    # nothing safely written was fetched again, nothing fetched twice in the resumed run
    again = {site.url.rstrip("/") + p for (_m, p, h) in second if h.endswith(str(site.port))}
    assert not again & before
    assert [k for k, n in Counter(second).items() if n > 1] == []
    # each page once (a page in flight at the kill was not written, so it is not doubled)
    pages = [u for u in recs if u in set(exp["pages"])]
    assert len(pages) == len(set(pages))
    files = [str(p) for p in warc_files(out)]
    check = subprocess.run([WARCIO, "check", *files], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    lines = (out / "pages.jsonl").read_text().splitlines()
    assert len(lines) == len(set(lines))


def test_ctrl_c_leaves_a_resumable_folder(tmp_path: Path) -> None:
    have_browser()
    out = tmp_path / "int"
    with SampleSite(delay=0.05) as site:
        proc = subprocess.Popen(_cli(site.url, "-o", str(out), "--browser"), env=_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while len(site.requests_log) < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130, stderr
        assert "--resume" in stderr and "Traceback" not in stderr
        assert main(["capture", "--resume", "-o", str(out), "--quiet"]) == 0
        exp = site.expected
    recs = _responses(out)
    assert all(u in recs for u in exp["pages"] + exp["js_pages"])


# -- errors --------------------------------------------------------------------------------------
def test_no_browser_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(_cli("http://127.0.0.1:9/", "-o", str(tmp_path / "x"), "--browser",
                                 "--chromium", str(tmp_path / "no-such-chrome")),
                            env=_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "--chromium" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()  # no half-made capture folder


def test_browser_options_need_browser(tmp_path: Path) -> None:
    result = subprocess.run(_cli("http://127.0.0.1:9/", "-o", str(tmp_path / "x"), "--tabs",
                                 "2"), env=_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--browser" in result.stderr


# -- other tools --------------------------------------------------------------------------------
@pytest.mark.interop
def test_wacz_validate_and_pywb_read_a_browser_capture(tmp_path: Path) -> None:
    from test_capture_interop import _REPLAY

    have_browser()
    out = tmp_path / "cap"
    with SampleSite() as site:
        assert main(["capture", site.url + "blog/", "-o", str(out), "--browser", "--depth",
                     "1", "--quiet"]) == 0
        base, exp = site.url, site.expected
        bodies = {u: site.body(u[len(base):]) for u in
                  [exp["blog"], base + "data/blog/posts-1.json", base + "img/blog/post-2.png",
                   exp["js_pages"][0]]}
    wacz = create_bundle([out], tmp_path / "b.wacz", key=generate_key("Test"), title="t")
    result = subprocess.run([str(BIN / "wacz"), "validate", "-f", str(wacz)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    root = tmp_path / "pywb"
    root.mkdir()
    subprocess.run([str(BIN / "wb-manager"), "init", "coll"], cwd=root, check=True,
                   capture_output=True)
    subprocess.run([str(BIN / "wb-manager"), "add", "coll", *map(str, out.glob("*.warc.gz"))],
                   cwd=root, check=True, capture_output=True)
    got = subprocess.run([sys.executable, "-c", _REPLAY, str(root), json.dumps(list(bodies))],
                         capture_output=True, text=True, timeout=180)
    assert got.returncode == 0, got.stderr[-2000:]
    replayed = json.loads(got.stdout.strip().splitlines()[-1])
    for url, body in bodies.items():
        status, _ctype, _loc, data = replayed["id_" + url]
        assert status == 200, url
        assert data.encode("latin-1") == body, url  # the response, not the snapshot
    status, _c, _l, page = replayed["mp_" + exp["blog"]]
    assert status == 200 and "River Diary" in page
