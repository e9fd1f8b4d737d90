"""SURT keys, CDXJ lines and the index reader, checked against pywb's own tools (surt,
cdxj-indexer) on the interop WARCs, and against hostile index files."""

from __future__ import annotations

import doctest
import gzip
import hashlib
import io
import json
import zlib
from pathlib import Path
from typing import Any, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mirrorkit.formats.surt
from mirrorkit.errors import InvalidBundle
from mirrorkit.formats.cdxj import (
    CdxjEntry,
    IndexReader,
    closest_entry,
    sort_lines,
    write_cdxj,
    write_compressed_index,
)
from mirrorkit.formats.surt import surt_key
from mirrorkit.formats.warcindex import iter_warc_entries


def _pywb_surt(url: str) -> str:
    import surt  # test-only: comes with pywb / cdxj-indexer

    try:
        return str(surt.surt(url))
    except Exception:  # cdxj-indexer keeps the URL itself as the key when surt fails
        return url


def _reference_lines(warc: Path) -> List[str]:
    """cdxj-indexer's sorted output for one WARC (in-process, as `cdxj-indexer -s`)."""
    from cdxj_indexer.main import write_cdx_index

    out = io.StringIO()
    with open(warc, "rb") as fh:
        write_cdx_index(out, [fh], {"sort": True, "filename": warc.name})
    return out.getvalue().splitlines()


