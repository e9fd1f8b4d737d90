"""The end-to-end demo: the built-in sample site is captured, signed with a throwaway key,
verified, packed into a USB kit and served, each step printing one line.

Everything goes to one folder (default `archives/demo/`): `capture/`, the demo key, the bundle
and `kit/`. Running the demo again replaces that folder, but only if an earlier demo made it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

from mirrorkit.errors import CaptureError, UsageError

PathLike = Union[str, "Path"]
DEFAULT_OUT = Path("archives") / "demo"
MARKER = ".mirrorkit-demo"
KEY_NAME = "mirrorkit demo key - not for real use"
BUNDLE_NAME = "lantern-sample.wacz"
TITLE = "Lantern Rights Watch (sample site)"


@dataclass
class DemoResult:
    """Where the demo put things, and the demo key's fingerprint."""

    out: Path
    capture: Path
    key: Path
    bundle: Path
    kit: Path
    fingerprint: str
    pages: int
    url: Optional[str] = None
    kind: str = "static"  # "browser" when a Chromium was found and ran the pages' scripts


def _prepare(out: Path) -> None:
    """Start from an empty folder; only ever delete one that an earlier demo made."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise UsageError(f"{out} already holds files that the demo did not make",
                             hint="choose another folder with --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by `mirrorkit demo`; the next demo run replaces this folder\n",
                              encoding="utf-8")


def _browser_available() -> Optional[str]:
    """The Chromium a browser capture would use, or None (then the demo captures statically)."""
    try:
        from mirrorkit.capture.browser_launch import check_playwright, find_chromium

        check_playwright()
        return find_chromium()
    except CaptureError:
        return None


def _capture(site_url: str, dest: Path, chromium: Optional[str]) -> int:
    from mirrorkit.capture import CaptureOptions, capture, check_seed

    opts = CaptureOptions(seeds=[check_seed(site_url)], out_dir=dest, concurrency=4,
                          operator="mirrorkit demo", argv=["demo"], browser=bool(chromium),
                          chromium=chromium, tabs=4)
    summary = capture(opts)
    if not summary.pages:
        raise CaptureError("the demo captured no page of the sample site")
    return summary.pages


def run_demo(out: PathLike = DEFAULT_OUT, *, serve: bool = True, port: int = 0,
             open_browser: bool = False,
             say: Callable[[str], None] = print) -> DemoResult:
    """Run every step of the demo, printing one line per step through `say`.

    With `serve`, blocks serving the kit's bundle until Ctrl-C. Raises UsageError when `out`
    holds files the demo did not make, and whatever a step raises (CaptureError, KitError...).
    """
    from mirrorkit.bundle import create_bundle
    from mirrorkit.kit.build import ZIPAPP_NAME, build_kit
    from mirrorkit.sample_site import SampleSite
    from mirrorkit.trust.signing import generate_key, save_private_key, write_public_key
    from mirrorkit.verify import verify_bundle

    out = Path(out)
    _prepare(out)
    capture_dir, bundle, kit_dir = out / "capture", out / BUNDLE_NAME, out / "kit"
    with SampleSite() as site:
        say(f"1. Sample site running at {site.url} (loopback only; partner host "
            f"{site.other_url})")
        chromium = _browser_available()
        pages = _capture(site.url, capture_dir, chromium)
    if chromium:
        say(f"2. Captured {pages} pages of the sample site into {capture_dir}/ with a browser "
            f"capture ({chromium} ran their scripts, so the JavaScript-built River Diary is in)")
    else:
        say(f"2. Captured {pages} pages of the sample site into {capture_dir}/ with a static "
            "capture (no Chromium found: pages built by JavaScript are not complete; install "
            "chromium and playwright for a browser capture)")

    key = generate_key(KEY_NAME)
    key_path = save_private_key(key, out / "demo-key.pem", passphrase=None)
    write_public_key(key, out / "demo-key.pub")
    say(f"3. Created a demo key (no passphrase, demo key - not for real use) in {key_path}: "
        f"{key.fingerprint}")

    create_bundle([capture_dir], bundle, key=key, title=TITLE, collection="lantern-demo",
                  sequence=1, text=True,
                  description="Made by `mirrorkit demo` from the built-in sample site.")
    say(f"4. Signed the capture into {bundle} ({bundle.stat().st_size // 1024} KiB, with "
        "full text for search)")

    # Trusting the demo key for this run only: it is never added to the trust store.
    report = verify_bundle(bundle, fingerprint=key.fingerprint, remember=False)
    say(f"5. Verified {bundle.name}: intact, signed by {report.signer.fingerprint}"  # type: ignore[union-attr]
        " (demo key trusted for this run only)")

    kit = build_kit([bundle], kit_dir, fingerprints=[key.fingerprint], force=True)
    say(f"6. Built the USB kit in {kit_dir}/ ({len(kit.files) + 1} files); try it with: "
        f"python3 {kit_dir / ZIPAPP_NAME} --fingerprint \"{key.fingerprint}\"")

    from mirrorkit.kit.build import READER_NAME
    from mirrorkit.reader import reader_sha256, write_single_file

    single = write_single_file(bundle, out / (Path(BUNDLE_NAME).stem + ".html"), verify=False)
    say(f"7. No Python needed: open {(kit_dir / READER_NAME).resolve().as_uri()} in any "
        f"browser and choose {kit_dir / BUNDLE_NAME}, or open the single-file edition "
        f"{single.resolve().as_uri()} (one file for a phone: copy it over and tap it). "
        f"Reader SHA-256: {reader_sha256()}")

    result = DemoResult(out=out, capture=capture_dir, key=key_path, bundle=bundle, kit=kit_dir,
                        fingerprint=key.fingerprint, pages=pages,
                        kind="browser" if chromium else "static")
    if serve:
        _serve(kit_dir / BUNDLE_NAME, key.fingerprint, port, open_browser, say, result)
    return result


def _serve(bundle: Path, fingerprint: str, port: int, open_browser: bool,
           say: Callable[[str], None], result: DemoResult) -> None:
    from serve.server import start_server

    server = start_server([bundle], port=port, fingerprint=fingerprint)
    result.url = server.url
    say(f"8. Serving the kit's bundle at {server.url} (Ctrl+C to stop)")
    server.serve_forever(open_browser)
    say("Stopped.")
