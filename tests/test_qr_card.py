"""Trust cards: written as PNG/SVG/HTML, read back from a photo, added to the trust store."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image, ImageFilter

from mirrorkit.cli import main
from mirrorkit.qr import card
from mirrorkit.trust import signing
from mirrorkit.trust.store import TrustStore


@pytest.fixture
def pub_file(tmp_path: Path) -> tuple[signing.SigningKey, Path]:
    key = signing.generate_key("Lantern Reports 灯笼报道")
    return key, signing.write_public_key(key, tmp_path / "lantern.pub")


def test_card_text_is_alphanumeric_and_round_trips(
        pub_file: tuple[signing.SigningKey, Path]) -> None:
    key, _ = pub_file
    text = card.card_text(key.name, key.public_key_der)
    assert text.startswith("MIRRORKIT:KEY:1:")
    assert set(text) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    back = card.parse_card_text(text)
    assert (back.name, back.fingerprint) == (key.name, key.fingerprint)


def test_png_card_photo_to_trust_add(tmp_path: Path, pub_file: tuple[signing.SigningKey, Path],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    key, pub = pub_file
    png = tmp_path / "card.png"
    assert main(["qr", "key", "--pub", str(pub), "-o", str(png)]) == 0
    # A phone photo: tilted, soft, smaller, JPEG.
    photo = tmp_path / "photo.jpg"
    img = Image.open(png).convert("RGB").rotate(8, expand=True, fillcolor=(235, 230, 220))
    img = img.resize((img.width * 2 // 3, img.height * 2 // 3)).filter(ImageFilter.GaussianBlur(1))
    img.save(photo, quality=45)
    capsys.readouterr()
    # Scripts must confirm explicitly; no terminal here, so without --yes nothing is added.
    assert main(["trust", "add", str(photo)]) == 2
    assert TrustStore().list() == []
    assert main(["trust", "add", str(photo), "--yes"]) == 0
    out = capsys.readouterr().out
    assert key.fingerprint in out
    (entry,) = TrustStore().list()
    assert entry.fingerprint == key.fingerprint and entry.name == key.name


def test_card_from_encrypted_private_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    key = signing.generate_key("Org")
    key_path = signing.save_private_key(key, tmp_path / "org.key", "correct horse")
    monkeypatch.setenv("MIRRORKIT_PASSPHRASE", "correct horse")
    assert main(["qr", "key", "--key", str(key_path), "-o", str(tmp_path / "c.svg"),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fingerprint"] == key.fingerprint
    monkeypatch.setenv("MIRRORKIT_PASSPHRASE", "wrong")
    assert main(["qr", "key", "--key", str(key_path), "-o", str(tmp_path / "d.svg")]) == 1
    assert "wrong passphrase" in capsys.readouterr().err


def test_svg_and_html_cards_carry_name_and_fingerprint(
        tmp_path: Path, pub_file: tuple[signing.SigningKey, Path]) -> None:
    key, pub = pub_file
    for suffix in (".svg", ".html"):
        out = tmp_path / f"card{suffix}"
        assert main(["qr", "key", "--pub", str(pub), "-o", str(out)]) == 0
        text = out.read_text("utf-8")
        assert key.name in text
        for group in key.fingerprint.split():
            assert group in text
    ET.fromstring((tmp_path / "card.svg").read_text("utf-8"))  # well-formed XML


def test_card_errors(tmp_path: Path, pub_file: tuple[signing.SigningKey, Path],
                     capsys: pytest.CaptureFixture[str]) -> None:
    _, pub = pub_file
    assert main(["qr", "key", "--pub", str(pub), "-o", str(tmp_path / "card.pdf")]) == 2
    assert main(["qr", "key", "-o", str(tmp_path / "card.png")]) == 2
    blank = tmp_path / "blank.png"
    Image.new("L", (300, 300), 255).save(blank)
    assert main(["trust", "add", str(blank), "--yes"]) == 1
    assert "no mirrorkit key card" in capsys.readouterr().err
