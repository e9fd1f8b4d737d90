"""READER.html on records the sample site does not have: a rendered snapshot (`conversion` record
at `urn:snapshot:<url>`, as browser capture writes it) shown instead of the response, a revisit
resolved to its original, a brotli body, and an index written by another tool (no recordDigest)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any, Iterator, List

import brotli
import pytest
from reader_support import launch_browser, open_bundle
from signed_bundle import build_bundle
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from mirrorkit.formats.surt import surt_key
from mirrorkit.sample_site import SITE_ROOT
from mirrorkit.trust.signing import generate_key

pytestmark = pytest.mark.browser

SITE = "http://example.test/"
PNG = (SITE_ROOT / "img" / "pin.png").read_bytes()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_browser()


def _response(writer: WARCWriter, url: str, ctype: str, body: bytes, date: str,
              encoding: str = "") -> Any:
    headers = [("Content-Type", ctype), ("Content-Length", str(len(body)))]
    if encoding:
        headers.append(("Content-Encoding", encoding))
    http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
    rec = writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                    http_headers=http, warc_headers_dict={"WARC-Date": date})
    writer.write_record(rec)
    return rec


def _warc(path: Path) -> None:
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        live = b"<html><head><title>Live</title></head><body><h1>live</h1></body></html>"
        _response(w, SITE + "page.html", "text/html; charset=utf-8", live, "2026-01-02T03:04:05Z")
        snap = ("<html><head><title>Rendered snapshot</title></head><body><h1>snapshot</h1>"
                "<img alt=pin src='/img.png'><a href='/other.html'>other</a></body></html>")
        rec = w.create_warc_record(
            "urn:snapshot:" + SITE + "page.html", "conversion",
            payload=io.BytesIO(snap.encode()),
            warc_headers_dict={"WARC-Date": "2026-01-02T03:04:06Z",
                               "Content-Type": "text/html; charset=utf-8"})
        w.write_record(rec)
        img = _response(w, SITE + "img.png", "image/png", PNG, "2026-01-02T03:04:07Z")
        other = (b"<html><head><title>Brotli page</title></head><body>"
                 b"<img alt=again src='img2.png'></body></html>")
        _response(w, SITE + "other.html", "text/html; charset=utf-8", brotli.compress(other),
                  "2026-01-02T03:04:08Z", encoding="br")
        digest = img.rec_headers.get_header("WARC-Payload-Digest")
        revisit = w.create_revisit_record(SITE + "img2.png", digest, SITE + "img.png",
                                          "2026-01-02T03:04:07Z",
                                          http_headers=StatusAndHeaders(
                                              "200 OK", [("Content-Type", "image/png")],
                                              protocol="HTTP/1.1"))
        revisit.rec_headers.replace_header("WARC-Date", "2026-01-02T03:04:09Z")
        w.write_record(revisit)


def _index(data: bytes, name: str, with_digests: bool) -> List[str]:
    lines = []
    it = ArchiveIterator(io.BytesIO(data))
    for rec in it:
        it.read_to_end(rec)
        url = rec.rec_headers.get_header("WARC-Target-URI")
        date = rec.rec_headers.get_header("WARC-Date")
        ts = "".join(c for c in date if c.isdigit())[:14]
        off, length = it.get_record_offset(), it.get_record_length()
        fields = {"url": url, "offset": str(off), "length": str(length), "filename": name,
                  "digest": rec.rec_headers.get_header("WARC-Payload-Digest") or ""}
        if rec.rec_type == "revisit":
            fields.update(mime="warc/revisit", refersToUrl=SITE + "img.png",
                          refersToDate="20260102030407")
        elif rec.http_headers:
            fields["mime"] = rec.http_headers.get_header("Content-Type").split(";")[0]
            fields["status"] = "200"
        else:
            fields["mime"] = "text/html"
        if with_digests:
            fields["recordDigest"] = "sha256:" + hashlib.sha256(
                data[off:off + length]).hexdigest()
        lines.append(f"{surt_key(url)} {ts} {json.dumps(fields)}")
    return sorted(lines)


@pytest.mark.parametrize("with_digests", [True, False])
def test_snapshot_revisit_brotli(browser: Any, tmp_path: Path, with_digests: bool) -> None:
    warc = tmp_path / "data.warc.gz"
    _warc(warc)
    index = _index(warc.read_bytes(), warc.name, with_digests)
    pages = [{"format": "json-pages-1.0", "id": "pages", "title": "All Pages"},
             {"url": SITE + "page.html", "ts": "2026-01-02T03:04:05Z", "title": "A page"}]
    key = generate_key("Records test")
    bundle = build_bundle(tmp_path / "records.wacz", [warc], key, members={
        "indexes/index.cdxj": ("\n".join(index) + "\n").encode(),
        "pages/pages.jsonl": "".join(json.dumps(p) + "\n" for p in pages).encode()})
    phone = open_bundle(browser, bundle)
    try:
        assert phone.settle() == "untrusted"
        assert phone.show(SITE + "page.html") == "shown"
        note = phone.page.inner_text("#page-note")
        assert "snapshot" in note
        assert ("matches its signed digest" in note) == with_digests
        doc = phone.frame_doc()
        assert doc.evaluate("document.title") == "Rendered snapshot"
        assert doc.evaluate("document.images[0].naturalWidth") > 0
        assert phone.click_in_frame("a") == "shown"
        doc = phone.frame_doc()
        assert doc.evaluate("document.title") == "Brotli page"
        assert doc.evaluate("document.images[0].naturalWidth") > 0  # the revisit's original
        assert phone.errors == []
    finally:
        phone.close()
    assert phone.network == []


HOSTILE = """<!doctype html><html><head><title>Hostile</title>
<meta http-equiv="refresh" content="0; url=http://evil.example/refresh">
<meta http-equiv="Content-Security-Policy" content="default-src *">
<base href="http://evil.example/base/">
<link rel="stylesheet" href="http://evil.example/style.css">
<link rel="preload" href="http://evil.example/font.woff2" as="font">
<link rel="dns-prefetch" href="//evil.example">
<style>@import "http://evil.example/import.css";
body { background: url(http://evil.example/bg.png) }
.x { background-image: image-set("http://evil.example/set.png" 1x) }</style>
<script>document.title = "ran"; parent.document.title = "ran";</script>
</head><body onload="document.title='ran'">
<img src="http://evil.example/img.png" onerror="document.title='ran'"
     srcset="http://evil.example/a.png 2x">
<svg><script>document.title='ran'</script><use href="http://evil.example/sprite.svg#a"/>
<image href="http://evil.example/svg.png"/></svg>
<iframe src="http://evil.example/frame.html"></iframe>
<iframe srcdoc="<script>parent.parent.document.title='ran'</script><img src='http://evil.example/f.png'>"></iframe>
<video poster="http://evil.example/poster.png" src="http://evil.example/v.mp4"></video>
<object data="http://evil.example/o.swf"></object><embed src="http://evil.example/e.swf">
<form action="http://evil.example/post"><input type=image src="http://evil.example/i.png"></form>
<a href="javascript:parent.document.title='ran'" id="js">js</a>
<a href="http://evil.example/away" target="_top" id="away">away</a>
<p style="background: url('http://evil.example/inline.png')">text</p>
</body></html>"""


def test_hostile_page_runs_nothing_and_loads_nothing(browser: Any, tmp_path: Path) -> None:
    warc = tmp_path / "hostile.warc.gz"
    with open(warc, "wb") as fh:
        _response(WARCWriter(fh, gzip=True), SITE + "hostile.html", "text/html; charset=utf-8",
                  HOSTILE.encode(), "2026-01-02T03:04:05Z")
    index = _index(warc.read_bytes(), warc.name, True)
    pages = [{"format": "json-pages-1.0", "id": "pages"},
             {"url": SITE + "hostile.html", "ts": "2026-01-02T03:04:05Z", "title": "Hostile"}]
    bundle = build_bundle(tmp_path / "hostile.wacz", [warc], generate_key("Hostile"), members={
        "indexes/index.cdxj": ("\n".join(index) + "\n").encode(),
        "pages/pages.jsonl": "".join(json.dumps(p) + "\n" for p in pages).encode()})
    phone = open_bundle(browser, bundle)
    try:
        assert phone.settle() == "untrusted"
        assert phone.show(SITE + "hostile.html") == "shown"
        phone.page.wait_for_timeout(1500)  # give a refresh or a late load its chance
        doc = phone.frame_doc()
        assert doc.evaluate("document.title") == "Hostile"
        assert phone.page.title() == "mirrorkit reader"
        phone.frame().locator("#js").click()
        phone.frame().locator("#away").click()
        phone.page.wait_for_selector("#page-note.bad", timeout=10000)
        assert "Not in this archive" in phone.page.inner_text("#page-note")
        assert phone.page.title() == "mirrorkit reader"
        assert phone.page.url.startswith("file://")
    finally:
        phone.close()
    assert phone.network == []


def test_large_warc_is_hashed_in_a_worker(browser: Any, tmp_path: Path) -> None:
    """WARCs over 1 MB are hashed by @noble/hashes in a Worker (a blob: URL on file://); a
    flipped byte in a record nobody opens still fails the bundle."""
    import random

    warc = tmp_path / "big.warc.gz"
    with open(warc, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        _response(w, SITE + "big.html", "text/html; charset=utf-8",
                  b"<title>Big</title><img src='/blob.bin'>", "2026-01-02T03:04:05Z")
        _response(w, SITE + "blob.bin", "application/octet-stream",
                  random.Random(1).randbytes(3_000_000), "2026-01-02T03:04:06Z")
    index = _index(warc.read_bytes(), warc.name, True)
    pages = [{"format": "json-pages-1.0", "id": "pages"},
             {"url": SITE + "big.html", "ts": "2026-01-02T03:04:05Z", "title": "Big"}]
    members = {"indexes/index.cdxj": ("\n".join(index) + "\n").encode(),
               "pages/pages.jsonl": "".join(json.dumps(p) + "\n" for p in pages).encode()}
    bundle = build_bundle(tmp_path / "big.wacz", [warc], generate_key("Big"), members=members)
    phone = open_bundle(browser, bundle)
    try:
        assert phone.settle() == "untrusted"
        assert any(u.startswith("blob:") for u in phone.workers), phone.workers
    finally:
        phone.close()
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside the 3 MB record, far from anything shown
    bad = tmp_path / "big-bad.wacz"
    bad.write_bytes(bytes(data))
    phone = open_bundle(browser, bad)
    try:
        assert phone.settle() == "failed"
        assert "archive/big.warc.gz: content does not match its hash" in phone.page.inner_text(
            "#problems")
    finally:
        phone.close()


def _zstd(data: bytes) -> bytes:
    import shutil
    import subprocess

    if shutil.which("zstd") is None:
        pytest.skip("the zstd command is not installed (needed only to make the test body)")
    return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True,
                          check=True).stdout


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip", "deflate", "x-unknown"])
def test_content_encodings(browser: Any, tmp_path: Path, encoding: str) -> None:
    import gzip
    import zlib

    html = "<html><head><title>Encoded 编码</title></head><body><p>水</p></body></html>".encode()
    body = {"br": brotli.compress, "zstd": _zstd, "gzip": gzip.compress,
            "deflate": zlib.compress, "x-unknown": lambda b: b"\x00garbage"}[encoding](html)
    warc = tmp_path / "enc.warc.gz"
    with open(warc, "wb") as fh:
        _response(WARCWriter(fh, gzip=True), SITE + "enc.html", "text/html; charset=utf-8",
                  body, "2026-01-02T03:04:05Z", encoding=encoding)
    index = _index(warc.read_bytes(), warc.name, True)
    pages = [{"format": "json-pages-1.0", "id": "pages"},
             {"url": SITE + "enc.html", "ts": "2026-01-02T03:04:05Z", "title": "Encoded"}]
    bundle = build_bundle(tmp_path / "enc.wacz", [warc], generate_key("Enc"), members={
        "indexes/index.cdxj": ("\n".join(index) + "\n").encode(),
        "pages/pages.jsonl": "".join(json.dumps(p) + "\n" for p in pages).encode()})
    phone = open_bundle(browser, bundle)
    try:
        assert phone.settle() == "untrusted"
        outcome = phone.show(SITE + "enc.html")
        if encoding == "x-unknown":
            assert outcome == "undecodable"  # not shown; said why
            assert "cannot be decoded here" in phone.page.inner_text("#page-note")
            assert phone.state == "untrusted"  # the record is intact, only not decodable
        else:
            assert outcome == "shown"
            assert phone.frame_doc().evaluate("document.title") == "Encoded 编码"
    finally:
        phone.close()
