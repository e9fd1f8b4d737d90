"""`mirrorkit torrent make|get` end to end on loopback: real libtorrent sessions in their own
processes, a real HTTP web seed, the real sample bundle. DHT, LSD, UPnP, NAT-PMP off (--no-dht).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("libtorrent", reason="needs the torrent extra (./dev setup installs it)")
import libtorrent as lt
from torrent_support import REPO, SeedProcess, WebSeed, run

from mirrorkit.cli import main
from mirrorkit.torrent.make import build_torrent
from mirrorkit.torrent.meta import read_facts, torrent_matches_file


@pytest.fixture
def bundle(sample_bundle: Any, tmp_path: Path) -> Path:
    """A private copy of the sample bundle in its own folder (torrents get written beside it)."""
    folder = tmp_path / "pub"
    folder.mkdir()
    return Path(shutil.copy(sample_bundle.path, folder / "lantern.wacz"))


def _make(bundle: Path, *extra: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "mirrorkit", "torrent", "make", str(bundle),
                          "--json", *extra], capture_output=True, text=True, cwd=REPO,
                         check=False, timeout=120)
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def test_make_writes_a_hybrid_torrent_and_its_magnet_link(bundle: Path) -> None:
    made = _make(bundle, "--web-seed", "https://mirror.example/lantern.wacz",
                 "--web-seed", "http://127.0.0.1:1/lantern.wacz")
    torrent = bundle.with_name("lantern.wacz.torrent")
    facts = read_facts(torrent.read_bytes())
    assert facts.name == "lantern.wacz" and facts.size == bundle.stat().st_size
    assert facts.info_hash_v1 == made["infoHashV1"] and facts.info_hash_v2 == made["infoHashV2"]
    assert facts.web_seeds == ["https://mirror.example/lantern.wacz",
                               "http://127.0.0.1:1/lantern.wacz"]
    magnet = bundle.with_name("lantern.wacz.magnet").read_text().strip()
    assert magnet == made["magnet"]
    assert f"urn:btih:{facts.info_hash_v1}" in magnet
    assert f"urn:btmh:1220{facts.info_hash_v2}" in magnet
    assert "ws=https%3a%2f%2fmirror.example%2flantern.wacz" in magnet.lower()
    assert torrent_matches_file(torrent.read_bytes(), bundle) is None
    # libtorrent itself reads it as a v1 + v2 torrent of that one file
    info = lt.torrent_info(str(torrent))
    assert info.info_hashes().has_v1() and info.info_hashes().has_v2()
    assert made["verification"]["status"] == "untrusted"


def test_make_refuses_a_bundle_that_fails_verification(bundle: Path) -> None:
    data = bytearray(bundle.read_bytes())
    data[len(data) // 3] ^= 0xFF
    bundle.write_bytes(bytes(data))
    out = run("torrent", "make", str(bundle))
    assert out.returncode == 1
    assert "FAILED" in out.stdout and "No torrent was made" in out.stderr
    assert not bundle.with_name("lantern.wacz.torrent").exists()
    assert not bundle.with_name("lantern.wacz.magnet").exists()


def test_bad_arguments_exit_2(bundle: Path, tmp_path: Path) -> None:
    assert main(["torrent", "make", str(bundle), "--web-seed", "ftp://x/y"]) == 2
    assert main(["torrent", "get", "not-a-magnet", "-o", str(tmp_path / "d")]) == 2
    assert main(["torrent", "get", "magnet:?dn=x", "-o", str(tmp_path / "d")]) == 2
    assert main(["torrent", "get", str(bundle), "-o", str(tmp_path / "d"),
                 "--peer", "nowhere"]) == 2
    assert main(["torrent", "seed", str(bundle), "--proxy", "ftp://127.0.0.1:1"]) == 2
    assert main(["torrent", "seed", str(bundle), "--listen", "127.0.0.1"]) == 2


def test_magnet_get_from_a_seed_process(bundle: Path, tmp_path: Path,
                                        sample_bundle: Any) -> None:
    made = _make(bundle)
    seed = SeedProcess(bundle, "127.0.0.2")
    try:
        out = run("torrent", "get", made["magnet"], "-o", str(tmp_path / "a"), "--peer",
                  seed.address, "--listen", "127.0.0.3:0", "--no-dht", "--timeout", "30",
                  "--json")
        assert out.returncode == 3, out.stderr
        result = json.loads(out.stdout)
        got = tmp_path / "a" / "lantern.wacz"
        assert got.read_bytes() == bundle.read_bytes()
        assert result["status"] == "untrusted" and result["downloaded"] >= bundle.stat().st_size
        assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["lantern.wacz"]
        # with the publisher's fingerprint (from a card) it is trusted: exit 0
        out = run("torrent", "get", made["magnet"], "-o", str(tmp_path / "b"), "--peer",
                  seed.address, "--listen", "127.0.0.4:0", "--no-dht", "--timeout", "30",
                  "--fingerprint", sample_bundle.fingerprint)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("OK:")
        assert (tmp_path / "b" / "lantern.wacz").read_bytes() == bundle.read_bytes()
        # the same bundle again into the same folder: never replaced
        out = run("torrent", "get", made["magnet"], "-o", str(tmp_path / "b"), "--peer",
                  seed.address, "--listen", "127.0.0.4:0", "--no-dht", "--timeout", "30")
        assert out.returncode == 2 and "never replaced" in out.stderr
    finally:
        code, rest = seed.stop()
    assert code == 130
    stopped = json.loads(rest.strip().splitlines()[-1])
    assert stopped["event"] == "stopped"
    assert stopped["bundles"][0]["uploaded"] >= 2 * bundle.stat().st_size


def test_torrent_file_get_from_a_web_seed_alone(bundle: Path, tmp_path: Path) -> None:
    web = WebSeed(bundle).start()
    try:
        _make(bundle, "--web-seed", web.url)
        out = run("torrent", "get", str(bundle.with_name("lantern.wacz.torrent")), "-o",
                  str(tmp_path / "dl"), "--listen", "127.0.0.3:0", "--no-dht", "--timeout",
                  "30", "--json")
    finally:
        web.stop()
    assert out.returncode == 3, out.stderr
    assert (tmp_path / "dl" / "lantern.wacz").read_bytes() == bundle.read_bytes()
    assert web.served and any(r for _ip, r in web.requests)  # Range requests were made


def _bencoded_torrent(name: bytes, size: int = 20000, files: Any = None) -> bytes:
    pieces = hashlib.sha1(bytes(16384)).digest() * ((size + 16383) // 16384)
    info: dict[bytes, Any] = {b"name": name, b"piece length": 16384, b"pieces": pieces}
    if files is None:
        info[b"length"] = size
    else:
        info[b"files"] = files
    return bytes(lt.bencode({b"info": info, b"url-list": b"http://127.0.0.1:9/x"}))


@pytest.mark.parametrize("name", [b"../x", b"/etc/x", b"a/b.wacz", b"..", b".hidden",
                                  b"c:\\x.wacz"])
def test_get_refuses_a_name_outside_the_folder(tmp_path: Path, name: bytes) -> None:
    torrent = tmp_path / "evil.torrent"
    torrent.write_bytes(_bencoded_torrent(name))
    out_dir = tmp_path / "inbox" / "dl"
    assert main(["torrent", "get", str(torrent), "-o", str(out_dir), "--no-dht",
                 "--listen", "127.0.0.3:0"]) == 1
    written = [p for p in (tmp_path / "inbox").rglob("*") if p.is_file()]
    assert written == []
    assert not (tmp_path / "x").exists() and not (tmp_path / "inbox" / "x").exists()


def test_get_refuses_a_torrent_of_several_files(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    torrent = tmp_path / "many.torrent"
    torrent.write_bytes(_bencoded_torrent(b"folder", files=[
        {b"length": 10000, b"path": [b"a.wacz"]}, {b"length": 10000, b"path": [b"b.wacz"]}]))
    assert main(["torrent", "get", str(torrent), "-o", str(tmp_path / "dl"), "--no-dht",
                 "--listen", "127.0.0.3:0"]) == 1
    assert "refused" in capsys.readouterr().err


def test_a_bundle_that_fails_is_kept_as_failed(bundle: Path, tmp_path: Path) -> None:
    # A torrent of a tampered bundle (made without `torrent make`, which would refuse it): the
    # pieces all match their hashes, verification then fails.
    data = bytearray(bundle.read_bytes())
    data[len(data) // 3] ^= 0xFF
    bundle.write_bytes(bytes(data))
    web = WebSeed(bundle).start()
    try:
        torrent_data, _info = build_torrent(bundle, [web.url])
        torrent = tmp_path / "tampered.torrent"
        torrent.write_bytes(torrent_data)
        out = run("torrent", "get", str(torrent), "-o", str(tmp_path / "dl"), "--listen",
                  "127.0.0.3:0", "--no-dht", "--timeout", "30")
    finally:
        web.stop()
    assert out.returncode == 1, out.stderr
    assert "FAILED" in out.stdout
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == ["lantern.wacz.failed"]
    assert (tmp_path / "dl" / "lantern.wacz.failed").read_bytes() == bytes(data)


def test_the_privacy_notice_is_shown_once(tmp_path: Path) -> None:
    first = run("torrent", "get", str(tmp_path / "missing.torrent"), "-o", str(tmp_path))
    assert first.returncode == 2
    assert "shows your IP address" in first.stderr and "IP 地址" in first.stderr
    again = run("torrent", "get", str(tmp_path / "missing.torrent"), "-o", str(tmp_path))
    assert again.returncode == 2 and "IP address" not in again.stderr


def test_without_libtorrent_a_clear_error_naming_the_extra(bundle: Path) -> None:
    # Python treats a None entry in sys.modules as "not installed".
    code = ("import sys; sys.modules['libtorrent'] = None\n"
            "from mirrorkit.cli import main\n"
            f"sys.exit(main(['torrent', 'make', {str(bundle)!r}]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=False, timeout=60)
    assert out.returncode == 2
    assert "mirrorkit[torrent]" in out.stderr and "Traceback" not in out.stderr


def test_seed_refuses_a_torrent_beside_that_belongs_to_another_file(
        bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = Path(shutil.copy(bundle, tmp_path / "lantern.wacz"))
    data = bytearray(other.read_bytes())
    data[200] ^= 0xFF
    other.write_bytes(bytes(data))
    torrent_data, _info = build_torrent(other)
    bundle.with_name("lantern.wacz.torrent").write_bytes(torrent_data)
    assert main(["torrent", "seed", str(bundle), "--listen", "127.0.0.2:0", "--no-dht"]) == 1
    assert "does not match" in capsys.readouterr().err