class _Counting(io.BytesIO):
    """A BytesIO that counts the bytes read from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: Any = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def test_surt_doctests() -> None:
    result = doctest.testmod(mirrorkit.formats.surt)
    assert result.attempted >= 7 and result.failed == 0


EDGE_URLS = [
    "https://www.Example.org/a?b=2&a=1", "http://example.com:80/", "https://example.com:443/x/",
    "http://www2.example.com/", "http:////www.vikings.com/foo", "http://https://order.x.com/y",
    "example.com/no-scheme", "http://user:pw@Host.com:8080/p", "http://[2001:DB8::1]:8080/x",
    "http://3232235777/", "http://0x7f.1/", "http://010.0.0.1/", "http://1.2.3.400/",
    "http://example.com/a%2520b?q=%2541", "http://例子.中国/新闻?页=1", "http://example.com/?",
    "http://example.com/x;jsessionid=0123456789abcdef0123456789abcdef",
    "http://example.com/x?PHPSESSID=0123456789abcdef0123456789abcdef&b=1", "urn:uuid:1234",
    "dns:Example.com", "http://example.com:99999/", "http://a..b.com./", "http://e.com/%zz%",
    "http://e.com/(a(aaaaaaaaaaaaaaaaaaaaaaaa))/x.aspx", "mailto:foo@bar.com", "", " ",
    "http://e.com/a?b&a=&a", "javascript:void(0)", "http://é..", "http://a[",
]


def test_surt_matches_pywb_on_edge_cases_and_interop_urls(interop: Path) -> None:
    from warcio.archiveiterator import ArchiveIterator

    urls = set(EDGE_URLS)
    for warc in interop.glob("*.warc.gz"):
        with open(warc, "rb") as fh:
            for record in ArchiveIterator(fh):
                urls.add(record.rec_headers.get_header("WARC-Target-URI") or "")
    assert len(urls) > 80
    for url in urls:
        assert surt_key(url) == _pywb_surt(url), url


_PIECES = st.sampled_from(list("aAbZ09.:/?&=#%-_~@[]();,+ \t") + [
    "www.", "http://", "https://", "%2F", "%41", "é", "中", "..", "./", "jsessionid=",
    "0" * 32, "%E4%B8%AD", "xn--", "index.aspx"])


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(["http://", "https://", "", "ftp://", "http://www.", "dns:"]),
       st.lists(_PIECES, max_size=20).map("".join))
def test_surt_matches_pywb_on_random_urls(prefix: str, body: str) -> None:
    assert surt_key(prefix + body) == _pywb_surt(prefix + body)


@pytest.mark.interop
def test_cdxj_lines_match_cdxj_indexer(interop: Path) -> None:
    for warc in sorted(interop.glob("*.warc.gz")):
        with open(warc, "rb") as fh:
            mine = [line.decode().rstrip("\n") for line in
                    sort_lines(iter_warc_entries(fh, warc.name))]
        reference = _reference_lines(warc)
        assert len(mine) == len(reference), warc.name

        def strip_ours(line: str) -> str:
            key, ts, data = line.split(" ", 2)
            fields = json.loads(data)
            fields.pop("refersToUrl", None)
            fields.pop("refersToDate", None)
            return f"{key} {ts} {json.dumps(fields)}"

        assert [strip_ours(line) for line in mine] == reference, warc.name


def test_revisits_carry_their_refers_to_info(interop: Path) -> None:
    with open(interop / "dupes.warc.gz", "rb") as fh:
        revisits = [e for e in iter_warc_entries(fh, "dupes.warc.gz") if e.mime == "warc/revisit"]
    assert revisits
    first = next(e for e in revisits if e.url == "http://www.iana.org/")
    assert first.fields["refersToUrl"] == "http://www.iana.org/"
    assert first.fields["refersToDate"] == "20140126200624"
    assert first.status == 200


@pytest.fixture(scope="module")
def iana_lines(interop: Path) -> List[bytes]:
    with open(interop / "iana.warc.gz", "rb") as fh:
        return sort_lines(iter_warc_entries(fh, "iana.warc.gz"))


def _compressed(lines: List[bytes], block_lines: int) -> tuple:
    cdx, idx = io.BytesIO(), io.BytesIO()
    write_compressed_index(lines, cdx, idx, block_lines=block_lines)
    return cdx.getvalue(), idx.getvalue()


def test_compressed_index_finds_every_entry_reading_one_block(iana_lines: List[bytes]) -> None:
    cdx_bytes, idx_bytes = _compressed(iana_lines, 7)
    idx_text = idx_bytes.decode().splitlines()
    assert idx_text[0] == '!meta 0 {"format": "cdxj-gzip-1.0", "filename": "index.cdx.gz"}'
    assert len(idx_text) == 1 + -(-len(iana_lines) // 7)
    # every block is an independent gzip member whose digest the idx records
    first = json.loads(idx_text[1].split(" ", 2)[2])
    block = cdx_bytes[first["offset"]:first["offset"] + first["length"]]
    assert first["digest"] == "sha256:" + hashlib.sha256(block).hexdigest()
    assert gzip.decompress(block).splitlines(keepends=True) == iana_lines[:7]

    cdx = _Counting(cdx_bytes)
    reader = IndexReader.from_compressed(io.BytesIO(idx_bytes), cdx)
    assert cdx.bytes_read == 0  # start-up reads the idx only
    entries = [CdxjEntry.from_line(line.decode()) for line in iana_lines]
    for entry in entries:
        found = reader.lookup_key(entry.key)
        assert any(f.fields == entry.fields for f in found), entry.url
        assert all(f.key == entry.key for f in found)
    cdx.bytes_read = 0
    reader2 = IndexReader.from_compressed(io.BytesIO(idx_bytes), cdx)
    keys = [e.key for e in entries]
    unique = next(e for e in entries[len(entries) // 2:] if keys.count(e.key) == 1)
    assert len(reader2.lookup_key(unique.key)) == 1
    assert cdx.bytes_read <= 2 * max(json.loads(line.split(" ", 2)[2])["length"]
                                     for line in idx_text[1:])
    assert [e.to_line().encode() for e in reader] == iana_lines


def test_plain_cdxj_reader_binary_searches_in_place(iana_lines: List[bytes]) -> None:
    out = io.BytesIO()
    write_cdxj(iana_lines, out)
    reader = IndexReader.from_cdxj(io.BytesIO(out.getvalue()))
    entries = [CdxjEntry.from_line(line.decode()) for line in iana_lines]
    for entry in entries:
        assert any(f.fields == entry.fields for f in reader.lookup_key(entry.key)), entry.url
    assert [e.to_line().encode() for e in reader] == iana_lines
    assert reader.lookup("http://www.iana.org/not-captured") == []
    prefix = list(reader.iter_prefix("org,iana)/_css/"))
    assert prefix and all(e.key.startswith("org,iana)/_css/") for e in prefix)
    assert len(prefix) == sum(1 for e in entries if e.key.startswith("org,iana)/_css/"))


def test_reader_reads_pywb_style_plain_cdxj(interop: Path) -> None:
    text = "\n".join(_reference_lines(interop / "iana.warc.gz")) + "\n"
    reader = IndexReader.from_cdxj(io.BytesIO(text.encode()))
    home = reader.lookup("http://www.iana.org/")
    assert home and {e.mime for e in home} >= {"text/html"}
    assert reader.closest("http://www.iana.org/", "20140126200625").timestamp == "20140126200624"


def test_closest_prefers_nearest_then_earlier() -> None:
    entries = [CdxjEntry("k", ts, {}) for ts in ("20200101000000", "20200103000000")]
    assert closest_entry(entries, "20200102000000").timestamp == "20200101000000"
    assert closest_entry(entries, "20200102120000").timestamp == "20200103000000"
    assert closest_entry([], "2020") is None


@pytest.mark.parametrize("idx", [
    b'!meta 0 {}\ncom,x)/ 2020 {"offset": "zero", "length": 5}\n',
    b'com,x)/ 2020 {"offset": 0, "length": 999999999999}\n',
    b'com,x)/ 2020 not json\n',
    b'com,z)/ 2020 {"offset": 0, "length": 5}\ncom,a)/ 2020 {"offset": 5, "length": 5}\n',
])
def test_hostile_idx_is_refused(idx: bytes) -> None:
    with pytest.raises(InvalidBundle):
        IndexReader.from_compressed(io.BytesIO(idx), io.BytesIO(b""))


def test_tampered_or_bomb_block_is_refused() -> None:
    lines = [b'com,x)/ 20200101000000 {"url": "http://x.com/"}\n']
    cdx, idx = _compressed(lines, 1024)
    bad = bytearray(cdx)
    bad[-12] ^= 0xFF
    with pytest.raises(InvalidBundle, match="digest"):
        IndexReader.from_compressed(io.BytesIO(idx), io.BytesIO(bytes(bad))).lookup("http://x.com/")
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = comp.compress(b"a" * (200 * 1024 * 1024)) + comp.flush()
    bomb_idx = b'com,x)/ 2020 {"offset": 0, "length": %d}\n' % len(bomb)
    with pytest.raises(InvalidBundle, match="sane size"):
        IndexReader.from_compressed(io.BytesIO(bomb_idx), io.BytesIO(bomb)).lookup("http://x.com/")
    with pytest.raises(InvalidBundle, match="shorter"):
        IndexReader.from_compressed(io.BytesIO(idx), io.BytesIO(cdx[:10])).lookup("http://x.com/")


def _raw_record(url: str, body: bytes) -> bytes:
    http = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body
    record_id = hashlib.md5(url.encode()).hexdigest()
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:{record_id}>\r\n"
            f"WARC-Target-URI: {url}\r\nWARC-Date: 2020-01-02T03:04:05Z\r\n"
            f"Content-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {len(http)}\r\n\r\n").encode()
    return head + http + b"\r\n\r\n"


def test_missing_payload_digest_is_computed_and_content_still_readable(tmp_path: Path) -> None:
    body = "<title>无摘要</title><p>正文</p>".encode()
    warc = tmp_path / "nodigest.warc"
    warc.write_bytes(_raw_record("http://example.com/a", body) +
                     _raw_record("http://example.com/b", b"<p>b</p>"))
    seen = {}

    def on_record(record: Any, entry: CdxjEntry) -> None:
        seen[entry.url] = record.content_stream().read()

    with open(warc, "rb") as fh:
        mine = [line.decode().rstrip("\n") for line in
                sort_lines(iter_warc_entries(fh, warc.name, on_record))]
    assert seen["http://example.com/a"] == body
    assert mine == _reference_lines(warc)
