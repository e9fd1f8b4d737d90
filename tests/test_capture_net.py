"""Capture against misbehaving servers: Retry-After, 5xx, huge bodies, TLS, proxies, Ctrl-C."""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List
from urllib.parse import urlsplit

import pytest
from test_capture import load_capture

from mirrorkit.cli import main
from mirrorkit.sample_site import SampleSite

BIG = bytes(range(256)) * 1200  # 300 KB


class _Quirky(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: Dict[str, List[float]] = {}

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "text/html", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path
        seen = self.hits.setdefault(path, [])
        seen.append(time.monotonic())
        if path == "/":
            links = "".join(f'<a href="{p}">{p}</a>' for p in ("/flaky", "/busy", "/broken",
                                                                  "/big.bin"))
            self._send(200, f"<html><title>q</title><body>{links}</body></html>".encode())
        elif path == "/flaky":  # 503 + Retry-After: 2 once (longer than the 1 s backoff)
            if len(seen) == 1:
                self._send(503, b"later", Retry_After="2")
            else:
                self._send(200, b"<html><title>flaky ok</title></html>")
        elif path == "/busy":  # 429 with an HTTP-date Retry-After, then fine
            if len(seen) == 1:
                # a date 3 s ahead: with whole seconds, 2 to 3 s from now
                self._send(429, b"slow down",
                           Retry_After=self.date_time_string(time.time() + 3))
            else:
                self._send(200, b"<html><title>busy ok</title></html>")
        elif path == "/broken":
            self._send(500, b"always broken")
        elif path == "/slow":
            time.sleep(1.5)
            self._send(200, b"too late")
        elif path == "/stall":  # headers and half the body, then silence
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", "2000")
            self.end_headers()
            self.wfile.write(b"x" * 1000)
            self.wfile.flush()
            time.sleep(1.5)
        elif path == "/big.bin":
            self._send(200, BIG, "application/octet-stream")
        else:
            self._send(404, b"no")


class _QuietServer(ThreadingHTTPServer):
    # Refused handshakes and clients that hang up are part of these tests: socketserver would
    # print them to stderr, into the captured output of whichever command runs at that moment.
    def handle_error(self, request: object, client_address: object) -> None:
        pass


@pytest.fixture()
def quirky() -> Iterator[str]:
    _Quirky.hits = {}
    server = _QuietServer(("127.0.0.1", 0), _Quirky)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_retry_after_5xx_and_max_size(quirky: str, tmp_path: Path) -> None:
    out = tmp_path / "q"
    code = main(["capture", quirky, "-o", str(out), "--quiet", "--ignore-robots",
                 "--max-size", "100K", "--retries", "2"])
    assert code == 0
    recs = load_capture(out)
    flaky = _Quirky.hits["/flaky"]
    assert len(flaky) == 2 and flaky[1] - flaky[0] >= 1.9  # Retry-After: 2 honoured
    busy = _Quirky.hits["/busy"]
    assert len(busy) == 2 and busy[1] - busy[0] >= 1.5  # the HTTP-date form honoured
    assert recs[quirky + "flaky"]["status"] == 200
    assert recs[quirky + "busy"]["status"] == 200
    assert len(_Quirky.hits["/broken"]) == 3  # first try + 2 retries, then the 500 is kept
    assert recs[quirky + "broken"]["status"] == 500
    big = recs[quirky + "big.bin"]
    assert big["warc"].get_header("WARC-Truncated") == "length"
    assert big["payload"] == BIG[: 100 * 1024]
    result = subprocess.run([str(Path(sys.executable).parent / "warcio"), "check",
                             *map(str, out.glob("*.warc.gz"))], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_timeout(quirky: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "slow"
    code = main(["capture", quirky + "slow", "-o", str(out), "--ignore-robots", "--timeout",
                 "0.3", "--retries", "0"])
    assert code == 1
    assert "timed out" in capsys.readouterr().err
    assert "timeout: timed out" in (out / "crawl.log").read_text()


def test_timeout_in_the_middle_of_the_body(quirky: str, tmp_path: Path) -> None:
    out = tmp_path / "stall"
    code = main(["capture", quirky + "stall", "-o", str(out), "--ignore-robots", "--timeout",
                 "0.3", "--retries", "0", "--quiet"])
    assert code == 1
    assert "timeout: timed out while reading the body" in (out / "crawl.log").read_text()


# -- TLS ------------------------------------------------------------------------------------
@pytest.fixture()
def tls_site(tmp_path: Path) -> Iterator[str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    server = _QuietServer(("127.0.0.1", 0), _Quirky)
    server.daemon_threads = True
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_tls_failure_is_reported_and_insecure_records_it(
    tls_site: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["capture", tls_site, "-o", str(tmp_path / "a"), "--retries", "0"]) == 1
    err = capsys.readouterr().err
    assert "TLS failure" in err and "--insecure" in err and "Traceback" not in err
    out = tmp_path / "b"
    assert main(["capture", tls_site, "-o", str(out), "--insecure", "--quiet",
                 "--scope", "page", "--retries", "0"]) == 0
    recs = load_capture(out)
    assert recs[tls_site]["status"] == 200
    from mirrorkit.formats.warc import iter_records

    info = next(iter(iter_records(out))).content_stream().read().decode()
    assert "tls-verification: off (--insecure)" in info and "--insecure" in info


# -- proxy ----------------------------------------------------------------------------------
class _Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    used: List[str] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.used.append(self.path)
        parts = urlsplit(self.path)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("proxy-connection", "proxy-authorization")}
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                     headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        self.send_response(resp.status, resp.reason)
        for name, value in resp.getheaders():
            if name.lower() not in ("transfer-encoding", "content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        conn.close()


def test_http_proxy(tmp_path: Path) -> None:
    _Proxy.used = []
    proxy = _QuietServer(("127.0.0.1", 0), _Proxy)
    proxy.daemon_threads = True
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        with SampleSite() as site:
            out = tmp_path / "p"
            code = main(["capture", site.url + "about.html", "-o", str(out), "--quiet",
                         "--scope", "page", "--proxy",
                         f"http://user:secret@127.0.0.1:{proxy.server_address[1]}"])
            assert code == 0
            recs = load_capture(out)
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert site.url + "about.html" in _Proxy.used
    assert recs[site.url + "about.html"]["status"] == 200
    raw = b"".join(p.read_bytes() for p in out.glob("*.warc.gz"))
    import gzip

    text = gzip.decompress(raw)
    assert b"GET /about.html HTTP/1.1" in text  # origin-form, as the site would see it
    assert b"secret" not in text and b"Proxy-Authorization" not in text


def _socks5_server() -> Any:
    """A minimal SOCKS5 proxy (no auth, CONNECT by name or IPv4) that logs what it was asked."""
    import socket
    import socketserver
    import struct

    class Handler(socketserver.BaseRequestHandler):
        asked: List[str] = []

        def handle(self) -> None:
            sock = self.request
            n_methods = sock.recv(2)[1]
            sock.recv(n_methods)
            sock.sendall(b"\x05\x00")
            _ver, _cmd, _rsv, atyp = sock.recv(4)
            if atyp == 3:
                host = sock.recv(sock.recv(1)[0]).decode()
            else:
                host = socket.inet_ntoa(sock.recv(4))
            port = struct.unpack("!H", sock.recv(2))[0]
            self.asked.append(f"{host}:{port}")
            upstream = socket.create_connection(("127.0.0.1" if host == "localhost" else host,
                                                 port))
            sock.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + b"\x00\x00")

            def pump(src: Any, dst: Any) -> None:
                try:
                    while data := src.recv(65536):
                        dst.sendall(data)
                except OSError:
                    pass
                finally:
                    dst.close()

            threading.Thread(target=pump, args=(upstream, sock), daemon=True).start()
            pump(sock, upstream)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, Handler.asked


def test_socks5h_proxy_resolves_names_remotely(tmp_path: Path) -> None:
    server, asked = _socks5_server()
    try:
        with SampleSite() as site:
            # "localhost" is only resolved by the proxy (socks5h): the client never looks it up
            url = site.url.replace("127.0.0.1", "localhost") + "about.html"
            out = tmp_path / "s"
            code = main(["capture", url, "-o", str(out), "--quiet", "--scope", "page",
                         "--proxy", f"socks5h://127.0.0.1:{server.server_address[1]}"])
            assert code == 0
            recs = load_capture(out)
    finally:
        server.shutdown()
        server.server_close()
    assert f"localhost:{site.port}" in asked
    assert recs[url]["status"] == 200
    assert recs[url]["warc"].get_header("WARC-IP-Address") is None  # unknown behind a proxy


# -- Ctrl-C ---------------------------------------------------------------------------------
def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path: Path) -> None:
    out = tmp_path / "int"
    with SampleSite(delay=0.1) as site:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        proc = subprocess.Popen(
            [sys.executable, "-m", "mirrorkit", "capture", site.url, "-o", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 20
        while len(site.requests_log) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _stdout, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130, stderr
        assert "--resume -o" in stderr and "Traceback" not in stderr
        assert main(["capture", "--resume", "-o", str(out), "--quiet"]) == 0
        recs = load_capture(out)
    assert all(url in recs for url in site.expected["pages"])
