"""READER.html benchmark: opening a bundle of 100,000 records (about 1 GB) in headless Chromium
from file://, side by side with `mirrorkit serve` on the same file, in the same run.

For each: seconds to the page list and to the first rendered page; for the reader also the first
search typed right after that page (Chinese + English), the peak JS heap (sampled through CDP
while it opens, shows a page, searches and hashes the whole file in its Worker) and the time the
background full check takes; for the server its RSS.

    .venv/bin/python benchmarks/reader_bench.py [--quick] [--records N] [--keep DIR]

Goals (at 100,000 records): page list < 2 s, first page < 3 s, peak JS heap < 150 MB.
Writes benchmarks/results/reader_bench.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

from _common import free_port, rss_mb, stop, wait_ok

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SITE = "http://bench.example.org/"
WORDS = ["water", "river", "village", "report", "testimony", "well", "school", "rights", "dam",
         "survey", "清水", "村民", "证词", "报告", "流域"]


def synthetic_warc(path: Path, records: int) -> int:
    """`records` records, one in ten an HTML page with text and two images, the rest images of
    about 11 KB (random bytes: they do not compress, so the file is ~10 KB a record)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    rng = random.Random(7)
    pages = 0
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for n in range(records):
            if n % 10 == 0:
                text = " ".join(rng.choice(WORDS) for _ in range(300))
                body = (f"<!doctype html><html><head><meta charset=utf-8><title>Page {n}</title>"
                        f"</head><body><h1>Page {n}</h1><img src='/img/{n + 1}.png'>"
                        f"<img src='/img/{n + 2}.png'><p>{text}</p>"
                        f"<a href='/page/{n + 10}'>next</a></body></html>").encode()
                url, ctype = f"{SITE}page/{n}", "text/html; charset=utf-8"
                pages += 1
            else:
                body = rng.randbytes(rng.randint(8_000, 14_000))
                url, ctype = f"{SITE}img/{n}.png", "image/png"
            headers = StatusAndHeaders("200 OK", [("Content-Type", ctype),
                                                  ("Content-Length", str(len(body)))],
                                       protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=headers))
    return pages


def bench_reader(wacz: Path, first_url: str) -> Dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from mirrorkit.reader import READER_PATH

    out: Dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                      has_touch=True)
        network: List[str] = []
        context.route("http://**/*", lambda r: (network.append(r.request.url), r.abort()))
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        page.goto(READER_PATH.resolve().as_uri())
        peak = [0.0]

        def sample() -> None:
            used = cdp.send("Runtime.getHeapUsage")["usedSize"] / 1e6
            peak[0] = max(peak[0], used)

        def wait(selector: str, timeout: float = 600) -> float:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                sample()
                if page.query_selector(selector) is not None:
                    return time.monotonic()
                page.wait_for_timeout(20)
            raise RuntimeError(f"{selector} did not appear within {timeout} s")

        sample()
        out["heap_before_mb"] = peak[0]
        t0 = time.monotonic()
        page.set_input_files("#file", str(wacz))
        out["page_list_s"] = wait("#reading:not([hidden]) #pages a.page") - t0
        out["pages_listed"] = page.inner_text("#page-count")
        page.click(f'#pages a.page[data-url="{first_url}"]')
        out["first_page_s"] = wait("#view[data-page=shown]") - t0
        frame = page.query_selector("#view").content_frame()
        out["archived_images_on_first_page"] = frame.evaluate(
            "document.querySelectorAll('img[src^=\"data:\"]').length")
        out["heap_peak_at_first_page_mb"] = peak[0]
        # A search typed right after the first page (the index is built in idle slices from a
        # second after opening, so this includes most of its building).
        t = time.monotonic()
        page.click("#to-list")
        page.fill("#search", "村民 water")
        out["first_search_s"] = wait('#pages[data-search="村民 water"] a.page') - t
        out["full_check_s"] = wait("html[data-state=untrusted], html[data-state=failed], "
                                   "html[data-state=trusted]") - t0
        out["state"] = page.evaluate("document.documentElement.dataset.state")
        out["heap_peak_mb"] = peak[0]
        out["network_requests"] = len(network)
        browser.close()
    return out


def bench_serve(wacz: Path, first_url: str, home: Path) -> Dict[str, Any]:
    from playwright.sync_api import sync_playwright

    out: Dict[str, Any] = {}
    port = free_port()
    env = dict(os.environ, MIRRORKIT_HOME=str(home))
    name = wacz.stem
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "mirrorkit", "serve", str(wacz),
                                 "--port", str(port)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env)
        try:
            out["page_list_s"] = wait_ok(f"http://127.0.0.1:{port}/{name}/") - t0
            page.goto(f"http://127.0.0.1:{port}/{name}/20300101000000/{first_url}",
                      wait_until="load")
            out["first_page_s"] = time.monotonic() - t0
            out["rss_mb"] = rss_mb(proc.pid)[0]
        finally:
            stop(proc)
            browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10,000 records (about 100 MB)")
    ap.add_argument("--records", type=int, default=None)
    ap.add_argument("--keep", type=Path, default=None, help="work folder to keep (and reuse)")
    args = ap.parse_args()
    records = args.records or (10_000 if args.quick else 100_000)
    work = args.keep or Path(tempfile.mkdtemp(prefix="reader-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MIRRORKIT_HOME", str(work / "home"))
    try:
        wacz = work / f"big-{records}.wacz"
        result: Dict[str, Any] = {"records": records}
        if not wacz.exists():
            from mirrorkit.bundle import create_bundle
            from mirrorkit.trust.signing import generate_key

            warc = work / "big.warc.gz"
            t = time.monotonic()
            result["pages"] = synthetic_warc(warc, records)
            result["make_warc_s"] = time.monotonic() - t
            t = time.monotonic()
            create_bundle([warc], wacz, key=generate_key("benchmark"), title="benchmark",
                          text=True)
            result["create_bundle_s"] = time.monotonic() - t
            warc.unlink()
        result["wacz_mb"] = wacz.stat().st_size / 1e6
        first = f"{SITE}page/0"
        result["reader"] = bench_reader(wacz, first)
        result["serve"] = bench_serve(wacz, first, work / "home")
        r, s = result["reader"], result["serve"]
        result["goals"] = {"page_list_under_2s": r["page_list_s"] < 2,
                           "first_page_under_3s": r["first_page_s"] < 3,
                           "heap_under_150mb": r["heap_peak_mb"] < 150}
        result["reader_vs_serve"] = {"page_list": r["page_list_s"] / s["page_list_s"],
                                     "first_page": r["first_page_s"] / s["first_page_s"]}
        print(json.dumps(result, indent=2, ensure_ascii=False))
        out = REPO / "benchmarks" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "reader_bench.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
