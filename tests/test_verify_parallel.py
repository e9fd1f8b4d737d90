"""The deep pass on worker processes (verify/parallel.py, verify/worker.py): real workers, real
bundles cut into many pieces, and the same result as the single pass in every case, including a
cut guessed inside a record and a damaged record."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Dict

import pytest
from hypothesis import given
from hypothesis import strategies as st
from signed_bundle import build_bundle, flip_warc_byte
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from mirrorkit.formats.warcdigest import spells
from mirrorkit.formats.zipcheck import BundleZip, FileWindow, open_bundle_zip, open_nested
from mirrorkit.trust.signing import generate_key
from mirrorkit.verify import parallel, verify_bundle, worker
from mirrorkit.verify.deep import scan_warcs
from mirrorkit.verify.scan import ScannedWarc


@pytest.fixture
def tiny_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut even a small bundle into pieces (the planning runs here, in the test's process)."""
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 0)
    monkeypatch.setattr(parallel, "MIN_PIECE", 1)


def _both(path: Path) -> Dict[str, Any]:
    bundle = open_bundle_zip(str(path))
    try:
        pooled = scan_warcs(bundle, jobs=2)
        single = scan_warcs(bundle, jobs=1)
    finally:
        bundle.close()
    assert list(pooled) == list(single)
    for name in single:
        assert pooled[name] == single[name], name
    return pooled


def _pool_results(path: Path) -> Dict[Any, Any]:
    bundle = open_bundle_zip(str(path))
    try:
        members = [m for n, m in sorted(bundle.members.items()) if n.startswith("archive/")]
        where = parallel._on_disk(bundle.fh)
        assert where is not None
        plan: Dict[str, int] = {}
        found = parallel._run_pool(bundle, members, None, 2, where, plan)
    finally:
        bundle.close()
    assert found is not None and sum(plan.values()) > len(plan), "the WARCs were not cut"
    return found


@pytest.mark.parametrize("which", ["sample", "starling-good-anon-sig.wacz",
                                   "pywacz-valid-domain-sig.wacz"])
def test_pieces_on_workers_join_to_the_single_pass(which: str, sample_bundle: Any,
                                                   interop: Path, tiny_pieces: None) -> None:
    path = sample_bundle.path if which == "sample" else interop / which
    found = _pool_results(path)
    # Every piece proved its cut and every file digest came back: nothing fell back.
    assert all(result is not None for result in found.values())
    scanned = _both(path)
    assert sum(len(w.records) for w in scanned.values()) > 0


def _gz_record(url: str, body: bytes, level: int) -> bytes:
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=False)
    http = StatusAndHeaders("200 OK", [("Content-Type", "application/octet-stream")],
                            protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                  http_headers=http))
    return gzip.compress(buf.getvalue(), compresslevel=level, mtime=0)


def test_a_cut_guessed_inside_a_record_falls_back(tmp_path: Path, tiny_pieces: None) -> None:
    # An archived .warc.gz, stored (level 0): its gzip header and "WARC/" lie in plain sight
    # inside the outer record, where a cut must not be taken for a record boundary.
    inner = _gz_record("https://inner.example/", b"inner body", 9)
    outer = _gz_record("https://archive.example/old.warc.gz",
                       b"x" * 50_000 + inner + b"y" * 1_000, 0)
    first = _gz_record("https://site.example/", b"<p>hello</p>" * 50, 9)
    last = _gz_record("https://site.example/end", b"<p>bye</p>" * 50, 9)
    warc = tmp_path / "nested.warc.gz"
    warc.write_bytes(first + outer + last)
    path = build_bundle(tmp_path / "nested.wacz", [warc], generate_key("Tests"))
    bundle = open_bundle_zip(str(path))
    try:
        member = bundle.members["archive/nested.warc.gz"]
        false_start = len(first) + outer.index(inner)
        assert parallel._member_start(bundle.fh, member, len(first) + 1) == false_start
        assert false_start in parallel._cuts(bundle.fh, member, 16)
    finally:
        bundle.close()
    found = _pool_results(path)
    assert None in found.values(), "the piece ending inside the record must not prove its cut"
    scanned = _both(path)
    urls = [r.url for r in scanned["archive/nested.warc.gz"].records]
    assert urls == ["https://site.example/", "https://archive.example/old.warc.gz",
                    "https://site.example/end"]
    assert verify_bundle(path, deep=True, remember=False).ok


def test_a_damaged_record_reads_the_same_on_workers(sample_bundle: Any, tmp_path: Path,
                                                    tiny_pieces: None) -> None:
    copy = tmp_path / "damaged.wacz"
    flip_warc_byte(sample_bundle.path, copy)
    scanned: Dict[str, ScannedWarc] = _both(copy)
    assert any(warc.problems for warc in scanned.values())


