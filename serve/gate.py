"""Who gets an answer at all: requests the reader must not answer are dropped unanswered.

A web page elsewhere (another site, another port of 127.0.0.1) can send requests to the reader
and learn from *any* answer that it runs: ``fetch(url, {mode: 'no-cors'})`` resolves on a 403
as on a 200, ``<script>`` fires ``load`` on any 200, ``window.open`` lets the opener count the
frames of what loaded. So a request that is not the reader's own is never answered: the
connection is reset without a byte, as a closed port would (the browser sees a network error
either way). `install` teaches waitress to do that when the WSGI app raises `Drop`.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from typing import Any, Iterable

from waitress.channel import HTTPChannel
from waitress.task import ErrorTask, WSGITask


class Drop(Exception):
    """Raised by the app: close this connection without sending anything."""


def _reset(channel: Any) -> None:
    # SO_LINGER 0 turns close() into a RST: no FIN, no bytes, like a refused connection.
    with contextlib.suppress(OSError):
        channel.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class _GatedTask(WSGITask):
    dropped = False

    def execute(self) -> None:
        try:
            super().execute()
        except Drop:
            self.dropped = True
            self.close_on_finish = True
            _reset(self.channel)

    def finish(self) -> None:
        if not self.dropped:
            super().finish()


class _SilentErrorTask(ErrorTask):
    """Malformed requests (no browser sends them) get no "400 Bad Request" naming a server."""

    def execute(self) -> None:
        self.close_on_finish = True
        _reset(self.channel)

    def finish(self) -> None:
        pass


class _GatedChannel(HTTPChannel):
    task_class = _GatedTask
    error_task_class = _SilentErrorTask


def install(servers: Iterable[Any]) -> None:
    """Makes each waitress TcpWSGIServer use the gated channel (before it accepts anything)."""
    for server in servers:
        server.channel_class = _GatedChannel


# -- the rules -----------------------------------------------------------------------------------


def host_allowed(host: str, extra: Iterable[str] = ()) -> bool:
    """Whether a Host header names this server by IP address, ``localhost`` or an allowed name.

    A web page elsewhere could point its own host name at 127.0.0.1 (DNS rebinding) and read
    which archives someone keeps; such requests carry that foreign name and are dropped.

    >>> host_allowed("127.0.0.1:8090"), host_allowed("[::1]:80"), host_allowed("evil.example")
    (True, True, False)
    """
    import ipaddress

    if not host:
        return True  # HTTP/1.0 without Host: nothing to rebind
    name = host_name(host)
    if name == "localhost" or name in {h.lower() for h in extra}:
        return True
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        return False


def host_name(host: str) -> str:
    """``127.0.0.1:8090`` -> ``127.0.0.1``, ``[::1]:80`` -> ``[::1]`` (lowercased)."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    return host.rsplit(":", 1)[0].rstrip(".") if ":" in host else host.rstrip(".")


def reader_request_allowed(environ: dict) -> bool:
    """Whether a request may reach the reader's own pages.

    Browsers send ``Sec-Fetch-Site`` to 127.0.0.1 and localhost: ``none`` when the user typed
    the address, used a bookmark or the reader was opened for them; ``same-origin`` from the
    reader's own pages. Anything else (``same-site`` from another port or from a content
    origin, ``cross-site`` from anywhere else, including the sandboxed frames) is dropped. A
    client that sends no such header (curl, scripts, or any browser over plain http to a LAN
    address under ``--lan``) is answered: that is what ``--lan`` cannot hide.
    """
    site = environ.get("HTTP_SEC_FETCH_SITE")
    return site is None or site in ("none", "same-origin")
