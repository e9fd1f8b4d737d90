"""Replay benchmark: `mirrorkit serve` against pywb on the same WARC, in the same run.

1. Throughput: iana.org's home page and every requisite it loads (CSS, JS, images, fonts),
   replayed with rewriting by both servers, under the same load (wrk, 16 connections; a Python
   thread load generator when wrk is missing). Reports requests/s and p99 latency.
2. Start-up and memory on a bundle of 100,000 records (10,000 with --quick): seconds from
   launching `mirrorkit serve` to the first replayed page, and the server's RSS.
   pywb's time to index the same WARC and start is shown for reference.

    .venv/bin/python benchmarks/replay_bench.py [--quick] [--duration S] [--records N]

Goals: >= 10x pywb's requests/s, p99 <= 50 ms; start-up < 2 s and RSS < 200 MB at 100k records.
Writes benchmarks/results/replay_bench.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

from _common import free_port, rss_mb, stop, wait_ok

REPO = Path(__file__).resolve().parents[1]
IANA = REPO.parent / "shared" / "interop" / "iana.warc.gz"
VENV_BIN = Path(sys.executable).parent
TS = "20140126200624"
HOME = "http://www.iana.org/"


def make_key_and_bundle(warcs: List[Path], out: Path, title: str) -> Path:
    from mirrorkit.bundle import create_bundle
    from mirrorkit.trust.signing import generate_key

    key = generate_key("benchmark")
    return Path(create_bundle(warcs, out, key=key, title=title))


def start_mirrorkit(wacz: Path, port: int, home: Path) -> subprocess.Popen:
    env = dict(os.environ, MIRRORKIT_HOME=str(home))
    return subprocess.Popen(
        [sys.executable, "-m", "mirrorkit", "serve", str(wacz), "--port", str(port), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)


def content_prefix(proc: subprocess.Popen) -> str:
    """The bundle's content-origin prefix (``http://127.0.0.1:P/<secret>/``) from --json.

    Archived pages are served only there (safe replay, issue 10); the reader's own port
    serves the reader page around them.
    """
    first = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # type: ignore[union-attr]
    return str(first["bundles"][0]["content"])


def start_pywb(root: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen([str(VENV_BIN / "wayback"), "-p", str(port), "-b", "127.0.0.1"],
                            cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pywb_collection(root: Path, name: str, warc: Path) -> float:
    """Creates a pywb collection holding ``warc``; returns the seconds indexing took."""
    root.mkdir(parents=True, exist_ok=True)
    t = time.monotonic()
    subprocess.run([str(VENV_BIN / "wb-manager"), "init", name], cwd=root, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([str(VENV_BIN / "wb-manager"), "add", name, str(warc)], cwd=root, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t


def page_paths(prefix: str) -> List[str]:
    """The original URLs the home page loads (itself, CSS, JS, images, fonts from the CSS)."""
    with urllib.request.urlopen(f"{prefix}{TS}/{HOME}") as r:
        html = r.read().decode()
    found = [HOME]
    for path in re.findall(r'(?:src|href)="/[^/"]+/\d+/([^"]+)"', html):
        if re.search(r"\.(css|js|png|svg|ico|jpg|gif)$", path):
            found.append(path)
    for css in [p for p in found if p.endswith(".css")]:
        with urllib.request.urlopen(f"{prefix}{TS}/{css}") as r:
            text = r.read().decode("utf-8", "replace")
        found += re.findall(r'url\("?/[^/"]+/\d+/([^")]+)"?\)', text)
    ok = []
    for url in dict.fromkeys(found):
        try:
            with urllib.request.urlopen(f"{prefix}{TS}/{url}") as r:
                if r.status == 200:
                    ok.append(url)
        except OSError:
            pass
    return ok


def run_wrk(base: str, paths: List[str], duration: int, conns: int) -> Dict[str, Any]:
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115
    lua_list = ",".join(json.dumps(p) for p in paths)
    script.write(
        "local paths = {" + lua_list + "}\nlocal i = 0\n"
        "request = function()\n  i = i % #paths + 1\n"
        "  return wrk.format('GET', paths[i])\nend\n"
        "done = function(summary, latency, requests)\n"
        "  io.write(string.format('JSON {\"requests\": %d, \"errors\": %d, \"p50\": %f, "
        "\"p99\": %f, \"non2xx\": %d}\\n', summary.requests, summary.errors.connect + "
        "summary.errors.read + summary.errors.write + summary.errors.timeout, "
        "latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status))\n"
        "end\n")
    script.close()
    try:
        out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{duration}s", "--timeout", "10s",
                              "-s", script.name, base], capture_output=True, text=True,
                             check=True).stdout
    finally:
        os.unlink(script.name)
    data = json.loads(out.split("JSON ", 1)[1].splitlines()[0])
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"rps": rps, "p50_ms": data["p50"], "p99_ms": data["p99"],
            "requests": data["requests"], "errors": data["errors"], "non2xx": data["non2xx"],
            "tool": "wrk"}


def run_threads(base: str, paths: List[str], duration: int, conns: int) -> Dict[str, Any]:
    """A Python load generator: ``conns`` threads with keep-alive connections."""
    import http.client
    from urllib.parse import urlsplit

    host = urlsplit(base)
    lat: List[float] = []
    errors = [0]
    stop_at = time.monotonic() + duration
    lock = threading.Lock()

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
        i, mine = k, []
        while time.monotonic() < stop_at:
            path = paths[i % len(paths)]
            i += 1
            t = time.perf_counter()
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                if resp.status >= 400:
                    errors[0] += 1
            except (OSError, http.client.HTTPException):  # pywb may drop a kept-alive connection
                errors[0] += 1
                conn.close()
                conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
            mine.append(time.perf_counter() - t)
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat.sort()
    return {"rps": len(lat) / duration, "p50_ms": statistics.median(lat) * 1000,
            "p99_ms": lat[int(len(lat) * 0.99)] * 1000, "requests": len(lat),
            "errors": errors[0], "non2xx": errors[0], "tool": "python-threads"}


def load(base: str, paths: List[str], duration: int, conns: int) -> Dict[str, Any]:
    if shutil.which("wrk"):
        return run_wrk(base, paths, duration, conns)
    return run_threads(base, paths, duration, conns)


def synthetic_warc(path: Path, records: int) -> None:
    """A WARC of ``records`` small HTML responses (one gzip member each)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for n in range(records):
            url = f"http://example.org/page/{n}"
            body = (f"<!doctype html><title>Page {n}</title><p>Record {n} of the "
                    f"benchmark. <a href='/page/{n + 1}'>next</a>").encode()
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                                  ("Content-Length", str(len(body)))],
                                       protocol="HTTP/1.1")
            rec = writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                            http_headers=headers)
            writer.write_record(rec)


