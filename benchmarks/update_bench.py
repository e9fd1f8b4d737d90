"""Update bundles: what a recipient receives when 5% of a site changed, against rsync.

A generated site of N pages (default 1,000), each about 3 KB of HTML with a 20 KB image of its
own (incompressible), reached through 20 list pages. Between two captures 5% of the pages change
(their text; with --change-images their image too). Measured in one run:

- update size (`bundle --base`) as a share of a full bundle of the same new capture (goal <= 8%);
- capture time with `--dedup-against OLD.wacz` against without, same site state (goal <= 1.1x);
- bytes a recipient must receive: the update, against what `rsync --no-whole-file --stats` sends
  to turn the old full bundle into the `merge` output of base + update (two local folders, the
  best case for rsync; goal: fewer bytes than rsync).

    .venv/bin/python benchmarks/update_bench.py [--quick] [--pages N] [--change 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Set, Tuple

from _common import serve_site

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
BIN = Path(sys.executable).parent
LISTS = 20
WORDS = ["water", "village", "report", "rights", "river", "testimony", "family", "clean",
         "access", "law", "court", "province", "volunteer", "document", "evidence", "witness",
         "health", "school", "road", "market"]


class Site:
    """The generated site; `changed` is the set of pages that differ in the second edition."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.changed: Set[int] = set()
        self.edition = 1
        self.change_images = False
        rng = random.Random(15)
        self.text = [" ".join(rng.choice(WORDS) for _ in range(420)) for _ in range(n)]
        self.image = [rng.randbytes(20 * 1024) for _ in range(n)]

    def page(self, i: int) -> bytes:
        text = self.text[i]
        img = f"/img/{i}.png"
        if self.edition > 1 and i in self.changed:
            text = "Corrected in the second edition. " + text[::-1]
        return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Article '
                f'{i}</title></head><body><h1>Article {i}</h1><img src="{img}" alt="figure">'
                f'<p>{text}</p><a href="/list/{i * LISTS // self.n}.html">list</a></body>'
                f"</html>").encode()

    def img(self, i: int) -> bytes:
        data = self.image[i]
        if self.edition > 1 and i in self.changed and self.change_images:
            data = data[::-1]
        return b"\x89PNG\r\n\x1a\n" + data

    def listing(self, j: int) -> bytes:
        per = self.n // LISTS
        items = "".join(f'<li><a href="/a/{i}.html">Article {i}</a></li>'
                        for i in range(j * per, self.n if j == LISTS - 1 else (j + 1) * per))
        return f"<!doctype html><html><body><ul>{items}</ul></body></html>".encode()

    def index(self) -> bytes:
        items = "".join(f'<li><a href="/list/{j}.html">List {j}</a></li>' for j in range(LISTS))
        return f"<!doctype html><html><body><ul>{items}</ul></body></html>".encode()


def serve(site: Site) -> ThreadingHTTPServer:
    """A threaded loopback server for the site."""

    def respond(path: str) -> Tuple[int, str, bytes]:
        html = "text/html; charset=utf-8"
        m = re.fullmatch(r"/(a|img|list)/(\d+)\.(html|png)", path)
        if path in ("/", "/index.html"):
            return 200, html, site.index()
        if m and m.group(1) == "a" and int(m.group(2)) < site.n:
            return 200, html, site.page(int(m.group(2)))
        if m and m.group(1) == "img" and int(m.group(2)) < site.n:
            return 200, "image/png", site.img(int(m.group(2)))
        if m and m.group(1) == "list" and int(m.group(2)) < LISTS:
            return 200, html, site.listing(int(m.group(2)))
        raise ValueError(path)

    return serve_site(respond)


CPU: Dict[str, float] = {}  # the last mk() run's CPU time (user + system), in seconds


