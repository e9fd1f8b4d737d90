"""The USB kit's reader: `python3 mirrorkit-serve.pyz [--port N] [--lan] [--no-browser] [--check]
[--fingerprint FP] [BUNDLES...]`. This file becomes the zipapp's `__main__.py`.

It verifies every bundle (default: each .wacz next to the .pyz), then serves the ones that pass
with waitress on 127.0.0.1 and opens the browser. It must run on Python >= 3.9 with nothing but
the standard library and what the zipapp carries. Everything is imported and read (templates,
static files) from inside the zipapp itself: nothing is unpacked, so nothing is left on the
reader's computer, even after a kill -9.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from pathlib import Path
from typing import Any, List, Optional, Sequence

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNTRUSTED = 0, 1, 2, 3
_FLOOR = (3, 9)


def _neutral_lines(text: str) -> str:
    """Escapes control and text-direction characters from bundles (see formats/safetext.py);
    before the reader's own modules are importable, only this program's text is printed."""
    try:
        from mirrorkit.formats.safetext import neutral_lines
    except ImportError:
        return text
    return neutral_lines(text)


def _say(text: str = "") -> None:
    print(_neutral_lines(text), flush=True)


def _err(text: str) -> None:
    print(_neutral_lines(text), file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mirrorkit-serve.pyz",
        description="Check the signed web archives (.wacz) of this kit and show them in your "
                    "browser, offline. 检查本工具包中带签名的网页存档并在浏览器中离线显示。",
        epilog="Exit codes: 0 all archives verified, 1 an archive failed verification, 2 bad "
               "command line, 3 (with --check) verified but the publisher is not trusted.")
    parser.add_argument("bundles", nargs="*", metavar="FILE.wacz",
                        help="archives to open (default: every .wacz next to this program)")
    parser.add_argument("--fingerprint", "-f", metavar="FP",
                        help="the publisher's fingerprint, typed from your printed card: "
                             "archives signed with it are shown as trusted")
    parser.add_argument("--port", "-p", type=int, default=0,
                        help="port to listen on (default: a free one)")
    parser.add_argument("--lan", action="store_true",
                        help="also accept phones and computers on this Wi-Fi or hotspot")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--scripts", action="store_true",
                        help="let archived pages run their scripts (off by default; only for "
                             "verified archives) 允许存档页面运行脚本（默认关闭）")
    parser.add_argument("--check", action="store_true",
                        help="only verify the archives, print the result and exit")
    return parser


def _here() -> Path:
    """The folder holding the .pyz (or this file, when run from a source tree)."""
    here = Path(__file__).resolve().parent
    return here.parent if here.is_file() else here


def _bundles(args: argparse.Namespace) -> List[Path]:
    if args.bundles:
        return [Path(b) for b in args.bundles]
    return sorted(_here().glob("*.wacz"))


def _line(state: str, name: str, publisher: Optional[str], fingerprint: Optional[str],
          reason: str, typed: Optional[str] = None) -> None:
    """One bundle's verification outcome, in both languages. The verdict words are the
    program's; the name, publisher and reason come from the bundle and are escaped."""
    from mirrorkit.formats.safetext import neutral

    name, reason = neutral(name), neutral(reason)
    publisher = neutral(publisher) if publisher else None
    fingerprint = neutral(fingerprint) if fingerprint else None
    if state == "failed":
        _say(f"  FAILED 验证失败: {name}: {reason}")
        _say("      Do not trust this archive. 请勿信任此存档。")
        return
    if state == "trusted":
        _say(f"  OK, trusted 已验证，受信任: {name}")
    else:
        _say(f"  OK, NOT trusted 已验证，未受信任: {name}")
    _say(f"      publisher 发布者: {publisher or 'not named 未注明'}")
    _say(f"      fingerprint 指纹: {fingerprint or '?'}")
    if state != "trusted" and typed and fingerprint and typed != fingerprint:
        _say("      WARNING: signed by a DIFFERENT key than the fingerprint you typed: do not")
        _say("      trust it. 警告：签名密钥与你输入的指纹不符，请勿信任。")
    elif state != "trusted":
        _say("      Compare the fingerprint with the publisher's card. 请与发布者的卡片核对指纹。")


def _damage_note(report: Any) -> None:
    """The publisher's own statement that some records were damaged before bundling."""
    damaged = getattr(report, "damaged_at_source", None) or []
    if damaged:
        _say(f"      {len(damaged)} record(s) damaged before it was bundled (not shown) "
             f"打包前已损坏的记录: {len(damaged)}")


