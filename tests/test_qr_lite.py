"""Lite editions and bundle → QR → bundle: real WARCs, real signed WACZ, py-wacz validate."""

from __future__ import annotations

import gzip
import io
import json
import random
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from mirrorkit.bundle.lite import create_lite_bundle
from mirrorkit.cli import main
from mirrorkit.errors import UsageError
from mirrorkit.trust import signing
from mirrorkit.trust.store import TrustStore
from mirrorkit.verify import verify_bundle

ARTICLE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/style.css"><script src="/app.js"></script></head>
<body><h1>{title}</h1><img src="/photo.jpg" alt="A photo of the square">
{body}<a href="/page2.html">next</a></body></html>"""


def _html(title: str, paragraphs: int, seed: int) -> bytes:
    rng = random.Random(seed)
    words = ["freedom", "press", "report", "city", "witness", "archive", "river", "night"]
    body = "".join("<p>" + " ".join(rng.choice(words) for _ in range(60)) + "</p>"
                   for _ in range(paragraphs))
    return ARTICLE.format(title=title, body=body).encode("utf-8")


def _jpeg() -> bytes:
    rng = random.Random(3)
    img = Image.frombytes("RGB", (160, 120), rng.randbytes(160 * 120 * 3))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def write_capture(folder: Path) -> Path:
    """A small but real capture: an article with CSS, JS, a photo, a font, two more pages."""
    folder.mkdir(parents=True, exist_ok=True)
    resources = [
        ("https://news.example.org/", "text/html; charset=utf-8", _html("Main article", 6, 1), 200),
        ("https://news.example.org/style.css", "text/css", b"body{font:16px serif}h1{color:#333}",
         200),
        ("https://news.example.org/app.js", "application/javascript", b"console.log(1);" * 200,
         200),
        ("https://news.example.org/photo.jpg", "image/jpeg", _jpeg(), 200),
        ("https://news.example.org/font.woff2", "font/woff2", random.Random(4).randbytes(9000),
         200),
        ("https://news.example.org/page2.html", "text/html", _html("Second page", 12, 2), 200),
        ("https://news.example.org/page3.html", "text/html", _html("Third page", 12, 3), 200),
        ("https://news.example.org/old", "text/html", b"", 301),
    ]
    path = folder / "news-20240101000000-00000.warc.gz"
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True, warc_version="WARC/1.1")
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test"}))
        for i, (url, mime, body, status) in enumerate(resources):
            date = f"2024-01-01T00:00:{i:02d}Z"
            reason = "OK" if status == 200 else "Moved Permanently"
            headers = [("Content-Type", mime), ("Content-Length", str(len(body)))]
            if status == 301:
                headers.append(("Location", "https://news.example.org/"))
            http = StatusAndHeaders(f"{status} {reason}", headers, protocol="HTTP/1.1")
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                               http_headers=http,
                                               warc_headers_dict={"WARC-Date": date})
            writer.write_record(record)
    return folder


@pytest.fixture
def publisher(tmp_path: Path) -> signing.SigningKey:
    return signing.generate_key("Lantern Reports")


def test_lite_keeps_html_and_css_only_and_verifies(tmp_path: Path,
                                                   publisher: signing.SigningKey) -> None:
    capture = write_capture(tmp_path / "cap")
    full = tmp_path / "full.wacz"
    from mirrorkit.bundle import create_bundle

    create_bundle([capture], full, key=publisher)
    result = create_lite_bundle([capture], tmp_path / "lite.wacz", key=publisher)
    assert result.size < full.stat().st_size / 2
    assert result.kept == {"page": 3, "style": 1, "redirect": 1}
    assert result.dropped == {"application": 1, "image": 1, "font": 1}
    TrustStore().add(publisher.fingerprint, publisher.name)
    report = verify_bundle(result.path, deep=True)
    assert report.trusted
    with zipfile.ZipFile(result.path) as zf:
        index = "\n".join(zf.read(n).decode() for n in zf.namelist() if n.endswith(".cdxj"))
    assert "photo.jpg" not in index and "style.css" in index and "page3.html" in index


def test_lite_max_bytes_drops_later_pages_first(tmp_path: Path,
                                                publisher: signing.SigningKey) -> None:
    capture = write_capture(tmp_path / "cap")
    everything = create_lite_bundle([capture], tmp_path / "all.wacz", key=publisher)
    limit = everything.size - 1200
    result = create_lite_bundle([capture], tmp_path / "small.wacz", key=publisher,
                                max_bytes=limit)
    assert result.size <= limit
    assert "https://news.example.org/" not in result.dropped_pages
    assert result.dropped_pages  # something had to go
    with zipfile.ZipFile(result.path) as zf:
        # the rebuilds reused one sequence number: 1 went to all.wacz, 2 to this one
        assert json.loads(zf.read("datapackage.json"))["mirrorkit"]["sequence"] == 2
    verify_bundle(result.path, remember=False)
    with pytest.raises(UsageError, match="smallest lite edition"):
        create_lite_bundle([capture], tmp_path / "tiny.wacz", key=publisher, max_bytes=2500)
    assert not (tmp_path / "tiny.wacz").exists()


@pytest.mark.interop
def test_lite_bundle_passes_py_wacz_validate(tmp_path: Path,
                                             publisher: signing.SigningKey) -> None:
    capture = write_capture(tmp_path / "cap")
    lite = create_lite_bundle([capture], tmp_path / "lite.wacz", key=publisher).path
    wacz = Path(sys.executable).parent / "wacz"
    if not wacz.exists():
        pytest.skip("py-wacz is not installed")
    done = subprocess.run([str(wacz), "validate", "-f", str(lite)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_bundle_through_qr_drop_shuffle_jpeg_verify(tmp_path: Path,
                                                    publisher: signing.SigningKey,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    capture = write_capture(tmp_path / "cap")
    lite = create_lite_bundle([capture], tmp_path / "report.wacz", key=publisher).path
    qr = tmp_path / "qr"
    assert main(["qr", "encode", str(lite), "-o", str(qr), "--extra", "60", "--json"]) == 0
    encoded = json.loads(capsys.readouterr().out)
    assert encoded["fingerprint"] == publisher.fingerprint
    assert publisher.fingerprint in (qr / "sheet.html").read_text("utf-8")
    frames = sorted(qr.glob("frame-*.png"))
    rng = random.Random(9)
    keep = rng.sample(frames, int(len(frames) * 0.7))
    rng.shuffle(keep)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, frame in enumerate(keep):
        img = Image.open(frame).convert("RGB").rotate(5, expand=True, fillcolor="white",
                                                      resample=Image.BICUBIC)
        img.save(photos / f"IMG_{i:04d}.jpg", quality=50)
    out = tmp_path / "received.wacz"
    # Not yet trusted: intact and rebuilt, but exit 3 as `verify` would.
    assert main(["qr", "decode", str(photos), "-o", str(out)]) == 3
    assert out.read_bytes() == lite.read_bytes()
    TrustStore().add(publisher.fingerprint, publisher.name)
    out.unlink()
    capsys.readouterr()
    assert main(["qr", "decode", str(photos), "-o", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["files"][0]["verification"]["status"] == "trusted"
    assert out.read_bytes() == lite.read_bytes()


def test_tampered_bundle_is_rebuilt_but_never_trusted(tmp_path: Path,
                                                      publisher: signing.SigningKey) -> None:
    capture = write_capture(tmp_path / "cap")
    lite = create_lite_bundle([capture], tmp_path / "report.wacz", key=publisher).path
    TrustStore().add(publisher.fingerprint, publisher.name)
    tampered = tmp_path / "tampered.wacz"
    shutil.copy(lite, tampered)
    with zipfile.ZipFile(tampered) as zf:
        info = next(i for i in zf.infolist() if i.filename.startswith("archive/"))
    data = bytearray(tampered.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0x01  # one bit inside a stored WARC record
    tampered.write_bytes(bytes(data))
    qr = tmp_path / "qr"
    assert main(["qr", "encode", str(tampered), "-o", str(qr), "--quiet"]) == 0
    assert "NOT VERIFIED" in (qr / "sheet.html").read_text("utf-8")
    out = tmp_path / "received.wacz"
    assert main(["qr", "decode", str(qr), "-o", str(out)]) == 1


def test_trust_card_then_verify_exits_0(tmp_path: Path, publisher: signing.SigningKey) -> None:
    lite = create_lite_bundle([write_capture(tmp_path / "cap")], tmp_path / "r.wacz",
                              key=publisher).path
    assert main(["verify", str(lite)]) == 3  # intact, signer unknown
    pub = signing.write_public_key(publisher, tmp_path / "lantern.pub")
    card_png = tmp_path / "card.png"
    assert main(["qr", "key", "--pub", str(pub), "-o", str(card_png)]) == 0
    assert main(["trust", "add", str(card_png), "--yes"]) == 0
    assert main(["verify", str(lite)]) == 0


def test_bundle_cli_lite(tmp_path: Path, publisher: signing.SigningKey) -> None:
    capture = write_capture(tmp_path / "cap")
    key = signing.save_private_key(publisher, tmp_path / "k.key", None)
    out = tmp_path / "lite.wacz"
    base = ["bundle", str(capture), "--key", str(key), "-o", str(out)]
    assert main([*base, "--max-bytes", "50000"]) == 2  # needs --lite
    assert main([*base, "--lite", "--max-bytes", "12000"]) == 0
    assert out.stat().st_size <= 12000
    assert main([*base, "--lite", "--max-bytes", "2100"]) == 2
    assert out.stat().st_size <= 12000  # the earlier bundle is left as it was


def test_lite_records_are_the_captured_bytes_at_the_best_compression(
    tmp_path: Path, publisher: signing.SigningKey
) -> None:
    from mirrorkit.capture.warcwriter import member_ends
    from mirrorkit.formats.wacz import WaczReader

    capture = write_capture(tmp_path / "cap")
    original = {}
    for warc in capture.glob("*.warc.gz"):
        data, start, fast = warc.read_bytes(), 0, b""
        for end in member_ends(warc):
            record = gzip.decompress(data[start:end])
            original[record.split(b"WARC-Record-ID: ", 1)[1][:47]] = record
            fast += gzip.compress(record, compresslevel=1, mtime=0)  # as a fast crawler writes
            start = end
        warc.write_bytes(fast)
    result = create_lite_bundle([capture], tmp_path / "lite.wacz", key=publisher)
    with WaczReader(result.path) as reader:
        entries = list(reader.index)
        assert entries
        for entry in entries:
            member = reader.read_entry(entry)
            assert member[8] == 2, entry.url  # gzip XFL 2: the slowest, best compression
            record = gzip.decompress(member)
            assert original[record.split(b"WARC-Record-ID: ", 1)[1][:47]] == record
