"""Torrents beside bundles in USB kits, and magnet cards (`mirrorkit qr magnet`)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("libtorrent", reason="needs the torrent extra (./dev setup installs it)")
from torrent_support import SeedProcess, run

from mirrorkit.cli import main
from mirrorkit.errors import KitError
from mirrorkit.kit.build import ZIPAPP_NAME, build_kit
from mirrorkit.qr.decode import read_texts


@pytest.fixture
def bundle(sample_bundle: Any, tmp_path: Path) -> Path:
    folder = tmp_path / "pub"
    folder.mkdir()
    return Path(shutil.copy(sample_bundle.path, folder / "lantern.wacz"))


def _make(bundle: Path, *extra: str) -> str:
    assert main(["torrent", "make", str(bundle), "-q", *extra]) == 0
    return bundle.with_name(bundle.name + ".magnet").read_text().strip()


def test_kit_carries_the_torrent_and_magnet_beside_a_bundle(bundle: Path, tmp_path: Path) -> None:
    magnet = _make(bundle, "--web-seed", "https://mirror.example/lantern.wacz")
    kit = build_kit([bundle], tmp_path / "kit")
    names = sorted(p.name for p in kit.path.iterdir())
    assert "lantern.wacz.torrent" in names and "lantern.wacz.magnet" in names
    assert (kit.path / "lantern.wacz.torrent").read_bytes() == \
        bundle.with_name("lantern.wacz.torrent").read_bytes()
    assert kit.bundles[0].torrent == "lantern.wacz.torrent" and kit.bundles[0].magnet == magnet
    sums = (kit.path / "SHA256SUMS").read_text()
    assert "lantern.wacz.torrent" in sums and "lantern.wacz.magnet" in sums
    readme = (kit.path / "README.txt").read_text(encoding="utf-8")
    page = (kit.path / "START-HERE.html").read_text(encoding="utf-8")
    for text in (readme, page):
        assert "mirrorkit torrent get" in text and "BitTorrent" in text and "磁力链接" in text
    # Nothing about torrents travels in the reader (it stays pure Python).
    with zipfile.ZipFile(kit.path / ZIPAPP_NAME) as zf:
        assert not [n for n in zf.namelist() if "torrent" in n.lower()]


def test_kit_refuses_a_torrent_of_another_file(bundle: Path, tmp_path: Path) -> None:
    other = Path(shutil.copy(bundle, tmp_path / "other.wacz"))
    data = bytearray(other.read_bytes())
    data[100] ^= 0xFF  # the torrent describes a different file of the same size
    other.write_bytes(bytes(data))
    from mirrorkit.torrent.make import build_torrent

    torrent_data, _info = build_torrent(other)
    bundle.with_name("lantern.wacz.torrent").write_bytes(torrent_data)
    with pytest.raises(KitError, match="does not belong"):
        build_kit([bundle], tmp_path / "kit")
    assert not (tmp_path / "kit").exists()


def test_magnet_card_carries_the_link_and_the_verified_facts(bundle: Path, tmp_path: Path,
                                                             sample_bundle: Any) -> None:
    magnet = _make(bundle)
    out = run("qr", "magnet", str(bundle.with_name("lantern.wacz.torrent")), "-o",
              str(tmp_path / "card.png"), "--json")
    assert out.returncode == 0, out.stderr
    card = json.loads(out.stdout)
    assert card["magnet"] == magnet and card["title"] == "Lantern sample"
    assert card["publisher"] == "Lantern Rights Watch"
    assert card["fingerprint"] == sample_bundle.fingerprint
    assert card["size"] == bundle.stat().st_size
    assert read_texts(tmp_path / "card.png") == [magnet]
    assert main(["qr", "magnet", str(bundle.with_name("lantern.wacz.torrent")), "-o",
                 str(tmp_path / "card.html")]) == 0
    page = (tmp_path / "card.html").read_text(encoding="utf-8")
    assert " ".join(sample_bundle.fingerprint.split()[:8]) in page and "发布者" in page
    # The scanned text is all a recipient needs.
    seed = SeedProcess(bundle, "127.0.0.2")
    try:
        got = run("torrent", "get", read_texts(tmp_path / "card.png")[0], "-o",
                  str(tmp_path / "dl"), "--peer", seed.address, "--listen", "127.0.0.3:0",
                  "--no-dht", "--timeout", "30", "--fingerprint", card["fingerprint"])
    finally:
        seed.stop()
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "dl" / "lantern.wacz").read_bytes() == bundle.read_bytes()


def test_magnet_card_refuses_what_does_not_verify_or_match(bundle: Path, tmp_path: Path) -> None:
    _make(bundle)
    torrent = bundle.with_name("lantern.wacz.torrent")
    assert main(["qr", "magnet", str(torrent), "-o", str(tmp_path / "card.gif")]) == 2
    moved = tmp_path / "alone.torrent"
    shutil.copy(torrent, moved)
    assert main(["qr", "magnet", str(moved), "-o", str(tmp_path / "card.png")]) == 2
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bundle.write_bytes(bytes(data))
    assert main(["qr", "magnet", str(torrent), "-o", str(tmp_path / "card.png")]) == 1
    assert not (tmp_path / "card.png").exists()