def test_no_workers_for_a_bundle_that_is_not_a_file(sample_bundle: Any) -> None:
    data = Path(sample_bundle.path).read_bytes()
    assert parallel._on_disk(io.BytesIO(data)) is None
    with open(sample_bundle.path, "rb") as fh:
        where = parallel._on_disk(FileWindow(FileWindow(fh, 10, len(data)), 5, 100))
        assert where is not None and where[0] == os.path.abspath(sample_bundle.path)
        assert where[2] == 15  # a nested bundle: offsets add up to the real file's


def test_a_bundle_inside_a_package_is_cut_at_its_own_offsets(sample_bundle: Any, tmp_path: Path,
                                                            tiny_pieces: None) -> None:
    package = tmp_path / "package.wacz"
    with zipfile.ZipFile(package, "w") as zf:
        zf.writestr("notes.txt", b"before the part, so the part starts further in" * 100)
        zf.write(sample_bundle.path, "part.wacz", zipfile.ZIP_STORED)
    outer = open_bundle_zip(str(package))
    try:
        nested = open_nested(outer, outer.members["part.wacz"])
        members = [m for n, m in sorted(nested.members.items()) if n.startswith("archive/")]
        where = parallel._on_disk(nested.fh)
        assert where is not None and where[2] == outer.members["part.wacz"].data_start
        found = parallel._run_pool(nested, members, None, 2, where, {})
        assert found and all(result is not None for result in found.values())
        assert scan_warcs(nested, jobs=2) == scan_warcs(nested, jobs=1)
    finally:
        outer.close()


def test_a_worker_that_cannot_read_sends_the_member_back(sample_bundle: Any,
                                                         tiny_pieces: None) -> None:
    bundle: BundleZip = open_bundle_zip(str(sample_bundle.path))
    try:
        members = [m for n, m in sorted(bundle.members.items()) if n.startswith("archive/")]
        where = parallel._on_disk(bundle.fh)
        assert where is not None
        stale = (where[0], (0, 0, 0, 0), where[2])  # not the file's identity any more
        found = parallel._run_pool(bundle, members, None, 2, stale, {})
    finally:
        bundle.close()
    assert found is not None and set(found.values()) == {None}


def test_a_worker_that_dies_leaves_its_work_to_the_others(sample_bundle: Any, tiny_pieces: None,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # A real process that exits at once, as a worker killed by the OOM killer would look.
    def dying_worker() -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-c", "pass"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)

    monkeypatch.setattr(parallel, "_start_worker", dying_worker)
    bundle = open_bundle_zip(str(sample_bundle.path))
    try:
        members = [m for n, m in sorted(bundle.members.items()) if n.startswith("archive/")]
        where = parallel._on_disk(bundle.fh)
        assert where is not None
        found = parallel._run_pool(bundle, members, None, 3, where, {})
    finally:
        bundle.close()
    # At most one job per dead worker is lost; this process did everything else.
    assert sum(result is None for result in found.values()) <= 2
    assert sum(result is not None for result in found.values()) >= len(found) - 2
    _both(sample_bundle.path)


def test_mapped_windows_read_what_plain_reads_do(sample_bundle: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker._Mapped, "WINDOW", 4096)  # many windows, reads across them
    bundle = open_bundle_zip(str(sample_bundle.path))
    try:
        where = parallel._on_disk(bundle.fh)
        member = next(m for n, m in sorted(bundle.members.items()) if n.startswith("archive/"))
    finally:
        bundle.close()
    assert where is not None
    base = {"path": where[0], "identity": where[1], "name": member.name}
    for job in (dict(base, kind="digest", start=member.data_start, end=member.data_end),
                dict(base, kind="piece", base=member.data_start, lo=0,
                     hi=member.data_end - member.data_start)):
        mapped = worker.run_job(job, mapped=True)
        assert mapped is not None and mapped == worker.run_job(job, mapped=False)


@given(st.binary(max_size=64), st.sampled_from(["sha1", "sha256", "sha512", "md5"]))
def test_spells_reads_base32_and_hex_as_base64_writes_them(data: bytes, algo: str) -> None:
    raw = hashlib.new(algo, data).digest()
    other = hashlib.new(algo, data + b"!").digest()
    b32 = base64.b32encode(raw).decode("ascii")
    for form in (b32, b32.lower(), b32.rstrip("="), raw.hex(), raw.hex().upper()):
        assert spells(form, raw)
        assert not spells(form, other)
    assert not spells(b32.replace("A", "8").replace("B", "9"), raw) or "A" not in b32 \
        and "B" not in b32
    assert not spells(b32.rstrip("=") + "A", raw)
    assert not spells("", raw)
