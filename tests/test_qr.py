"""QR transfers end to end: frames on disk, real zxing-cpp decoding, lossy photos, mixes."""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageFilter

from mirrorkit.cli import main
from mirrorkit.errors import QRError
from mirrorkit.qr import render, transfer
from mirrorkit.qr.decode import decode_inputs, read_texts
from mirrorkit.qr.encode import encode_file


def _frames(folder: Path) -> list[Path]:
    return sorted(folder.glob("frame-*.png"))


def _encode(src: Path, out: Path, *extra: str) -> list[Path]:
    assert main(["qr", "encode", str(src), "-o", str(out), "--quiet", *extra]) == 0
    return _frames(out)


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    path = tmp_path / "notes.bin"
    path.write_bytes(random.Random(7).randbytes(6000))
    return path


# --- format ----------------------------------------------------------------------------------


def test_frame_fills_the_code_and_is_alphanumeric() -> None:
    capacity = render.alnum_capacity(20, "M")
    size = transfer.max_symbol_size(capacity)
    enc = transfer.encode_bytes(b"x" * 5000, "x.bin", size, 0)
    assert all(len(t) <= capacity for t in enc.frames)
    assert max(len(t) for t in enc.frames) > capacity - 12  # no more than a few characters spare
    assert all(re.fullmatch(r"MK:[0-9A-Z $%*+\-./:]+", t) for t in enc.frames)
    assert size / render.byte_capacity(20, "M") >= 0.9


def test_any_k_of_the_packets_rebuild_the_file() -> None:
    data = random.Random(1).randbytes(20_000)
    enc = transfer.encode_bytes(data, "a.bin", 256, 60)
    rng = random.Random(2)
    for _ in range(5):
        subset = rng.sample(enc.frames, enc.needed + 2)
        collector = transfer.Collector()
        for text in subset:
            collector.add(transfer.parse_frame(text))
        (key,) = [row[:3] for row in collector.transfers()]
        manifest, out = transfer.unpack_object(collector.try_decode(key) or b"")
        assert out == data and manifest.name == "a.bin"
        assert manifest.sha256 == hashlib.sha256(data).digest()


def test_too_few_packets_rebuild_nothing() -> None:
    enc = transfer.encode_bytes(b"y" * 3000, "y", 256, 50)
    collector = transfer.Collector()
    for text in enc.frames[: enc.needed - 1]:
        collector.add(transfer.parse_frame(text))
    assert collector.try_decode(collector.transfers()[0][:3]) is None


def test_damaged_frame_text_fails_its_crc() -> None:
    text = transfer.encode_bytes(b"z" * 900, "z", 256, 0).frames[0]
    i = len(text) // 2
    damaged = text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1 :]
    with pytest.raises(QRError, match="CRC|Base45|larger"):
        transfer.parse_frame(damaged)
    with pytest.raises(QRError, match="not a mirrorkit"):
        transfer.parse_frame("HELLO")


def test_forged_frame_with_valid_crc_is_caught_by_the_sha256() -> None:
    data = random.Random(3).randbytes(2000)
    enc = transfer.encode_bytes(data, "f", 256, 0)
    frames = [transfer.parse_frame(t) for t in enc.frames]
    bad = frames[1]
    forged = bytearray(bad.packet)
    forged[10] ^= 0xFF  # a recomputed CRC makes this frame look fine on its own
    frames[1] = transfer.Frame(bad.transfer_id, bad.object_length, bad.symbol_size, bytes(forged))
    collector = transfer.Collector()
    for frame in frames:
        collector.add(transfer.parse_frame(frame.text()))
    obj = collector.try_decode(frames[0].key)
    with pytest.raises(QRError, match="SHA-256"):
        transfer.unpack_object(obj or b"")


def test_file_too_big_for_qr_is_refused(tmp_path: Path) -> None:
    with pytest.raises(QRError, match="QR codes"):
        transfer.encode_bytes(b"\0" * 2_000_000, "big", 64, 0)


# --- images ----------------------------------------------------------------------------------


