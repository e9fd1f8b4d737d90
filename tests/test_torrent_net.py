"""Torrent gets under harder conditions, on loopback: a web seed that corrupts a piece beside a
good peer, a get interrupted half way and run again, a SOCKS5 proxy carrying all traffic,
several bundles in one seed, and a magnet whose metadata names a file outside the folder.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("libtorrent", reason="needs the torrent extra (./dev setup installs it)")
import libtorrent as lt
from torrent_support import (
    REPO,
    SeedProcess,
    Socks5Proxy,
    WebSeed,
    make_big_bundle,
    mirrorkit,
    run,
    wait_for,
)

from mirrorkit.torrent.get import STAGING
from mirrorkit.torrent.privacy import SwarmOptions
from mirrorkit.torrent.seed import Seeder
from mirrorkit.trust.signing import generate_key

pytestmark = pytest.mark.slow


@pytest.fixture
def bundle(sample_bundle: Any, tmp_path: Path) -> Path:
    folder = tmp_path / "pub"
    folder.mkdir()
    return Path(shutil.copy(sample_bundle.path, folder / "lantern.wacz"))


def _make(bundle: Path, *extra: str) -> dict[str, Any]:
    out = run("torrent", "make", str(bundle), "--json", *extra)
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def test_a_corrupting_web_seed_beside_a_good_peer(bundle: Path, tmp_path: Path) -> None:
    piece = 16384
    bad_offset = 3 * piece + 100  # inside piece 3
    web = WebSeed(bundle, corrupt=[bad_offset]).start()
    # The good peer is slow, so the (fast) web seed is asked for most pieces, the bad one too.
    seed = SeedProcess(bundle, "127.0.0.2", "--upload-limit", "20K")
    try:
        made = _make(bundle, "--web-seed", web.url)
        assert made["pieceLength"] == piece
        out = run("torrent", "get", str(bundle.with_name("lantern.wacz.torrent")), "-o",
                  str(tmp_path / "dl"), "--peer", seed.address, "--listen", "127.0.0.3:0",
                  "--no-dht", "--timeout", "60", "--json")
    finally:
        seed.stop()
        web.stop()
    assert out.returncode == 3, out.stderr
    result = json.loads(out.stdout)
    assert (tmp_path / "dl" / "lantern.wacz").read_bytes() == bundle.read_bytes()
    assert any(a <= bad_offset < b for a, b in web.served), "the bad piece was never served"
    assert result["hashFailures"] >= 1


@pytest.mark.parametrize("how", ["ctrl-c", "kill"])
def test_an_interrupted_get_continues_where_it_stopped(tmp_path: Path, how: str) -> None:
    (tmp_path / "pub").mkdir()
    big = make_big_bundle(tmp_path / "pub", 3_000_000, generate_key("Big Test"))
    size = big.stat().st_size
    _make(big)
    seed = SeedProcess(big, "127.0.0.2", "--upload-limit", "300K")
    out_dir = tmp_path / "dl"
    args = ["torrent", "get", str(big.with_name("big.wacz.torrent")), "-o", str(out_dir),
            "--peer", seed.address, "--listen", "127.0.0.3:0", "--no-dht", "--timeout", "60",
            "--json"]
    try:
        first = subprocess.Popen(mirrorkit(*args), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, cwd=REPO)

        def on_disk() -> int:
            parts = list((out_dir / STAGING).glob("*/big.wacz.part"))
            return parts[0].stat().st_blocks * 512 if parts else 0

        assert wait_for(lambda: on_disk() >= size * 0.35, timeout=60)
        first.send_signal(signal.SIGINT if how == "ctrl-c" else signal.SIGKILL)
        first.communicate(timeout=30)
        assert first.returncode == (130 if how == "ctrl-c" else -signal.SIGKILL)
        assert not (out_dir / "big.wacz").exists()
        again = run(*args)
    finally:
        seed.stop()
    assert again.returncode == 3, again.stderr
    result = json.loads(again.stdout)
    assert (out_dir / "big.wacz").read_bytes() == big.read_bytes()
    assert result["resumed"] >= size * 0.3
    assert result["downloaded"] <= size * 0.75, "the second run started over"
    assert not (out_dir / STAGING).exists()


def test_with_a_proxy_all_traffic_goes_through_it(bundle: Path, tmp_path: Path) -> None:
    proxy = Socks5Proxy(bind="127.0.0.9")
    web = WebSeed(bundle, host="127.0.0.4").start()
    magnet = _make(bundle)["magnet"]  # no web seed: only the peer can give it
    with_web_seed = tmp_path / "ws.torrent"
    _make(bundle, "--web-seed", web.url, "-o", str(with_web_seed))
    # The seed runs here, so the test can see which addresses its peers come from.
    # Slow enough (about 3 s) that the test sees the peer connected while it downloads.
    seeder = Seeder(SwarmOptions(listen="127.0.0.2:0", dht=False, upload_limit=40_000))
    peer_ips: set[str] = set()

    def get(source: str, out_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.Popen(
            mirrorkit("torrent", "get", source, "-o", str(out_dir), "--listen", "127.0.0.3:0",
                      "--no-dht", "--proxy", proxy.url, "--timeout", "60", "--json", *extra),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        while proc.poll() is None:
            seeder.poll(100)
            peer_ips.update(p.ip[0] for p in seeder.seeded[0].handle.get_peer_info())
        out, err = proc.communicate()
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    try:
        host, port = seeder.listen()[0]
        seeder.add(bundle)
        seeder.wait_checked()
        by_peer = get(magnet, tmp_path / "a", "--peer", f"{host}:{port}")
        by_web_seed = get(str(with_web_seed), tmp_path / "b")
    finally:
        seeder.close()
        web.stop()
        proxy.stop()
    for result, folder in ((by_peer, "a"), (by_web_seed, "b")):
        assert result.returncode == 3, result.stderr
        assert json.loads(result.stdout)["status"] == "untrusted"
        assert (tmp_path / folder / "lantern.wacz").read_bytes() == bundle.read_bytes()
    web_port = web.server.server_address[1]  # type: ignore[union-attr]
    assert (host, port) in proxy.connections and ("127.0.0.4", web_port) in proxy.connections
    assert set(proxy.connections) <= {(host, port), ("127.0.0.4", web_port)}
    # Every connection the seed and the web seed saw came from the proxy's address.
    assert peer_ips == {"127.0.0.9"}, f"peers seen by the seed: {peer_ips}"
    assert web.requests and {ip for ip, _range in web.requests} == {"127.0.0.9"}


def test_one_seed_process_seeds_several_bundles(bundle: Path, tmp_path: Path) -> None:
    other = Path(shutil.copy(bundle, bundle.with_name("other.wacz")))
    magnets = [_make(b)["magnet"] for b in (bundle, other)]
    seed = subprocess.Popen(
        mirrorkit("torrent", "seed", str(bundle), str(other), "--listen", "127.0.0.2:0",
                  "--no-dht", "--json"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert seed.stdout is not None
        started = json.loads(seed.stdout.readline())
        assert [Path(b["bundle"]).name for b in started["bundles"]] == ["lantern.wacz",
                                                                         "other.wacz"]
        for n, magnet in enumerate(magnets):
            out = run("torrent", "get", magnet, "-o", str(tmp_path / "dl"), "--peer",
                      started["listen"][0], "--listen", f"127.0.0.{3 + n}:0", "--no-dht",
                      "--timeout", "30")
            assert out.returncode == 3, out.stderr
    finally:
        seed.send_signal(signal.SIGINT)
        rest, _ = seed.communicate(timeout=30)
    assert seed.returncode == 130
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == ["lantern.wacz", "other.wacz"]
    stopped = json.loads(rest.strip().splitlines()[-1])
    assert all(b["uploaded"] > 0 for b in stopped["bundles"])


def test_a_magnet_whose_metadata_escapes_the_folder_is_refused(tmp_path: Path) -> None:
    # A hostile seed: libtorrent serves the raw info dictionary, "../x" and all.
    data = bytes(20000)
    info = {b"name": b"../x", b"length": len(data), b"piece length": 16384,
            b"pieces": hashlib.sha1(data[:16384]).digest() + hashlib.sha1(data[16384:]).digest()}
    ti = lt.torrent_info(lt.bencode({b"info": info}))
    ses = lt.session({"listen_interfaces": "127.0.0.2:0", "enable_dht": False,
                      "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False})
    params = lt.add_torrent_params()
    params.ti = ti
    params.save_path = str(tmp_path / "evil")
    params.flags |= lt.torrent_flags.seed_mode
    ses.add_torrent(params)
    assert wait_for(lambda: ses.listen_port() != 0, timeout=10)
    inbox = tmp_path / "inbox"
    out = run("torrent", "get", lt.make_magnet_uri(ti), "-o", str(inbox / "dl"), "--peer",
              f"127.0.0.2:{ses.listen_port()}", "--listen", "127.0.0.3:0", "--no-dht",
              "--timeout", "30")
    ses.pause()
    assert out.returncode == 1, out.stderr
    assert "'../x'" in out.stderr and "refused" in out.stderr
    assert [p for p in inbox.rglob("*") if p.is_file()] == []
    assert not (inbox / "x").exists()
    time.sleep(0)  # the hostile session is dropped with the test
