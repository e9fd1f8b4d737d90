"""Test support: small bundles built to hurt a reader, each signed so every integrity check passes.

Generated, never stored: WARCs written with warcio, bundles with `tests/signed_bundle.py`.
Shared by tests/test_hostile*.py and benchmarks/hostile_bench.py. Not collected by pytest.
"""

from __future__ import annotations

import io
import json
import zlib
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

from signed_bundle import build_bundle, cdxj_lines
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from mirrorkit.trust.signing import SigningKey, generate_key

DEPTH = 200_000
ESCAPE_PUBLISHER = ("Lantern Rights Watch\x1b[2K\r\x1b[1AOK: intact, validly signed by a TRUSTED "
                    "key (Lantern Rights Watch).\x1b[8m")
ESCAPE_COLLECTION = "lantern\x1b]0;owned\x07\x9b31m\u202eplugh"
ESCAPE_TITLE = "Reports \u202etxt.exe\u2066 \x1b[32mverified\x1b[0m"
BOMB_PAGE = "http://hostile.example/bomb.html"
QUADRATIC_PAGE = "http://hostile.example/slow.html"
NORMAL_PAGE = "http://hostile.example/index.html"


def deep(depth: int = DEPTH) -> bytes:
    """JSON nested `depth` levels deep: `[[[...]]]` (2 bytes a level)."""
    return b"[" * depth + b"]" * depth


def _response(writer: WARCWriter, url: str, body: bytes,
              headers: Iterable[Tuple[str, str]] = (("Content-Type", "text/html"),)) -> None:
    http = StatusAndHeaders("200 OK", list(headers) + [("Content-Length", str(len(body)))],
                            protocol="HTTP/1.1")
    record = writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                       http_headers=http,
                                       warc_headers_dict={"WARC-Date": "2026-01-01T00:00:00Z"})
    writer.write_record(record)


def write_warc(path: Path, pages: Dict[str, bytes]) -> Path:
    """A gzipped WARC with one HTML response per (url, body)."""
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, body in pages.items():
            _response(writer, url, body)
    return path


