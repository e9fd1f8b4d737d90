"""Bundling other tools' WARCs (issue 12): damage at the source, malformed WARC dates, crawls
deduplicated against an earlier crawl, and a deep verification that counts records right.

Each goes through the CLI (`mirrorkit.cli.main`, what a user runs) and, where replay is part of
the story, the real replay server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Tuple

import pytest
from interop_support import Served, flip_payload_byte, payload_digest, response, warc

from mirrorkit.cli import main
from mirrorkit.kit.build import build_kit
from mirrorkit.trust.signing import SigningKey, generate_key, save_private_key


@pytest.fixture()
def key(tmp_path: Path) -> Tuple[SigningKey, Path]:
    signing = generate_key("Interop Archivist")
    return signing, save_private_key(signing, tmp_path / "archivist.key", None)


def _run(capsys: pytest.CaptureFixture[str], *args: Any) -> Tuple[int, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in text
    return code, text


def _mirrorkit_block(wacz: Path) -> Any:
    with zipfile.ZipFile(wacz) as zf:
        return json.loads(zf.read("datapackage.json"))["mirrorkit"]


def test_damage_at_the_source_is_refused_or_declared_and_every_reader_agrees(
        tmp_path: Path, key: Tuple[SigningKey, Path], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIRRORKIT_PASSPHRASE", "")
    signing, key_path = key
    source = warc(tmp_path / "rotten.warc", [
        response("http://rot.example/", b"<title>Home</title><p>fine</p>"),
        response("http://rot.example/report", b"<title>Report</title><p>rotten body</p>"),
        response("http://rot.example/about", b"<title>About</title>"),
    ], gzip=False)
    flip_payload_byte(source, b"rotten body")
    out = tmp_path / "rot.wacz"
    code, text = _run(capsys, "bundle", source, "--key", key_path, "-o", out)
    assert code == 1 and not out.exists()
    assert "http://rot.example/report" in text and "--keep-damaged" in text
    assert "WARC-Block-Digest does not match" in text

    code, text = _run(capsys, "bundle", source, "--key", key_path, "-o", out, "--keep-damaged")
    assert code == 0 and "damaged before bundling" in text
    declared = _mirrorkit_block(out)["damaged"]  # inside the signed manifest
    assert [d["url"] for d in declared] == ["http://rot.example/report"]

    fp = signing.fingerprint
    for deep in ([], ["--deep"]):
        code, text = _run(capsys, "verify", out, "--fingerprint", fp, *deep)
        assert code == 0, text  # intact as signed: the damage is the publisher's own statement
        assert "damaged before it was bundled" in text and "http://rot.example/report" in text

    with Served(out, fingerprint=fp) as served:
        assert served.server.bundles[0].state == "trusted"
        status, _, body = served.get("rot/2030/http://rot.example/report")
        assert status == 502 and b"damaged before it was bundled" in body
        assert b"rotten" not in body and b"r\x0ftten" not in body  # the record is not shown
        status, _, body = served.get("rot/2030/http://rot.example/about")
        assert status == 200 and b"About" in body

    build_kit([out], tmp_path / "kit", fingerprints=[fp])  # the kit accepts it, marked
    check = subprocess.run([sys.executable, "-I", "-S", "mirrorkit-serve.pyz", "--check",
                            "--fingerprint", fp], cwd=tmp_path / "kit", capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "1 record(s) damaged before it was bundled" in check.stdout


def test_deep_verify_counts_damaged_records_not_problems(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from signed_bundle import build_bundle

    signing = generate_key("Another tool")
    source = warc(tmp_path / "four.warc", [
        response(f"http://four.example/{n}", f"<title>page {n}</title>".encode() * 40)
        for n in range(4)], gzip=False)
    flip_payload_byte(source, b"page 2")  # one record: its block and payload digests now wrong
    wacz = build_bundle(tmp_path / "four.wacz", [source], signing)
    code, text = _run(capsys, "verify", wacz, "--deep", "--fingerprint", signing.fingerprint)
    assert code == 1
    assert "1 of 4 WARC records damaged" in text, text
    assert text.count("damaged: http://four.example/2") == 2  # both problems, one record


@pytest.mark.parametrize("date", ["2014-01", "", "yesterday", "2014-02-30T00:00:00Z"])
def test_malformed_warc_dates_are_clear_errors(
        date: str, tmp_path: Path, key: Tuple[SigningKey, Path],
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIRRORKIT_PASSPHRASE", "")
    source = warc(tmp_path / "dates.warc.gz", [
        response("http://date.example/", b"<title>ok</title>", date="2014-01-26T20:06:24Z"),
        response("http://date.example/odd", b"<title>odd</title>", date=date)])
    code, text = _run(capsys, "bundle", source, "--key", key[1], "-o", tmp_path / "d.wacz")
    assert code == 1
    assert "http://date.example/odd" in text and "cannot be dated" in text
    assert ("no WARC-Date" in text) if not date else (repr(date) in text)


def test_crawl_deduplicated_against_an_earlier_crawl_bundles_with_drop_option(
        tmp_path: Path, key: Tuple[SigningKey, Path], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIRRORKIT_PASSPHRASE", "")
    signing, key_path = key
    earlier = warc(tmp_path / "earlier.warc.gz", [
        response(f"http://dedupe.example/{n}.css", f"p{{order:{n}}}".encode(), ctype="text/css",
                 date="2024-01-01T00:00:00Z") for n in range(10)])
    later_records = [response("http://dedupe.example/", b"<title>New front page</title>",
                              date="2024-06-01T00:00:00Z")]
    for n in range(10):
        digest, date = payload_digest(earlier, f"http://dedupe.example/{n}.css")
        later_records.append({"type": "revisit", "url": f"http://dedupe.example/{n}.css",
                              "digest": digest, "refers_url": f"http://dedupe.example/{n}.css",
                              "refers_date": date, "ctype": "text/css",
                              "date": "2024-06-01T00:00:01Z"})
    later = warc(tmp_path / "later.warc.gz", later_records)
    out = tmp_path / "later.wacz"
    code, text = _run(capsys, "bundle", later, "--key", key_path, "-o", out)
    assert code == 2 and "--drop-unresolved-revisits" in text and "9 more" in text
    code, text = _run(capsys, "bundle", later, "--key", key_path, "-o", out,
                      "--drop-unresolved-revisits")
    assert code == 0 and "Dropped 10 revisit record(s)" in text
    assert "--drop-unresolved-revisits" in text
    assert _mirrorkit_block(out)["droppedRevisits"] == 10
    code, text = _run(capsys, "verify", out, "--deep", "--fingerprint", signing.fingerprint)
    assert code == 0, text
    assert "10 revisit record(s) were left out when bundling" in text
    with Served(out) as served:
        assert served.get("later/2030/http://dedupe.example/")[0] == 200
        assert served.get("later/2030/http://dedupe.example/3.css")[0] == 404
    # Given both crawls, nothing is dropped and everything replays.
    both = tmp_path / "both.wacz"
    assert _run(capsys, "bundle", earlier, later, "--key", key_path, "-o", both)[0] == 0
    assert "droppedRevisits" not in _mirrorkit_block(both)
