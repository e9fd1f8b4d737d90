"""The USB kit: built from a real signed bundle, checked with sha256sum and vermin, and its
zipapp run in a Python with no site-packages, serving and verifying over real HTTP."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from mirrorkit.cli import main
from mirrorkit.kit.build import MARKER_NAME, SUMS_NAME, ZIPAPP_NAME

VENV_BIN = Path(sys.executable).parent
PUBLISHER = "Lantern Kit Test"


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, interop: Path) -> Dict[str, str]:
    """A real bundle of a real site (iana.org, with revisits), signed with a fresh key."""
    from mirrorkit.bundle import create_bundle
    from mirrorkit.trust.signing import generate_key

    home = tmp_path_factory.mktemp("kit-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIRRORKIT_HOME", str(home))
        key = generate_key(PUBLISHER)
        out = tmp_path_factory.mktemp("bundles") / "iana.wacz"
        create_bundle([interop / "iana.warc.gz"], out, key=key, title="IANA (kit test)",
                      collection="kit-test", sequence=1, text=True)
    return {"path": str(out), "fingerprint": key.fingerprint}


@pytest.fixture(scope="module")
def kit(signed: Dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("usb") / "kit"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIRRORKIT_HOME", str(tmp_path_factory.mktemp("kit-home")))
        assert main(["kit", signed["path"], "-o", str(out), "-q"]) == 0
    return out


def _tamper(src: Path, dest: Path) -> None:
    """Copy a bundle, flipping one byte in the middle of its WARC (a silent bit flip)."""
    shutil.copyfile(src, dest)
    with zipfile.ZipFile(dest) as zf:
        info = next(i for i in zf.infolist() if i.filename.startswith("archive/"))
    with dest.open("r+b") as fh:
        fh.seek(info.header_offset + 26)
        name_len, extra_len = (int.from_bytes(fh.read(2), "little") for _ in range(2))
        pos = info.header_offset + 30 + name_len + extra_len + info.compress_size // 2
        fh.seek(pos)
        byte = fh.read(1)
        fh.seek(pos)
        fh.write(bytes([byte[0] ^ 0x01]))


def test_kit_holds_bundle_reader_texts_and_sums(kit: Path) -> None:
    names = sorted(p.name for p in kit.iterdir())
    assert names == [MARKER_NAME, "READER.html", "README.txt", SUMS_NAME, "START-HERE.html",
                     "iana.wacz", ZIPAPP_NAME]
    assert not list(kit.parent.glob(".kit.*")), "a temporary folder was left behind"
    out = subprocess.run(["sha256sum", "-c", SUMS_NAME], cwd=kit, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count(": OK") == 6  # all but SHA256SUMS itself


def test_kit_json_describes_bundle(signed: Dict[str, str], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kit", signed["path"], "-o", str(tmp_path / "k"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (bundle,) = data["bundles"]
    assert bundle["fingerprint"] == signed["fingerprint"]
    assert bundle["publisher"] == PUBLISHER and bundle["pages"] > 0
    assert bundle["trusted"] is False  # not in this (empty) trust store
    assert data["zipapp"]["packages"]["click"].startswith("8.1.")  # the 3.9-compatible one
    assert "cryptography" not in data["zipapp"]["packages"]
    sums = (tmp_path / "k" / SUMS_NAME).read_text()
    assert f"{data['files']['iana.wacz']}  iana.wacz" in sums


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: List[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "srcset", "data")]
        if tag == "link":
            self.refs.append("<link>")


def test_texts_are_bilingual_with_the_real_fingerprint(kit: Path, signed: Dict[str, str]) -> None:
    fp = signed["fingerprint"]
    page = (kit / "START-HERE.html").read_text(encoding="utf-8")
    readme_bytes = (kit / "README.txt").read_bytes()
    assert readme_bytes.startswith(b"\xef\xbb\xbf") and b"\r\n" in readme_bytes  # for Notepad
    readme = readme_bytes.decode("utf-8-sig")
    for text in (page, readme):
        assert text.count(fp) == 2  # once in each language
        assert PUBLISHER in text
        assert "python3 mirrorkit-serve.pyz" in text and "py mirrorkit-serve.pyz" in text
        assert "It proves who packaged this archive and that it has not changed since" in text \
            .replace("\r\n", " ").replace("\n", " ").replace("  ", " ")
        for zh in ("核对指纹", "启动阅读程序", "不能证明原始服务器当时发送的内容", "如果验证失败"):
            assert zh in text.replace("\r\n", "").replace("\n", "").replace(" ", "")
    assert "${" not in page and "${" not in readme
    links = _Links()
    links.feed(page)
    assert links.refs and all(ref.startswith("#") for ref in links.refs), links.refs


def _unpacked(kit: Path, dest: Path) -> Path:
    with zipfile.ZipFile(kit / ZIPAPP_NAME) as zf:
        names = zf.namelist()
        zf.extractall(dest)
    assert not [n for n in names if n.endswith((".so", ".pyd", ".dylib"))]
    assert not [n for n in names if n.startswith(("cryptography/", "mirrorkit/capture/"))]
    assert "__main__.py" in names and "serve/__init__.py" in names
    return dest


def test_zipapp_contents_meet_the_python_39_floor(kit: Path, tmp_path: Path) -> None:
    root = _unpacked(kit, tmp_path / "pyz")
    # werkzeug reads sys.orig_argv only under `if sys.version_info >= (3, 10)`; six.py holds
    # Python 2 branches that vermin cannot combine (it supports 2.7 and 3.3+).
    out = subprocess.run(
        [str(VENV_BIN / "vermin"), "-t=3.9-", "--no-tips", "--violations",
         "--exclude", "sys.orig_argv", "--exclude-regex", r"(^|/)six\.py$", "."],
        cwd=root, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Minimum required versions: 3.9" in out.stdout or \
        "Minimum required versions: 3.8" in out.stdout


def test_zipapp_is_reproducible(tmp_path: Path) -> None:
    from mirrorkit.kit.pyz import build_zipapp

    first = build_zipapp(tmp_path / "one.pyz")
    second = build_zipapp(tmp_path / "two.pyz")
    assert first.path.read_bytes() == second.path.read_bytes()


def _isolated(args: List[str], cwd: Path, env: Dict[str, str],
              python: Optional[str] = None) -> subprocess.Popen[str]:
    # -I: no user site, no PYTHON* variables; -S: no site-packages at all.
    return subprocess.Popen([python or sys.executable, "-I", "-S", ZIPAPP_NAME, *args],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, encoding="utf-8")


def _lines_until(proc: subprocess.Popen[str], marker: str) -> Iterator[str]:
    assert proc.stdout is not None
    for line in proc.stdout:
        yield line
        if marker in line:
            return
    raise AssertionError(f"the reader stopped before printing {marker!r}")


def _serve_and_read(kit: Path, signed: Dict[str, str], tmp_path: Path,
                    python: Optional[str] = None) -> str:
    """Run the reader isolated, read its index and one replayed page; returns its output."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    proc = _isolated(["--no-browser", "--port", "0", "--fingerprint", signed["fingerprint"]],
                     kit, env, python=python)
    watchdog = threading.Timer(120, proc.kill)  # never hang the suite on a silent reader
    watchdog.start()
    try:
        seen = list(_lines_until(proc, "fingerprint 指纹:"))
        text = "".join(seen)
        assert "signatures checked with ecdsa" in text  # cryptography is not reachable
        assert "OK, trusted" in text and signed["fingerprint"] in text
        url = next(line.split(": ", 1)[1].strip() for line in seen if "Serving at" in line)
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=30) as resp:
            index = resp.read().decode("utf-8")
        assert "IANA (kit test)" in index and "state-trusted" in index
        with urllib.request.urlopen(url + "_mk/static/style.css", timeout=30) as resp:
            assert resp.status == 200 and b"{" in resp.read()  # read from inside the zipapp
        with urllib.request.urlopen(url + "iana/", timeout=30) as resp:
            listing = resp.read().decode("utf-8")
        page = next(part.split('"', 1)[0] for part in listing.split('href="/iana/')[1:]
                    if part[:1].isdigit())
        with urllib.request.urlopen(url + "iana/" + page, timeout=30) as resp:
            reader = resp.read().decode("utf-8", "replace")
            assert resp.status == 200
        # the reader page frames the archived page from the bundle's own content origin
        frame = reader.split('<iframe id="mk-frame" src="', 1)[1].split('"', 1)[0]
        assert frame.startswith("http://127.0.0.1:") and not frame.startswith(url)
        with urllib.request.urlopen(frame.replace("&amp;", "&"), timeout=30) as resp:
            body = resp.read().decode("utf-8", "replace")
        assert "Internet Assigned Numbers Authority" in body
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
        watchdog.cancel()
    assert proc.returncode == 0, rest
    assert not list(tmp.iterdir()), "the reader runs from its zipapp and writes no temp files"
    return text + rest


