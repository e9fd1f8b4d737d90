"""`verify --deep` on every core: each large WARC member is cut at gzip member boundaries into
pieces that this process and worker processes scan (scan.py's single pass, over a range), beside
one job per member for its file digest.

Processes, not threads: the pass is CPU-bound and its parsing holds the GIL. Three threads got
about 1.5 cores' worth out of two and spent 1.1x the CPU; processes use both fully.

A cut is only a guess (a gzip header whose first bytes inflate to "WARC/"), proved afterwards: a
piece counts only if it ends exactly where a gzip member ends, so the joined pieces are exactly
the sequential pass. If any piece of a member does not (a guess inside a record, damage, a layout
that needs warcio, a file changed under us), that member is scanned again here, sequentially, and
its report is the same as without workers. Python 3.9-safe: needs only the standard library.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import zlib
from pathlib import Path
from typing import IO, Any, Dict, List, Optional, Sequence, Tuple

import mirrorkit
from mirrorkit.formats.zipcheck import BundleZip, FileWindow, Member, Progress
from mirrorkit.verify.scan import ScannedWarc, scan_warc
from mirrorkit.verify.worker import decode, identity, run_job

# Below this many WARC bytes, a worker (about 0.1 s to start) is ready too late to help.
PARALLEL_MIN = 48 * 1024 * 1024
MIN_PIECE = 4 * 1024 * 1024
_PIECES_PER_JOB = 16  # enough pieces that the last one to finish is short
_SEARCH = 1024 * 1024  # how far past a cut to look for the next gzip member
_MAX_GUESSES = 64  # gzip magic bytes tried per cut: archived bytes may be full of them
_GZIP_MAGIC = b"\x1f\x8b\x08"

_Identity = Tuple[int, int, int, int]


def available_cpus() -> int:
    """CPUs this process may run on (a container or `taskset` may allow fewer than exist)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _on_disk(fh: IO[bytes]) -> Optional[Tuple[str, _Identity, int]]:
    """(path, identity, offset) of the real file under a bundle's file object, if it has one:
    workers open the file again by name and check it is still the same file."""
    offset = 0
    while isinstance(fh, FileWindow):  # a bundle nested in another ZIP
        fh, start = fh.origin()
        offset += start
    name = getattr(fh, "name", None)
    if not isinstance(name, str):
        return None
    try:
        return os.path.abspath(name), identity(fh), offset
    except (OSError, ValueError, AttributeError):  # not a real file
        return None


def _member_start(fh: IO[bytes], member: Member, at: int) -> Optional[int]:
    """The first offset at or after `at` (within _SEARCH) that looks like a record's gzip
    member, or None."""
    size = member.data_end - member.data_start
    fh.seek(member.data_start + at)
    window = fh.read(min(_SEARCH, size - at))
    found = window.find(_GZIP_MAGIC)
    for _ in range(_MAX_GUESSES):
        if found < 0:
            return None
        try:
            head = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(
                window[found:found + 4096], 8)
        except zlib.error:
            head = b""
        if head.startswith(b"WARC/"):
            return at + found
        found = window.find(_GZIP_MAGIC, found + 1)
    return None


