"""Our bundles in other tools' hands: py-wacz validates them, pywb replays their WARCs and index,
ReplayWeb.page opens them in headless Chromium and shows our key; and we read py-wacz's."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from mirrorkit.bundle import create_bundle
from mirrorkit.formats.wacz import WaczReader
from mirrorkit.trust import signing

pytestmark = pytest.mark.interop

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
RWP = REPO / ".cache" / "replaywebpage"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# WARCs that only make sense together: revisits whose originals are in another file.
GROUPS = [["iana.warc.gz", "dupes.warc.gz"],
          ["example-url-agnostic-orig.warc.gz", "example-url-agnostic-revisit.warc.gz"],
          ["example.warc.gz"], ["example-wget-1-14.warc.gz"], ["example-wpull.warc.gz"]]


@pytest.fixture(scope="module")
def key() -> signing.SigningKey:
    return signing.generate_key("Lantern Rights Watch")


@pytest.fixture(scope="module")
def site_wacz(sample_site: Any, key: signing.SigningKey,
              tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mirrorkit.capture import CaptureOptions, capture, check_seed

    work = tmp_path_factory.mktemp("interop")
    capture(CaptureOptions(seeds=[check_seed(sample_site.url)], out_dir=work / "cap",
                           backoff=0.01))
    return create_bundle([work / "cap"], work / "site.wacz", key=key, title="Lantern", text=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "wacz"), "validate", "-f", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_py_wacz_validates_our_bundles(site_wacz: Path, interop: Path, key: Any,
                                       tmp_path: Path) -> None:
    bundles = [site_wacz]
    bundles += [create_bundle([interop / n for n in group], tmp_path / f"{group[0]}.wacz",
                              key=key) for group in GROUPS]
    bundles.append(create_bundle([interop / "iana.warc.gz"], tmp_path / "z.wacz", key=key,
                                 index_format="compressed"))
    for bundle in bundles:
        result = _validate(bundle)
        assert result.returncode == 0, (bundle.name, result.stdout, result.stderr)
        assert "the passed WACZ is valid" in result.stdout


def test_we_read_every_record_of_a_py_wacz_bundle(interop: Path, tmp_path: Path) -> None:
    out = tmp_path / "pywacz.wacz"
    subprocess.run([str(BIN / "wacz"), "create", "-o", str(out), "--detect-pages",
                    str(interop / "iana.warc.gz")], check=True, capture_output=True, timeout=120)
    data = (interop / "iana.warc.gz").read_bytes()
    with WaczReader(out) as reader:
        assert reader.index.block_count >= 1  # py-wacz writes index.cdx.gz + index.idx
        entries = list(reader.index)
        assert len(entries) == 171
        for entry in entries:
            found = reader.index.lookup_key(entry.key)
            assert any(f.offset == entry.offset for f in found)
            stored = reader.read_entry(entry)
            assert stored == data[entry.offset:entry.offset + entry.length]
            assert entry.record_digest == "sha256:" + hashlib.sha256(stored).hexdigest()
        assert reader.index.closest("http://www.iana.org/", "20140126200700").timestamp \
            == "20140126200624"
        assert len(list(reader.pages())) > 5


@pytest.fixture()
def pywb_collection(interop: Path, key: Any, tmp_path: Path) -> Iterator[Dict[str, Any]]:
    bundle = create_bundle([interop / "iana.warc.gz", interop / "dupes.warc.gz"],
                           tmp_path / "b.wacz", key=key)
    root = tmp_path / "pywb"
    (root / "collections" / "c" / "indexes").mkdir(parents=True)
    (root / "collections" / "c" / "archive").mkdir()
    with zipfile.ZipFile(bundle) as zf:
        for name in zf.namelist():
            if name.startswith(("archive/", "indexes/")):
                (root / "collections" / "c" / name).write_bytes(zf.read(name))
    port = _free_port()
    proc = subprocess.Popen([str(BIN / "wayback"), "-p", str(port), "-b", "127.0.0.1"],
                            cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(base + "/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        yield {"base": base, "bundle": bundle}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def test_pywb_replays_our_warcs_and_index(pywb_collection: Dict[str, Any]) -> None:
    base, bundle = pywb_collection["base"], pywb_collection["bundle"]
    with WaczReader(bundle) as reader:
        entries = list(reader.index)
        checked = 0
        for entry in entries[::3]:
            original = reader.find_original(entry) if entry.mime == "warc/revisit" else entry
            if original is None or original.status != 200:
                continue
            record = reader.parse_record(reader.read_entry(original))
            expected = record.content_stream().read()
            url = f"{base}/c/{entry.timestamp}id_/{entry.url}"
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.status == 200, url
                assert response.read() == expected, url
            checked += 1
    assert checked > 20
    # the revisits of dupes.warc.gz resolve to originals in iana.warc.gz
    with urllib.request.urlopen(f"{base}/c/20140127171238id_/http://www.iana.org/") as r:
        assert b"Internet Assigned Numbers Authority" in r.read()


# -- ReplayWeb.page -------------------------------------------------------------------------------


class _RangeHandler(BaseHTTPRequestHandler):
    """Static files with HEAD and single-range GET, as ReplayWeb.page needs."""

    files: Dict[str, Path] = {}
    types = {".js": "application/javascript", ".html": "text/html", ".wacz": "application/zip"}

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        path = self.files.get(self.path.split("?", 1)[0])
        if path is None:
            self.send_error(404)
            return
        size = path.stat().st_size
        start, end = 0, size - 1
        header = self.headers.get("Range", "")
        status = 200
        if header.startswith("bytes="):
            first, _, last = header[6:].split(",")[0].partition("-")
            if first:
                start, end = int(first), min(int(last) if last else size - 1, size - 1)
            else:
                start = max(0, size - int(last))
            if start > end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", self.types.get(path.suffix, "application/octet-stream"))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if not head:
            with open(path, "rb") as fh:
                fh.seek(start)
                self.wfile.write(fh.read(end - start + 1))


@pytest.fixture()
def rwp_server(site_wacz: Path) -> Iterator[str]:
    if not (RWP / "sw.js").is_file():
        pytest.skip("ReplayWeb.page is not in .cache/replaywebpage (run ./dev setup)")
    handler = type("Handler", (_RangeHandler,), {"files": {
        "/": RWP / "index.html", "/index.html": RWP / "index.html", "/ui.js": RWP / "ui.js",
        "/sw.js": RWP / "sw.js", "/bundle.wacz": site_wacz}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.browser
def test_replaywebpage_renders_our_bundle_and_shows_our_key(rwp_server: str, site_wacz: Path,
                                                            key: Any, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    public_key = json.loads(zipfile.ZipFile(site_wacz).read("datapackage-digest.json"))[
        "signedData"]["publicKey"]
    outside: List[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda r: outside.append(r.url)
                    if not r.url.startswith((rwp_server, "data:", "blob:", "about:")) else None)
            page.goto(f"{rwp_server}/?source={rwp_server}/bundle.wacz", timeout=60000)
            # the page list comes from pages/pages.jsonl, Chinese titles included
            page.locator("a", has_text="灯笼人权观察 — 首页").first.wait_for(timeout=60000)
            page.locator("a", has_text="Lantern Rights Watch — Home").first.click()
            frame = _replay_frame(page)
            frame.get_by_text("Documenting the right to clean water").wait_for(timeout=30000)
            page.screenshot(path=str(tmp_path / "replay.png"))
            # Archive Info shows the signer's public key (anonymous signature, as ArchiveWeb.page)
            page.get_by_label("more replay controls").click()
            page.get_by_text("Archive Info").first.click()
            page.get_by_text("Observer Public Key").first.wait_for(timeout=30000)
            assert public_key in _all_text(page)
            assert "mirrorkit" in _all_text(page)  # "Created With" is our software field
            page.screenshot(path=str(tmp_path / "info.png"))
        finally:
            browser.close()
    assert not [u for u in outside if "127.0.0.1" not in u and "localhost" not in u], outside


def _replay_frame(page: Any) -> Any:
    deadline = time.time() + 30
    while time.time() < deadline:
        for frame in page.frames:
            if "/w/" in frame.url and "mp_/" in frame.url:
                return frame
        page.wait_for_timeout(200)  # lets playwright process frame events (time.sleep would not)
    raise AssertionError(f"no replay frame among {[f.url for f in page.frames]}")


def _all_text(page: Any) -> str:
    """Text of the page including open shadow roots (ReplayWeb.page is built of web components)."""
    return str(page.evaluate("""() => {
        const out = [];
        const walk = (root) => {
            for (const el of root.querySelectorAll('*')) {
                if (el.shadowRoot) walk(el.shadowRoot);
            }
            out.push(root.textContent || '');
        };
        walk(document);
        return out.join('\\n');
    }"""))


def test_rwp_server_helper_honours_ranges(site_wacz: Path, rwp_server: str) -> None:
    request = urllib.request.Request(f"{rwp_server}/bundle.wacz", headers={"Range": "bytes=2-5"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 206 and response.read() == site_wacz.read_bytes()[2:6]
    head = urllib.request.Request(f"{rwp_server}/bundle.wacz", method="HEAD")
    with urllib.request.urlopen(head) as response:
        assert int(response.headers["Content-Length"]) == site_wacz.stat().st_size
        assert response.headers["Accept-Ranges"] == "bytes"


def test_we_read_every_foreign_wacz_in_the_corpus(interop: Path) -> None:
    """ArchiveWeb.page, Browsertrix and py-wacz bundles: every indexed record is found and read."""
    waczs = sorted(interop.glob("*.wacz"))
    assert len(waczs) >= 6
    for path in waczs:
        with WaczReader(path) as reader:
            assert reader.datapackage["wacz_version"] in ("1.1.1", "1.0.0", "1.1.0")
            assert reader.digest is not None
            entries = list(reader.index)
            assert entries, path.name
            for entry in entries:
                assert any(f.offset == entry.offset for f in reader.index.lookup_key(entry.key))
                data = reader.read_entry(entry)
                if entry.record_digest and entry.record_digest.startswith("sha256:"):
                    assert entry.record_digest == "sha256:" + hashlib.sha256(data).hexdigest()
                assert reader.parse_record(data).rec_headers.get_header("WARC-Target-URI")
