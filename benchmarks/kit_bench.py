"""USB kit benchmark: from a bundle on a stick to the first page on screen, mirrorkit's kit
reader against pywb, on the same signed WACZ in the same run.

mirrorkit: `mirrorkit kit` builds the folder (copy, full verification, zipapp, texts, sums), then
`python3 -I -S mirrorkit-serve.pyz` (no site-packages, as on a recipient's machine) runs from
inside its zip, opens the bundle in place, serves, and verifies it in the background; its first
page is also compared with `mirrorkit serve` on the same file (goal: within 1.3x).
pywb: `wb-manager add --unpack-wacz` (it cannot replay a WACZ in place), then `wayback`.
Reported: seconds to the first replayed page, seconds until the bundle is fully verified (pywb
verifies nothing), peak RSS of the server, and the kit build time and size.

    .venv/bin/python benchmarks/kit_bench.py [--quick] [--pages N]

Writes benchmarks/results/kit_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from io import BytesIO
from pathlib import Path
from typing import Any, Dict, List

from _common import free_port, rss_mb, stop, wait_ok

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
HOST = "http://bench.example/"
TS = "20260101000000"


def write_warc(path: Path, pages: int) -> None:
    """A WARC of `pages` small HTML pages (response records), like a mid-sized site."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for i in range(pages):
            body = (f"<!doctype html><html><head><title>Page {i}</title></head><body>"
                    f"<h1>Report {i}</h1><p>{'Text of the report. ' * 60}</p>"
                    f"<a href='/page-{i + 1}.html'>next</a></body></html>").encode()
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                                  ("Content-Length", str(len(body)))],
                                       protocol="HTTP/1.1")
            record = writer.create_warc_record(
                f"{HOST}page-{i}.html", "response", payload=BytesIO(body),
                http_headers=headers, warc_headers_dict={"WARC-Date": "2026-01-01T00:00:00Z"})
            writer.write_record(record)


def bench_kit(bundle: Path, work: Path, home: Path) -> Dict[str, Any]:
    env = dict(os.environ, MIRRORKIT_HOME=str(home))
    kit = work / "kit"
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "mirrorkit", "kit", str(bundle), "-o", str(kit), "-q"],
                   check=True, env=env)
    build = time.monotonic() - t0
    size = sum(p.stat().st_size for p in kit.iterdir())
    pyz = (kit / "mirrorkit-serve.pyz").stat().st_size
    port = free_port()
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-I", "-S", "mirrorkit-serve.pyz", "--no-browser",
                             "--port", str(port)], cwd=kit, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    verified: List[float] = []

    def watch() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "已验证" in line or "FAILED" in line:
                verified.append(time.monotonic())

    threading.Thread(target=watch, daemon=True).start()
    try:
        first = wait_ok(f"http://127.0.0.1:{port}/{bundle.stem}/{TS}/{HOST}page-1.html") - t0
        deadline = time.monotonic() + 600
        while not verified and time.monotonic() < deadline:
            time.sleep(0.02)
        rss = rss_mb(proc.pid)[1]
    finally:
        stop(proc)
    return {"build_s": build, "kit_bytes": size, "pyz_bytes": pyz, "first_page_s": first,
            "verified_s": (verified[0] - t0) if verified else None, "peak_rss_mb": rss}


def bench_serve(bundle: Path, home: Path) -> Dict[str, Any]:
    """`mirrorkit serve` on the same file: the installed reader the zipapp must keep up with."""
    env = dict(os.environ, MIRRORKIT_HOME=str(home))
    port = free_port()
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "mirrorkit", "serve", str(bundle), "--port",
                             str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        first = wait_ok(f"http://127.0.0.1:{port}/{bundle.stem}/{TS}/{HOST}page-1.html") - t0
        rss = rss_mb(proc.pid)[1]
    finally:
        stop(proc)
    return {"first_page_s": first, "peak_rss_mb": rss}


