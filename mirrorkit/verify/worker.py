"""A worker process of the parallel deep pass (see parallel.py): one JSON job per line on stdin,
one JSON result per line on stdout, until stdin closes.

A job names the bundle file and the identity it must still have (device, inode, size, mtime): a
file swapped in the meantime gives `null`, and the parent then scans that member itself. The
result of a piece is `null` too when its cut was not a record boundary. Python 3.9-safe.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import mmap
import os
import signal
import sys
from typing import IO, Any, Dict, List, Optional, Tuple, cast

from mirrorkit.verify.scan import Record, ScannedWarc, scan_range, sha256_range


def identity(fh: IO[bytes]) -> Tuple[int, int, int, int]:
    """What makes an open file the same file for the parent and its workers."""
    st = os.fstat(fh.fileno())
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


_FIELDS = [f.name for f in dataclasses.fields(Record)]


def encode(warc: ScannedWarc) -> Dict[str, Any]:
    # Not dataclasses.astuple: it deep-copies every field, and was a tenth of a worker's time.
    return {"records": [[getattr(rec, name) for name in _FIELDS] for rec in warc.records],
            "hashes": sorted(warc.hashes.items()), "problems": warc.problems}


def decode(name: str, data: Dict[str, Any]) -> ScannedWarc:
    """The piece a worker sent back (JSON, not pickle: nothing in it can run code)."""
    records: List[Record] = [Record(*fields) for fields in data["records"]]
    hashes = {int(offset): str(digest) for offset, digest in data["hashes"]}
    return ScannedWarc(name=name, file_digest="", records=records, hashes=hashes,
                       problems=list(data["problems"]))


class _Mapped:
    """The file, mapped a window at a time: reads are views into the page cache, not copies (a
    tenth of the CPU), and the window bounds what the worker's RSS shows of the file. If the
    file shrinks under a mapping, the worker dies of SIGBUS; the parent then scans the member
    itself, with plain reads."""

    WINDOW = 64 * 1024 * 1024

    def __init__(self, fh: IO[bytes]) -> None:
        self.fd = fh.fileno()
        self.size = os.fstat(self.fd).st_size
        self.map: Optional[mmap.mmap] = None
        self.view = memoryview(b"")
        self.start = self.end = self.pos = 0

    def seek(self, pos: int) -> None:
        self.pos = pos

    def read(self, size: int) -> memoryview:
        end = min(self.pos + size, self.size)
        if end <= self.pos:
            return memoryview(b"")
        if not self.start <= self.pos or end > self.end:
            self._map(self.pos, end)
        data = self.view[self.pos - self.start:end - self.start]
        self.pos = end
        return data

    def _map(self, pos: int, end: int) -> None:
        self.close()
        start = pos - pos % mmap.ALLOCATIONGRANULARITY
        length = min(max(end - start, self.WINDOW), self.size - start)
        self.map = mmap.mmap(self.fd, length, access=mmap.ACCESS_READ, offset=start)
        if hasattr(mmap, "MADV_SEQUENTIAL"):  # Linux, macOS; Python 3.8+
            self.map.madvise(mmap.MADV_SEQUENTIAL)
        self.view = memoryview(self.map)
        self.start, self.end = start, start + length

    def close(self) -> None:
        if self.map is not None:
            # A slice still held keeps its window mapped until it is dropped.
            with contextlib.suppress(BufferError):
                self.view.release()
                self.map.close()
            self.map = None


def run_job(job: Dict[str, Any], mapped: bool = True) -> Optional[Any]:
    """A file digest (`sha256:...`) or an encoded piece; None when it cannot be trusted."""
    with open(job["path"], "rb") as fh:
        if list(identity(fh)) != list(job["identity"]):
            return None
        source = _Mapped(fh) if mapped else None
        try:
            return _run(job, cast(IO[bytes], source) if source is not None else fh)
        finally:
            if source is not None:
                source.close()


def _run(job: Dict[str, Any], fh: IO[bytes]) -> Optional[Any]:
    if job["kind"] == "digest":
        return sha256_range(fh, job["start"], job["end"])
    warc = scan_range(fh, job["name"], job["base"], job["lo"], job["hi"])
    return None if warc is None else encode(warc)


def main() -> None:
    # Ctrl-C reaches the whole process group: the parent stops its workers, they stay silent.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for line in sys.stdin:
        try:
            result = run_job(json.loads(line))
        except Exception:  # a failure here only sends the member back to the parent's scan
            result = None
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
