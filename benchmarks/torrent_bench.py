"""How the cost of reaching many readers grows: one capped source, N readers, HTTP vs a swarm.

One source limited to 5 MB/s of upload; N = 1, 4 and 8 readers each fetch the same 100 MB
signed bundle, in the same run, on loopback:
- HTTP: a Python HTTP server (ThreadingHTTPServer, one token bucket shared by all connections)
  capped at the rate; each reader downloads the whole file, then verifies it;
- swarm: `torrent.seed.Seeder` capped at the same rate (libtorrent's global peer class, which
  mirrorkit applies to loopback peers too); each reader is a libtorrent session of its own,
  uncapped, that also uploads to the other readers, then verifies its copy.
Each reader is its own process on its own 127.0.0.x address. The time measured is from the start
until every reader has a verified copy (`verify_bundle`). The caps are checked by measurement:
the source's bytes sent, sampled every 0.5 s, give its peak rate over 5 s windows, and its
mean rate over the run.

Goal: at N = 8 the swarm is at least 4x faster than HTTP, and its time grows less than 2x from
N = 1 to N = 8.

    .venv/bin/python benchmarks/torrent_bench.py [--quick] [--size-mb 100] [--rate-mb 5]
Writes benchmarks/results/torrent_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
RESULTS = REPO / "benchmarks" / "results"
SEED_IP = "127.0.0.2"
HTTP_IP = "127.0.0.3"


def reader_ip(i: int) -> str:
    return f"127.0.0.{10 + i}"


def free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


# --- the capped HTTP source -------------------------------------------------------------------

class Bucket:
    """A token bucket shared by every connection: at most `rate` bytes a second in total."""

    def __init__(self, rate: float) -> None:
        self.rate, self.tokens, self.last = rate, 0.0, time.monotonic()
        self.lock = threading.Lock()
        self.sent = 0

    def take(self, n: int) -> None:
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.rate * 0.25, self.tokens + (now - self.last) * self.rate)
                self.last = now
                if self.tokens >= n:
                    self.tokens -= n
                    self.sent += n
                    return
                wait = (n - self.tokens) / self.rate
            time.sleep(wait)


def http_source(path: Path, rate: float) -> Tuple[ThreadingHTTPServer, Bucket]:
    bucket = Bucket(rate)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            size = path.stat().st_size
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            with path.open("rb") as fh:
                while chunk := fh.read(16384):
                    bucket.take(len(chunk))
                    self.wfile.write(chunk)

    server = ThreadingHTTPServer((HTTP_IP, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, bucket


# --- reader processes ---------------------------------------------------------------------------

def http_reader(url: str, out: Path) -> None:
    import urllib.request

    from mirrorkit.verify import verify_bundle

    with urllib.request.urlopen(url, timeout=600) as resp, out.open("wb") as fh:
        shutil.copyfileobj(resp, fh, 1024 * 1024)
    verify_bundle(out, remember=False)
    print(json.dumps({"verified": time.monotonic()}), flush=True)


def swarm_reader(torrent: Path, out: Path, listen: str) -> None:
    """Listen, wait for the peer list on stdin, fetch, verify, keep seeding until stdin ends."""
    from mirrorkit.torrent.privacy import SwarmOptions
    from mirrorkit.torrent.session import Swarm
    from mirrorkit.verify import verify_bundle

    swarm = Swarm(SwarmOptions(listen=listen, dht=False))
    swarm.wait_listening()
    print(json.dumps({"listening": listen}), flush=True)
    peers = json.loads(sys.stdin.readline())
    lt = swarm.lt
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(str(torrent))
    params.save_path = str(out.parent)
    params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    handle = swarm.add(params)
    swarm.connect(handle, peers)
    while not handle.status().is_seeding:
        swarm.pump(100)
        if not handle.status().num_peers:
            swarm.connect(handle, peers)
    verify_bundle(out, remember=False)
    st = handle.status()
    print(json.dumps({"verified": time.monotonic(), "downloaded": st.total_payload_download,
                      "uploaded": st.total_payload_upload}), flush=True)
    stop = threading.Event()

    def wait_for_eof() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    while not stop.is_set():
        swarm.pump(200)
    st = handle.status()
    print(json.dumps({"uploaded": st.total_payload_upload}), flush=True)
    swarm.close()


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=REPO)


def _read(proc: subprocess.Popen[str]) -> Dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"a reader died (exit {proc.wait()})")
    return dict(json.loads(line))


class Sampler:
    """Samples a byte counter every 0.5 s; `peak(window)` is the highest rate over `window`.

    Each sample is stamped with the middle of the time its read took, so a read delayed by a
    busy machine does not show as a burst."""

    def __init__(self, counter: Any) -> None:
        self.counter: Any = counter
        self.samples: List[Tuple[float, int]] = []
        self._sample()
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _sample(self) -> None:
        before = time.monotonic()
        value = self.counter()
        self.samples.append(((before + time.monotonic()) / 2, value))

    def _run(self) -> None:
        while not self.stop.wait(0.5):
            self._sample()

    def peak(self, window: float = 5.0) -> float:
        self.stop.set()
        best = 0.0
        for i, (t0, b0) in enumerate(self.samples):
            for t1, b1 in self.samples[i + 1:]:
                if t1 - t0 >= window:
                    best = max(best, (b1 - b0) / (t1 - t0))
                    break
        return best


def run_http(bundle: Path, n: int, rate: float, work: Path) -> Dict[str, Any]:
    server, bucket = http_source(bundle, rate)
    url = f"http://{HTTP_IP}:{server.server_address[1]}/{bundle.name}"
    sampler = Sampler(lambda: bucket.sent)
    start = time.monotonic()
    procs = [_spawn("--http-reader", url, str(work / f"http-{n}-{i}.wacz")) for i in range(n)]
    done = [_read(p)["verified"] for p in procs]
    for p in procs:
        p.communicate()
    server.shutdown()
    server.server_close()
    for i in range(n):
        (work / f"http-{n}-{i}.wacz").unlink()
    seconds = max(done) - start
    return {"readers": n, "seconds": round(seconds, 2), "source_bytes": bucket.sent,
            "source_peak_rate": round(sampler.peak()),
            "source_mean_rate": round(bucket.sent / seconds)}


def run_swarm(bundle: Path, torrent: Path, n: int, rate: float, work: Path) -> Dict[str, Any]:
    from mirrorkit.torrent.privacy import SwarmOptions
    from mirrorkit.torrent.seed import Seeder

    seeder = Seeder(SwarmOptions(listen=f"{SEED_IP}:0", dht=False, upload_limit=int(rate)))
    seed_at = "{}:{}".format(*seeder.listen()[0])
    seeder.add(bundle)
    seeder.wait_checked()
    handle = seeder.seeded[0].handle
    addresses = [f"{reader_ip(i)}:{free_port(reader_ip(i))}" for i in range(n)]
    procs = []
    for i in range(n):
        folder = work / f"swarm-{n}-{i}"
        folder.mkdir()
        procs.append(_spawn("--swarm-reader", str(torrent), str(folder / bundle.name),
                            addresses[i]))
    for p in procs:
        _read(p)  # listening
    polling = threading.Event()

    def poll() -> None:
        while not polling.is_set():
            seeder.poll(200)

    threading.Thread(target=poll, daemon=True).start()
    sampler = Sampler(lambda: handle.status().total_payload_upload)
    start = time.monotonic()
    for i, p in enumerate(procs):
        assert p.stdin is not None
        p.stdin.write(json.dumps([seed_at] + addresses[:i] + addresses[i + 1:]) + "\n")
        p.stdin.flush()
    results = [_read(p) for p in procs]
    seed_sent = handle.status().total_payload_upload
    peak = sampler.peak()
    for p in procs:
        assert p.stdin is not None
        p.stdin.close()
        p.wait(60)
    polling.set()
    time.sleep(0.3)
    seeder.close()
    for i in range(n):
        shutil.rmtree(work / f"swarm-{n}-{i}")
    seconds = max(r["verified"] for r in results) - start
    return {"readers": n, "seconds": round(seconds, 2), "source_bytes": seed_sent,
            "source_peak_rate": round(peak), "source_mean_rate": round(seed_sent / seconds),
            "reader_uploaded": sum(r["uploaded"] for r in results)}


def make_bundle(work: Path, size_mb: int) -> Tuple[Path, Any]:
    from verify_bench import make_warcs

    from mirrorkit.bundle.writer import create_bundle
    from mirrorkit.trust.signing import generate_key

    warcs = make_warcs(work, size_mb)
    key = generate_key("Torrent Bench")
    bundle = Path(create_bundle(warcs, work / "bench.wacz", key=key, collection="bench",
                                sequence=1))
    for warc in warcs:
        warc.unlink()
    return bundle, key


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 MB instead of 100 MB")
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--rate-mb", type=float, default=5.0, help="the source's cap, MB/s")
    parser.add_argument("--readers", default="1,4,8")
    parser.add_argument("--http-reader", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--swarm-reader", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.http_reader:
        http_reader(args.http_reader[0], Path(args.http_reader[1]))
        return 0
    if args.swarm_reader:
        swarm_reader(Path(args.swarm_reader[0]), Path(args.swarm_reader[1]),
                     args.swarm_reader[2])
        return 0
    size = 20 if args.quick else args.size_mb
    rate = args.rate_mb * 1_000_000
    work = Path(tempfile.mkdtemp(prefix="torrent-bench-"))
    os.environ["MIRRORKIT_HOME"] = str(work / "home")
    from mirrorkit.torrent.make import make_torrent

    try:
        print(f"making a ~{size} MB bundle in {work} ...", file=sys.stderr)
        bundle, key = make_bundle(work, size)
        made = make_torrent(bundle, fingerprint=key.fingerprint)
        assert made.torrent is not None
        nbytes = bundle.stat().st_size
        rows: List[Dict[str, Any]] = []
        for n in [int(x) for x in args.readers.split(",")]:
            for kind in ("http", "swarm"):
                print(f"{kind}: {n} reader(s) ...", file=sys.stderr)
                row = (run_http(bundle, n, rate, work) if kind == "http"
                       else run_swarm(bundle, made.torrent, n, rate, work))
                row["kind"] = kind
                rows.append(row)
                print(f"  {row}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    by = {(r["kind"], r["readers"]): r["seconds"] for r in rows}
    most = max(r["readers"] for r in rows)
    least = min(r["readers"] for r in rows)
    speedup = by[("http", most)] / by[("swarm", most)]
    growth = by[("swarm", most)] / by[("swarm", least)]
    summary = {
        "bundle_bytes": nbytes, "piece_length": made.piece_length, "cap_bytes_per_s": rate,
        "rows": rows, f"swarm_speedup_at_{most}": round(speedup, 2),
        f"swarm_growth_{least}_to_{most}": round(growth, 2),
        "goal_speedup_met": speedup >= 4, "goal_growth_met": growth < 2,
        "cap_respected": all(r["source_peak_rate"] <= rate * 1.1 for r in rows),
        "quick": bool(args.quick),
    }
    print(f"\n{'readers':>8} {'HTTP s':>8} {'swarm s':>8}  source MB/s, 5 s peak and mean "
          "(HTTP / swarm)")
    for n in sorted({r["readers"] for r in rows}):
        h = next(r for r in rows if r["kind"] == "http" and r["readers"] == n)
        s = next(r for r in rows if r["kind"] == "swarm" and r["readers"] == n)
        print(f"{n:>8} {h['seconds']:>8} {s['seconds']:>8}  {h['source_peak_rate'] / 1e6:.2f} "
              f"{h['source_mean_rate'] / 1e6:.2f} / {s['source_peak_rate'] / 1e6:.2f} "
              f"{s['source_mean_rate'] / 1e6:.2f}")
    print(f"swarm {speedup:.1f}x faster than HTTP at N={most} (goal >= 4x); swarm time grows "
          f"{growth:.2f}x from N={least} to N={most} (goal < 2x); caps respected: "
          f"{summary['cap_respected']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "torrent_bench.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