def test_drop_30_percent_shuffle_decode(tmp_path: Path, payload: Path) -> None:
    frames = _encode(payload, tmp_path / "qr")
    rng = random.Random(11)
    keep = rng.sample(frames, int(len(frames) * 0.7))
    rng.shuffle(keep)
    pile = tmp_path / "pile"
    pile.mkdir()
    for i, f in enumerate(keep):
        shutil.copy(f, pile / f"{i:03d}-{rng.random():.6f}.png")
    out = tmp_path / "notes.out"
    assert main(["qr", "decode", str(pile), "-o", str(out)]) == 0
    assert out.read_bytes() == payload.read_bytes()


def test_decode_never_replaces_a_different_file(tmp_path: Path, payload: Path) -> None:
    frames = _encode(payload, tmp_path / "qr")
    folder = tmp_path / "received"
    folder.mkdir()
    mine = folder / payload.name  # the name the codes carry
    mine.write_bytes(b"the user's own file")
    assert main(["qr", "decode", *map(str, frames), "-o", str(folder)]) == 2
    assert mine.read_bytes() == b"the user's own file"
    mine.write_bytes(payload.read_bytes())  # the same content again is fine
    assert main(["qr", "decode", *map(str, frames), "-o", str(folder)]) == 0


def test_jpeg_50_and_rotated_5_degrees(tmp_path: Path, payload: Path) -> None:
    frames = _encode(payload, tmp_path / "qr", "--extra", "60")
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = random.Random(5)
    for f in rng.sample(frames, int(len(frames) * 0.7)):
        img = Image.open(f).convert("RGB").rotate(5, expand=True, fillcolor="white",
                                                  resample=Image.BICUBIC)
        img.save(photos / (f.stem + ".jpg"), quality=50)
    out = tmp_path / "notes.out"
    assert main(["qr", "decode", str(photos), "-o", str(out), "--json"]) == 0
    assert out.read_bytes() == payload.read_bytes()


def test_out_of_focus_photos_read(tmp_path: Path, payload: Path) -> None:
    frames = _encode(payload, tmp_path / "qr")[:4]
    for f in frames:
        blurred = tmp_path / (f.stem + ".jpg")
        # sigma 2 at 4 px a module: plain zxing reads none of these; the sharpening retry all
        Image.open(f).convert("RGB").filter(ImageFilter.GaussianBlur(2)).save(blurred, quality=60)
        assert len(read_texts(blurred)) == 1


