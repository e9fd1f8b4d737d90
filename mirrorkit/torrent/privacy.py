"""Session settings, and what joining a swarm shows about you.

Every peer in a swarm sees the IP address of everyone it exchanges pieces with. `notice_due()`
says whether this user was told so yet (remembered in the config dir). With a proxy, peer,
tracker and web-seed connections all go through it (libtorrent's proxy settings with anonymous
mode), and DHT, local peer discovery, UPnP and NAT-PMP are off: each of them would announce or
reveal the real address outside the proxy. uTP is off too, since it is UDP and a SOCKS
CONNECT carries only TCP.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple
from urllib.parse import unquote, urlsplit

from mirrorkit import __version__
from mirrorkit.errors import UsageError

NOTICE = (
    "Joining a BitTorrent swarm shows your IP address to every peer you exchange pieces with, "
    "and to trackers: anyone watching the swarm can see that this address shares this "
    "bundle. Use --proxy socks5h://HOST:PORT (for example Tor) to send that traffic through a "
    "proxy instead.\n"
    "加入 BitTorrent 种子群会让与你交换数据的每个节点以及 tracker 看到你的 IP 地址：任何观察"
    "该种子群的人都能看到这个地址在分享这个文件包。可使用 --proxy socks5h://主机:端口（例如 "
    "Tor）让这些流量经由代理发送。"
)
_NOTICE_FILE = "torrent-notice.json"
_PROXY_SCHEMES = {"socks5h": ("socks5", True), "socks5": ("socks5", False),
                  "socks4": ("socks4", False), "http": ("http", True)}


@dataclass
class Proxy:
    """A parsed `--proxy` URL."""

    kind: str  # socks5, socks4 or http (libtorrent's proxy_type names, without _pw)
    host: str
    port: int
    username: str = ""
    password: str = ""
    remote_dns: bool = True  # socks5h / http: host names are resolved by the proxy


@dataclass
class SwarmOptions:
    """How a session joins swarms: where it listens, discovery, proxy and rate limits."""

    listen: Optional[str] = None  # "ADDR:PORT"; default all interfaces, port 6881
    dht: bool = True  # False: also no local peer discovery, UPnP or NAT-PMP
    proxy: Optional[str] = None
    upload_limit: int = 0  # bytes a second, 0 = unlimited; applies to every peer, local too
    download_limit: int = 0


def parse_proxy(url: str) -> Proxy:
    """Parse `socks5h://[user:pass@]host:port` (or socks5, socks4, http); raises `UsageError`.

    >>> parse_proxy("socks5h://127.0.0.1:9050")
    Proxy(kind='socks5', host='127.0.0.1', port=9050, username='', password='', remote_dns=True)
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _PROXY_SCHEMES:
        raise UsageError(f"unsupported proxy {url!r}: use socks5h://HOST:PORT (or socks5://, "
                         "socks4://, http://)")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise UsageError(f"the proxy {url!r} needs a host and a port, e.g. "
                         "socks5h://127.0.0.1:9050")
    kind, remote = _PROXY_SCHEMES[scheme]
    return Proxy(kind, parts.hostname, port, unquote(parts.username or ""),
                 unquote(parts.password or ""), remote)


def parse_endpoint(text: str, what: str) -> Tuple[str, int]:
    """("ADDR", PORT) from `ADDR:PORT` or `[V6ADDR]:PORT`; raises `UsageError`.

    >>> parse_endpoint("127.0.0.2:6881", "--peer"), parse_endpoint("[::1]:0", "--listen")
    (('127.0.0.2', 6881), ('::1', 0))
    """
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        address = str(ipaddress.ip_address(host))
        number = int(port)
        if not sep or not 0 <= number <= 65535:
            raise ValueError
    except ValueError:
        raise UsageError(f"{what} {text!r} is not ADDRESS:PORT (an IP address and a port, "
                         "e.g. 192.0.2.7:6881)") from None
    return address, number


def session_settings(opts: SwarmOptions) -> Dict[str, Any]:
    """libtorrent settings for `opts`; raises `UsageError` for a bad listen address or proxy."""
    from mirrorkit.torrent import load_libtorrent

    lt = load_libtorrent()
    proxy = parse_proxy(opts.proxy) if opts.proxy else None
    if opts.listen:
        host, port = parse_endpoint(opts.listen, "--listen")
        listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    else:
        # Behind a proxy nobody should reach this machine directly: listen on loopback only.
        listen = "127.0.0.1:0" if proxy else "0.0.0.0:6881,[::]:6881"
    discovery = opts.dht and proxy is None
    settings: Dict[str, Any] = {
        "listen_interfaces": listen,
        "enable_dht": discovery, "enable_lsd": discovery,
        "enable_upnp": discovery, "enable_natpmp": discovery,
        "upload_rate_limit": max(0, opts.upload_limit),
        "download_rate_limit": max(0, opts.download_limit),
        "user_agent": f"mirrorkit/{__version__}",
        "alert_mask": (lt.alert_category.error | lt.alert_category.status
                       | lt.alert_category.storage | lt.alert_category.peer),
        # Web seeds and peers on loopback or a LAN are common here (tests, classrooms).
        "allow_multiple_connections_per_ip": True,
    }
    if proxy is not None:
        kind = proxy.kind + ("_pw" if proxy.username and proxy.kind != "socks4" else "")
        settings.update({
            "proxy_type": int(getattr(lt.proxy_type_t, kind)),
            "proxy_hostname": proxy.host, "proxy_port": proxy.port,
            "proxy_username": proxy.username, "proxy_password": proxy.password,
            "proxy_hostnames": proxy.remote_dns,
            "proxy_peer_connections": True, "proxy_tracker_connections": True,
            # No client name or version, no local address in handshakes, no incoming
            # connections accepted outside the proxy.
            "anonymous_mode": True,
            "enable_outgoing_utp": False, "enable_incoming_utp": False,
        })
    return settings


def _notice_path() -> Path:
    from mirrorkit.trust.store import config_dir

    return config_dir() / _NOTICE_FILE


def notice_due() -> bool:
    """True until `mark_told()` has recorded that this user read the swarm privacy notice."""
    try:
        return not json.loads(_notice_path().read_text(encoding="utf-8")).get("told")
    except (OSError, ValueError, AttributeError):
        return True


def mark_told() -> None:
    """Remember that the notice was shown (atomic write; a read-only config dir is ignored)."""
    path = _notice_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps({"told": True}) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # worst case the notice is shown again next time


def parse_rate(text: str) -> int:
    """Bytes a second from `500K`, `5M`, `1.5M` or a plain number (0 = unlimited); raises
    `UsageError`.

    >>> parse_rate("5M"), parse_rate("500k"), parse_rate("0")
    (5000000, 500000, 0)
    """
    units = {"": 1, "K": 1000, "M": 1000 ** 2, "G": 1000 ** 3}
    raw = text.strip().upper().removesuffix("B/S").removesuffix("/S").removesuffix("B")
    unit = raw[-1:] if raw[-1:] in "KMG" else ""
    try:
        value = float(raw[:-1] if unit else raw)
        if value < 0 or value != value:
            raise ValueError
    except ValueError:
        raise UsageError(f"{text!r} is not a rate: use bytes a second, e.g. 500K or 5M") from None
    return int(value * units[unit])
