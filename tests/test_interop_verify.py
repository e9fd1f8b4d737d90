"""Verifying other tools' files (issue 12): unsigned WACZs, WARCs given to verify, Browsertrix
multi-WACZ packages, and no traceback from any command on any file of the interop corpus.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Tuple

import pytest
from interop_support import Served, response, warc

from mirrorkit.bundle import create_bundle
from mirrorkit.cli import main
from mirrorkit.trust.signing import generate_key, save_private_key

VENV_BIN = Path(sys.executable).parent


def _run(capsys: pytest.CaptureFixture[str], *args: Any) -> Tuple[int, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in text
    return code, text


@pytest.mark.interop
def test_intact_unsigned_wacz_says_not_signed_and_a_warc_says_bundle_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = warc(tmp_path / "plain.warc.gz", [response("http://plain.example/",
                                                        b"<title>Plain</title>")])
    unsigned = tmp_path / "unsigned.wacz"
    made = subprocess.run([str(VENV_BIN / "wacz"), "create", "-o", str(unsigned), str(source)],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    valid = subprocess.run([str(VENV_BIN / "wacz"), "validate", "-f", str(unsigned)],
                           capture_output=True, text=True, timeout=120)
    assert valid.returncode == 0, valid.stdout + valid.stderr  # py-wacz accepts it
    code, text = _run(capsys, "verify", unsigned)
    assert code == 1
    assert text.startswith("FAILED: not signed.") and "changed, damaged" not in text
    assert "resources ok" in text  # it is intact, and said so
    code, text = _run(capsys, "verify", unsigned, "--json")
    assert json.loads(text)["status"] == "unsigned"

    code, text = _run(capsys, "verify", source)
    assert code == 2
    assert "this is a WARC file, not a WACZ bundle: bundle it first" in text
    assert "not a readable ZIP" not in text


def test_multi_wacz_package_is_verified_part_by_part_and_refused_by_name_for_replay(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mirrorkit.errors import KitError
    from mirrorkit.kit.build import build_kit

    key = generate_key("Browsertrix org")
    parts = []
    for n in (1, 2):
        source = warc(tmp_path / f"crawl{n}.warc.gz",
                      [response(f"http://multi.example/{n}", b"<title>part</title>" * 50)])
        parts.append(create_bundle([source], tmp_path / f"crawl-{n}.wacz", key=key))

    def package(out: Path, members: list) -> Path:
        resources = [{"name": p.name, "path": p.name, "bytes": len(data),
                      "hash": "sha256:" + hashlib.sha256(data).hexdigest()}
                     for p, data in members]
        with zipfile.ZipFile(out, "w") as zf:
            for p, data in members:
                zf.writestr(p.name, data, zipfile.ZIP_STORED)
            zf.writestr("datapackage.json", json.dumps({
                "profile": "multi-wacz-package", "resources": resources,
                "software": "Browsertrix v1.14", "title": "collection"}))
        return out

    good = package(tmp_path / "collection.wacz", [(p, p.read_bytes()) for p in parts])
    code, text = _run(capsys, "verify", good, "--deep", "--fingerprint", key.fingerprint)
    assert code == 0, text
    assert text.startswith("OK: multi-WACZ package: all 2 parts")
    assert "Part crawl-1.wacz:" in text and "Part crawl-2.wacz:" in text
    assert "not signed" not in text and "damaged:" not in text
    code, text = _run(capsys, "verify", good)
    assert code == 3 and text.startswith("VALID BUT NOT TRUSTED: multi-WACZ package")

    broken = bytearray(parts[1].read_bytes())
    at = broken.index(b"<title>part</title>" * 3) if b"<title>" in broken else len(broken) // 3
    broken[at] ^= 0xFF
    bad = package(tmp_path / "bad-collection.wacz",
                  [(parts[0], parts[0].read_bytes()), (parts[1], bytes(broken))])
    code, text = _run(capsys, "verify", bad, "--fingerprint", key.fingerprint)
    assert code == 1 and "1 of 2 parts failed: crawl-2.wacz" in text

    with Served(good) as served:  # replay takes single bundles: refused by name, not "damaged"
        bundle = served.server.bundles[0]
        assert bundle.state == "failed" and "multi-WACZ package" in bundle.reason
        assert "unzip" in bundle.reason
        status, _, body = served.get("")
        assert status == 200 and b"multi-WACZ package" in body
    with pytest.raises(KitError, match="multi-WACZ package"):
        build_kit([good], tmp_path / "kit")


@pytest.mark.slow
def test_no_traceback_on_any_file_of_the_interop_corpus(
        interop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIRRORKIT_PASSPHRASE", "")
    key = save_private_key(generate_key("Corpus"), tmp_path / "corpus.key", None)
    files = sorted(interop.iterdir())
    assert any(f.name.endswith(".warc.gz") for f in files)
    bundles = []
    for f in files:
        if f.name.endswith((".warc.gz", ".warc")):
            out = tmp_path / (f.name.split(".")[0] + ".wacz")
            code, text = _run(capsys, "bundle", f, "--key", key, "-o", out, "--text")
            if code == 2:  # a revisit without its original in this one file: say so, then drop
                assert "--drop-unresolved-revisits" in text
                code, text = _run(capsys, "bundle", f, "--key", key, "-o", out, "--text",
                                  "--drop-unresolved-revisits")
            assert code == 0, text
            bundles.append(out)
            code, text = _run(capsys, "verify", f)
            assert code == 2 and "this is a WARC file" in text
        elif f.name.endswith(".wacz"):
            bundles.append(f)
    for wacz in bundles:
        for deep in ([], ["--deep"]):
            code, text = _run(capsys, "verify", wacz, "--no-remember", *deep)
            assert code in (0, 1, 3), text
    with Served(*bundles) as served:
        for bundle in served.server.bundles:
            status, _, body = served.get(f"{bundle.name}/pages.json")
            assert status == 200
            for page in json.loads(body)[:20]:
                status, _, _ = served.get(page["replay"])
                assert status in (200, 301, 302, 404, 502), (bundle.name, page)