def test_zipapp_leaves_no_trace_after_sigkill(kit: Path, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    before = {p.name for p in kit.iterdir()}
    env = dict(os.environ, TMPDIR=str(tmp), HOME=str(home))
    env.pop("MIRRORKIT_HOME", None)
    proc = _isolated(["--no-browser", "--port", "0"], kit, env)
    try:
        seen = "".join(_lines_until(proc, "Serving at"))
        url = seen.rsplit("Serving at 正在提供: ", 1)[1].split()[0]
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert resp.status == 200
    finally:
        proc.kill()  # SIGKILL: no clean-up code runs
        proc.communicate(timeout=30)
    assert not list(tmp.iterdir()) and not list(home.iterdir())
    assert {p.name for p in kit.iterdir()} == before  # not even a __pycache__


def test_zipapp_serves_and_verifies_with_no_site_packages(
        kit: Path, signed: Dict[str, str], tmp_path: Path) -> None:
    _serve_and_read(kit, signed, tmp_path)


def test_zipapp_check_reports_untrusted_and_tampered(kit: Path, tmp_path: Path,
                                                     signed: Dict[str, str]) -> None:
    proc = _isolated(["--check"], kit, dict(os.environ))
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 3, out  # intact, but its signer is in no trust store here
    assert "NOT trusted" in out and signed["fingerprint"] in out

    other = "0" * 64  # a card for some other key: the bundle is intact but must not be trusted
    proc = _isolated(["--check", "--fingerprint", other], kit, dict(os.environ))
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 3 and "DIFFERENT key" in out and "OK, trusted" not in out

    bad_kit = tmp_path / "bad"
    shutil.copytree(kit, bad_kit)
    _tamper(Path(signed["path"]), bad_kit / "iana.wacz")
    proc = _isolated(["--check", "--fingerprint", signed["fingerprint"]], bad_kit,
                     dict(os.environ))
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out
    assert "FAILED" in out and "OK, trusted" not in out


def test_zipapp_rejects_bad_arguments(kit: Path, tmp_path: Path) -> None:
    proc = _isolated(["--check", "--fingerprint", "not-a-fingerprint"], kit, dict(os.environ))
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "Traceback" not in out
    proc = _isolated([str(tmp_path / "missing.wacz")], kit, dict(os.environ))
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "missing.wacz" in out and "Traceback" not in out
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = _isolated(["--no-browser", "--port", str(taken.getsockname()[1])], kit,
                         dict(os.environ))
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "cannot listen" in out and "Traceback" not in out


def _python39() -> Optional[str]:
    candidates = [shutil.which("python3.9")] + sorted(
        glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")))
    for cand in filter(None, candidates):
        try:
            ok = subprocess.run([cand, "-c", "import sys; assert sys.version_info[:2] == (3, 9)"],
                                capture_output=True, timeout=30).returncode == 0
        except OSError:
            continue
        if ok:
            return cand
    return None


def test_zipapp_runs_on_real_python_39(kit: Path, signed: Dict[str, str],
                                       tmp_path: Path) -> None:
    python = _python39()
    if python is None:
        pytest.skip("no Python 3.9 on this machine: vermin is the floor check")
    assert "Python 3.9." in _serve_and_read(kit, signed, tmp_path, python=python)


def test_kit_refuses_a_tampered_bundle_and_leaves_nothing(
        signed: Dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "in" / "iana.wacz"
    bad.parent.mkdir()
    _tamper(Path(signed["path"]), bad)
    out = tmp_path / "usb" / "kit"
    assert main(["kit", str(bad), "-o", str(out)]) == 1
    assert "failed verification" in capsys.readouterr().err
    assert not out.exists() and not list((tmp_path / "usb").iterdir())


def test_kit_usage_errors(signed: Dict[str, str], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    assert main(["kit", signed["path"], "-o", str(busy)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (busy / "keep.txt").read_text() == "mine"
    assert main(["kit", str(tmp_path / "nope.wacz"), "-o", str(tmp_path / "k")]) == 2
    assert main(["kit", signed["path"], "-o", str(tmp_path / "k"), "-f", "zz"]) == 2
    # --force never replaces a folder that is not a kit (issue 11: it deleted a user's files)...
    assert main(["kit", signed["path"], "-o", str(busy), "--force", "-q"]) == 2
    assert (busy / "keep.txt").read_text() == "mine"
    # ...and replaces a previous kit only once the new one is complete.
    kit = tmp_path / "kit"
    assert main(["kit", signed["path"], "-o", str(kit), "-q"]) == 0
    (kit / "README.txt").write_text("old")
    assert main(["kit", signed["path"], "-o", str(kit), "--force", "-q"]) == 0
    assert (kit / ZIPAPP_NAME).is_file() and (kit / "README.txt").read_text() != "old"
