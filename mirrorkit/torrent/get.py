"""`fetch`: download a bundle by magnet link or `.torrent`, resumably, then verify it.

Everything is written under the target folder DIR. While downloading, the file and libtorrent's
resume data live in `DIR/.mirrorkit-torrent/<info hash>/` (the file as `NAME.part`), so the
bundle's own name in DIR only ever holds a file that passed verification; a file that fails is
moved to `DIR/NAME.failed`. Run the same command again after Ctrl-C, a crash or a lost
connection and it continues from the resume data (or, without it, from the pieces already on
disk, which libtorrent re-checks). File names are checked on the raw info dictionary before
anything is written (`meta.check_info`): a magnet's torrent is added with no file wanted until
its metadata has passed that check.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from mirrorkit.errors import UsageError
from mirrorkit.torrent import TorrentError, TorrentInterrupted, TorrentRefused, load_libtorrent
from mirrorkit.torrent.meta import TorrentFacts, check_info, read_facts
from mirrorkit.torrent.privacy import SwarmOptions
from mirrorkit.torrent.session import Swarm

STAGING = ".mirrorkit-torrent"
_RESUME = "resume.dat"
_SAVE_EVERY = 10.0  # seconds between resume-data saves while downloading

# progress(name, done bytes, total bytes or None before the metadata, peers, bytes/s)
Progress = Callable[[str, int, Optional[int], int, float], None]


@dataclass
class Fetched:
    """What a get did: where the file went, what verification said, what came from where."""

    path: Path
    name: str
    size: int
    exit_code: int
    report: Any = None
    downloaded: int = 0  # payload bytes received in this run
    resumed: int = 0  # bytes already on disk when this run started
    hash_failures: int = 0  # pieces that failed their hash (and were fetched again)
    web_seed_errors: List[str] = field(default_factory=list)
    info_hash: str = ""

    def to_json(self) -> Dict[str, Any]:
        """JSON-ready facts (for `--json`)."""
        status = {0: "trusted", 3: "untrusted"}.get(self.exit_code, "failed")
        return {"path": str(self.path), "name": self.name, "bytes": self.size,
                "status": status, "exitCode": self.exit_code, "downloaded": self.downloaded,
                "resumed": self.resumed, "hashFailures": self.hash_failures,
                "webSeedErrors": self.web_seed_errors, "infoHash": self.info_hash,
                "verification": self.report.to_json() if self.report is not None else None}


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class _Get:
    """One download's state, driven by `fetch`."""

    def __init__(self, source: str, out_dir: Path, opts: SwarmOptions) -> None:
        self.out_dir = out_dir
        self.lt = load_libtorrent()
        self.facts: Optional[TorrentFacts] = None
        self.params = self._params(source)
        self.swarm = Swarm(opts)
        self.staging = out_dir / STAGING / self.key
        self.handle: Any = None
        self.hash_failures = 0
        self.web_seed_errors: List[str] = []
        self.errors: List[str] = []
        self.proxy_errors: List[str] = []
        self.resume_wanted = False
        self.swarm.on_alert(self._alert)

    def _params(self, source: str) -> Any:
        lt = self.lt
        if source.startswith("magnet:"):
            try:
                params = lt.parse_magnet_uri(source)
            except RuntimeError as err:
                raise UsageError(f"not a valid magnet link: {err}") from None
            hashes = params.info_hashes
            if not (hashes.has_v1() or hashes.has_v2()):
                raise UsageError("the magnet link has no info hash (xt=urn:btih: or urn:btmh:)")
            self.key = str(hashes.v2 if hashes.has_v2() else hashes.v1)
            return params
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"{source!r} is neither a magnet link nor a .torrent file")
        data = path.read_bytes()
        self.facts = read_facts(data)
        self.key = self.facts.key
        params = lt.add_torrent_params()
        try:
            params.ti = lt.torrent_info(data)
        except RuntimeError as err:
            raise TorrentError(f"libtorrent cannot read {source}: {err}") from None
        return params

    # --- alerts ---------------------------------------------------------------------------

    def _alert(self, alert: Any) -> None:
        lt = self.lt
        if isinstance(alert, lt.save_resume_data_alert):
            _write_atomic(self.staging / _RESUME, bytes(lt.write_resume_data_buf(alert.params)))
        elif isinstance(alert, lt.hash_failed_alert):
            self.hash_failures += 1
        elif isinstance(alert, lt.url_seed_alert):
            self.web_seed_errors.append(f"{alert.server_url}: {alert.error_message()}"
                                        if hasattr(alert, "error_message") else alert.message())
        elif isinstance(alert, lt.socks5_alert):
            self.proxy_errors.append(alert.message())
        elif isinstance(alert, lt.metadata_received_alert):
            self._metadata_arrived()
        elif isinstance(alert, (lt.torrent_error_alert, lt.file_error_alert)):
            self.errors.append(alert.message())

    def _facts_of(self, info: Any) -> TorrentFacts:
        name, size, piece = check_info(self.lt.bdecode(info.info_section()))
        return TorrentFacts(name, size, piece, None, None, [], [])

    def _metadata_arrived(self) -> None:
        self.facts = self._facts_of(self.handle.torrent_file())
        self._check_target()
        name = self.facts.name
        self.handle.rename_file(0, name + ".part")
        self.handle.prioritize_files([4])
        self.resume_wanted = True

    def _check_target(self) -> None:
        assert self.facts is not None
        target = self.out_dir / self.facts.name
        if target.exists():
            raise UsageError(f"{target} already exists: it is never replaced",
                             hint="move it away, or choose another -o folder")

    # --- the run --------------------------------------------------------------------------

    def start(self, peers: List[str]) -> int:
        """Add the torrent (from resume data when there is some); returns bytes already had."""
        lt = self.lt
        if self.facts is not None:
            self._check_target()
        self.swarm.wait_listening()
        self.staging.mkdir(parents=True, exist_ok=True)
        resume = self.staging / _RESUME
        params = self.params
        if resume.is_file():
            try:
                params = lt.read_resume_data(resume.read_bytes())
                if params.ti is None and self.params.ti is not None:
                    params.ti = self.params.ti
            except RuntimeError:
                params = self.params  # damaged resume data: libtorrent re-checks the .part file
        if params.ti is not None and self.facts is None:
            self.facts = self._facts_of(params.ti)  # a magnet whose metadata came last time
            self._check_target()
        params.save_path = str(self.staging.resolve())
        params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        if params.ti is None:
            # A magnet: fetch only the metadata until its names have been checked.
            params.flags |= lt.torrent_flags.default_dont_download
        else:
            name = params.ti.files().file_name(0)
            params.renamed_files = {0: name + ".part"}
        self.handle = self.swarm.add(params)
        self.swarm.connect(self.handle, peers)
        self._wait_checked()
        return int(self.handle.status().total_wanted_done) if params.ti is not None else 0

    def _wait_checked(self) -> None:
        states = self.lt.torrent_status.states
        checking = (states.checking_files, states.checking_resume_data,
                    states.queued_for_checking)
        while self.handle.status().state in checking:
            self.swarm.pump(100)

    def run(self, peers: List[str], progress: Optional[Progress], timeout: float) -> int:
        """Download until complete; returns payload bytes received. Raises `TorrentError` on
        a stall longer than `timeout` (0 = wait for ever) or a disk error."""
        last_save = time.monotonic()
        last_change, last_done = time.monotonic(), -1
        while True:
            self.swarm.pump(500)
            if self.errors:
                raise TorrentError(f"the download stopped: {self.errors[0]}",
                                   hint="fix the problem and run the same command again")
            st = self.handle.status()
            total = self.facts.size if self.facts else None
            done = int(st.total_wanted_done) if st.has_metadata else 0
            if progress is not None:
                progress(self.facts.name if self.facts else "bundle", done, total,
                         int(st.num_peers), float(st.download_payload_rate))
            if st.has_metadata and st.is_finished and self.facts is not None \
                    and done >= self.facts.size:
                return int(st.total_payload_download)
            now = time.monotonic()
            if done != last_done:
                last_change, last_done = now, done
            elif timeout and now - last_change > timeout:
                proxy = f"; the proxy said: {self.proxy_errors[-1]}" if self.proxy_errors else ""
                raise TorrentError(f"nothing arrived for {timeout:.0f} seconds "
                                   f"({st.num_peers} peers connected{proxy})",
                                   hint="run the same command again to continue; add peers "
                                   "with --peer ADDRESS:PORT")
            if self.resume_wanted or now - last_save > _SAVE_EVERY:
                self.save_resume()
                last_save, self.resume_wanted = now, False

    def save_resume(self, wait: bool = False) -> None:
        """Ask libtorrent for resume data (written when its alert arrives)."""
        if self.handle is None or not self.handle.is_valid():
            return
        self.handle.save_resume_data(self.lt.save_resume_flags_t.save_info_dict)
        if not wait:
            return
        deadline = time.monotonic() + 10
        before = (self.staging / _RESUME).stat().st_mtime_ns \
            if (self.staging / _RESUME).exists() else 0
        while time.monotonic() < deadline:
            self.swarm.pump(200)
            path = self.staging / _RESUME
            if path.exists() and path.stat().st_mtime_ns != before:
                return

    def stop(self) -> None:
        """Pause, save resume data, close the session: what is on disk stays resumable."""
        try:
            if self.handle is not None and self.handle.is_valid():
                self.handle.pause()
                self.save_resume(wait=True)
        finally:
            self.swarm.close()


