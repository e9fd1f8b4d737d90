"""Capture speed: mirrorkit vs `wget --warc-file -r -p` on the same loopback site.

The site has N article pages (default 2,000) reached through 20 list pages, each article with a
shared stylesheet (with a font and a background image in it), a shared logo and an image of its
own. Every response waits 40 ms before it is sent, as a real network would, on a threaded server
so that waiting never serialises concurrent requests. Both tools run as child processes; we
report wall time, HTML pages per second and CPU time (user + system) per page.

    .venv/bin/python benchmarks/capture_bench.py [--quick] [--pages N] [--per-host 8]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Tuple

from _common import serve_site
from warcio.archiveiterator import ArchiveIterator

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
LISTS = 20
LOREM = ("Water access in the lower basin fell again this year; villagers describe wells that "
         "run dry by noon and tanker deliveries that never arrive. ") * 6


def _page(i: int, n: int) -> bytes:
    lst = i * LISTS // n
    prev_link = f'<a href="/a/{i - 1}.html">previous</a>' if i else ""
    next_link = f'<a href="/a/{i + 1}.html">next</a>' if i + 1 < n else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Article {i}</title>
<link rel="stylesheet" href="/static/site.css"><link rel="icon" href="/static/logo.png">
</head><body><header><img src="/static/logo.png" alt="logo">
<nav><a href="/">Home</a> <a href="/list/{lst}.html">List {lst}</a></nav></header>
<main><h1>Article {i}</h1><img src="/img/{i}.png" alt="figure {i}">
<p>{LOREM}</p><p>{LOREM}</p></main>
<footer>{prev_link} {next_link}</footer></body></html>""".encode()


def _list(j: int, n: int) -> bytes:
    per = n // LISTS
    items = "".join(f'<li><a href="/a/{i}.html">Article {i}</a></li>'
                    for i in range(j * per, n if j == LISTS - 1 else (j + 1) * per))
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>List {j}</title>'
            f'<link rel="stylesheet" href="/static/site.css"></head>'
            f"<body><ul>{items}</ul></body></html>").encode()


def _index() -> bytes:
    items = "".join(f'<li><a href="/list/{j}.html">List {j}</a></li>' for j in range(LISTS))
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>Home</title>'
            f'<link rel="stylesheet" href="/static/site.css"></head>'
            f"<body><ul>{items}</ul></body></html>").encode()


CSS = (b"@font-face{font-family:Body;src:url(/static/body.woff2) format('woff2')}"
       b"body{font-family:Body;background:url(/static/bg.png)}")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 1500


def make_server(n: int, delay: float) -> ThreadingHTTPServer:
    """A threaded loopback server for the synthetic site, each response delayed."""

    def respond(path: str) -> Tuple[int, str, bytes]:
        html = "text/html; charset=utf-8"
        if path in ("/", "/index.html"):
            return 200, html, _index()
        if path.startswith("/list/"):
            return 200, html, _list(int(path[6:-5]), n)
        if path.startswith("/a/"):
            return 200, html, _page(int(path[3:-5]), n)
        if path == "/static/site.css":
            return 200, "text/css", CSS
        if path.endswith(".png"):
            return 200, "image/png", PNG + path.encode()
        if path.endswith(".woff2"):
            return 200, "font/woff2", b"wOF2" + b"\x01" * 3000
        raise ValueError(path)

    return serve_site(respond, delay, gzip_text=True)


def _count(folder: Path) -> Dict[str, int]:
    html = fetches = 0
    for path in folder.rglob("*.warc.gz"):
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type not in ("response", "revisit"):
                    continue
                fetches += 1
                ctype = rec.http_headers.get_header("Content-Type") or ""
                if "html" in ctype and rec.http_headers.get_statuscode() == "200":
                    html += 1
    return {"html_pages": html, "fetches": fetches}


def _run(name: str, cmd: List[str], cwd: Path, out: Path) -> Dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 8):  # wget exits 8 when some URL gave an HTTP error
        print(proc.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"{name} failed with exit code {proc.returncode}")
    counts = _count(out)
    pages = counts["html_pages"]
    return {
        "tool": name, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), **counts,
        "pages_per_s": round(pages / wall, 1) if wall else 0.0,
        "cpu_ms_per_page": round(1000 * cpu / pages, 2) if pages else None,
    }


def main() -> None:
    """Run both captures and print/save the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 pages instead of 2,000")
    parser.add_argument("--pages", type=int, default=None)
    parser.add_argument("--per-host", type=int, default=8)
    parser.add_argument("--delay", type=float, default=0.04)
    args = parser.parse_args()
    n = args.pages or (200 if args.quick else 2000)
    if not shutil.which("wget"):
        raise SystemExit("wget is not installed (apt-get install wget)")
    work = Path(tempfile.mkdtemp(prefix="capture-bench-"))
    server = make_server(n, args.delay)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    results = []
    try:
        mk_out = work / "mirrorkit"
        results.append(_run("mirrorkit", [
            sys.executable, "-m", "mirrorkit", "capture", url, "-o", str(mk_out),
            "--per-host", str(args.per_host), "--concurrency", str(args.per_host), "--quiet",
        ], REPO, mk_out))
        wget_out = work / "wget"
        wget_out.mkdir()
        results.append(_run("wget", [
            "wget", "-q", "-r", "-p", "-l", "inf", "--warc-file=capture", "-P", "files",
            "-e", "robots=on", url,
        ], wget_out, wget_out))
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(work, ignore_errors=True)
    mk, wg = results
    ratio_speed = mk["pages_per_s"] / wg["pages_per_s"] if wg["pages_per_s"] else None
    ratio_cpu = (mk["cpu_ms_per_page"] / wg["cpu_ms_per_page"]
                 if wg["cpu_ms_per_page"] else None)
    print(f"\nCapture of {n + LISTS + 1} HTML pages (+ requisites), {args.delay * 1000:.0f} ms "
          f"per response, mirrorkit --per-host {args.per_host}\n")
    print(f"{'tool':<10} {'wall s':>8} {'HTML pages':>11} {'fetches':>8} {'pages/s':>8} "
          f"{'CPU s':>7} {'CPU ms/page':>12}")
    for r in results:
        print(f"{r['tool']:<10} {r['wall_s']:>8} {r['html_pages']:>11} {r['fetches']:>8} "
              f"{r['pages_per_s']:>8} {r['cpu_s']:>7} {r['cpu_ms_per_page']:>12}")
    print(f"\nmirrorkit / wget: {ratio_speed:.1f}x pages per second (goal >= 5x), "
          f"{ratio_cpu:.1f}x CPU per page (goal <= 2x)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {"pages": n, "delay_s": args.delay, "per_host": args.per_host,
              "cpus": os.cpu_count(), "results": results,
              "speed_ratio": ratio_speed and round(ratio_speed, 2),
              "cpu_ratio": ratio_cpu and round(ratio_cpu, 2),
              "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    target = RESULTS / ("capture-quick.json" if args.quick else "capture.json")
    target.write_text(json.dumps(record, indent=2))
    print(f"results written to {target}")


if __name__ == "__main__":
    main()
