"""A libtorrent session with mirrorkit's settings: listening, adding torrents, reading alerts.

Commands drive it in a loop (`pump`), so Ctrl-C lands in Python between two calls and the
session is always closed cleanly (`close` pauses it first, so nothing is left half-written).
"""

from __future__ import annotations

import time
from typing import Any, Callable, List, Optional, Tuple

from mirrorkit.torrent import TorrentError, load_libtorrent
from mirrorkit.torrent.privacy import SwarmOptions, parse_endpoint, session_settings


class Swarm:
    """One libtorrent session. `lt` is the libtorrent module, `session` the raw session."""

    def __init__(self, opts: SwarmOptions) -> None:
        self.lt = load_libtorrent()
        self.opts = opts
        self.session = self.lt.session(session_settings(opts))
        if opts.upload_limit or opts.download_limit:
            self._limit_every_peer()
        self.listening: List[Tuple[str, int]] = []
        self._handlers: List[Callable[[Any], None]] = []

    def _limit_every_peer(self) -> None:
        # libtorrent puts loopback and LAN peers in a "local" class that rate limits skip; a
        # limit the user asked for should hold for every peer, wherever it is.
        lt = self.lt
        flt = lt.ip_filter()
        everyone = 1 << lt.session.global_peer_class_id
        flt.add_rule("0.0.0.0", "255.255.255.255", everyone)
        flt.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", everyone)
        self.session.set_peer_class_filter(flt)

    def wait_listening(self, timeout: float = 15.0) -> List[Tuple[str, int]]:
        """The (address, port) pairs it listens on for TCP (none behind a proxy); raises
        `TorrentError` on failure."""
        deadline = time.monotonic() + timeout
        proxied = False
        while not self.listening and time.monotonic() < deadline:
            for alert in self.session.pop_alerts():
                if isinstance(alert, self.lt.listen_succeeded_alert):
                    if alert.socket_type == self.lt.socket_type_t.tcp:
                        self.listening.append((str(alert.address), int(alert.port)))
                    # Behind a proxy libtorrent accepts no incoming TCP connections; it only
                    # opens the UDP socket it tunnels through the proxy.
                    proxied = proxied or self.opts.proxy is not None
                elif isinstance(alert, self.lt.listen_failed_alert):
                    raise TorrentError(
                        f"cannot listen on {alert.listen_interface()}: {alert.message()}",
                        hint="choose another --listen ADDRESS:PORT (port 0 picks a free one)")
                else:
                    self._dispatch(alert)
            if proxied:
                return self.listening
            if not self.listening:
                self.session.wait_for_alert(200)
        if not self.listening:
            raise TorrentError("the BitTorrent session did not start listening",
                               hint="choose another --listen ADDRESS:PORT")
        return self.listening

    def on_alert(self, handler: Callable[[Any], None]) -> None:
        """Call `handler(alert)` for every alert `pump` reads."""
        self._handlers.append(handler)

    def _dispatch(self, alert: Any) -> None:
        for handler in self._handlers:
            handler(alert)

    def pump(self, wait_ms: int = 500) -> None:
        """Wait up to `wait_ms` for alerts and hand every one to the handlers."""
        self.session.wait_for_alert(wait_ms)
        for alert in self.session.pop_alerts():
            self._dispatch(alert)

    def add(self, params: Any) -> Any:
        """Add a torrent (add_torrent_params); raises `TorrentError` when libtorrent refuses."""
        try:
            return self.session.add_torrent(params)
        except RuntimeError as err:
            raise TorrentError(f"libtorrent refused the torrent: {err}") from None

    def connect(self, handle: Any, peers: List[str]) -> None:
        """Connect `handle`'s torrent to explicit peers ("ADDR:PORT"); raises `UsageError`."""
        for peer in peers:
            handle.connect_peer(parse_endpoint(peer, "--peer"))

    def remove(self, handle: Any, timeout: float = 10.0) -> None:
        """Remove a torrent and wait until libtorrent has closed its files."""
        self.session.remove_torrent(handle)
        deadline = time.monotonic() + timeout
        done = False
        while not done and time.monotonic() < deadline:
            self.session.wait_for_alert(200)
            for alert in self.session.pop_alerts():
                if isinstance(alert, self.lt.torrent_removed_alert):
                    done = True
                else:
                    self._dispatch(alert)

    def close(self) -> None:
        """Pause the session (stops all transfers and disk writes) and let it go."""
        try:
            self.session.pause()
        finally:
            self.session = None


def status_line(name: str, done: int, total: Optional[int], peers: int, rate: float,
                width: int = 24) -> str:
    """One progress line with a text bar (never raises).

    >>> status_line("a.wacz", 50, 100, 2, 1_500_000.0, width=10)
    'a.wacz [#####-----]  50%  0.0/0.0 MB  2 peers  1.5 MB/s'
    """
    if not total:
        return f"{name}: waiting for the torrent's metadata from peers ({peers} peers)"
    share = min(1.0, done / total)
    bar = "#" * int(share * width) + "-" * (width - int(share * width))
    return (f"{name} [{bar}] {share * 100:3.0f}%  {done / 1e6:.1f}/{total / 1e6:.1f} MB  "
            f"{peers} peers  {rate / 1e6:.1f} MB/s")