def throughput(work: Path, duration: int, conns: int) -> Dict[str, Any]:
    wacz = make_key_and_bundle([IANA], work / "iana.wacz", "IANA")
    pywb_root = work / "pywb"
    pywb_collection(pywb_root, "iana", IANA)
    mk_port, pw_port = free_port(), free_port()
    mk = start_mirrorkit(wacz, mk_port, work / "home")
    pw = start_pywb(pywb_root, pw_port)
    results: Dict[str, Any] = {}
    try:
        prefix = content_prefix(mk)
        pw_base = f"http://127.0.0.1:{pw_port}/"
        mk_base = prefix.rsplit("/", 2)[0] + "/"
        secret = prefix.rstrip("/").rsplit("/", 1)[1]
        wait_ok(f"http://127.0.0.1:{mk_port}/iana/")
        wait_ok(f"{pw_base}iana/{TS}mp_/{HOME}", timeout=120)
        paths = page_paths(prefix)
        ours = [f"/{secret}/{TS}/{p}" for p in paths]
        theirs = [f"/iana/{TS}mp_/{p}" for p in paths]  # pywb's rewritten, unframed replay
        for base, plist in ((mk_base, ours), (pw_base, theirs)):  # warm up both
            load(base, plist, 2, conns)
        results["urls"] = len(paths)
        results["mirrorkit"] = load(mk_base, ours, duration, conns)
        results["mirrorkit"]["rss_mb"] = rss_mb(mk.pid)[0]
        results["pywb"] = load(pw_base, theirs, duration, conns)
        results["pywb"]["rss_mb"] = rss_mb(pw.pid)[0]
    finally:
        stop(mk)
        stop(pw)
    return results


