"""READER.html as shipped: a reproducible build of reader/ (fresh build == shipped bytes), its
size, genuine-build checks of the reader and of single-file editions, and `mirrorkit reader`."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mirrorkit.cli import main
from mirrorkit.errors import UsageError
from mirrorkit.reader import (
    READER_PATH,
    check_reader,
    reader_sha256,
    write_reader,
    write_single_file,
)
from mirrorkit.verify import VerificationFailed

REPO = Path(__file__).resolve().parents[1]
READER_SRC = REPO / "reader"


def _npm_ready() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        if os.environ.get("CI"):
            pytest.fail("node/npm missing: the reader's build cannot be checked")
        pytest.skip("node/npm not installed")
    if not (READER_SRC / "node_modules" / "esbuild").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=READER_SRC, check=True,
                       capture_output=True)


def test_shipped_reader_is_a_fresh_build(tmp_path: Path) -> None:
    _npm_ready()
    outs = []
    for n in (1, 2):
        out = tmp_path / f"build{n}.html"
        subprocess.run(["node", "build.mjs", str(out)], cwd=READER_SRC, check=True,
                       capture_output=True)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1], "the build is not reproducible"
    assert outs[0] == READER_PATH.read_bytes(), (
        "mirrorkit/reader/READER.html differs from a fresh build of reader/: "
        "run `cd reader && npm run build` and commit it")


def test_reader_is_small_and_self_contained() -> None:
    data = READER_PATH.read_bytes()
    assert len(data) < 400 * 1024
    text = data.decode("utf-8")
    # Loads nothing: no external script, stylesheet, font or fetch of sibling files.
    for needle in ('src="http', "src='http", 'href="http', "<link ", "fetch("):
        assert needle not in text.replace("fetch()", ""), needle
    assert text.count("<!--MIRRORKIT-BUNDLE-->") == 1


def test_written_reader_and_edition_are_genuine(sample_bundle: Any, tmp_path: Path) -> None:
    reader = write_reader(tmp_path / "READER.html")
    assert hashlib.sha256(reader.read_bytes()).hexdigest() == reader_sha256()
    result = check_reader(reader)
    assert result.genuine and result.edition == "reader"

    edition = write_single_file(sample_bundle.path, tmp_path / "lantern.html")
    result = check_reader(edition)
    assert result.genuine and result.edition == "single-file"
    assert result.bundle_name == "sample.wacz" and result.reader_sha256 == reader_sha256()
    assert result.sha256 != reader_sha256()

    # One changed byte in the reader part (say, a verifier that always says "trusted").
    forged = tmp_path / "forged.html"
    forged.write_bytes(edition.read_bytes().replace(b"data-state", b"data-stat\xc3\xa9", 1))
    assert not check_reader(forged).genuine


def test_single_file_edition_refuses_a_failing_bundle(sample_bundle: Any, tmp_path: Path) -> None:
    from serve_support import tamper_title

    bad = tmp_path / "bad.wacz"
    tamper_title(sample_bundle.path, bad, "edited")
    with pytest.raises(VerificationFailed):
        write_single_file(bad, tmp_path / "bad.html")
    assert not (tmp_path / "bad.html").exists()
    with pytest.raises(UsageError):
        write_single_file(tmp_path / "missing.wacz", tmp_path / "x.html")


def test_cli(sample_bundle: Any, tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "READER.html"
    assert main(["reader", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert reader_sha256() in text and out.is_file()
    assert main(["reader", str(sample_bundle.path), "-o", str(tmp_path / "one.html")]) == 0
    assert "single-file edition" in capsys.readouterr().out
    assert main(["reader", "--check", str(tmp_path / "one.html")]) == 0
    assert "GENUINE" in capsys.readouterr().out
    other = tmp_path / "other.html"
    other.write_text("<html>trust me</html>")
    assert main(["reader", "--check", str(other)]) == 1
    assert "NOT GENUINE" in capsys.readouterr().out
    assert main(["reader", "--check", str(tmp_path / "nope.html")]) == 2
    assert main(["reader", "--check", str(other), "--json"]) == 1
    assert '"genuine": false' in capsys.readouterr().out


def test_kit_ships_the_genuine_reader(sample_bundle: Any, tmp_path: Path) -> None:
    from mirrorkit.kit.build import build_kit

    kit = build_kit([sample_bundle.path], tmp_path / "kit")
    assert check_reader(kit.path / "READER.html").genuine
    sha = reader_sha256()
    page = (kit.path / "START-HERE.html").read_text(encoding="utf-8")
    readme = (kit.path / "README.txt").read_text(encoding="utf-8-sig")
    for text in (page, readme):
        assert text.count(sha) == 2  # English and Chinese
        assert text.index("READER.html") < text.index("mirrorkit-serve.pyz --fingerprint")
    assert f"{sha}  READER.html" in (kit.path / "SHA256SUMS").read_text()


def test_trust_card_prints_the_reader_sha(tmp_path: Path) -> None:
    from mirrorkit.qr.card import CardKey, card_html, card_svg, reader_lines
    from mirrorkit.trust.signing import generate_key

    key = generate_key("Lantern Rights Watch")
    card = CardKey(key.name, key.public_key_der, key.fingerprint)
    sha = reader_sha256()
    assert "".join(reader_lines()[1:]) == sha
    for text in (card_html(card), card_svg(card)):
        assert sha[:32] in text and sha[32:] in text


def test_verify_tells_a_genuine_reader_from_a_changed_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "READER.html"
    assert main(["reader", "-o", str(good)]) == 0
    capsys.readouterr()
    assert main(["verify", str(good)]) == 0
    assert "GENUINE" in capsys.readouterr().out
    forged = tmp_path / "lantern.html"
    forged.write_bytes(good.read_bytes().replace(b"</body>", b"<!-- x --></body>", 1))
    assert main(["verify", str(forged)]) == 1
    assert "NOT GENUINE" in capsys.readouterr().out
