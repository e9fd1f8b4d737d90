"""Browser capture speed: `mirrorkit capture --browser` vs a plain Playwright script (the floor).

A generated JavaScript site: N pages (default 100), each an HTML shell whose script fetches the
page's JSON, renders its text and links, inserts an image and a lazy image far down the page;
the home page's list of pages is JSON too, so only a browser finds them. Every response waits
40 ms, on a threaded server. Same run, same machine:

- mirrorkit: `capture URL --browser --tabs 4 --per-host 6 --delay 0` (every request fetched and
  recorded by the crawler, behaviours on);
- the floor: the same Chromium driven by Playwright with 4 tabs, loading each page (URLs known
  in advance), scrolling it to the bottom and waiting for the network to go quiet, recording
  nothing (Chromium's own network, 6 connections per host).

Reported: wall time, pages per second, CPU time (user + system of the whole process tree) and
peak memory (PSS summed over the process tree, sampled every 0.2 s; RSS where PSS is unknown).
Goal: >= 0.7x the floor's pages/s, peak memory <= 1.5 GB.

    .venv/bin/python benchmarks/browser_capture_bench.py [--pages N] [--delay 0.04]
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
CHROMIUM = "/usr/bin/chromium"
TEXT = ("Volunteers walked the river road and wrote down what each village said about its "
        "wells, its school taps and the tanker that comes on Thursdays. ") * 5

SHELL = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/static/site.css"></head><body>
<header><a href="/">Home</a></header><main id="app" data-feed="{feed}">Loading...</main>
<div style="height:2400px"></div><footer id="end"></footer>
<script src="/static/app.js"></script></body></html>"""

APP_JS = b"""(function () {
  var app = document.getElementById("app");
  fetch(app.getAttribute("data-feed")).then(function (r) { return r.json(); }).then(function (d) {
    app.innerHTML = "";
    var h = document.createElement("h1"); h.textContent = d.title; app.appendChild(h);
    var p = document.createElement("p"); p.textContent = d.text; app.appendChild(p);
    var img = document.createElement("img"); img.src = d.image; app.appendChild(img);
    var ul = document.createElement("ul");
    d.links.forEach(function (l) {
      var li = document.createElement("li"); var a = document.createElement("a");
      a.href = l; a.textContent = l; li.appendChild(a); ul.appendChild(li);
    });
    app.appendChild(ul);
    var lazy = document.createElement("img"); lazy.loading = "lazy"; lazy.src = d.lazy;
    document.getElementById("end").appendChild(lazy);
  });
})();"""
CSS = b"body{font-family:sans-serif;background:#f5eee1 url(/static/bg.png)}img{width:64px}"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 1500


def make_server(n: int, delay: float) -> ThreadingHTTPServer:
    """A threaded loopback server for the generated JavaScript site, each response delayed."""

    def respond(path: str) -> Tuple[int, str, bytes]:
        if path in ("/", "/index.html"):
            return 200, "text/html; charset=utf-8", SHELL.format(
                title="Home", feed="/data/index.json").encode()
        if path == "/data/index.json":
            return 200, "application/json", json.dumps(
                {"title": "All pages", "text": "Every page.", "image": "/static/logo.png",
                 "lazy": "/static/bg.png", "links": [f"/p/{i}.html" for i in range(n)]}).encode()
        if path.startswith("/p/"):
            i = int(path[3:-5])
            if not 0 <= i < n:
                raise ValueError(path)
            return 200, "text/html; charset=utf-8", SHELL.format(
                title=f"Page {i}", feed=f"/data/{i}.json").encode()
        if path.startswith("/data/"):
            i = int(path[6:-5])
            return 200, "application/json", json.dumps(
                {"title": f"Page {i}", "text": TEXT, "image": f"/img/{i}.png",
                 "lazy": f"/img/lazy-{i}.png", "links": [f"/p/{(i + 1) % n}.html", "/"]}).encode()
        if path == "/static/app.js":
            return 200, "text/javascript", APP_JS
        if path == "/static/site.css":
            return 200, "text/css", CSS
        if path.endswith(".png"):
            return 200, "image/png", PNG + path.encode()
        raise ValueError(path)

    return serve_site(respond, delay)