def mk(*args: str, env: Dict[str, str]) -> float:
    """Run the mirrorkit CLI; return its wall time (its CPU time in CPU["last"]).
    Raises CalledProcessError."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    subprocess.run([str(BIN / "mirrorkit"), *args], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU["last"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall


def rsync_bytes(old: Path, new: Path, work: Path) -> Dict[str, int]:
    """What rsync sends to update a copy of `old` into `new` (delta transfer, local folders)."""
    src, dst = work / "rsync-src", work / "rsync-dst"
    src.mkdir()
    dst.mkdir()
    shutil.copyfile(new, src / "bundle.wacz")
    shutil.copyfile(old, dst / "bundle.wacz")
    out = subprocess.run(["rsync", "--no-whole-file", "--stats", "-t", str(src / "bundle.wacz"),
                          str(dst / "bundle.wacz")], check=True, capture_output=True,
                         text=True).stdout
    if (dst / "bundle.wacz").read_bytes() != new.read_bytes():
        raise RuntimeError("rsync did not reproduce the merged bundle")

    def figure(label: str) -> int:
        m = re.search(label + r":\s*([\d,]+)", out)
        return int(m.group(1).replace(",", "")) if m else -1

    return {"sent": figure("Total bytes sent"), "received": figure("Total bytes received"),
            "literal": figure("Literal data"), "matched": figure("Matched data")}


def main() -> None:
    """Run the benchmark and write benchmarks/results/update[-quick].json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 pages")
    parser.add_argument("--pages", type=int, default=None)
    parser.add_argument("--change", type=float, default=0.05)
    parser.add_argument("--change-images", action="store_true",
                        help="changed pages get a new image too (not only new text)")
    args = parser.parse_args()
    n = args.pages or (100 if args.quick else 1000)
    if shutil.which("rsync") is None:
        sys.exit("rsync is not installed (./dev bench installs it)")
    work = Path(tempfile.mkdtemp(prefix="update-bench-"))
    env = dict(os.environ, MIRRORKIT_HOME=str(work / "home"), MIRRORKIT_PASSPHRASE="")
    site = Site(n)
    server = serve(site)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    crawl = ["--quiet", "--concurrency", "8", "--per-host", "8", "--retries", "0"]
    try:
        key = work / "bench.key"
        mk("key", "generate", "--name", "Bench", "--out", str(key), "--no-passphrase", env=env)
        mk("capture", url, "-o", str(work / "c1"), *crawl, env=env)
        base = work / "site-1.wacz"
        mk("bundle", str(work / "c1"), "--key", str(key), "-o", str(base), "--collection",
           "bench", env=env)
        site.changed = set(random.Random(2).sample(range(n), max(1, round(n * args.change))))
        site.edition, site.change_images = 2, args.change_images
        # Same site state for both; alternated, best of three each, so neither gets a warm start.
        plain, dedup, plain_cpu, dedup_cpu = [], [], [], []
        for r in range(3):
            plain.append(mk("capture", url, "-o", str(work / f"plain-{r}"), *crawl, env=env))
            plain_cpu.append(CPU["last"])
            dedup.append(mk("capture", url, "-o", str(work / f"dedup-{r}"), *crawl,
                            "--dedup-against", str(base), env=env))
            dedup_cpu.append(CPU["last"])
        full = work / "site-2-full.wacz"
        t_full = mk("bundle", str(work / "plain-0"), "--key", str(key), "-o", str(full),
                    "--collection", "bench", env=env)
        update = work / "site-2.wacz"
        t_update = mk("bundle", str(work / "dedup-0"), "--key", str(key), "-o", str(update),
                      "--base", str(base), env=env)
        merged = work / "site-2-merged.wacz"
        t_merge = mk("merge", str(base), str(update), "--key", str(key), "-o", str(merged),
                     env=env)
        rs = rsync_bytes(base, merged, work)
    finally:
        server.shutdown()
    sizes = {"base": base.stat().st_size, "full": full.stat().st_size,
             "update": update.stat().st_size, "merged": merged.stat().st_size}
    record: Dict[str, Any] = {
        "pages": n, "changed_pages": len(site.changed), "images_changed": args.change_images,
        "sizes": sizes,
        "update_share_of_full": round(sizes["update"] / sizes["full"], 4),
        "capture_s": {"plain": [round(t, 2) for t in plain],
                      "dedup": [round(t, 2) for t in dedup]},
        "capture_ratio_dedup_vs_plain": round(min(dedup) / min(plain), 3),
        "capture_cpu_s": {"plain": [round(t, 2) for t in plain_cpu],
                          "dedup": [round(t, 2) for t in dedup_cpu]},
        "capture_cpu_ratio_dedup_vs_plain": round(min(dedup_cpu) / min(plain_cpu), 3),
        "bundle_s": {"full": round(t_full, 2), "update": round(t_update, 2),
                     "merge": round(t_merge, 2)},
        "rsync": rs,
        "recipient_bytes": {"update": sizes["update"], "rsync_sent": rs["sent"],
                            "rsync_both_ways": rs["sent"] + rs["received"]},
        "goals": {"update_share_le_0.08": sizes["update"] / sizes["full"] <= 0.08,
                  "capture_ratio_le_1.1": min(dedup) / min(plain) <= 1.1,
                  "fewer_bytes_than_rsync": sizes["update"] < rs["sent"]},
    }
    shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    target = RESULTS / ("update{}{}.json".format("-quick" if args.quick else "",
                                                  "-images" if args.change_images else ""))
    target.write_text(json.dumps(record, indent=2))
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