def _cuts(fh: IO[bytes], member: Member, pieces: int) -> List[int]:
    """Offsets [0, ..., size] that cut the member into about `pieces` pieces."""
    size = member.data_end - member.data_start
    cuts = [0]
    for k in range(1, pieces):
        at = max(k * size // pieces, cuts[-1] + 1)
        if at >= size:
            break
        start = _member_start(fh, member, at)
        if start is not None and cuts[-1] < start < size:
            cuts.append(start)
    cuts.append(size)
    return cuts


def scan_members(bundle: BundleZip, members: Sequence[Member], progress: Progress = None,
                 jobs: Optional[int] = None) -> Dict[str, ScannedWarc]:
    """`scan_warc` of each member, by name, on up to `jobs` processes (default: every CPU)."""
    jobs = available_cpus() if jobs is None else jobs
    total = sum(m.data_end - m.data_start for m in members)
    where = _on_disk(bundle.fh)
    found: Optional[Dict[Tuple[str, int], Any]] = None
    plan: Dict[str, int] = {}
    if jobs > 1 and total >= PARALLEL_MIN and where is not None:
        found = _run_pool(bundle, members, progress, jobs, where, plan)
    out: Dict[str, ScannedWarc] = {}
    for member in members:
        warc = _joined(member, plan.get(member.name, 0), found) if found is not None else None
        if warc is None:
            # Sequentially, in this process: no pool, or a piece that did not prove its cut.
            # Its progress was counted already when the pool ran.
            warc = scan_warc(bundle, member, None if found is not None else progress)
        out[member.name] = warc
    return out


def _joined(member: Member, pieces: int, found: Dict[Tuple[str, int], Any]
            ) -> Optional[ScannedWarc]:
    digest = found.get((member.name, -1))
    parts = [found.get((member.name, i)) for i in range(pieces)]
    if not isinstance(digest, str) or not parts or any(part is None for part in parts):
        return None
    try:
        scanned = [decode(member.name, part) for part in parts if part is not None]
    except (KeyError, TypeError, ValueError):  # not what a worker writes: scan it here
        return None
    warc = ScannedWarc(name=member.name, file_digest=digest)
    for piece in scanned:
        warc.records += piece.records
        warc.hashes.update(piece.hashes)
        warc.problems += piece.problems
    return warc


_Task = Tuple[Tuple[str, int], int, Dict[str, Any]]  # (member, piece), bytes, job


def _run_pool(bundle: BundleZip, members: Sequence[Member], progress: Progress, jobs: int,
              where: Tuple[str, _Identity, int], plan: Dict[str, int]
              ) -> Dict[Tuple[str, int], Any]:
    """Run every piece and file digest on this process and `jobs - 1` workers; results by
    (member, piece), -1 for the file digest."""
    path, ident, offset = where
    total = sum(m.data_end - m.data_start for m in members)
    piece = max(MIN_PIECE, total // (jobs * _PIECES_PER_JOB))
    tasks: List[Tuple[int, _Task]] = []  # (cost, task)
    for member in members:
        size = member.data_end - member.data_start
        start = offset + member.data_start
        job = {"path": path, "identity": ident, "name": member.name}
        # A SHA-256 cannot be split, so the file digest is a job of its own: the one second read
        # of the member's bytes (from the page cache, mapped), the price of using every core.
        # Its cost: one hash, where a piece of the same size is an inflate and four hashes.
        tasks.append((size // 5, ((member.name, -1), 0,
                                  dict(job, kind="digest", start=start, end=start + size))))
        cuts = _cuts(bundle.fh, member, max(1, size // piece))
        plan[member.name] = len(cuts) - 1
        for i, (lo, hi) in enumerate(zip(cuts, cuts[1:])):
            tasks.append((hi - lo, ((member.name, i), hi - lo,
                                    dict(job, kind="piece", base=start, lo=lo, hi=hi))))
    tasks.sort(key=lambda task: -task[0])  # longest first, so the last to finish are short
    todo: queue.Queue[_Task] = queue.Queue()
    for _, task in tasks:
        todo.put(task)
    done: queue.Queue[Tuple[Tuple[str, int], Any, int]] = queue.Queue()
    workers: List[subprocess.Popen[str]] = []
    # This process is one of the `jobs`: it works while the others start (about 0.15 s each).
    with contextlib.suppress(OSError):  # no processes to be had: this one does it all
        for _ in range(min(jobs, len(tasks)) - 1):
            workers.append(_start_worker())
    stop = threading.Event()
    feeders = [threading.Thread(target=_feed, args=(w, todo, done), daemon=True,
                                name="mirrorkit-deep-feed") for w in workers]
    feeders.append(threading.Thread(target=_work_here, args=(todo, done, stop), daemon=True,
                                    name="mirrorkit-deep-scan"))
    found: Dict[Tuple[str, int], Any] = {}
    try:
        for feeder in feeders:
            feeder.start()
        for _ in range(len(tasks)):
            key, result, size = done.get()
            found[key] = result
            if progress and size:
                progress(size)
    finally:
        stop.set()
        _stop(workers)
    return found


def _work_here(todo: queue.Queue[_Task], done: queue.Queue[Tuple[Tuple[str, int], Any, int]],
               stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            key, size, job = todo.get_nowait()
        except queue.Empty:
            return
        try:
            # Plain reads here: a mapped file that shrinks kills its process with SIGBUS.
            result = run_job(job, mapped=False)
        except Exception:  # the member is scanned again, sequentially
            result = None
        done.put((key, result, size))


def _start_worker() -> subprocess.Popen[str]:
    # -I: neither the caller's directory nor PYTHON* variables reach the worker's imports (the
    # bundle may well sit next to a hostile mirrorkit/); the package is imported from exactly
    # where this one was.
    home = str(Path(mirrorkit.__file__).resolve().parent.parent)
    code = (f"import sys; sys.path.insert(0, {home!r}); "
            "from mirrorkit.verify.worker import main; main()")
    return subprocess.Popen([sys.executable, "-I", "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            encoding="utf-8", bufsize=1)


def _feed(worker: subprocess.Popen[str], todo: queue.Queue[_Task],
          done: queue.Queue[Tuple[Tuple[str, int], Any, int]]) -> None:
    """Hand one worker its jobs, one at a time. A worker that dies answers None for the job it
    had (that member is scanned again here) and takes no more: the others share the rest."""
    assert worker.stdin is not None and worker.stdout is not None
    alive = True
    while alive:
        try:
            key, size, job = todo.get_nowait()
        except queue.Empty:
            return
        result = None
        try:
            worker.stdin.write(json.dumps(job) + "\n")
            worker.stdin.flush()
            reply = worker.stdout.readline()
            alive = bool(reply)
            result = json.loads(reply) if reply else None
        except Exception:  # a broken pipe, a garbled line: the same as a dead worker
            alive = False
        done.put((key, result, size))


def _stop(workers: List[subprocess.Popen[str]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.kill()  # the workers only read: stopping one at any point loses nothing
        worker.wait()
        for stream in (worker.stdin, worker.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