def fetch(source: str, out_dir: Path, *, opts: Optional[SwarmOptions] = None,
          peers: Optional[List[str]] = None, fingerprint: Optional[str] = None,
          timeout: float = 0.0, progress: Optional[Progress] = None,
          verify_progress: Optional[Callable[[int], None]] = None) -> Fetched:
    """Download the bundle `source` (a magnet link or a .torrent path) into `out_dir` and verify
    it. `exit_code` is 0 trusted, 3 valid but the signer is not trusted, 1 failed.

    Raises `UsageError` (bad source, `out_dir/NAME` exists), `TorrentError` (a refused torrent,
    a stall, a disk error) and `TorrentInterrupted` on Ctrl-C, always leaving a resumable state.
    """
    from mirrorkit.torrent.privacy import parse_endpoint
    from mirrorkit.verify import VerificationFailed, verify_bundle

    for peer in peers or []:
        parse_endpoint(peer, "--peer")
    out_dir.mkdir(parents=True, exist_ok=True)
    get = _Get(source, out_dir, opts or SwarmOptions())
    try:
        resumed = get.start(list(peers or []))
        downloaded = get.run(list(peers or []), progress, timeout)
        # Saved complete, so a Ctrl-C during verification does not cost a second download.
        get.save_resume(wait=True)
        get.swarm.remove(get.handle)
    except KeyboardInterrupt:
        get.stop()
        raise TorrentInterrupted(
            "interrupted; what was downloaded is kept",
            hint="run the same command again to continue where it stopped") from None
    except TorrentRefused:
        get.stop()
        shutil.rmtree(get.staging, ignore_errors=True)
        _remove_if_empty(out_dir / STAGING)
        raise
    except BaseException:
        get.stop()
        raise
    get.swarm.close()
    assert get.facts is not None
    name = get.facts.name
    part = get.staging / (name + ".part")
    target = out_dir / name
    report, code = None, 1
    try:
        report = verify_bundle(part, fingerprint=fingerprint, progress=verify_progress)
        code = 0 if report.trusted else 3
    except VerificationFailed as err:
        report = err.report
    if code == 1:
        target = out_dir / (name + ".failed")
        os.replace(part, target)
    else:
        _move_no_replace(part, target)
    report.path = str(target)
    shutil.rmtree(get.staging, ignore_errors=True)
    _remove_if_empty(out_dir / STAGING)
    return Fetched(path=target, name=name, size=get.facts.size, exit_code=code, report=report,
                   downloaded=downloaded, resumed=resumed, hash_failures=get.hash_failures,
                   web_seed_errors=get.web_seed_errors, info_hash=get.key)


def _move_no_replace(src: Path, dest: Path) -> None:
    """Rename `src` to `dest` unless `dest` appeared meanwhile (a hard link cannot replace a
    file; file systems without hard links, such as FAT on USB sticks, get a checked rename)."""
    try:
        os.link(src, dest)
    except FileExistsError:
        raise UsageError(f"{dest} appeared while downloading: it is never replaced; the "
                         f"verified copy is kept as {src}") from None
    except OSError:
        if dest.exists():
            raise UsageError(f"{dest} appeared while downloading: it is never replaced") from None
        os.replace(src, dest)
        return
    src.unlink()


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()
