"""Writing bundles from real captures and foreign WARCs, and reading them back safely.

Interop with other tools (py-wacz, pywb, ReplayWeb.page) is in test_wacz_interop.py.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Dict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirrorkit.bundle import create_bundle
from mirrorkit.cli import main
from mirrorkit.errors import InvalidBundle, MirrorkitError, UsageError
from mirrorkit.formats.wacz import WaczReader
from mirrorkit.trust import signeddata, signing


@pytest.fixture(scope="module")
def key() -> signing.SigningKey:
    return signing.generate_key("Lantern Rights Watch")


@pytest.fixture(scope="module")
def capture_dir(sample_site: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real capture of the bilingual sample site (WARC + pages.jsonl)."""
    from mirrorkit.capture import CaptureOptions, capture, check_seed

    out = tmp_path_factory.mktemp("capture") / "site"
    capture(CaptureOptions(seeds=[check_seed(sample_site.url)], out_dir=out, backoff=0.01))
    return out


@pytest.fixture(scope="module")
def site_bundle(capture_dir: Path, key: signing.SigningKey,
                tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "site.wacz"
    return create_bundle([capture_dir], out, key=key, title="Lantern archive",
                         description="Test capture", text=True)


def _pages(reader: WaczReader) -> Dict[str, Dict[str, Any]]:
    return {p["url"]: p for p in reader.pages()}


def test_bundle_layout_manifest_and_signature(site_bundle: Path, key: signing.SigningKey) -> None:
    with zipfile.ZipFile(site_bundle) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        names = list(infos)
        assert names[-2:] == ["datapackage.json", "datapackage-digest.json"]
        warcs = [n for n in names if n.startswith("archive/")]
        assert warcs and all(infos[n].compress_type == zipfile.ZIP_STORED for n in warcs)
        package_bytes = zf.read("datapackage.json")
        digest = json.loads(zf.read("datapackage-digest.json"))
        package = json.loads(package_bytes)
        listed = {r["path"]: r for r in package["resources"]}
        assert set(listed) == set(names) - {"datapackage.json", "datapackage-digest.json"}
        for path, resource in listed.items():
            data = zf.read(path)
            assert resource["bytes"] == len(data)
            assert resource["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert package["profile"] == "data-package" and package["wacz_version"] == "1.1.1"
    assert package["title"] == "Lantern archive" and package["description"] == "Test capture"
    assert package["created"] == package["modified"] == digest["signedData"]["created"]
    assert package["mainPageUrl"].endswith("/") and package["mainPageDate"].endswith("Z")
    assert package["mirrorkit"] == {"publisher": "Lantern Rights Watch",
                                    "fingerprint": key.fingerprint, "collection": "lantern-archive",
                                    "sequence": 1, "format": 1}
    assert digest["hash"] == "sha256:" + hashlib.sha256(package_bytes).hexdigest()
    assert set(digest["signedData"]) == {"hash", "created", "software", "signature", "publicKey"}
    signer = signeddata.verify_signed_data(digest["signedData"])
    assert signer.fingerprint == key.fingerprint


def test_every_record_matches_its_record_digest(site_bundle: Path) -> None:
    with WaczReader(site_bundle) as reader:
        entries = list(reader.index)
        assert len(entries) > 20
        for entry in entries:
            data = reader.read_entry(entry)
            assert entry.record_digest == "sha256:" + hashlib.sha256(data).hexdigest()
            record = reader.parse_record(data)
            assert record.rec_headers.get_header("WARC-Target-URI") == entry.url
        revisits = [e for e in entries if e.mime == "warc/revisit"]
        for revisit in revisits:
            assert reader.find_original(revisit) is not None


def test_pages_with_text_chinese_and_legacy_charsets(site_bundle: Path) -> None:
    with WaczReader(site_bundle) as reader:
        with reader.open_member("pages/pages.jsonl") as fh:
            header = json.loads(fh.readline())
        pages = _pages(reader)
    assert header == {"format": "json-pages-1.0", "id": "pages", "title": "Lantern archive",
                      "hasText": True}
    assert len(pages) >= 10
    zh = next(p for url, p in pages.items() if url.endswith("/zh/"))
    assert "灯笼人权观察" in zh["title"] and "清洁饮用水" in zh["text"]
    gbk = next(p for url, p in pages.items() if url.endswith("/news/gbk.html"))
    assert "村民" in gbk["text"]  # GBK declared only in the HTTP header
    home = next(p for url, p in pages.items() if url.endswith("/"))
    assert "<" not in home["text"] and "function(" not in home["text"]
    assert all(set(p) <= {"id", "url", "ts", "title", "text"} for p in pages.values())


def test_sequence_grows_per_collection_and_can_be_set(capture_dir: Path, key: Any,
                                                      tmp_path: Path,
                                                      mirrorkit_home: Path) -> None:
    def seq(out: Path) -> int:
        with WaczReader(out) as reader:
            return int(reader.datapackage["mirrorkit"]["sequence"])

    a = create_bundle([capture_dir], tmp_path / "a.wacz", key=key, collection="reports")
    b = create_bundle([capture_dir], tmp_path / "b.wacz", key=key, collection="reports")
    c = create_bundle([capture_dir], tmp_path / "c.wacz", key=key, collection="other")
    d = create_bundle([capture_dir], tmp_path / "d.wacz", key=key, collection="reports",
                      sequence=10)
    e = create_bundle([capture_dir], tmp_path / "e.wacz", key=key, collection="reports")
    assert [seq(a), seq(b), seq(c), seq(d), seq(e)] == [1, 2, 1, 10, 11]
    assert (mirrorkit_home / "sequences.json").is_file()
    with pytest.raises(UsageError):
        create_bundle([capture_dir], tmp_path / "f.wacz", key=key, collection="../evil")


def test_crash_leaves_no_half_bundle(capture_dir: Path, key: Any, tmp_path: Path) -> None:
    out = tmp_path / "out.wacz"
    previous = io.BytesIO()
    with zipfile.ZipFile(previous, "w") as zf:  # an earlier bundle: the only thing -o replaces
        zf.writestr("datapackage.json", b"{}")
    out.write_bytes(previous.getvalue())

    class Exploding:
        name, fingerprint = key.name, key.fingerprint

        def sign_datapackage(self, data: bytes, created: str) -> Dict[str, str]:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        create_bundle([capture_dir], out, key=Exploding())
    assert out.read_bytes() == previous.getvalue()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wacz"]


def test_uncompressed_and_whole_gzip_warcs_are_rechunked(interop: Path, key: Any,
                                                         tmp_path: Path) -> None:
    raw = gzip.decompress((interop / "example.warc.gz").read_bytes())
    (tmp_path / "plain.warc").write_bytes(raw)
    (tmp_path / "whole.warc.gz").write_bytes(gzip.compress(raw))
    for name in ("plain.warc", "whole.warc.gz"):
        out = create_bundle([tmp_path / name], tmp_path / f"{name}.wacz", key=key)
        with WaczReader(out) as reader:
            assert reader.warc_names == [name if name.endswith(".gz") else name + ".gz"]
            entries = list(reader.index)
            assert len(entries) == 3
            for entry in entries:
                data = reader.read_entry(entry)
                assert gzip.decompress(data).startswith(b"WARC/1.0")  # one member per record
                assert reader.parse_record(data).rec_type in ("response", "revisit", "metadata",
                                                              "resource")


def test_revisit_without_its_original_is_refused(interop: Path, key: Any, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not in the captures given"):
        create_bundle([interop / "dupes.warc.gz"], tmp_path / "x.wacz", key=key)
    out = create_bundle([interop / "dupes.warc.gz", interop / "iana.warc.gz"],
                        tmp_path / "y.wacz", key=key)
    with WaczReader(out) as reader:
        revisit = next(e for e in reader.index.lookup("http://www.iana.org/")
                       if e.filename == "dupes.warc.gz" and e.mime == "warc/revisit")
        original = reader.find_original(revisit)
        assert original is not None and original.filename == "iana.warc.gz"


def test_compressed_index_in_the_bundle(interop: Path, key: Any, tmp_path: Path) -> None:
    out = create_bundle([interop / "iana.warc.gz"], tmp_path / "c.wacz", key=key,
                        index_format="compressed")
    with WaczReader(out) as reader:
        assert reader.info("indexes/index.cdx.gz").compress_type == zipfile.ZIP_STORED
        assert reader.index.block_count == 1
        assert len(reader.index.lookup("http://www.iana.org/_css/2013.1/screen.css")) >= 2
        assert sum(1 for _ in reader.index) == 171


def test_record_filter_drops_records_from_warc_and_index(interop: Path, key: Any,
                                                         tmp_path: Path) -> None:
    out = create_bundle([interop / "iana.warc.gz"], tmp_path / "f.wacz", key=key,
                        record_filter=lambda e: e.mime in ("text/html", "text/css"))
    with WaczReader(out) as reader:
        entries = list(reader.index)
        assert entries and {e.mime for e in entries} == {"text/html", "text/css"}
        assert reader.member_span("archive/iana.warc.gz")[1] < (interop / "iana.warc.gz") \
            .stat().st_size / 2
        for entry in entries:
            data = reader.read_entry(entry)
            assert entry.record_digest == "sha256:" + hashlib.sha256(data).hexdigest()


# -- reading hostile ZIPs ------------------------------------------------------------------------


def _zip(members: Any, compress: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compress)
    return buf.getvalue()


@pytest.mark.parametrize("members, compress, message", [
    ([("/etc/passwd", b"x")], zipfile.ZIP_STORED, "unsafe"),
    ([("archive/../../x", b"x")], zipfile.ZIP_STORED, "unsafe"),
    ([("C:/x", b"x")], zipfile.ZIP_STORED, "unsafe"),
    ([("a\\b", b"x")], zipfile.ZIP_STORED, "unsafe"),
    ([("datapackage.json", b"{}"), ("datapackage.json", b"{}")], zipfile.ZIP_STORED, "twice"),
    ([("archive/a.warc.gz", b"x" * 100)], zipfile.ZIP_DEFLATED, "STORED"),
])
def test_reader_refuses_unsafe_zips(members: Any, compress: int, message: str) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate we make on purpose
        data = _zip(members, compress)
    with pytest.raises(InvalidBundle, match=message):
        WaczReader(io.BytesIO(data))


def test_reader_refuses_truncated_and_non_zip(site_bundle: Path, tmp_path: Path) -> None:
    data = site_bundle.read_bytes()
    for broken in (data[: len(data) // 2], data[:-30], b"not a zip at all", b""):
        with pytest.raises(InvalidBundle):
            WaczReader(io.BytesIO(broken))
    with pytest.raises(UsageError):
        WaczReader(tmp_path / "missing.wacz")


def test_reader_refuses_out_of_range_records(site_bundle: Path) -> None:
    with WaczReader(site_bundle) as reader:
        name = reader.warc_names[0]
        size = reader.member_span("archive/" + name)[1]
        for args in ((name, size - 10, 100), (name, -1, 10), ("../" + name, 0, 10),
                     ("other.warc.gz", 0, 10), (name, 0, 0)):
            with pytest.raises(InvalidBundle):
                reader.read_record(*args)


@pytest.fixture(scope="module")
def small_bundle(interop: Path, key: Any, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("small") / "small.wacz"
    return create_bundle([interop / "example.warc.gz"], out, key=key).read_bytes()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_mutated_bundles_give_only_clean_errors(small_bundle: bytes, data: Any) -> None:
    blob = bytearray(small_bundle)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        blob[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        blob = blob[: data.draw(st.integers(0, len(blob)))]
    try:
        with WaczReader(io.BytesIO(bytes(blob))) as reader:
            reader.datapackage  # noqa: B018 - reading is the test
            reader.digest  # noqa: B018
            list(reader.pages())
            for entry in reader.index:
                reader.parse_record(reader.read_entry(entry))
    except MirrorkitError:
        pass


# -- the command ---------------------------------------------------------------------------------


@pytest.fixture()
def key_file(key: signing.SigningKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = signing.save_private_key(key, tmp_path / "key.pem", "correct horse")
    monkeypatch.setenv("MIRRORKIT_PASSPHRASE", "correct horse")
    return path


def test_cli_bundle_json(capture_dir: Path, key_file: Path, tmp_path: Path,
                         capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cli.wacz"
    code = main(["bundle", str(capture_dir), "--key", str(key_file), "-o", str(out),
                 "--title", "CLI test", "--collection", "cli", "--text", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["path"] == str(out) and result["bytes"] == out.stat().st_size
    assert result["mirrorkit"]["collection"] == "cli" and result["mirrorkit"]["sequence"] == 1
    assert result["records"] > 20 and result["pages"] >= 10
    code = main(["bundle", str(capture_dir), "--key", str(key_file), "-o", str(out)])
    assert code == 0
    assert "sequence 1" in capsys.readouterr().out  # collection derived from the title now


def test_cli_bundle_errors(capture_dir: Path, key_file: Path, tmp_path: Path, interop: Path,
                           monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    out = str(tmp_path / "x.wacz")
    assert main(["bundle", str(tmp_path / "nope"), "--key", str(key_file), "-o", out]) == 2
    assert "no such capture" in capsys.readouterr().err
    assert main(["bundle", str(capture_dir), "-o", out]) == 2  # --key missing
    assert main(["bundle", str(interop / "dupes.warc.gz"), "--key", str(key_file),
                 "-o", out]) == 2
    assert "not in the captures given" in capsys.readouterr().err
    assert main(["bundle", str(capture_dir), "--key", str(key_file), "-o",
                 str(tmp_path / "no-dir" / "x.wacz")]) == 2
    not_warc = tmp_path / "fake.warc.gz"
    not_warc.write_bytes(gzip.compress(b"hello, not a WARC\r\n\r\n"))
    assert main(["bundle", str(not_warc), "--key", str(key_file), "-o", out]) == 1
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
    monkeypatch.setenv("MIRRORKIT_PASSPHRASE", "wrong")
    assert main(["bundle", str(capture_dir), "--key", str(key_file), "-o", out]) == 1
    assert "wrong passphrase" in capsys.readouterr().err
    monkeypatch.delenv("MIRRORKIT_PASSPHRASE")  # and no terminal to ask on
    assert main(["bundle", str(capture_dir), "--key", str(key_file), "-o", out]) == 1
    assert "MIRRORKIT_PASSPHRASE" in capsys.readouterr().err
    assert not os.path.exists(out)
