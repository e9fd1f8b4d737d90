"""Test support for the torrent tests: a Range-capable HTTP web seed, a logging SOCKS5 proxy,
seed processes, and bundles large enough to interrupt. Loopback only. Not collected by pytest.
"""

from __future__ import annotations

import json
import os
import select
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]


def mirrorkit(*args: str) -> List[str]:
    """The command line running mirrorkit with this interpreter."""
    return [sys.executable, "-m", "mirrorkit", *args]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run mirrorkit to the end (inherits MIRRORKIT_HOME from the test's environment)."""
    return subprocess.run(mirrorkit(*args), capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, check=False)


# --- a web seed ------------------------------------------------------------------------------

@dataclass
class WebSeed:
    """An HTTP server for one file with Range support; `corrupt` flips bytes at those offsets."""

    path: Path
    host: str = "127.0.0.1"
    corrupt: List[int] = field(default_factory=list)
    requests: List[Tuple[str, str]] = field(default_factory=list)  # (client ip, Range header)
    served: List[Tuple[int, int]] = field(default_factory=list)  # byte spans sent
    server: Optional[ThreadingHTTPServer] = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://{self.host}:{self.server.server_address[1]}/{self.path.name}"

    def start(self) -> WebSeed:
        seed = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

            def _serve(self, body: bool) -> None:
                seed.requests.append((self.client_address[0], self.headers.get("Range", "")))
                if self.path.split("?")[0] != "/" + seed.path.name:
                    self.send_error(404)
                    return
                data = bytearray(seed.path.read_bytes())
                for offset in seed.corrupt:
                    data[offset] ^= 0xFF
                start, end = 0, len(data) - 1
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    a, _, b = rng[6:].split(",")[0].partition("-")
                    start = int(a) if a else len(data) - int(b)
                    end = min(int(b), len(data) - 1) if a and b else len(data) - 1
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(end - start + 1))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if body:
                    seed.served.append((start, end + 1))
                    self.wfile.write(bytes(data[start:end + 1]))

        self.server = ThreadingHTTPServer((self.host, 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


# --- a SOCKS5 proxy that logs ----------------------------------------------------------------

class Socks5Proxy:
    """A SOCKS5 CONNECT proxy on 127.0.0.1 (no auth), logging each target; its outgoing
    connections come from `bind` (127.0.0.9), so a server can tell proxied from direct."""

    def __init__(self, bind: str = "127.0.0.9") -> None:
        self.bind = bind
        self.connections: List[Tuple[str, int]] = []
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._handle(self.request)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"socks5h://127.0.0.1:{self.port}"

    def _handle(self, client: socket.socket) -> None:
        def recv(n: int) -> bytes:
            data = b""
            while len(data) < n:
                chunk = client.recv(n - len(data))
                if not chunk:
                    raise ConnectionError
                data += chunk
            return data

        try:
            _ver, nmethods = recv(2)
            recv(nmethods)
            client.sendall(b"\x05\x00")
            _ver, cmd, _rsv, atyp = recv(4)
            if atyp == 1:
                host = socket.inet_ntoa(recv(4))
            elif atyp == 3:
                host = recv(recv(1)[0]).decode()
            else:
                host = socket.inet_ntop(socket.AF_INET6, recv(16))
            port = struct.unpack(">H", recv(2))[0]
            if cmd != 1:  # only CONNECT; UDP ASSOCIATE and BIND are refused
                client.sendall(b"\x05\x07\x00\x01" + bytes(6))
                return
            self.connections.append((host, port))
            upstream = socket.create_connection((host, port), timeout=10,
                                                source_address=(self.bind, 0))
        except (OSError, ConnectionError, ValueError):
            client.close()
            return
        client.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("0.0.0.0") + b"\x00\x00")
        upstream.settimeout(None)
        socks = [client, upstream]
        try:
            while True:
                ready, _, _ = select.select(socks, [], [], 30)
                if not ready:
                    break
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        except OSError:
            pass
        finally:
            client.close()
            upstream.close()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- seed processes ---------------------------------------------------------------------------

class SeedProcess:
    """`mirrorkit torrent seed --json` in its own process; `.port` once it listens."""

    def __init__(self, bundle: Path, host: str = "127.0.0.2", *extra: str) -> None:
        self.proc = subprocess.Popen(
            mirrorkit("torrent", "seed", str(bundle), "--listen", f"{host}:0", "--no-dht",
                      "--json", *extra),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the seed did not start: " + (self.proc.stderr.read()
                                                             if self.proc.stderr else ""))
        self.started: Dict[str, Any] = json.loads(line)
        self.address = self.started["listen"][0]

    def stop(self) -> Tuple[int, str]:
        """SIGINT (Ctrl-C), as a person would; returns (exit code, stdout rest)."""
        import signal

        self.proc.send_signal(signal.SIGINT)
        out, _err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out


def make_big_bundle(folder: Path, size: int, key: Any) -> Path:
    """A signed bundle of about `size` bytes (one incompressible resource record)."""
    from signed_bundle import build_bundle
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    warc = folder / "big.warc.gz"
    with warc.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        payload = os.urandom(size)
        headers = StatusAndHeaders("200 OK", [("Content-Type", "application/octet-stream")],
                                   protocol="HTTP/1.1")
        import io

        record = writer.create_warc_record("http://big.example/blob", "response",
                                           payload=io.BytesIO(payload), http_headers=headers)
        writer.write_record(record)
    return build_bundle(folder / "big.wacz", [warc], key)


def wait_for(predicate: Any, timeout: float = 30.0, step: float = 0.05) -> bool:
    """Poll `predicate()` until true or `timeout`; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())