def _check(paths: Sequence[Path], fingerprint: Optional[str]) -> int:
    """Verify each bundle, print the outcome; the exit code for --check."""
    from mirrorkit.errors import MirrorkitError
    from mirrorkit.verify.chain import verify_chain  # an update is checked with its bases

    failed = untrusted = 0
    for path in paths:
        try:
            # remember=False: the reader leaves no record of what was read on this computer.
            report = verify_chain(path, fingerprint=fingerprint, remember=False).update
        except MirrorkitError as err:
            failed += 1
            _line("failed", path.name, None, None, err.message)
            continue
        domain = getattr(report.signer, "domain", None)
        publisher = report.bundle.get("publisher") or (f"{domain} (domain)" if domain else None)
        fp = report.signer.fingerprint if report.signer is not None else None
        _line("trusted" if report.trusted else "untrusted", path.name, publisher, fp, "",
              fingerprint)
        _damage_note(report)
        untrusted += not report.trusted
    if failed:
        _say(f"{failed} archive(s) FAILED verification. 存档验证失败。")
        return EXIT_FAILED
    return EXIT_UNTRUSTED if untrusted else EXIT_OK


def _report_when_verified(bundles: Sequence[Any], typed: Optional[str]) -> None:
    """Print each bundle's outcome as the app's background verification finishes it."""
    for bundle in bundles:
        bundle.wait_verified()
        _line(bundle.state, bundle.filename, bundle.publisher, bundle.fingerprint, bundle.reason,
              typed)
        _damage_note(getattr(bundle, "report", None))


def _serve(paths: Sequence[Path], args: argparse.Namespace) -> int:
    from serve.server import start_server

    # The app verifies every bundle in the background (one pass over each file) and never
    # replays a failed one as good; we print its verdicts as they come.
    server = start_server([str(p) for p in paths], port=args.port, lan=args.lan,
                          fingerprint=args.fingerprint, scripts=args.scripts)
    _say(f"Serving at 正在提供: {server.url}")
    for line in server.lan_lines("On this network 局域网地址"):
        _say(line)
    _say("Press Ctrl+C to stop. 按 Ctrl+C 停止。")
    threading.Thread(target=_report_when_verified, args=(server.bundles, args.fingerprint),
                     daemon=True).start()
    server.serve_forever(not args.no_browser)  # Ctrl+C, or SIGTERM (see _stop_on_signals)
    _say("Stopped. 已停止。")
    return EXIT_OK


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _stop_on_signals() -> None:
    """Stop cleanly (close the bundle files) when killed or the terminal closes."""
    import signal

    for name in ("SIGTERM", "SIGHUP", "SIGBREAK"):
        sig = getattr(signal, name, None)
        if sig is not None:
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                signal.signal(sig, _interrupt)


def run(argv: Optional[Sequence[str]] = None) -> int:
    """Verify and serve the kit's bundles; returns the exit code and raises nothing on bad input."""
    for stream in (sys.stdout, sys.stderr):
        # A Windows console in a Western code page cannot print Chinese: replace, never crash.
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]
    args = _parser().parse_args(argv)
    if sys.version_info < _FLOOR:
        _err("error: this reader needs Python 3.9 or newer 需要 Python 3.9 或更高版本")
        return EXIT_USAGE
    paths = _bundles(args)
    missing = [p for p in paths if not p.is_file()]
    if missing:
        _err(f"error: no such archive 找不到存档: {missing[0]}")
        return EXIT_USAGE
    if not paths:
        _err(f"error: no .wacz archive next to this program in {_here()} 未找到存档")
        return EXIT_USAGE
    _stop_on_signals()
    try:
        from mirrorkit.errors import MirrorkitError
        from mirrorkit.trust.signing import backend_name, normalize_fingerprint

        try:
            if args.fingerprint:
                args.fingerprint = normalize_fingerprint(args.fingerprint)
        except MirrorkitError as err:
            _err(f"error: {err.message}")
            return EXIT_USAGE
        _say(f"mirrorkit offline reader 离线阅读器 (Python {sys.version.split()[0]}, "
             f"signatures checked with {backend_name()})")
        if args.check:
            return _check(paths, args.fingerprint)
        try:
            return _serve(paths, args)
        except MirrorkitError as err:  # e.g. the port is taken
            _err(f"error: {err.message}")
            for line in err.diagnostics():
                _err(f"  {line}")
            return err.exit_code
    except KeyboardInterrupt:
        _say("Stopped. 已停止。")
        return EXIT_OK
    except Exception as err:  # a recipient gets one line, never a traceback
        _err(f"error: the reader stopped on an unexpected problem 意外错误: "
             f"{type(err).__name__}: {err}")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(run())
