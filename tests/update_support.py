"""Test support for update bundles: the sample site served from a modified copy of its files, on
the ports of an earlier capture (its pages name their own origin, so the URLs must not move)."""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from mirrorkit.sample_site import PARTNER_ROOT, SITE_ROOT, SampleSite, _make_handler, _Server

# What the second capture changes: two pages and one image.
CHANGED_PAGES = ("about.html", "contact.html")
CHANGED_IMAGE = "img/logo.png"
NEW_TEXT = "Updated in the second edition"


@dataclass
class FolderSite(SampleSite):
    """The sample site served from `root` (a copy of its files) instead of the built-in folder."""

    root: Optional[Path] = None

    def start(self) -> FolderSite:
        """Bind both servers (on the given ports) and serve from daemon threads."""
        main = _Server((self.host, self.port),
                       _make_handler(self, self.root or SITE_ROOT, main=True))
        partner = _Server((self.host, self.partner_port),
                          _make_handler(self, PARTNER_ROOT, main=False))
        self.port, self.partner_port = main.server_address[1], partner.server_address[1]
        for server in (main, partner):
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._servers.append(server)
        return self


def modified_copy(dest: Path) -> Path:
    """A copy of the sample site's files with two pages and one image changed."""
    shutil.copytree(SITE_ROOT, dest)
    for page in CHANGED_PAGES:
        path = dest / page
        html = path.read_text("utf-8")
        path.write_text(html.replace("</h1>", f"</h1>\n<p class=update>{NEW_TEXT}: {page}</p>",
                                     1), "utf-8")
    image = dest / CHANGED_IMAGE
    image.write_bytes(image.read_bytes() + b"\0" * 16)  # PNG readers ignore trailing bytes
    return dest


@dataclass
class Chain:
    """A base bundle of the sample site and an update made after two pages and an image
    changed; the live sites are stopped by now."""

    root: Path
    key_path: Path
    fingerprint: str
    site_url: str
    capture1: Path
    capture2: Path
    base: Path
    update: Path
    port: int = 0
    partner_port: int = 0


def next_second() -> None:
    """Waits until the clock is in a later second than now: replay addresses editions by their
    capture second, so two editions captured within one second could not be told apart."""
    import time

    time.sleep(1.02 - time.time() % 1)


def build_chain(root: Path) -> Chain:
    """Capture, bundle, change, capture again with --dedup-against, bundle with --base (CLI)."""
    import os

    from mirrorkit.cli import main
    from mirrorkit.trust.signing import load_private_key

    os.environ.setdefault("MIRRORKIT_PASSPHRASE", "")
    key_path = root / "publisher.key"
    assert main(["key", "generate", "--name", "Lantern Rights Watch", "--out", str(key_path),
                 "--no-passphrase", "--json"]) == 0
    fingerprint = load_private_key(key_path, None).fingerprint
    c1, c2 = root / "capture-1", root / "capture-2"
    site = SampleSite().start()
    try:
        assert main(["capture", site.url, "-o", str(c1), "--quiet"]) == 0
    finally:
        site.stop()
    url, port, partner = site.url, site.port, site.partner_port
    base = root / "lantern-1.wacz"
    assert main(["bundle", str(c1), "--key", str(key_path), "-o", str(base),
                 "--collection", "lantern", "--json"]) == 0
    changed = FolderSite(port=port, partner_port=partner, root=modified_copy(root / "site-2"))
    changed.start()
    next_second()
    try:
        assert main(["capture", url, "-o", str(c2), "--quiet", "--dedup-against",
                     str(base)]) == 0
    finally:
        changed.stop()
    update = root / "lantern-2.wacz"
    assert main(["bundle", str(c2), "--key", str(key_path), "-o", str(update),
                 "--base", str(base), "--json"]) == 0
    return Chain(root, key_path, fingerprint, url, c1, c2, base, update, port, partner)


def third_edition(chain: Chain, page: str, text: str) -> Path:
    """A second update: `page` changes once more; captured against both earlier bundles."""
    from mirrorkit.cli import main

    root = chain.root / "site-3"
    shutil.copytree(chain.root / "site-2", root)
    path = root / page
    path.write_text(path.read_text("utf-8").replace("</h1>", f"</h1>\n<p>{text}</p>", 1),
                    "utf-8")
    c3 = chain.root / "capture-3"
    site = FolderSite(port=chain.port, partner_port=chain.partner_port, root=root).start()
    next_second()
    try:
        assert main(["capture", chain.site_url, "-o", str(c3), "--quiet", "--dedup-against",
                     str(chain.base), "--dedup-against", str(chain.update)]) == 0
    finally:
        site.stop()
    out = chain.root / "lantern-3.wacz"
    assert main(["bundle", str(c3), "--key", str(chain.key_path), "-o", str(out), "--base",
                 str(chain.base), "--base", str(chain.update), "--json"]) == 0
    return out
