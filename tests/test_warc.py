"""WARC writing (records, digests, revisits, truncation, rollover, crash repair) and reading."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from mirrorkit.bundle.sources import read_pages
from mirrorkit.capture.warcwriter import WarcWriter, cut_to, member_ends
from mirrorkit.errors import UsageError
from mirrorkit.formats.warc import target_uri, warc_date, warc_files

WARCIO = str(Path(sys.executable).parent / "warcio")
REQ = b"GET /a HTTP/1.1\r\nHost: example.org\r\nUser-Agent: t\r\n\r\n"


def _resp(body: bytes, extra: str = "") -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode()


def _digest(body: bytes) -> str:
    import base64
    import hashlib
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()


def _records(path: Path) -> list:
    with open(path, "rb") as fh:
        return [(r.rec_type, r.rec_headers, r.http_headers, r.content_stream().read()
                 if r.rec_type == "response" else b"") for r in ArchiveIterator(fh)]


def _check(path: Path) -> None:
    result = subprocess.run([WARCIO, "check", "-v", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed" not in result.stdout


def test_exchange_revisit_and_headers(tmp_path: Path) -> None:
    writer = WarcWriter(tmp_path, {"operator": "tester", "robots": "obey"})
    body = b"<html>caf\xc3\xa9</html>"
    # a non-ASCII header value (as sent, Latin-1 bytes) must survive byte for byte
    head = _resp(body, "X-Name: caf\xe9\r\n".encode("latin-1").decode("latin-1"))
    date = warc_date()
    first = writer.write_exchange("http://example.org/a", date, REQ, head, io.BytesIO(body),
                                  len(body), _digest(body), ip="127.0.0.1")
    writer.write_revisit("http://example.org/b", warc_date(), REQ, head, _digest(body),
                         "http://example.org/a", date, ip="127.0.0.1")
    writer.close()
    [path] = warc_files(tmp_path)
    assert path.name.startswith("mirrorkit-") and path.name.endswith("-00000.warc.gz")
    _check(path)
    recs = _records(path)
    assert [r[0] for r in recs] == ["warcinfo", "response", "request", "revisit", "request"]
    info = recs[0][1]
    assert info.get_header("WARC-Filename") == path.name
    warcinfo_id = info.get_header("WARC-Record-ID")
    for _type, headers, *_ in recs[1:]:
        assert headers.get_header("WARC-Warcinfo-ID") == warcinfo_id
        assert headers.get_header("WARC-IP-Address") == "127.0.0.1"
        assert headers.protocol == "WARC/1.1"
    resp, req = recs[1][1], recs[2][1]
    assert resp.get_header("WARC-Concurrent-To") == req.get_header("WARC-Record-ID")
    assert req.get_header("WARC-Concurrent-To") == resp.get_header("WARC-Record-ID")
    assert recs[1][3] == body
    assert recs[1][2].get_header("X-Name") == "caf\xe9"
    revisit = recs[3][1]
    assert revisit.get_header("WARC-Refers-To-Target-URI") == "http://example.org/a"
    assert revisit.get_header("WARC-Refers-To-Date") == date
    assert revisit.get_header("WARC-Profile").endswith("/revisit/identical-payload-digest")
    assert first.offset > 0 and first.end > first.offset
    # every record is its own gzip member: the response can be read from its offset alone
    with open(path, "rb") as fh:
        fh.seek(first.offset)
        rec = next(iter(ArchiveIterator(fh)))
        assert rec.rec_type == "response"


def test_chunked_and_gzip_body_kept_as_sent(tmp_path: Path) -> None:
    encoded = gzip.compress(b"body " * 100)
    head = (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
            b"X-Archive-Orig-Transfer-Encoding: chunked\r\n\r\n")
    writer = WarcWriter(tmp_path, {})
    writer.write_exchange("http://example.org/g", warc_date(), REQ, head, io.BytesIO(encoded),
                          len(encoded), _digest(encoded), truncated=None)
    writer.close()
    [path] = warc_files(tmp_path)
    _check(path)
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh):
            if rec.rec_type == "response":
                assert rec.raw_stream.read() == encoded  # stored encoded
                assert rec.rec_headers.get_header("WARC-Payload-Digest") == _digest(encoded)


def test_truncated_and_rollover(tmp_path: Path) -> None:
    writer = WarcWriter(tmp_path, {}, max_file_size=2000)
    for i in range(4):
        body = bytes(range(256)) * 10
        writer.write_exchange(f"http://example.org/{i}", warc_date(), REQ, _resp(body),
                              io.BytesIO(body), len(body), _digest(body), truncated="length")
    writer.close()
    files = warc_files(tmp_path)
    assert len(files) >= 2
    for path in files:
        _check(path)
        recs = _records(path)
        assert recs[0][0] == "warcinfo"
        assert all(r[1].get_header("WARC-Truncated") == "length"
                   for r in recs if r[0] == "response")


def test_torn_last_member_is_detected_and_cut(tmp_path: Path) -> None:
    writer = WarcWriter(tmp_path, {})
    body = b"x" * 5000
    for i in range(3):
        writer.write_exchange(f"http://example.org/{i}", warc_date(), REQ, _resp(body),
                              io.BytesIO(body), len(body), _digest(body))
    writer.close()
    [path] = warc_files(tmp_path)
    ends = member_ends(path)
    assert len(ends) == 7 and ends[-1] == path.stat().st_size
    with open(path, "ab") as fh:  # a crash in the middle of the next record
        fh.write(gzip.compress(b"WARC/1.1\r\n" + b"y" * 4000)[:-30])
    assert member_ends(path) == ends
    assert cut_to(path, ends[-1]) > 0
    _check(path)


def test_warc_files_and_errors(tmp_path: Path, interop: Path) -> None:
    assert warc_files(interop / "example.warc.gz") == [interop / "example.warc.gz"]
    assert len(warc_files(interop)) >= 7
    with pytest.raises(UsageError):
        warc_files(tmp_path)
    with pytest.raises(UsageError):
        warc_files(tmp_path / "nope")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(UsageError):
        warc_files(tmp_path / "x.txt")


def test_reads_other_tools_warcs(interop: Path) -> None:
    # wget 1.14 writes WARC/1.0 with <angle brackets> around the target URI
    with open(interop / "example-wget-1-14.warc.gz", "rb") as fh:
        uris = [target_uri(r) for r in ArchiveIterator(fh) if r.rec_type == "response"]
    assert uris and all(u.startswith("http://") and not u.startswith("<") for u in uris)
    pages = read_pages(interop / "example-wget-1-14.warc.gz")
    assert pages[0]["url"] == "http://example.com/" and pages[0]["status"] == 200
    assert pages[0]["title"] == "Example Domain"
    iana = read_pages(interop / "iana.warc.gz")
    assert any("iana.org" in p["url"] for p in iana)
    assert read_pages(interop / "example-wpull.warc.gz")
