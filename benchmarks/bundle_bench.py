"""Benchmark: `mirrorkit bundle` against py-wacz `wacz create` on the same WARC files.

Generates realistic WARC data (HTML with English and Chinese text, CSS, JS, incompressible
images, one gzip member per record, request + response pairs, some revisits), then times both
tools as command-line programs, in the same run, on the same files (page cache warm for both).

    .venv/bin/python benchmarks/bundle_bench.py            # ~1 GB of WARCs
    .venv/bin/python benchmarks/bundle_bench.py --quick    # ~60 MB
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, List

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

BIN = Path(sys.executable).parent
RESULTS = Path(__file__).resolve().parent / "results"
WORDS_EN = ["water", "village", "report", "rights", "river", "testimony", "family", "clean",
            "access", "law", "court", "province", "volunteer", "document", "evidence", "witness",
            "health", "school", "road", "market"]
WORDS_ZH = list("水村庄报告权利河流证词家庭清洁获得法律法院省份志愿者文件证据健康学校道路市场")


def _html(rng: random.Random, i: int, site: str) -> bytes:
    paras = []
    for _ in range(rng.randint(8, 40)):
        words = WORDS_ZH if rng.random() < 0.3 else WORDS_EN
        sep = "" if words is WORDS_ZH else " "
        paras.append("<p>" + sep.join(rng.choice(words) for _ in range(rng.randint(30, 120)))
                     + "</p>")
    links = "".join(f'<a href="/page/{rng.randint(0, 99999)}.html">link</a> ' for _ in range(30))
    return (f"<!doctype html><html><head><meta charset=utf-8><title>Report {i} — {site}</title>"
            f'<link rel=stylesheet href="/css/site.css"></head><body><nav>{links}</nav>'
            + "".join(paras) + "</body></html>").encode("utf-8")


def generate(out_dir: Path, target_bytes: int, seed: int = 7) -> List[Path]:
    """Write WARC files of about `target_bytes` (compressed) into `out_dir`."""
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: List[Path] = []
    written, file_no, i = 0, 0, 0
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    seen: Dict[str, tuple] = {}
    per_file = max(target_bytes // 4, 8 * 1024 * 1024)
    while written < target_bytes:
        path = out_dir / f"bench-20260101000000-{file_no:05d}.warc.gz"
        with open(path, "wb") as fh:
            writer = WARCWriter(fh, gzip=True)
            writer.write_record(writer.create_warcinfo_record(path.name, {"software": "bench"}))
            while fh.tell() < per_file and written + fh.tell() < target_bytes:
                i += 1
                kind = rng.random()
                if kind < 0.45:
                    url, mime = f"https://example.org/page/{i}.html", "text/html; charset=utf-8"
                    body = _html(rng, i, "example.org")
                elif kind < 0.55:
                    url, mime = f"https://example.org/js/app{i % 50}.js", "application/javascript"
                    line = f"function f{i}(){{return {i};}}\n"
                    body = (line * rng.randint(200, 2000)).encode()
                else:
                    url, mime = f"https://img.example.org/{i}.jpg", "image/jpeg"
                    body = os.urandom(rng.randint(20_000, 400_000))
                when += timedelta(seconds=1)
                date = when.strftime("%Y-%m-%dT%H:%M:%SZ")
                digest = hashlib.sha1(body).hexdigest()
                request = writer.create_warc_record(
                    url, "request", payload=io.BytesIO(b""), warc_headers_dict={"WARC-Date": date},
                    http_headers=StatusAndHeaders(f"GET {url[url.index('/', 8):]} HTTP/1.1",
                                                  [("Host", url.split("/")[2])],
                                                  protocol="HTTP/1.1", is_http_request=True))
                if url.endswith(".js") and digest in seen:
                    orig_url, orig_date = seen[digest]
                    record = writer.create_revisit_record(
                        url, digest="sha1:" + digest, refers_to_uri=orig_url,
                        refers_to_date=orig_date,
                        http_headers=StatusAndHeaders("200 OK", [("Content-Type", mime)],
                                                      protocol="HTTP/1.1"))
                    record.rec_headers.replace_header("WARC-Date", date)
                else:
                    seen.setdefault(digest, (url, date))
                    record = writer.create_warc_record(
                        url, "response", payload=io.BytesIO(body),
                        warc_headers_dict={"WARC-Date": date},
                        http_headers=StatusAndHeaders(
                            "200 OK", [("Content-Type", mime),
                                       ("Content-Length", str(len(body)))], protocol="HTTP/1.1"))
                writer.write_record(record)
                writer.write_record(request)
            written += fh.tell()
        files.append(path)
        file_no += 1
    return files


def _timed(cmd: List[str], env: Dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="about 60 MB instead of 1 GB")
    parser.add_argument("--size-mb", type=int, help="size of the generated WARCs, in MB")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per tool, alternating; the best is kept (the machine is shared)")
    args = parser.parse_args()
    size = (args.size_mb or (60 if args.quick else 1024)) * 1024 * 1024

    with tempfile.TemporaryDirectory(prefix="bundle-bench-") as tmp:
        work = Path(tmp)
        env = dict(os.environ, MIRRORKIT_HOME=str(work / "home"))
        print(f"generating ~{size // 2**20} MB of WARC data ...", file=sys.stderr)
        t0 = time.perf_counter()
        warcs = generate(work / "warcs", size)
        total = sum(p.stat().st_size for p in warcs)
        print(f"  {len(warcs)} files, {total / 2**20:.0f} MB in {time.perf_counter() - t0:.0f} s",
              file=sys.stderr)
        subprocess.run([str(BIN / "mirrorkit"), "key", "generate", "--name", "Bench",
                        "--out", str(work / "k.pem"), "--no-passphrase"], env=env, check=True,
                       capture_output=True)
        for p in warcs:  # warm the page cache for both tools alike
            with open(p, "rb") as fh:
                while fh.read(1 << 24):
                    pass
        runs = {
            "py-wacz (wacz create)": [str(BIN / "wacz"), "create", "-o", str(work / "p.wacz"),
                                      *map(str, warcs)],
            "py-wacz --detect-pages": [str(BIN / "wacz"), "create", "--detect-pages", "-o",
                                       str(work / "pd.wacz"), *map(str, warcs)],
            "mirrorkit bundle": [str(BIN / "mirrorkit"), "bundle", *map(str, warcs), "--key",
                                 str(work / "k.pem"), "-o", str(work / "m.wacz")],
        }
        best: Dict[str, float] = {}
        for attempt in range(args.repeat):
            for name, cmd in runs.items():
                print(f"run {attempt + 1}/{args.repeat}: {name} ...", file=sys.stderr)
                seconds = _timed(cmd, env)
                best[name] = min(best.get(name, seconds), seconds)
        results = {name: {"seconds": round(s, 2), "mb_per_s": round(total / 2**20 / s, 1)}
                   for name, s in best.items()}
        validate = subprocess.run([str(BIN / "wacz"), "validate", "-f", str(work / "m.wacz")],
                                  capture_output=True, text=True)

    base = results["py-wacz (wacz create)"]["seconds"]
    print(f"\nbundle benchmark: {len(warcs)} WARC files, {total / 2**20:.0f} MB, "
          f"{os.cpu_count()} cores, best of {args.repeat} runs")
    print(f"{'tool':<26}{'seconds':>10}{'MB/s':>10}{'vs wacz create':>16}")
    for name, r in results.items():
        print(f"{name:<26}{r['seconds']:>10.2f}{r['mb_per_s']:>10.1f}"
              f"{base / r['seconds']:>15.2f}x")
    print(f"wacz validate on mirrorkit's bundle: "
          f"{'passed' if validate.returncode == 0 else 'FAILED'}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "bundle_bench.json"
    out.write_text(json.dumps({"date": datetime.now(timezone.utc).isoformat(),
                               "input_bytes": total, "warc_files": len(warcs),
                               "quick": bool(args.quick), "results": results,
                               "validate_passed": validate.returncode == 0}, indent=2))
    print(f"results written to {out}")
    return 0 if validate.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
