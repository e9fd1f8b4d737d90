"""Brotli, gzip, deflate and zstd bodies (issue 12): decoded in replay and in `bundle --text`,
never a 500, and passed through encoded by the USB kit's reader, which has no compiled decoders.

`pip install mirrorkit` brings Google's `brotli`, whose Decompressor warcio cannot use; the
test environment also has the old `brotlipy` (pywb needs it) under the same module name, which
hides the problem. So the commands run here in a real process whose `brotli` is Google's, as on
a user's machine: a folder with only that module is put first on PYTHONPATH.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import Dict, Tuple

import pytest
from interop_support import response, warc

from mirrorkit.trust.signing import generate_key, save_private_key

brotli = pytest.importorskip("brotli")
PAGE = ("<html><head><title>Brotli report 报告</title></head><body><p>Text that only a "
        "brotli decoder can read. 只有解码后才能读到。</p><img src='/pixel.png'></body></html>"
        ).encode()
PIXEL = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(scope="module")
def google_brotli(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """Environment for a process whose `import brotli` is Google's brotli (as installed by
    `pip install mirrorkit`), whichever else this environment has."""
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    module = site / "brotli.py"
    ext = sorted(site.glob("_brotli.*.so"))
    if not module.is_file() or not ext:
        pytest.skip("Google's brotli is not installed as brotli.py + _brotli.so")
    shim = tmp_path_factory.mktemp("google-brotli")
    (shim / "brotli.py").symlink_to(module)
    (shim / ext[0].name).symlink_to(ext[0])
    env = dict(os.environ, PYTHONPATH=str(shim), MIRRORKIT_PASSPHRASE="")
    check = subprocess.run([sys.executable, "-c", "import brotli; print(brotli.__file__)"],
                           env=env, capture_output=True, text=True, check=True)
    assert check.stdout.strip().endswith("brotli.py")
    return env


@pytest.fixture(scope="module")
def brotli_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("br-capture")
    return warc(folder / "br.warc.gz", [
        response("https://br.example/", brotli.compress(PAGE),
                 ctype="text/html; charset=utf-8", headers=[("Content-Encoding", "br")]),
        response("https://br.example/pixel.png", brotli.compress(PIXEL), ctype="image/png",
                 headers=[("Content-Encoding", "br")]),
    ])


def _key_file(folder: Path) -> Path:
    return save_private_key(generate_key("Brotli test"), folder / "br.key", None)


def test_every_content_encoding_decodes_and_bad_ones_say_so() -> None:
    import zstandard

    from mirrorkit.formats.http import DecoderMissing, UndecodableBody, decode_body

    body = PAGE * 50
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw_deflate = deflater.compress(body) + deflater.flush()
    for coding, data in [("gzip", gzip.compress(body)), ("x-gzip", gzip.compress(body)),
                         ("deflate", zlib.compress(body)), ("deflate", raw_deflate),
                         ("br", brotli.compress(body)),
                         ("zstd", zstandard.ZstdCompressor().compress(body)),
                         ("gzip, br", brotli.compress(gzip.compress(body))),
                         ("identity", body), (None, body)]:
        assert decode_body(data, coding) == body, coding
    with pytest.raises(UndecodableBody, match="brotli body does not decode"):
        decode_body(b"not brotli at all", "br")
    with pytest.raises(DecoderMissing, match="unknown Content-Encoding"):
        decode_body(b"x", "compress")


def test_bundle_text_and_replay_decode_brotli_with_googles_brotli(
        google_brotli: Dict[str, str], brotli_capture: Path, tmp_path: Path) -> None:
    key = _key_file(tmp_path)
    out = tmp_path / "br.wacz"
    done = subprocess.run([sys.executable, "-m", "mirrorkit", "bundle", str(brotli_capture),
                           "--key", str(key), "-o", str(out), "--text"], env=google_brotli,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as zf:
        pages = [json.loads(line) for line in zf.read("pages/pages.jsonl").splitlines()[1:]]
    assert pages[0]["title"] == "Brotli report 报告"
    assert "只有解码后才能读到" in pages[0]["text"]
    with _serving(out, google_brotli) as url:
        page = _framed(url + "br/2030/https://br.example/")
        status, headers, body = _get(page)
        assert status == 200 and "Content-Encoding" not in headers
        prefix = page.split("/2030", 1)[0].split("/", 3)[3]  # the bundle's secret path
        assert "只有解码后才能读到".encode() in body and f"/{prefix}/".encode() in body
        status, headers, body = _get(page.replace("https://br.example/", "https://br.example/pixel.png"))
        assert status == 200 and body in (PIXEL, brotli.compress(PIXEL))


def test_usb_kit_reader_without_brotli_passes_through_or_refuses_never_500(
        brotli_capture: Path, tmp_path: Path) -> None:
    from mirrorkit.bundle import create_bundle
    from mirrorkit.kit.build import build_kit

    key = generate_key("Brotli kit")
    wacz = create_bundle([brotli_capture], tmp_path / "br.wacz", key=key)
    kit = tmp_path / "kit"
    build_kit([wacz], kit, fingerprints=[key.fingerprint])
    env = dict(os.environ, TMPDIR=str(tmp_path))
    # -I -S: the zipapp alone, no site-packages, so no brotli and no zstandard at all.
    proc = subprocess.Popen([sys.executable, "-I", "-S", "mirrorkit-serve.pyz", "--no-browser",
                             "--port", "0", "--fingerprint", key.fingerprint], cwd=kit, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    try:
        url = _wait_for_url(proc)
        page = _framed(url + "br/2030/https://br.example/")
        status, headers, body = _get(page.replace("https://br.example/",
                                                  "https://br.example/pixel.png"))
        assert status == 200 and headers.get("Content-Encoding") == "br"
        assert body == brotli.compress(PIXEL)  # the browser decodes it itself
        status, headers, body = _get(page)
        assert status == 501 and b"cannot be decoded here" in body
        status, headers, body = _get(re.sub(r"/(\d{4,17})/", r"/\1id_/", page, count=1))
        assert status == 200 and headers.get("Content-Encoding") == "br"
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
        watchdog.cancel()
    assert "Traceback" not in rest


def _framed(reader_url: str) -> str:
    """The content-origin address the reader page at `reader_url` frames (safe replay serves
    archived bytes only there)."""
    from html import unescape

    status, _, page = _get(reader_url)
    assert status == 200, reader_url
    found = re.search(r'<iframe id="mk-frame" src="([^"]+)"', page.decode("utf-8"))
    assert found, "the reader page frames no content"
    return unescape(found.group(1))


def _wait_for_url(proc: subprocess.Popen) -> str:
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        if found:
            return found.group(0)
    raise AssertionError("the reader stopped before printing its address")


class _serving:
    """`mirrorkit serve` in a real process with the given environment."""

    def __init__(self, wacz: Path, env: Dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "mirrorkit", "serve", str(wacz),
                                      "--port", "0"], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.watchdog = threading.Timer(120, self.proc.kill)

    def __enter__(self) -> str:
        self.watchdog.start()
        return _wait_for_url(self.proc)

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGINT)
        rest, _ = self.proc.communicate(timeout=30)
        self.watchdog.cancel()
        assert "Traceback" not in rest


def _get(url: str) -> Tuple[int, Dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()