def bench_pywb(bundle: Path, work: Path) -> Dict[str, Any]:
    root = work / "pywb"
    root.mkdir()
    t0 = time.monotonic()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run([str(VENV_BIN / "wb-manager"), "init", "c"], cwd=root, check=True, **quiet)
    subprocess.run([str(VENV_BIN / "wb-manager"), "add", "--unpack-wacz", "c", str(bundle)],
                   cwd=root, check=True, **quiet)
    add = time.monotonic() - t0
    port = free_port()
    t1 = time.monotonic()
    proc = subprocess.Popen([str(VENV_BIN / "wayback"), "-p", str(port), "-b", "127.0.0.1"],
                            cwd=root, **quiet)
    try:
        first = wait_ok(f"http://127.0.0.1:{port}/c/{TS}/{HOST}page-1.html") - t1
        rss = rss_mb(proc.pid)[1]
    finally:
        stop(proc)
    return {"add_s": add, "first_page_s": first, "first_page_total_s": add + first,
            "peak_rss_mb": rss}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small bundle (2,000 pages)")
    parser.add_argument("--pages", type=int, default=None, help="pages in the bundle")
    args = parser.parse_args()
    pages = args.pages or (2000 if args.quick else 50000)
    sys.path.insert(0, str(REPO))
    from mirrorkit.bundle import create_bundle
    from mirrorkit.trust.signing import generate_key

    work = Path(tempfile.mkdtemp(prefix="kit-bench-"))
    try:
        home = work / "home"
        home.mkdir()
        os.environ["MIRRORKIT_HOME"] = str(home)
        warc = work / "bench.warc.gz"
        write_warc(warc, pages)
        bundle = Path(create_bundle([warc], work / "bench.wacz", key=generate_key("benchmark"),
                                    title="kit benchmark", text=True))
        (work / "m").mkdir()
        (work / "p").mkdir()
        ours = bench_kit(bundle, work / "m", home)
        serve = bench_serve(bundle, home)
        peer = bench_pywb(bundle, work / "p")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = [
        ("prepare (kit build / wb-manager add)", f"{ours['build_s']:.2f} s",
         f"{peer['add_s']:.2f} s"),
        ("start to first replayed page", f"{ours['first_page_s']:.2f} s",
         f"{peer['first_page_s']:.2f} s"),
        ("  ... `mirrorkit serve` on the same file", f"{serve['first_page_s']:.2f} s", "-"),
        ("  ... zipapp / mirrorkit serve (goal <= 1.3x)",
         f"{ours['first_page_s'] / serve['first_page_s']:.2f}x", "-"),
        ("prepare + first page", f"{ours['build_s'] + ours['first_page_s']:.2f} s",
         f"{peer['first_page_total_s']:.2f} s"),
        ("bundle fully verified", f"{ours['verified_s']:.2f} s" if ours["verified_s"] else "-",
         "never (no verification)"),
        ("server peak RSS", f"{ours['peak_rss_mb']:.0f} MB", f"{peer['peak_rss_mb']:.0f} MB"),
        ("kit size (reader)", f"{ours['kit_bytes'] / 1e6:.1f} MB "
                              f"({ours['pyz_bytes'] / 1e6:.2f} MB)", "-"),
    ]
    print(f"\nUSB kit reader vs pywb, {pages:,} pages ({bundle.name})")
    width = max(len(r[0]) for r in rows)
    print(f"{'':<{width}}  {'mirrorkit kit':>22}  {'pywb':>24}")
    for name, a, b in rows:
        print(f"{name:<{width}}  {a:>22}  {b:>24}")
    results = REPO / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    out = {"pages": pages, "mirrorkit_kit": ours, "mirrorkit_serve": serve, "pywb": peer,
           "python": sys.version.split()[0], "time": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                  time.gmtime())}
    (results / "kit_bench.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nwrote {results / 'kit_bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