def test_two_transfers_in_one_folder(tmp_path: Path, payload: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.txt"
    other.write_text("the second transfer " * 200)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for name, src in (("a", payload), ("b", other)):
        for f in _encode(src, tmp_path / name):
            shutil.copy(f, mixed / f"{name}-{f.name}")
    capsys.readouterr()
    # One output file but two complete transfers: ambiguous, nothing written.
    assert main(["qr", "decode", str(mixed), "-o", str(tmp_path / "one")]) == 2
    assert not (tmp_path / "one").exists()
    assert "--transfer" in capsys.readouterr().err
    # A folder as output takes both, under their own names.
    outdir = tmp_path / "outdir"
    outdir.mkdir()
    assert main(["qr", "decode", str(mixed), "-o", str(outdir)]) == 0
    assert (outdir / "notes.bin").read_bytes() == payload.read_bytes()
    assert (outdir / "other.txt").read_bytes() == other.read_bytes()
    # --transfer picks one; the other's codes are counted as foreign.
    tid = hashlib.sha256(other.read_bytes()).hexdigest()[:6]
    target = tmp_path / "picked.txt"
    capsys.readouterr()
    assert main(["qr", "decode", str(mixed), "-o", str(target), "--transfer", tid, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["foreign_codes"] > 0 and len(report["files"]) == 1
    assert target.read_bytes() == other.read_bytes()


def test_corrupted_frame_is_reported_not_accepted(tmp_path: Path, payload: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    frames = _encode(payload, tmp_path / "qr")
    (text,) = read_texts(frames[0])
    i = len(text) - 20
    damaged = text[:i] + ("7" if text[i] != "7" else "8") + text[i + 1 :]
    bad = tmp_path / "qr" / "frame-9999.png"
    render.to_image(render.matrix(damaged, "M", 20), 4).save(bad)
    out = tmp_path / "notes.out"
    capsys.readouterr()
    assert main(["qr", "decode", str(tmp_path / "qr"), "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["damaged"]) == 1 and "frame-9999" in report["damaged"][0]
    assert out.read_bytes() == payload.read_bytes()


def test_too_few_codes_then_resume(tmp_path: Path, payload: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    frames = _encode(payload, tmp_path / "qr")
    k = transfer.symbols_needed(len(payload.read_bytes()) + 2 + len("notes.bin") + 32, 616)
    out = tmp_path / "notes.out"
    capsys.readouterr()
    assert main(["qr", "decode", *map(str, frames[: k - 3]), "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert f"{k - 3} of {k} needed" in captured.out and "need 3 more" in captured.out
    assert not out.exists()
    partial = tmp_path / "notes.out.qr-partial"
    assert partial.is_file()
    # The next run only needs the missing codes: the partial file supplies the rest.
    assert main(["qr", "decode", *map(str, frames[-3:]), "-o", str(out)]) == 0
    assert out.read_bytes() == payload.read_bytes()
    assert not partial.exists()


def test_sheet_and_player_are_self_contained(tmp_path: Path, payload: Path) -> None:
    result = encode_file(payload, tmp_path / "qr")
    sheet = Path(result.sheet).read_text("utf-8")
    player = Path(result.player).read_text("utf-8")
    for page in (sheet, player):
        assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)
        assert result.sha256 in page
    assert sheet.count("<img") == result.frames and "size: A4" in sheet
    assert player.count("data:image/png;base64,") == result.frames


def test_cli_errors_are_one_line(tmp_path: Path, payload: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["qr", "encode", str(tmp_path / "missing"), "-o", str(tmp_path / "o")]) == 2
    assert main(["qr", "encode", str(payload), "-o", str(tmp_path / "o"), "--ecc", "X"]) == 2
    big = tmp_path / "big.bin"
    big.write_bytes(b"\1" * 300_000)
    assert main(["qr", "encode", str(big), "-o", str(tmp_path / "o"), "--version", "2"]) == 1
    assert main(["qr", "decode", str(tmp_path / "nothing"), "-o", str(tmp_path / "x")]) == 2
    not_image = tmp_path / "n.png"
    not_image.write_text("not an image")
    assert main(["qr", "decode", str(not_image), "-o", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err


def test_decode_reads_many_codes_in_one_photo(tmp_path: Path, payload: Path) -> None:
    frames = _encode(payload, tmp_path / "qr")
    tiles = [Image.open(f).convert("L") for f in frames]
    w = tiles[0].width
    cols = 4
    rows = -(-len(tiles) // cols)
    sheet = Image.new("L", (cols * w, rows * w), 255)
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % cols) * w, (i // cols) * w))
    photo = tmp_path / "sheet.jpg"
    sheet.rotate(3, expand=True, fillcolor=255).save(photo, quality=70)
    out = tmp_path / "notes.out"
    result = decode_inputs([photo], out, verify=False)
    assert result.exit_code == 0 and out.read_bytes() == payload.read_bytes()


@pytest.mark.browser
def test_player_on_screen_to_screenshots_to_file(tmp_path: Path) -> None:
    """Screen-to-camera: the player in real Chromium, its screenshots decode to the file; and the
    sheet as Chromium renders it for print reads back whole."""
    playwright = pytest.importorskip("playwright.sync_api")
    src = tmp_path / "short.txt"
    src.write_text("A short report that travels screen to camera. " * 40)
    result = encode_file(src, tmp_path / "qr", version=12)
    shots = tmp_path / "shots"
    shots.mkdir()
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        try:
            page = browser.new_page(viewport={"width": 700, "height": 800})
            page.goto(Path(result.player).as_uri())
            page.click("#p")  # pause, then step by hand so every code is shown once
            for i in range(result.frames):
                page.screenshot(path=str(shots / f"shot-{i:03d}.png"))
                page.click("#next")
            # The printable sheet, as rendered: every code on it must read back.
            page.goto(Path(result.sheet).as_uri())
            page.emulate_media(media="print")
            page.screenshot(path=str(tmp_path / "sheet.png"), full_page=True)
        finally:
            browser.close()
    assert len(read_texts(tmp_path / "sheet.png")) == result.frames
    out = tmp_path / "out.txt"
    decoded = decode_inputs([shots], out, verify=False)
    assert decoded.exit_code == 0 and decoded.accepted == result.frames
    assert out.read_bytes() == src.read_bytes()