def startup(work: Path, records: int, with_pywb: bool) -> Dict[str, Any]:
    warc = work / "big.warc.gz"
    t = time.monotonic()
    synthetic_warc(warc, records)
    made = time.monotonic() - t
    t = time.monotonic()
    wacz = make_key_and_bundle([warc], work / "big.wacz", "big")
    bundled = time.monotonic() - t
    out: Dict[str, Any] = {"records": records, "warc_mb": warc.stat().st_size / 1e6,
                           "wacz_mb": wacz.stat().st_size / 1e6,
                           "make_warc_s": made, "create_bundle_s": bundled}
    port = free_port()
    t0 = time.monotonic()
    proc = start_mirrorkit(wacz, port, work / "home")
    try:
        page = f"{content_prefix(proc)}20300101000000/http://example.org/page/{records // 2}"
        out["mirrorkit_first_page_s"] = wait_ok(page) - t0
        out["mirrorkit_rss_mb_at_first_page"] = rss_mb(proc.pid)[0]
        # the background verification hashes the whole file: wait for it, then measure again
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/bundles.json") as r:
                if json.loads(r.read())[0]["state"] != "verifying":
                    break
            time.sleep(0.1)
        out["mirrorkit_verified_s"] = time.monotonic() - t0
        # then list every page and run a first full-text search (builds the search index)
        t = time.monotonic()
        wait_ok(f"http://127.0.0.1:{port}/big/")
        wait_ok(f"http://127.0.0.1:{port}/big/?q=record+{records // 3}")
        out["mirrorkit_list_and_first_search_s"] = time.monotonic() - t
        out["mirrorkit_peak_rss_mb"] = rss_mb(proc.pid)[1]
    finally:
        stop(proc)
    if with_pywb:
        root = work / "pywb-big"
        out["pywb_index_s"] = pywb_collection(root, "big", warc)
        port = free_port()
        t0 = time.monotonic()
        proc = start_pywb(root, port)
        try:
            url = f"http://127.0.0.1:{port}/big/20300101000000mp_/http://example.org/page/" \
                  f"{records // 2}"
            out["pywb_first_page_s"] = wait_ok(url, timeout=300) - t0
            out["pywb_rss_mb"] = rss_mb(proc.pid)[0]
        finally:
            stop(proc)
    return out


def main() -> int:
    """Runs the benchmark and prints a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run, 10,000-record bundle")
    parser.add_argument("--duration", type=int, default=None, help="seconds of load per server")
    parser.add_argument("--records", type=int, default=None, help="records in the big bundle")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    duration = args.duration or (5 if args.quick else 20)
    records = args.records or (10_000 if args.quick else 100_000)
    if not IANA.is_file():
        print(f"error: {IANA} not found", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="replay-bench-"))
    os.environ["MIRRORKIT_HOME"] = str(work / "home")
    try:
        tp = throughput(work, duration, args.connections)
        st = startup(work, records, with_pywb=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    mk, pw = tp["mirrorkit"], tp["pywb"]
    ratio = mk["rps"] / pw["rps"] if pw["rps"] else float("inf")
    rows = [
        ("load", f"{args.connections} connections, {duration} s, {tp['urls']} URLs "
                 f"(iana.org home page and requisites), {mk['tool']}", ""),
        ("requests/s", f"{mk['rps']:.0f}", f"{pw['rps']:.0f}"),
        ("p50 latency ms", f"{mk['p50_ms']:.1f}", f"{pw['p50_ms']:.1f}"),
        ("p99 latency ms", f"{mk['p99_ms']:.1f}", f"{pw['p99_ms']:.1f}"),
        ("errors / non-2xx", f"{mk['errors']} / {mk['non2xx']}",
         f"{pw['errors']} / {pw['non2xx']}"),
        ("RSS after load MB", f"{mk['rss_mb']:.0f}", f"{pw['rss_mb']:.0f}"),
        ("speed-up", f"{ratio:.2f}x (goal >= 10x)", ""),
        (f"{records:,}-record bundle", f"{st['wacz_mb']:.1f} MB WACZ", ""),
        ("start to first page s", f"{st['mirrorkit_first_page_s']:.2f} (goal < 2)",
         f"{st.get('pywb_first_page_s', float('nan')):.2f} (+{st.get('pywb_index_s', 0):.1f} "
         "indexing)"),
        ("RSS at first page MB", f"{st['mirrorkit_rss_mb_at_first_page']:.0f} (goal < 200)",
         f"{st.get('pywb_rss_mb', float('nan')):.0f}"),
        ("background verify done s", f"{st['mirrorkit_verified_s']:.2f}", ""),
        ("list pages + 1st search s", f"{st['mirrorkit_list_and_first_search_s']:.2f}", ""),
        ("peak RSS MB (after both)", f"{st['mirrorkit_peak_rss_mb']:.0f}", ""),
    ]
    print(f"\n{'':28} {'mirrorkit serve':>32} {'pywb ' + _pywb_version():>24}")
    for name, a, b in rows:
        if name == "load":
            print(f"{name:28} {a}")
        else:
            print(f"{name:28} {a:>32} {b:>24}")
    result = {"throughput": tp, "startup": st, "speedup": ratio, "quick": args.quick,
              "duration_s": duration, "connections": args.connections,
              "goals": {"speedup_10x": ratio >= 10, "p99_50ms": mk["p99_ms"] <= 50,
                        "startup_2s": st["mirrorkit_first_page_s"] < 2,
                        "rss_200mb": st["mirrorkit_rss_mb_at_first_page"] < 200},
              "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out_dir = REPO / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "replay_bench.json").write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out_dir / 'replay_bench.json'}")
    return 0


def _pywb_version() -> str:
    try:
        from importlib.metadata import version

        return version("pywb")
    except Exception:
        return ""


if __name__ == "__main__":
    sys.exit(main())
