"""Helpers the benchmarks share: a loopback site server, free ports, waiting for a server, process
memory, stopping."""

from __future__ import annotations

import gzip
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Tuple

# respond(path) -> (status, content type, body); a path it does not know raises ValueError (404).
Responder = Callable[[str], Tuple[int, str, bytes]]


def serve_site(respond: Responder, delay: float = 0.0, gzip_text: bool = False
               ) -> ThreadingHTTPServer:
    """A threaded loopback server for a generated site, each response delayed by `delay`; text
    bodies are gzip-encoded for clients that accept it when `gzip_text`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, the client's delayed ACK would
        # add ~40 ms to every response on top of the intended delay.
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            time.sleep(delay)
            try:
                status, ctype, body = respond(self.path.split("?")[0])
            except ValueError:
                status, ctype, body = 404, "text/html; charset=utf-8", b"not found"
            encoded = (gzip_text and ctype.startswith("text/")
                       and "gzip" in self.headers.get("Accept-Encoding", ""))
            if encoded:
                body = gzip.compress(body, 6, mtime=0)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            if encoded:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ok(url: str, timeout: float = 120.0) -> float:
    """Polls `url` until it answers 200; returns time.monotonic() then. Raises RuntimeError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                if r.status == 200:
                    r.read()
                    return time.monotonic()
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def rss_mb(pid: int) -> Tuple[float, float]:
    """(current RSS, peak RSS) of a process in MB, from /proc."""
    cur = peak = 0.0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return cur, peak


def stop(proc: subprocess.Popen[Any]) -> None:
    """Terminate a server process, killing it if it does not stop within 15 s."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
