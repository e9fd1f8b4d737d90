"""Support for the safe-replay tests: the attack site, its capture, and the outside host.

127.0.0.2 stands in for the internet: `Outside` listens there on TCP and UDP and records every
connection and datagram, so a test can assert that nothing at all reached it.
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Tuple

ATTACK_ROOT = Path(__file__).resolve().parent / "attack_site"
OUTSIDE = "127.0.0.2"
UDP_VECTORS = ("UDP_1", "UDP_2", "UDP_3", "UDP_4", "UDP_5", "UDP_6", "UDP_7")
# which WebRTC vector of scripts.html uses which UDP placeholder
RTC_VECTOR_PORT = {"direct": "UDP_1", "iframe_contentWindow": "UDP_2", "window_index": "UDP_3",
                   "srcdoc_setter": "UDP_4", "static_srcdoc": "UDP_5", "data_frame": "UDP_6",
                   "archived_frame": "UDP_7"}


def free_port(host: str, kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Outside:
    """A TCP listener and UDP sockets on 127.0.0.2 that record whatever reaches them."""

    def __init__(self) -> None:
        self.tcp_port = free_port(OUTSIDE)
        self.udp_ports = {name: free_port(OUTSIDE, socket.SOCK_DGRAM) for name in UDP_VECTORS}
        self.tcp: List[bytes] = []
        self.connects: List[float] = []  # time.monotonic() of every accepted connection
        self.udp: List[Tuple[str, bytes]] = []
        self._socks: List[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def host(self) -> str:
        return f"{OUTSIDE}:{self.tcp_port}"

    def start(self) -> Outside:
        t = socket.socket()
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((OUTSIDE, self.tcp_port))
        t.listen(64)
        self._socks.append(t)
        threading.Thread(target=self._accept, args=(t,), daemon=True).start()
        for name, port in self.udp_ports.items():
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind((OUTSIDE, port))
            self._socks.append(u)
            threading.Thread(target=self._recv, args=(u, name), daemon=True).start()
        return self

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with self._lock:
                self.connects.append(time.monotonic())
            conn.settimeout(2)
            try:
                data = conn.recv(4096)
            except OSError:
                data = b"(connected, nothing sent)"
            with self._lock:
                self.tcp.append(data or b"(connected, nothing sent)")
            conn.close()

    def _recv(self, sock: socket.socket, name: str) -> None:
        while True:
            try:
                data, _ = sock.recvfrom(65536)
            except OSError:
                return
            with self._lock:
                self.udp.append((name, data))

    def stop(self) -> None:
        for s in self._socks:
            s.close()


def serve_attack_site(outside: Outside, sample_home: str) -> ThreadingHTTPServer:
    """The attack site on 127.0.0.1 (a free port), pages filled in with the outside host."""
    subs: Dict[str, str] = {"EVIL_HOST": outside.host, "SAMPLE_HOME": sample_home}
    # longest names first: UDP_1 must not eat into a UDP_10
    subs.update({name: str(port) for name, port in sorted(outside.udp_ports.items(),
                                                          reverse=True)})

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            name = self.path.split("?", 1)[0].lstrip("/") or "index.html"
            path = ATTACK_ROOT / name
            if "/" in name or not path.is_file():
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = path.read_text("utf-8")
            for key, value in subs.items():
                body = body.replace(key, value)
            data = body.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            if name == "refresh-header.html":
                self.send_header("Refresh", f"0;url=http://{outside.host}/refresh-header")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def build_attack_bundle(workdir: Path, outside: Outside, sample_home: str) -> Tuple[Path, str]:
    """Captures the attack site (the outside host is not listening yet), bundles it with a key
    nobody trusts; returns the bundle and the site's URL."""
    from mirrorkit.bundle import create_bundle
    from mirrorkit.capture import CaptureOptions, capture, check_seed
    from mirrorkit.trust.signing import generate_key

    site = serve_attack_site(outside, sample_home)
    url = f"http://127.0.0.1:{site.server_address[1]}/"
    try:
        out = workdir / "attack-capture"
        capture(CaptureOptions(seeds=[check_seed(url)], out_dir=out, backoff=0.01, retries=0,
                               timeout=2))
    finally:
        site.shutdown()
        site.server_close()
    key = generate_key("Lantern Rights Watch")  # the trusted publisher's name, another key
    path = create_bundle([out], workdir / "attack.wacz", key=key, title="Lantern Rights Watch",
                         collection="lantern", sequence=9)
    return Path(path), url


def serve_blank(host: str) -> ThreadingHTTPServer:
    """A server answering every GET with a small blank page (probe and control pages)."""

    class Blank(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = b"<!doctype html><title>probe</title><body>probe</body>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((host, 0), Blank)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
