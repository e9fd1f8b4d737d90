"""The deep pass's single read (verify/scan.py) against the warcio-based reading it replaces:
the same records, offsets, lengths, record hashes, file hash and problems, on real bundles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from signed_bundle import flip_warc_byte

from mirrorkit.formats.zipcheck import open_bundle_zip
from mirrorkit.verify import scan


def _compare(path: Path) -> int:
    bundle = open_bundle_zip(str(path))
    compared = 0
    try:
        for name, member in sorted(bundle.members.items()):
            if not name.startswith("archive/"):
                continue
            fast = scan._fast(bundle, member, None)  # raises _NotSimple if it cannot
            slow = scan._with_warcio(bundle, member, None)
            assert fast.file_digest == slow.file_digest
            assert fast.records == slow.records
            assert fast.hashes == slow.hashes
            assert fast.problems == slow.problems
            compared += len(fast.records)
    finally:
        bundle.close()
    return compared


@pytest.mark.parametrize("which", ["sample", "starling-good-anon-sig.wacz",
                                   "pywacz-valid-domain-sig.wacz"])
def test_single_pass_matches_warcio(which: str, sample_bundle: Any, interop: Path) -> None:
    path = sample_bundle.path if which == "sample" else interop / which
    assert _compare(path) > 0


def test_single_pass_names_the_damaged_record(sample_bundle: Any, tmp_path: Path) -> None:
    copy = tmp_path / "damaged.wacz"
    name = flip_warc_byte(sample_bundle.path, copy)
    bundle = open_bundle_zip(str(copy))
    try:
        result = scan.scan_warc(bundle, bundle.members[name])
    finally:
        bundle.close()
    assert result.problems, "a flipped byte must be reported"
    assert all(p["file"] == name.split("/", 1)[1] for p in result.problems)


def test_a_member_that_is_not_one_warc_record_goes_to_warcio() -> None:
    parser = scan._Parser()
    with pytest.raises(scan._NotSimple):
        parser.feed(b"HTTP/1.1 200 OK\r\n\r\n")  # not a WARC head
    parser = scan._Parser()
    parser.feed(b"WARC/1.1\r\nWARC-Type: resource\r\nContent-Length: 2\r\n\r\nab\r\n\r\n")
    assert parser.complete()
    with pytest.raises(scan._NotSimple):
        parser.feed(b"WARC/1.1\r\n")  # a second record in the same gzip member
