"""`mirrorkit demo`: the whole chain on the sample site, in-process and as a served process."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from mirrorkit.cli import main
from mirrorkit.demo import BUNDLE_NAME, MARKER
from mirrorkit.trust.store import TrustStore


def test_demo_builds_a_verified_kit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--no-serve", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(".", 1)[0] for line in lines] == ["1", "2", "3", "4", "5", "6", "7"]
    kit = out / "kit"
    assert sorted(p.name for p in kit.iterdir()) == [
        ".mirrorkit-kit", "READER.html", "README.txt", "SHA256SUMS", "START-HERE.html", BUNDLE_NAME,
        "mirrorkit-serve.pyz"]
    from mirrorkit.reader import check_reader

    single = check_reader(out / (Path(BUNDLE_NAME).stem + ".html"))
    assert single.genuine and single.edition == "single-file"
    assert "READER.html" in lines[6] and single.reader_sha256 in lines[6]
    key = out / "demo-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "not for real use" in key.read_text(encoding="utf-8")
    pub = json.loads((out / "demo-key.pub").read_text(encoding="utf-8"))
    fingerprint = pub["fingerprint"]
    assert fingerprint in lines[2] and fingerprint in (kit / "README.txt").read_text("utf-8-sig")

    # The kit's bundle verifies, and the demo key was trusted for its run only.
    assert main(["verify", str(kit / BUNDLE_NAME), "--fingerprint", fingerprint]) == 0
    assert main(["verify", str(kit / BUNDLE_NAME)]) == 3
    assert TrustStore().list() == []
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=kit, capture_output=True,
                          text=True, timeout=60)
    assert sums.returncode == 0, sums.stdout

    capsys.readouterr()
    # Running it again replaces the earlier demo's folder; a folder it did not make is refused.
    assert main(["demo", "--no-serve", "--out", str(out), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["fingerprint"] != fingerprint and Path(again["kit"]).is_dir()
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    assert main(["demo", "--no-serve", "--out", str(other)]) == 2
    assert (other / "notes.txt").read_text() == "keep" and not (other / MARKER).exists()


def test_demo_serves_until_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "mirrorkit", "demo", "--out",
                             str(tmp_path / "demo")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
                            env=dict(os.environ))
    try:
        assert proc.stdout is not None
        url = None
        for line in proc.stdout:
            if line.startswith("8."):
                url = line.split(" at ", 1)[1].split()[0]
                break
        assert url and url.startswith("http://127.0.0.1:"), "the demo printed no address"
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert "Lantern Rights Watch" in resp.read().decode("utf-8")
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert "Stopped." in rest
