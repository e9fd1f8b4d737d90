"""Finding and launching the system's Chromium for browser capture, with browser hygiene.

Never Playwright's own browser download: `--chromium PATH`, else the usual install paths. The
browser gets a fresh temporary profile (Playwright's non-persistent launch), no background,
update, sync, safe-browsing or metrics traffic (what Chromium still sends, e.g. its component
updater, is refused), and a proxy that leads nowhere (a local listener that closes every
connection), with or without `--proxy`: whatever escapes the interception fails instead of going
direct or through Tor. Loopback is proxied too (`<-loopback>`), so a local test site proves it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional

from mirrorkit.errors import CaptureError

_POSIX = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome",
          "/usr/bin/google-chrome-stable", "/snap/bin/chromium", "/opt/google/chrome/chrome",
          "/usr/local/bin/chromium"]
_MAC = ["/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
        "/Applications/Chromium.app/Contents/MacOS/Chromium"]
_WINDOWS = [r"Google\Chrome\Application\chrome.exe", r"Chromium\Application\chrome.exe"]
_NAMES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"]

ARGS = [
    "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps",
    "--disable-extensions", "--disable-client-side-phishing-detection",
    "--safebrowsing-disable-auto-update", "--disable-domain-reliability", "--no-pings",
    "--disable-breakpad", "--metrics-recording-only", "--disable-gpu", "--mute-audio",
    "--disable-component-extensions-with-background-pages", "--no-service-autorun",
    "--password-store=basic", "--use-mock-keychain", "--disable-sync-preferences",
    "--disable-features=SafeBrowsing,OptimizationHints,MediaRouter,DialMediaRouteProvider,"
    "Translate,InterestFeedContentSuggestions,AutofillServerCommunication,"
    "CertificateTransparencyComponentUpdater,NetworkTimeServiceQuerying,"
    "IsolateOrigins,site-per-process",
    # frames of other sites stay in the page's process, so one CDP session intercepts them
    "--disable-site-isolation-trials",
    "--dns-prefetch-disable",
    "--proxy-bypass-list=<-loopback>",
]


def page_script(name: str) -> str:
    """A script run in pages (mirrorkit/capture/browser_js/NAME), read once per process."""
    return (Path(__file__).with_name("browser_js") / name).read_text("utf-8")


def candidates() -> List[str]:
    """Where a Chromium or Chrome is looked for, in order."""
    found: List[str] = []
    if sys.platform == "darwin":
        found += _MAC
    elif sys.platform.startswith("win"):
        for var in ("PROGRAMFILES", "PROGRAMFILES(X86)", "LOCALAPPDATA"):
            base = os.environ.get(var)
            if base:
                found += [str(Path(base) / p) for p in _WINDOWS]
    else:
        found += _POSIX
    for name in _NAMES:
        path = shutil.which(name)
        if path and path not in found:
            found.append(path)
    return found


def find_chromium(path: Optional[str] = None) -> str:
    """The browser to drive. Raises CaptureError (exit 1) naming --chromium when none is found."""
    if path:
        if Path(path).is_file() and os.access(path, os.X_OK):
            return path
        raise CaptureError(f"--chromium {path}: no executable browser there",
                           hint="give the path of a Chromium or Chrome executable")
    for item in candidates():
        if Path(item).is_file() and os.access(item, os.X_OK):
            return item
    raise CaptureError(
        "browser capture needs Chromium or Chrome, and none was found",
        hint="install it (Debian/Ubuntu: apt install chromium) or give its path with "
             "--chromium PATH")


def check_playwright() -> None:
    """Raise CaptureError when Playwright for Python is missing."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError as err:
        raise CaptureError("browser capture needs Playwright for Python",
                           hint="pip install 'mirrorkit[browser]' (or: pip install playwright); "
                                "no browser download is needed") from err


class DeadEnd:
    """A proxy that leads nowhere: a loopback listener that closes every connection at once.
    `escaped` counts connection attempts (requests that got past the interception)."""

    def __init__(self) -> None:
        """Listen on a free loopback port."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.escaped = 0
        self.targets: List[str] = []
        self._thread = threading.Thread(target=self._loop, name="dead-end-proxy", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.escaped += 1
            try:  # what it was, for crawl.log: the proxy request line names the host
                conn.settimeout(0.5)
                line = conn.recv(512).split(b"\r\n", 1)[0].decode("latin-1")[:200]
            except OSError:
                line = ""
            if line and len(self.targets) < 20:
                self.targets.append(line)
            conn.close()

    def close(self) -> None:
        """Stop listening."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def proxy_setting(dead_end_port: int) -> Dict[str, Any]:
    """Playwright's `proxy` launch option: the dead end, loopback included."""
    return {"server": f"http://127.0.0.1:{dead_end_port}", "bypass": "<-loopback>"}
