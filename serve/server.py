"""Running the replay app under waitress (threads; never Flask's development server)."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any, Iterable, List, Optional

from mirrorkit.errors import ReplayError, UsageError

from . import create_app

THREADS = 8


def lan_addresses() -> List[str]:
    """This machine's IPv4 addresses other than loopback; no packet is sent to find them."""
    found = set()
    # A UDP "connect" only picks the outgoing interface; nothing goes on the wire. (Resolving
    # our own host name instead could send a DNS query, which a censor may watch.)
    for probe in ("10.255.255.255", "172.31.255.255", "192.168.255.255"):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.connect((probe, 9))
            found.add(s.getsockname()[0])
        except OSError:
            pass
        finally:
            s.close()
    return sorted(a for a in found if not a.startswith(("127.", "0.")))


def qr_text(data: str) -> Optional[str]:
    """``data`` as a QR code drawn with text characters, or None when `qrcode` is missing."""
    try:
        import qrcode  # optional: a pure-Python package, also shipped in the USB kit
    except ImportError:
        return None
    import io

    qr = qrcode.QRCode(border=2)
    qr.add_data(data)
    qr.make(fit=True)
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    return out.getvalue()


class ReplayServer:
    """A waitress server around the replay app: ``url``, ``lan_urls``, ``run()``, ``close()``."""

    def __init__(self, app: Any, server: Any, host: str, port: int) -> None:
        self.app = app
        self.server = server
        self.host = host
        self._thread: Optional[threading.Thread] = None  # set by start_in_thread()
        self.port: int = port
        self.url = f"http://127.0.0.1:{self.port}/" if host in ("0.0.0.0", "127.0.0.1", "") \
            else f"http://{host}:{self.port}/"
        self.lan_urls = ([f"http://{a}:{self.port}/" for a in lan_addresses()]
                         if host in ("0.0.0.0", "") else [])

    @property
    def bundles(self) -> List[Any]:
        """The opened bundles (with ``state``, ``reason``, ``wait_verified()``)."""
        return list(self.app.extensions["mirrorkit"].bundles)

    def content_url(self, name: str, ts14: str = "", url: str = "", modifier: str = "") -> str:
        """The content-origin address of bundle ``name`` (its prefix, or one page of it)."""
        b = self.app.extensions["mirrorkit"].get(name)
        base = f"http://127.0.0.1:{b.content_port}/{b.secret}/"
        return base + (f"{ts14}{modifier}/{url}" if ts14 else "")

    def run(self) -> None:
        """Serves until ``close()`` or Ctrl-C (KeyboardInterrupt propagates)."""
        self.server.run()

    def start_in_thread(self) -> threading.Thread:
        """Serves from a daemon thread (tests, benchmarks, the demo) and returns it."""
        t = threading.Thread(target=self.server.run, name="mirrorkit-serve", daemon=True)
        t.start()
        self._thread = t
        return t

    def _stop_loop(self) -> None:
        # Sockets closed from another thread while the loop sits in select() make it fail with
        # EBADF; so the loop thread closes them itself (a waitress trigger runs the call there),
        # then leaves its loop, its map being empty.
        t = self._thread
        if t is None or not t.is_alive() or t is threading.current_thread():
            return
        from waitress import wasyncore

        channels = getattr(self.server, "map", None) or getattr(self.server, "_map", None) or {}
        triggers = [d.trigger for d in list(channels.values())
                    if hasattr(getattr(d, "trigger", None), "pull_trigger")]
        if triggers:
            triggers[0].pull_trigger(lambda: wasyncore.close_all(channels))
            t.join(5)

    def lan_lines(self, label: str) -> List[str]:
        """``label: URL`` for each LAN address, then the first one as a terminal QR code."""
        lines = [f"{label}: {url}" for url in self.lan_urls]
        art = qr_text(self.lan_urls[0]) if self.lan_urls else None
        return lines + ([art] if art else [])

    def serve_forever(self, open_browser: bool = False) -> None:
        """Opens the reader in the default browser if asked, serves until Ctrl-C (or SIGTERM
        turned into KeyboardInterrupt by the caller), then closes. The one "serve and open" of
        `mirrorkit serve`, the kit's reader and the demo."""
        try:
            if open_browser:
                import webbrowser

                # after run() has started accepting, so the first request is not refused
                threading.Timer(0.5, webbrowser.open, [self.url]).start()
            self.run()
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def close(self) -> None:
        """Stops listening and closes the bundle files."""
        self._stop_loop()
        self.server.close()
        self.app.extensions["mirrorkit"].close()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if port:
        # A restarted reader must get its usual port back at once (bookmarks), as waitress does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def start_server(bundles: Iterable[Any], *, host: str = "127.0.0.1", port: int = 8090,
                 lan: bool = False, fingerprint: Optional[str] = None,
                 scripts: bool = False, config: Optional[dict] = None) -> ReplayServer:
    """Opens the bundles and binds the server (not yet serving: call ``run()``).

    Binds the reader's port and one free port per bundle (its content origin), all on
    ``host``. Raises UsageError for a missing file or bad port, ReplayError when the address is
    taken.
    """
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, not {port}")
    if lan:
        host = "0.0.0.0"
    if fingerprint:
        from mirrorkit.trust.signing import normalize_fingerprint

        fingerprint = normalize_fingerprint(fingerprint)  # UsageError now, not a failed bundle
    # waitress logs a warning per queued request under load: noise, not news, for a reader
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    cfg = {"fingerprint": fingerprint, "scripts": scripts}
    cfg.update(config or {})
    app = create_app(list(bundles), cfg)
    bundle_set = app.extensions["mirrorkit"]
    from waitress.server import TcpWSGIServer, create_server

    from . import gate
    from .content import dispatch

    sockets: List[socket.socket] = []
    try:
        sockets.append(_bind(host, port))
        names = list(bundle_set.content_apps)
        for _name in names:
            sockets.append(_bind(host, 0))
    except OSError as err:
        for sock in sockets:
            sock.close()
        bundle_set.close()
        why = err.strerror or str(err)
        raise ReplayError(f"cannot listen on {host}:{port}: {why}",
                          hint="another program may use that port: try --port 0 for any "
                               "free port") from None
    ports = [sock.getsockname()[1] for sock in sockets]
    bundle_set.bind_ports(ports[0], dict(zip(names, ports[1:])))
    wsgi = dispatch(bundle_set, app.wsgi_app)
    server = create_server(wsgi, sockets=sockets, threads=THREADS, ident="mirrorkit",
                           clear_untrusted_proxy_headers=True)
    # Requests the reader must not answer are dropped without a byte (`serve.gate`).
    socket_map = getattr(server, "map", None) or getattr(server, "_map", {})
    gate.install(s for s in socket_map.values() if isinstance(s, TcpWSGIServer))
    return ReplayServer(app, server, host, ports[0])
