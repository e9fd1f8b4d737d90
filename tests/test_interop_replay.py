"""Other tools' archives replay (issue 12): timestamps of any precision, other tools' index keys,
revisits with their own status, non-HTTP records, header names that are not tokens.

Every test goes through the real replay server (waitress on 127.0.0.1) on a fixture written the
way the other tool writes it (tests/interop_support.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from interop_support import (
    Served,
    archiveweb_key,
    foreign_wacz,
    jswacz_key,
    links,
    payload_digest,
    response,
    warc,
)

from mirrorkit.bundle import create_bundle
from mirrorkit.formats.wacz import WaczReader
from mirrorkit.trust.signing import generate_key

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7"
       b"\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")
FONTS = "https://fonts.googleapis.com/css2?family=Roboto:wght@400;700&display=swap"


def _pages(served: Served, name: str) -> dict:
    status, _, body = served.get(f"{name}/pages.json")
    assert status == 200
    return {p["url"]: p["replay"] for p in json.loads(body)}


def test_archiveweb_17_digit_timestamps_and_escaped_queries_replay_subresources(
        tmp_path: Path) -> None:
    page = (b'<html><head><title>AWP</title><link rel="stylesheet" href="/style.css">'
            b'<link rel="stylesheet" href="' + FONTS.encode().replace(b"&", b"&amp;") + b'">'
            b'</head><body><img src="/logo.png"><iframe src="/frame.html"></iframe></body></html>')
    source = warc(tmp_path / "awp.warc.gz", [
        response("https://awp.example/", page),
        response("https://awp.example/style.css", b"body { color: red }", ctype="text/css"),
        response(FONTS, b"@font-face { font-family: Roboto }", ctype="text/css"),
        response("https://awp.example/logo.png", PNG, ctype="image/png"),
        response("https://awp.example/frame.html", b"<p>framed</p>"),
    ])
    wacz = foreign_wacz(tmp_path / "awp.wacz", [source], transform=archiveweb_key,
                        key=generate_key("ArchiveWeb.page user"),
                        pages=[{"url": "https://awp.example/", "ts": "2024-01-01T00:00:00Z"}])
    with WaczReader(wacz) as reader:  # the fixture really is shaped like ArchiveWeb.page's
        first = next(iter(reader.index))
        assert len(first.timestamp) == 17
        assert any("%3A" in e.key for e in reader.index)
    with Served(wacz) as served:
        status, _, body = served.get(_pages(served, "awp")["https://awp.example/"])
        assert status == 200 and b"AWP" in body
        prefix = served.prefix("awp")
        subresources = [u for u in links(body.decode(), prefix)
                        if u[len(prefix):len(prefix) + 1].isdigit()]
        assert len(subresources) == 4
        for link in subresources:
            stamp = link[len(prefix):].split("/", 1)[0]
            assert len(stamp.rstrip("_fimd")) == 17  # the capture's own precision
            status, headers, data = served.get(link)
            assert status == 200, link
        assert any(b"Roboto" in served.get(link)[2] for link in subresources)


def test_jswacz_trailing_slash_keys_find_the_main_page(tmp_path: Path) -> None:
    source = warc(tmp_path / "scoop.warc.gz", [
        response("https://scoop.example/reports/", b"<title>Reports</title><p>main page</p>"),
        response("https://scoop.example/reports/2024/", b"<title>2024</title>"),
    ])
    wacz = foreign_wacz(tmp_path / "scoop.wacz", [source], transform=jswacz_key,
                        key=generate_key("Scoop"), software="Scoop @ Harvard LIL (js-wacz)",
                        pages=[{"url": "https://scoop.example/reports/",
                                "ts": "2024-01-01T00:00:00Z"}])
    with WaczReader(wacz) as reader:
        assert any(e.key.endswith(")/reports/") for e in reader.index)  # as js-wacz keys
        assert [e.url for e in reader.index.lookup("https://scoop.example/reports/")] == [
            "https://scoop.example/reports/"]
    with Served(wacz) as served:
        status, _, body = served.get("scoop/main")
        assert status == 200 and b"main page" in body
        status, _, body = served.get("scoop/2024/https://scoop.example/reports/2024/")
        assert status == 200 and b"2024" in body


def test_revisit_replays_its_own_status_and_headers(tmp_path: Path) -> None:
    first = warc(tmp_path / "one.warc.gz", [
        response("http://rv.example/gone", b"<p>the same bytes twice</p>",
                 headers=[("X-Served", "first")], date="2024-01-01T00:00:00Z")])
    digest, date = payload_digest(first, "http://rv.example/gone")
    second = warc(tmp_path / "two.warc.gz", [
        {"type": "revisit", "url": "http://rv.example/gone", "digest": digest,
         "refers_url": "http://rv.example/gone", "refers_date": date, "status": "404 Not Found",
         "ctype": "text/html", "headers": [("X-Served", "second")],
         "date": "2024-06-01T00:00:00Z"}])
    wacz = create_bundle([first, second], tmp_path / "rv.wacz", key=generate_key("rv"))
    with Served(wacz) as served:
        status, headers, body = served.get("rv/20240601000000/http://rv.example/gone")
        assert status == 404 and b"the same bytes twice" in body
        assert headers.get("X-Served") == "second"
        status, headers, _ = served.get("rv/20240101000000/http://rv.example/gone")
        assert status == 200 and headers.get("X-Served") == "first"


def test_non_http_records_are_pages_and_replay_with_their_stored_type(tmp_path: Path) -> None:
    source = warc(tmp_path / "scoop.warc.gz", [
        response("https://site.example/", b"<title>Site</title>"),
        {"type": "resource", "url": "file:///screenshot.png", "body": PNG,
         "ctype": "image/png"},
        {"type": "resource", "url": "file:///provenance-summary.html",
         "body": b"<title>Provenance summary</title><p>captured by Scoop</p>",
         "ctype": "text/html"},
        {"type": "resource", "url": "file:///Screen%20Shot%201.png", "body": PNG,
         "ctype": "image/png"},
        {"type": "metadata", "url": "urn:X-wpull:log", "body": b"INFO wpull started\n",
         "ctype": "text/plain"},
        {"type": "metadata", "url": "metadata://site.example/crawl.log",
         "body": b"2024 200 https://site.example/\n", "ctype": "text/plain"},
    ])
    wacz = create_bundle([source], tmp_path / "scoop.wacz", key=generate_key("scoop"))
    with Served(wacz) as served:
        pages = _pages(served, "scoop")
        for url in ("file:///screenshot.png", "file:///provenance-summary.html",
                    "file:///Screen%20Shot%201.png"):
            assert url in pages
        status, headers, body = served.get(pages["file:///screenshot.png"])
        assert status == 200 and body == PNG and headers["Content-Type"] == "image/png"
        status, headers, body = served.get(pages["file:///Screen%20Shot%201.png"])
        assert status == 200 and body == PNG
        status, headers, body = served.get(pages["file:///provenance-summary.html"])
        assert status == 200 and b"captured by Scoop" in body
        assert headers["Content-Type"].startswith("text/html")
        status, headers, body = served.get("scoop/2030/urn:X-wpull:log")
        assert status == 200 and body == b"INFO wpull started\n"
        assert headers["Content-Type"] == "text/plain"
        status, _, body = served.get("scoop/2030/metadata://site.example/crawl.log")
        assert status == 200 and b"200 https://site.example/" in body


def test_header_names_that_are_not_tokens_are_dropped(tmp_path: Path) -> None:
    source = warc(tmp_path / "hdr.warc.gz", [
        response("http://hdr.example/", b"<p>headers</p>",
                 headers=[("X-Content Type Options", "nosniff"), ("X-Fine", "yes"),
                          ("Bad:Name", "1"), ("X-Frame(Options)", "DENY")])])
    wacz = create_bundle([source], tmp_path / "hdr.wacz", key=generate_key("hdr"))
    with Served(wacz) as served:
        head = served.raw_headers("hdr/2030/http://hdr.example/")
        assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200")
        names = [line.split(b":", 1)[0] for line in head.split(b"\r\n")[1:]]
        assert b"X-Fine" in names
        assert all(b" " not in n and b"(" not in n for n in names), names
        assert b"X-Content Type Options" not in head and b"Bad:Name" not in head
    with WaczReader(wacz) as reader:  # still in the WARC, as archived
        entry = reader.index.lookup("http://hdr.example/")[0]
        assert b"X-Content Type Options: nosniff" in reader.parse_record(
            reader.read_entry(entry)).http_headers.to_bytes()
