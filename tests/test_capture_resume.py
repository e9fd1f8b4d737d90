"""Resume: a capture killed with SIGKILL mid-way continues to a complete, valid capture, and no
URL whose response was safely written is fetched again. Also: a full disk stops cleanly."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from test_capture import WARCIO, load_capture
from warcio.archiveiterator import ArchiveIterator

from mirrorkit.cli import main
from mirrorkit.formats.warc import target_uri, warc_files
from mirrorkit.sample_site import SampleSite

REPO = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> list:
    return [sys.executable, "-m", "mirrorkit", "capture", *args]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _written_urls(out: Path) -> set:
    urls = set()
    for path in warc_files(out):
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type in ("response", "revisit"):
                    urls.add(target_uri(rec))
    return urls


def test_resume_after_sigkill(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    with SampleSite(delay=0.05) as site:
        proc = subprocess.Popen(_cli(site.url, "-o", str(out), "--quiet"), env=_env())
        deadline = time.monotonic() + 30
        while len(site.requests_log) < 15 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        first_run = list(site.requests_log)
        assert 0 < len(first_run) < 45, "the capture was not killed mid-way"
        # Simulate the torn write a crash can leave: half a record at the end of the WARC.
        [warc] = warc_files(out)
        with open(warc, "ab") as fh:
            fh.write(b"\x1f\x8b\x08\x00" + os.urandom(300))

        code = main(["capture", "--resume", "-o", str(out), "--quiet"])
        assert code == 0
        second_run = site.requests_log[len(first_run):]
        recs = load_capture(out)
        exp = site.expected

    # complete
    for url in exp["pages"] + exp["requisites"] + list(exp["redirects"]):
        assert url in recs, f"missing after resume: {url}"
    for url in exp["disallowed"]:
        assert url not in recs
    # nothing fetched twice within the resumed run, and nothing fetched again that the killed
    # run had safely written (only requests in flight at the kill may repeat)
    second = Counter(second_run)
    assert [k for k, n in second.items() if n > 1] == []
    first_files = warc_files(out)[:1]
    safely_written = set()
    for path in first_files:
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type in ("response", "revisit"):
                    safely_written.add(target_uri(rec))
    refetched = {site.url.rstrip("/") + p for (_m, p, h) in second_run
                 if h.endswith(str(site.port))}
    assert not refetched & safely_written
    repeated = set(Counter(first_run) & second)
    assert len(repeated) <= 8, repeated  # at most the fetches in flight (concurrency 8)
    # valid
    files = [str(p) for p in warc_files(out)]
    assert len(files) == 2  # the resumed run starts its own file, with its own warcinfo
    result = subprocess.run([WARCIO, "check", *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    pages = (out / "pages.jsonl").read_text().splitlines()
    assert len(pages) == len(set(pages))


def _limit_file_size() -> None:
    # A file-size limit makes writes fail like a full disk (EFBIG instead of ENOSPC).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, 30_000))


def test_full_disk_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "full"
    with SampleSite() as site:
        result = subprocess.run(_cli(site.url, "-o", str(out), "--quiet"), env=_env(),
                                preexec_fn=_limit_file_size, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 1, result.stderr
        assert "cannot write" in result.stderr and "--resume" in result.stderr
        assert "Traceback" not in result.stderr
        assert main(["capture", "--resume", "-o", str(out), "--quiet"]) == 0
        recs = load_capture(out)
        assert all(url in recs for url in site.expected["pages"])
    check = subprocess.run([WARCIO, "check", *map(str, warc_files(out))], capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout
    assert _written_urls(out) >= set(site.expected["requisites"])


def test_power_cut_journal_ahead_of_warc(tmp_path: Path) -> None:
    """After a power cut the journal may vouch for records the disk never got: they are
    forgotten and fetched again, and the capture ends complete and valid."""
    from mirrorkit.capture.warcwriter import member_ends

    out = tmp_path / "cut"
    with SampleSite() as site:
        assert main(["capture", site.url, "-o", str(out), "--quiet"]) == 0
        [warc] = warc_files(out)
        ends = member_ends(warc)
        complete = set(load_capture(out))
        with open(warc, "r+b") as fh:  # the last 3 exchanges (6 records) never reached the disk
            fh.truncate(ends[-7])
        lost = complete - set(load_capture(out))
        before = len(site.requests_log)
        assert main(["capture", "--resume", "-o", str(out), "--quiet"]) == 0
        refetched = site.requests_log[before:]
        recs = load_capture(out)
        exp = site.expected
    assert len(lost) == 3
    # exactly the lost ones were fetched again (by path; they may sit on either host)
    assert sorted(p for _m, p, _h in refetched) == sorted(
        "/" + u.split("/", 3)[3] for u in lost)
    assert all(url in recs for url in exp["pages"] + exp["requisites"])
    check = subprocess.run([WARCIO, "check", *map(str, warc_files(out))], capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout
