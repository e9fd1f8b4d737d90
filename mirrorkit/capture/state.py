"""Crawl state for --resume: an append-only journal beside the WARCs.

Every fetch ends with one write() to the journal holding the URLs it discovered ("q" lines) and
its own "d" line (where its records sit in which WARC), written only after those records reached
the operating system. A checkpoint fsyncs the WARC first, then the journal. So after Ctrl-C,
SIGKILL or a power cut, every "d" line whose records are intact is proof that the URL need not be
fetched again, and the WARC is cut back to the last record the journal knows: nothing half-written
stays, and nothing safely written is fetched twice.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from mirrorkit.capture.frontier import Task
from mirrorkit.errors import CaptureError, UsageError

STATE_DIR = ".mirrorkit-state"
JOURNAL = "journal.jsonl"
OPTIONS = "options.json"
# One encoder for every journal line (json.dumps with options builds a new one per call).
_LINE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class Journal:
    """Append-only, one os.write() per event, fsync on `sync()`."""

    def __init__(self, path: Path) -> None:
        """Open (creating) the journal for appending. Raises CaptureError."""
        self.path = path
        try:
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as err:
            raise CaptureError(f"cannot write the crawl state {path}: {err.strerror}") from err

    def write(self, queued: List[Task], done: Optional[Dict[str, Any]] = None) -> None:
        """Record discovered tasks and (optionally) a finished fetch. Raises OSError."""
        lines = [_LINE({"q": t.to_json()}) for t in queued]
        if done is not None:
            lines.append(_LINE(done))
        if lines:
            data = ("\n".join(lines) + "\n").encode("utf-8")
            view = memoryview(data)
            while view:
                n = os.write(self.fd, view)
                view = view[n:]

    def sync(self) -> None:
        """fsync the journal. Raises OSError."""
        os.fsync(self.fd)

    def close(self) -> None:
        """fsync and close."""
        try:
            os.fsync(self.fd)
        finally:
            os.close(self.fd)


@dataclass
class Loaded:
    """What a journal says: every task ever queued (in order) and the finished fetches."""

    queued: List[Task] = field(default_factory=list)
    done: Dict[str, Dict[str, Any]] = field(default_factory=dict)


def load_journal(path: Path) -> Loaded:
    """Read a journal, cutting off a torn last line. Raises CaptureError when unreadable."""
    state = Loaded()
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CaptureError(f"cannot read the crawl state {path}: {err.strerror}") from err
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as fh:  # a line torn by a crash: drop it
            fh.truncate(end)
    seen = set()
    for n, line in enumerate(data[:end].splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as err:
            raise CaptureError(f"the crawl state {path} is damaged at line {n}",
                               hint="start a new capture in another folder") from err
        if "q" in entry:
            task = Task.from_json(entry["q"])
            if task.url not in seen:
                seen.add(task.url)
                state.queued.append(task)
        elif "d" in entry:
            state.done[entry["d"]] = entry
    return state


def state_dir(out_dir: Path) -> Path:
    """Where the journal and the saved options live."""
    return out_dir / STATE_DIR


def save_options(out_dir: Path, options: Dict[str, Any]) -> None:
    """Write the crawl-defining options atomically. Raises CaptureError."""
    target = state_dir(out_dir) / OPTIONS
    tmp = target.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(options, indent=1), "utf-8")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as err:
        raise CaptureError(f"cannot write {target}: {err.strerror}") from err


def load_options(out_dir: Path) -> Dict[str, Any]:
    """The options saved by the capture being resumed. Raises UsageError when there is none."""
    target = state_dir(out_dir) / OPTIONS
    if not target.is_file():
        raise UsageError(f"nothing to resume in {out_dir}: it holds no mirrorkit crawl state",
                         hint="start the capture without --resume")
    try:
        return json.loads(target.read_text("utf-8"))  # type: ignore[no-any-return]
    except (OSError, ValueError) as err:
        raise CaptureError(f"cannot read {target}: {err}") from err


def recover(out_dir: Path, loaded: Loaded, warcs: List[Path]) -> int:
    """Make the WARCs agree with the journal before resuming; return how many bytes were cut.

    A record past the last one the journal knows (torn by a crash, or written just before the
    journal line) is cut off and its URL fetched again; a journal line whose records did not
    survive (power cut) is forgotten. Raises CaptureError when a WARC cannot be repaired.
    """
    from mirrorkit.capture.warcwriter import cut_to, member_ends

    cut = 0
    for warc in warcs:
        try:
            ends = member_ends(warc)
            complete = set(ends)  # a set: a 1 GB WARC has ~100k members to look up
            mine = [e for e in loaded.done.values() if e.get("f") == warc.name]
            for entry in mine:
                if entry["e"] not in complete:
                    del loaded.done[entry["d"]]
            known = max((e["e"] for e in mine if e["d"] in loaded.done), default=0)
            keep = known or (ends[0] if ends else 0)
            if keep == 0:
                cut += warc.stat().st_size
                warc.unlink()
            else:
                cut += cut_to(warc, keep)
        except OSError as err:
            raise CaptureError(f"cannot repair {warc}: {err.strerror}") from err
    names = {w.name for w in warcs}
    for url in [u for u, e in loaded.done.items() if e.get("f") and e["f"] not in names]:
        del loaded.done[url]
    return cut