FLOOR = r"""
import asyncio, sys, time
from playwright.async_api import async_playwright
url, n, tabs, chromium = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
pages = [url] + [f"{url}p/{i}.html" for i in range(n)]
async def tab(context, queue, done):
    page = await context.new_page()
    while not queue.empty():
        target = queue.get_nowait()
        await page.goto(target, wait_until="load")
        while True:  # scroll to the bottom a screen at a time
            bottom = await page.evaluate(
                "() => { window.scrollBy(0, innerHeight * 0.8); const e = "
                "document.scrollingElement; return scrollY + innerHeight >= e.scrollHeight - 2; }")
            if bottom:
                break
        await page.wait_for_load_state("networkidle")
        done.append(target)
async def main():
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=chromium, headless=True)
        context = await b.new_context(viewport={"width": 1280, "height": 900})
        queue = asyncio.Queue()
        for u in pages:
            queue.put_nowait(u)
        done = []
        await asyncio.gather(*(tab(context, queue, done) for _ in range(tabs)))
        await b.close()
        print(len(done))
asyncio.run(main())
"""


def _tree_mb(pid: int) -> float:
    # Memory of the process and all its descendants (Chromium runs many processes), as PSS
    # (each shared page counted once, split between its sharers), else RSS.
    children: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        for name, key in ((f"/proc/{p}/smaps_rollup", "Pss:"), (f"/proc/{p}/status", "VmRSS:")):
            try:
                with open(name) as fh:
                    found = [ln for ln in fh if ln.startswith(key)]
            except OSError:
                continue
            if found:
                total += int(found[0].split()[1]) / 1024
                break
    return total


def _run(name: str, cmd: List[str]) -> Dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _tree_mb(proc.pid))
        time.sleep(0.2)
    out, err = proc.communicate()
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        print(err[-3000:], file=sys.stderr)
        raise SystemExit(f"{name} failed with exit code {proc.returncode}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"tool": name, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "peak_mb": round(peak), "stdout": out}


def _rendered(folder: Path) -> int:
    pages = 0
    for path in folder.glob("*.warc.gz"):
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type == "conversion":
                    pages += 1
    return pages


def main() -> None:
    """Run the floor and mirrorkit against the same site; print and save the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.04)
    parser.add_argument("--tabs", type=int, default=4)
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="browser-bench-"))
    server = make_server(args.pages, args.delay)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        floor = _run("playwright floor", [sys.executable, "-c", FLOOR, url, str(args.pages),
                                          str(args.tabs), args.chromium])
        floor["pages"] = int(floor.pop("stdout").strip().splitlines()[-1])
        out = work / "mirrorkit"
        mk = _run("mirrorkit --browser", [
            sys.executable, "-m", "mirrorkit", "capture", url, "-o", str(out), "--browser",
            "--tabs", str(args.tabs), "--per-host", "6", "--delay", "0", "--chromium",
            args.chromium, "--json"])
        summary = json.loads(mk.pop("stdout"))
        mk["pages"] = _rendered(out)
        mk["requests_by_pages"] = summary["page_requests"]
        mk["timed_out"] = summary["pages_timed_out"]
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(work, ignore_errors=True)
    results = [floor, mk]
    for r in results:
        r["pages_per_s"] = round(r["pages"] / r["wall_s"], 2) if r["wall_s"] else 0.0
        r["cpu_ms_per_page"] = round(1000 * r["cpu_s"] / r["pages"], 1) if r["pages"] else None
    ratio = mk["pages_per_s"] / floor["pages_per_s"] if floor["pages_per_s"] else 0.0
    print(f"\nBrowser capture of a {args.pages + 1}-page JavaScript site, "
          f"{args.delay * 1000:.0f} ms per response, {args.tabs} tabs\n")
    print(f"{'tool':<20} {'wall s':>7} {'pages':>6} {'pages/s':>8} {'CPU s':>7} "
          f"{'CPU ms/page':>12} {'peak MB':>8}")
    for r in results:
        print(f"{r['tool']:<20} {r['wall_s']:>7} {r['pages']:>6} {r['pages_per_s']:>8} "
              f"{r['cpu_s']:>7} {r['cpu_ms_per_page']:>12} {r['peak_mb']:>8}")
    goal_speed, goal_mem = ratio >= 0.7, mk["peak_mb"] <= 1536
    print(f"\nmirrorkit / floor pages/s: {ratio:.2f}x (goal >= 0.7x: "
          f"{'met' if goal_speed else 'NOT met'}); mirrorkit peak memory {mk['peak_mb']} MB "
          f"(goal <= 1536 MB: {'met' if goal_mem else 'NOT met'})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "browser_capture.json").write_text(json.dumps(
        {"pages": args.pages, "delay_s": args.delay, "tabs": args.tabs, "results": results,
         "ratio": round(ratio, 3), "goal_speed_met": goal_speed, "goal_memory_met": goal_mem},
        indent=1) + "\n", "utf-8")


if __name__ == "__main__":
    main()
