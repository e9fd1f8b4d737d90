"""Hostile files (issue 11): bounded JSON, neutral text, commands that never destroy what they did
not make. Every bundle here is generated (tests/hostile_bundles.py) and validly signed, so only
the new limits stand between it and a crash, a stall, a lie on the terminal or lost files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest
from hostile_bundles import (
    ESCAPE_COLLECTION,
    ESCAPE_PUBLISHER,
    all_bundles,
    deep,
)

from mirrorkit.cli import main
from mirrorkit.errors import InvalidBundle, KeyFileError, UsageError
from mirrorkit.formats import safejson
from mirrorkit.formats.safetext import neutral, neutral_json, neutral_lines
from mirrorkit.formats.wacz import WaczReader
from mirrorkit.kit.build import MARKER_NAME

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    return all_bundles(tmp_path_factory.mktemp("hostile"))


def _run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """The real command in a child process, reporting its peak memory (VmHWM) on stderr."""
    code = ("import sys\nfrom mirrorkit.cli import main\nrc = main(sys.argv[1:])\n"
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
            "sys.stderr.write('PEAK ' + hwm.split()[1] + '\\n')\nsys.exit(rc)\n")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300, env=dict(os.environ, COLUMNS="200"))


def _peak_mb(proc: subprocess.CompletedProcess) -> float:
    line = [x for x in proc.stderr.splitlines() if x.startswith("PEAK ")][-1]
    return int(line.split()[1]) / 1024


# -- the two helpers ---------------------------------------------------------------------------


def test_safejson_refuses_depth_size_and_long_integers_as_a_damaged_part() -> None:
    for data in (deep(), b'{"a": ' * 100_000 + b"1" + b"}" * 100_000):
        with pytest.raises(safejson.JsonLimitError, match="nested deeper than 64"):
            safejson.loads(data, "datapackage.json")
    with pytest.raises(InvalidBundle, match="more than the 10 "):
        safejson.loads(b"[1, 2, 3, 4, 5]", "x", max_bytes=10)
    with pytest.raises(InvalidBundle, match="x is not JSON"):
        safejson.loads(b"1" * 5000, "x")
    with pytest.raises(KeyFileError, match="card is damaged: not UTF-8"):
        safejson.loads(b'"\xff"', "card", error=KeyFileError)
    # brackets inside strings do not count, ordinary nesting passes
    assert safejson.loads(b'{"t": "' + b"[" * 500 + b'", "a": [[[1]]]}', "x")["a"] == [[[1]]]
    assert safejson.loads(b"[" * 64 + b"]" * 64, "x") is not None
    with pytest.raises(InvalidBundle):
        safejson.loads(b"[" * 65 + b"]" * 65, "x")


def test_neutral_escapes_controls_and_bidi_and_nothing_else() -> None:
    assert neutral("a\x1b[31mb\x9b1m\x7f\x00\n\r\t") == (
        "a\\x1b[31mb\\x9b1m\\x7f\\x00\\x0a\\x0d\\x09")
    assert neutral("report\u202etxt.exe \u2066x\u2069 \u202a\u202b\u202c\u202d") == (
        "report\\u202etxt.exe \\u2066x\\u2069 \\u202a\\u202b\\u202c\\u202d")
    persian = "می\u200cخواهم"  # ZWNJ inside a Persian word
    family = "👨\u200d👩\u200d👧"  # ZWJ emoji sequence
    for kept in (persian, family, "中文报告", "Ελληνικά", "r\u200fl"):
        assert neutral(kept) == kept
    assert neutral_lines("line one\nline\x1b two\r") == "line one\nline\\x1b two\\x0d"
    text = neutral_json(json.dumps({"p": ESCAPE_PUBLISHER + "\u202e"}, ensure_ascii=False))
    assert "\x1b" not in text and "\u202e" not in text
    assert json.loads(text)["p"] == ESCAPE_PUBLISHER + "\u202e"


# -- verify ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, code, deep_code, part", [
    ("deep-datapackage", 1, 1, "datapackage.json is damaged: JSON nested deeper"),
    ("deep-pages", 3, 1, "pages/pages.jsonl line 3 is damaged: JSON nested deeper"),
    ("deep-index", 3, 1, "index line 2 is damaged: JSON nested deeper"),
    ("inflating", 3, 3, ""),
    ("plain-bomb", 3, 3, ""),
    ("quadratic", 3, 3, ""),
])
def test_verify_and_deep_on_hostile_bundles(hostile: Dict[str, Path], name: str, code: int,
                                            deep_code: int, part: str) -> None:
    for args, want in (((), code), (("--deep",), deep_code)):
        proc = _run("verify", str(hostile[name]), *args)
        assert proc.returncode == want, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr and "Error:" not in proc.stderr
        if want == 1:
            assert part in proc.stdout and proc.stdout.startswith("FAILED")
        if args:
            assert _peak_mb(proc) < 300, f"verify --deep {name}: {_peak_mb(proc):.0f} MB"


def test_verify_json_of_the_escape_bundle_is_inert(hostile: Dict[str, Path]) -> None:
    proc = _run("verify", str(hostile["escapes"]), "--json")
    assert proc.returncode == 3
    assert "\x1b" not in proc.stdout and "\u202e" not in proc.stdout and "\x9b" not in proc.stdout
    report = json.loads(proc.stdout)
    assert report["bundle"]["publisher"] == ESCAPE_PUBLISHER  # the data itself is unchanged
    assert report["bundle"]["collection"] == ESCAPE_COLLECTION


def test_verify_under_a_pty_shows_no_escape_and_says_not_trusted(hostile: Dict[str, Path]
                                                                 ) -> None:
    if shutil.which("script") is None:
        pytest.skip("util-linux `script` is needed for a pseudo-terminal")
    command = f"{sys.executable} -m mirrorkit verify {hostile['escapes']}"
    proc = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True,
                          timeout=120, cwd=REPO)
    assert proc.returncode == 3
    out = proc.stdout.decode("utf-8", "replace")
    # click's progress bar hides and shows the cursor (its own, on stderr); nothing else may be
    # a control sequence, a C1 control or a direction override.
    rest = out.replace("\x1b[?25l", "").replace("\x1b[?25h", "")
    for bad in ("\x1b", "\x9b", "\x07", "\u202e", "\u2066"):
        assert bad not in rest, repr(bad)
    lines = [line for line in rest.replace("\r", "\n").splitlines() if line.strip()]
    verdict = [line for line in lines if "TRUSTED" in line]
    assert verdict[0].startswith("VALID BUT NOT TRUSTED")
    assert not any(line.startswith("OK") for line in lines)
    assert "Lantern Rights Watch\\x1b[2K\\x0d\\x1b[1AOK: intact" in out  # shown, inert


# -- kit ---------------------------------------------------------------------------------------


def test_kit_refuses_damaged_parts_and_escapes_texts(hostile: Dict[str, Path],
                                                     tmp_path: Path) -> None:
    for name, part in (("deep-datapackage", "datapackage.json is damaged"),
                       ("deep-pages", "pages/pages.jsonl line 3 is damaged")):
        proc = _run("kit", str(hostile[name]), "-o", str(tmp_path / name))
        assert proc.returncode == 1 and part in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and not (tmp_path / name).exists()
        assert _peak_mb(proc) < 300
    out = tmp_path / "escapes-kit"
    proc = _run("kit", str(hostile["escapes"]), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert _peak_mb(proc) < 300
    assert "\x1b" not in proc.stdout + proc.stderr
    for text in ("README.txt", "START-HERE.html"):
        body = (out / text).read_text(encoding="utf-8-sig")
        assert "\x1b" not in body and "\u202e" not in body and "\x9b" not in body
        assert "Lantern Rights Watch\\x1b[2K" in body
    check = subprocess.run([sys.executable, str(out / "mirrorkit-serve.pyz"), "--check"],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 3 and "NOT trusted" in check.stdout
    assert "\x1b" not in check.stdout + check.stderr
    # Bundles the kit would refuse, dropped next to the reader by someone else: --check names
    # the damaged part of each and exits 1, without a traceback, the others still checked.
    for name in ("deep-datapackage", "deep-index", "inflating", "plain-bomb"):
        shutil.copy(hostile[name], out / hostile[name].name)
    check = subprocess.run([sys.executable, str(out / "mirrorkit-serve.pyz"), "--check"],
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 1, check.stdout + check.stderr
    assert "Traceback" not in check.stdout + check.stderr
    assert "FAILED" in check.stdout and "datapackage.json is damaged" in check.stdout
    assert check.stdout.count("OK, NOT trusted") == 4  # escapes, deep-index, both bombs


def test_kit_force_replaces_only_an_earlier_kit(hostile: Dict[str, Path], tmp_path: Path) -> None:
    user = tmp_path / "documents"
    (user / "photos").mkdir(parents=True)
    (user / "thesis.odt").write_bytes(b"five years of work")
    (user / "photos" / "a.jpg").write_bytes(b"\xff\xd8")
    proc = _run("kit", str(hostile["quadratic"]), "-o", str(user), "--force")
    assert proc.returncode == 2 and "not a mirrorkit kit" in proc.stderr
    assert (user / "thesis.odt").read_bytes() == b"five years of work"
    assert (user / "photos" / "a.jpg").exists()

    kit = tmp_path / "kit"
    assert main(["kit", str(hostile["quadratic"]), "-o", str(kit), "-q"]) == 0
    assert (kit / MARKER_NAME).is_file()
    (kit / "my-notes.txt").write_text("added to the stick by its owner")
    assert main(["kit", str(hostile["escapes"]), "-o", str(kit), "--force", "-q"]) == 2
    assert (kit / "my-notes.txt").exists() and (kit / "quadratic.wacz").exists()
    (kit / "my-notes.txt").unlink()
    assert main(["kit", str(hostile["escapes"]), "-o", str(kit), "--force", "-q"]) == 0
    assert (kit / "escapes.wacz").exists() and not (kit / "quadratic.wacz").exists()


# -- output paths ------------------------------------------------------------------------------


def test_bundle_output_never_replaces_a_users_file(tmp_path: Path, monkeypatch: Any,
                                                   interop: Path) -> None:
    monkeypatch.setenv("MIRRORKIT_PASSPHRASE", "")
    assert main(["key", "generate", "--name", "T", "--no-passphrase",
                 "--out", str(tmp_path / "t.key")]) == 0
    thesis = tmp_path / "thesis.docx"  # a ZIP too, but not a bundle
    import zipfile

    with zipfile.ZipFile(thesis, "w") as zf:
        zf.writestr("word/document.xml", "<w:document/>")
    before = thesis.read_bytes()
    args = ["bundle", str(interop / "example.warc.gz"), "--key", str(tmp_path / "t.key")]
    assert main(args + ["-o", str(thesis)]) == 2
    assert thesis.read_bytes() == before
    assert main(args + ["-o", str(tmp_path)]) == 2  # a folder
    out = tmp_path / "b.wacz"
    assert main(args + ["-o", str(out)]) == 0
    assert main(args + ["-o", str(out)]) == 0  # an earlier bundle is replaced
    with WaczReader(out) as reader:
        assert reader.datapackage["wacz_version"] == "1.1.1"


def _qr_images(folder: Path, name: str, data: bytes) -> Path:
    from mirrorkit.qr import render, transfer

    folder.mkdir()
    enc = transfer.encode_bytes(data, name, transfer.max_symbol_size(
        render.alnum_capacity(10, "M")), 20)
    for i, text in enumerate(enc.frames):
        render.image(text, "M", 10).save(folder / f"f{i:03}.png")
    return folder


@pytest.mark.parametrize("name, problem", [
    ("a\x00b.txt", "control or text-direction"),
    ("report\u202etxt.exe", "control or text-direction"),
    ("mirrorkit.qr-partial", "uses for its own files"),
    ("NUL.txt", "device name"),
])
def test_qr_decode_refuses_hostile_names(tmp_path: Path, name: str, problem: str,
                                         capsys: Any) -> None:
    images = _qr_images(tmp_path / "codes", name, b"payload " * 50)
    out = tmp_path / "out"
    out.mkdir()
    assert main(["qr", "decode", str(images), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert problem in err and "Traceback" not in err and "\u202e" not in err
    assert sorted(p.name for p in out.iterdir()) == []
    # the same codes rebuild under a name the user chooses
    assert main(["qr", "decode", str(images), "-o", str(out / "mine.txt"), "-q"]) == 0
    assert (out / "mine.txt").read_bytes() == b"payload " * 50


def test_qr_decode_output_must_be_a_file(tmp_path: Path) -> None:
    from mirrorkit.qr.decode import decode_inputs

    images = _qr_images(tmp_path / "codes", "x.txt", b"x" * 300)
    with pytest.raises(UsageError, match="is a special file"):
        decode_inputs([images], Path("/dev/null"), verify=False)
    link = tmp_path / "link.txt"
    link.symlink_to(tmp_path / "elsewhere.txt")
    with pytest.raises(UsageError, match="is a link"):
        decode_inputs([images], link, verify=False)