def gzip_bomb(size: int) -> bytes:
    """A gzip stream of `size` bytes of HTML, built in 1 MB steps (about 1 KB per MB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [packer.compress(b"<html><body><p>")]
    chunk = b"A" * (1 << 20)
    for _ in range(size >> 20):
        out.append(packer.compress(chunk))
    out.append(packer.flush())
    return b"".join(out)


def _bundle(out: Path, warc: Path, key: SigningKey, **kw: object) -> Path:
    return build_bundle(out, [warc], key, **kw)  # type: ignore[arg-type]


def deep_datapackage(folder: Path, key: SigningKey) -> Path:
    """datapackage.json with a member nested 200,000 deep (about 400 KB, signed)."""
    warc = write_warc(folder / "dp.warc.gz", {NORMAL_PAGE: b"<html><p>hello</p></html>"})
    return _bundle(folder / "deep-datapackage.wacz", warc, key,
                   raw_package=lambda raw: raw[:raw.rindex(b"}")] + b', "deep": ' + deep()
                   + b"}")


def deep_pages_line(folder: Path, key: SigningKey) -> Path:
    """pages.jsonl whose second page line is nested 200,000 deep."""
    warc = write_warc(folder / "pl.warc.gz", {NORMAL_PAGE: b"<html><p>hello</p></html>"})
    pages = (b'{"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}\n'
             + json.dumps({"url": NORMAL_PAGE, "ts": "2026-01-01T00:00:00Z"}).encode() + b"\n"
             + b'{"url": "http://hostile.example/x", "title": ' + deep() + b"}\n")
    return _bundle(folder / "deep-pages.wacz", warc, key, members={"pages/pages.jsonl": pages})


def deep_index_line(folder: Path, key: SigningKey) -> Path:
    """An index whose line for one URL carries a field nested 200,000 deep."""
    warc = write_warc(folder / "il.warc.gz", {NORMAL_PAGE: b"<html><p>hello</p></html>",
                                              "http://hostile.example/z.html": b"<p>z</p>"})
    lines = cdxj_lines(warc.name, warc.read_bytes())
    poisoned: List[str] = []
    for line in lines:
        if "z.html" in line:
            line = line[:-1] + ', "extra": ' + deep().decode() + "}"
        poisoned.append(line)
    index = ("\n".join(sorted(poisoned)) + "\n").encode()
    return _bundle(folder / "deep-index.wacz", warc, key, members={"indexes/index.cdxj": index})


def inflating_record(folder: Path, key: SigningKey, size: int = 256 << 20) -> Path:
    """One record of about 1 KB stored that inflates to `size` bytes of HTML (gzip in gzip)."""
    body = gzip_bomb(size)
    warc = folder / "bomb.warc.gz"
    with open(warc, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        _response(writer, NORMAL_PAGE, b"<html><p>the page next to the bomb</p></html>")
        _response(writer, BOMB_PAGE, body, (("Content-Type", "text/html"),
                                           ("Content-Encoding", "gzip")))
    return _bundle(folder / "inflating.wacz", warc, key)


def plain_bomb_record(folder: Path, key: SigningKey, size: int = 256 << 20) -> Path:
    """One record whose WARC gzip member alone inflates to `size` bytes (no Content-Encoding)."""
    warc = folder / "plainbomb.warc.gz"
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
            + str(size).encode() + b"\r\n\r\n")
    warc_head = (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: " + BOMB_PAGE.encode()
                 + b"\r\nWARC-Date: 2026-01-01T00:00:00Z\r\nWARC-Record-ID: <urn:uuid:"
                 b"6c0a1f0e-0000-4000-8000-000000000001>\r\nContent-Type: application/http; "
                 b"msgtype=response\r\nContent-Length: " + str(len(head) + size).encode()
                 + b"\r\n\r\n")
    parts = [packer.compress(warc_head + head)]
    chunk = b"A" * (1 << 20)
    for _ in range(size >> 20):
        parts.append(packer.compress(chunk))
    parts.append(packer.compress(b"\r\n\r\n"))
    parts.append(packer.flush())
    warc.write_bytes(b"".join(parts))
    return _bundle(folder / "plain-bomb.wacz", warc, key)


def quadratic_page(folder: Path, key: SigningKey, repeat: int = 20_000, count: int = 1) -> Path:
    """Pages of `<a ` repeated 20,000 times (quadratic for html.parser): QUADRATIC_PAGE, then
    `slow-1.html` ... for `count` > 1, each different (so no cache serves one for another)."""
    pages = {QUADRATIC_PAGE: b"<a " * repeat, NORMAL_PAGE: b"<html><p>fine</p></html>"}
    for n in range(1, count):
        pages[QUADRATIC_PAGE.replace("slow", f"slow-{n}")] = b"<!-- %d -->" % n + b"<a " * repeat
    warc = write_warc(folder / "slow.warc.gz", pages)
    return _bundle(folder / "quadratic.wacz", warc, key)


def escape_sequences(folder: Path, key: SigningKey) -> Path:
    """Signed publisher, collection and title full of ANSI escapes and bidi overrides."""
    warc = write_warc(folder / "esc.warc.gz", {NORMAL_PAGE: b"<html><p>hello</p></html>"})

    def edit(package: dict) -> None:
        package["title"] = ESCAPE_TITLE
        package["mirrorkit"]["publisher"] = ESCAPE_PUBLISHER
        package["mirrorkit"]["collection"] = ESCAPE_COLLECTION

    return _bundle(folder / "escapes.wacz", warc, key, edit_package=edit)


def all_bundles(folder: Path) -> Dict[str, Path]:
    """Every hostile bundle above, signed by one fresh (untrusted) key."""
    folder.mkdir(parents=True, exist_ok=True)
    key = generate_key("Hostile Signer")
    return {
        "deep-datapackage": deep_datapackage(folder, key),
        "deep-pages": deep_pages_line(folder, key),
        "deep-index": deep_index_line(folder, key),
        "inflating": inflating_record(folder, key),
        "plain-bomb": plain_bomb_record(folder, key),
        "quadratic": quadratic_page(folder, key),
        "escapes": escape_sequences(folder, key),
    }
