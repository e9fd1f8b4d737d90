"""Seeding verified bundles: `Seeder` verifies each, then offers it in one libtorrent session.

A bundle's torrent is the `.torrent` beside it when there is one (so its web seeds and info
hashes are the published ones), else one made in memory. A torrent made here from the file just
verified is added in seed mode (no second full read: libtorrent checks each piece's hash the
first time it uploads it); a torrent from disk is checked against the file first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from mirrorkit.errors import UsageError
from mirrorkit.torrent import TorrentError
from mirrorkit.torrent.meta import read_facts
from mirrorkit.torrent.privacy import SwarmOptions
from mirrorkit.torrent.session import Swarm


@dataclass
class Seeded:
    """One bundle being seeded."""

    bundle: Path
    magnet: str
    info_hash: str
    size: int
    handle: Any
    report: Any
    torrent_file: Optional[Path]

    def status(self) -> Dict[str, Any]:
        """Peers, bytes uploaded and the share ratio (uploaded / size) right now."""
        st = self.handle.status()
        uploaded = int(st.all_time_upload)
        state = str(st.state)
        if st.errc.value():
            state = f"error: {st.errc.message()}"
        return {"bundle": self.bundle.name, "state": state, "peers": int(st.num_peers),
                "uploaded": uploaded, "uploadRate": int(st.upload_payload_rate),
                "ratio": round(uploaded / self.size, 3) if self.size else 0.0,
                "progress": round(float(st.progress), 4)}


class Seeder:
    """A session seeding several bundles; `poll()` in a loop, `close()` at the end."""

    def __init__(self, opts: SwarmOptions) -> None:
        self.swarm = Swarm(opts)
        self.seeded: List[Seeded] = []
        self.problems: List[str] = []
        self.swarm.on_alert(self._alert)

    def _alert(self, alert: Any) -> None:
        lt = self.swarm.lt
        if isinstance(alert, (lt.torrent_error_alert, lt.file_error_alert)):
            self.problems.append(alert.message())

    def listen(self) -> List[Any]:
        """Wait until the session listens; returns its (address, port) pairs."""
        return self.swarm.wait_listening()

    def add(self, bundle: Path, *, fingerprint: Optional[str] = None,
            verify_progress: Optional[Callable[[int], None]] = None) -> Seeded:
        """Verify `bundle` and start seeding it; raises `VerificationFailed`, `TorrentError`."""
        from mirrorkit.torrent.make import build_torrent
        from mirrorkit.verify import verify_bundle

        if not bundle.is_file():
            raise UsageError(f"no such bundle: {bundle}")
        if any(s.bundle.name == bundle.name for s in self.seeded):
            raise UsageError(f"two bundles are called {bundle.name}: seed them in two runs")
        report = verify_bundle(bundle, fingerprint=fingerprint, remember=False,
                               progress=verify_progress)
        lt = self.swarm.lt
        beside = bundle.with_name(bundle.name + ".torrent")
        params = lt.add_torrent_params()
        if beside.is_file():
            data = beside.read_bytes()
            facts = read_facts(data)
            if facts.size != bundle.stat().st_size:
                raise TorrentError(f"{beside} describes {facts.size:,} bytes, but {bundle} has "
                                   f"{bundle.stat().st_size:,}: it belongs to another file",
                                   hint=f"make it again: mirrorkit torrent make {bundle}")
            info = lt.torrent_info(data)
            if facts.name != bundle.name:
                info.rename_file(0, bundle.name)
            torrent_file: Optional[Path] = beside
        else:
            _data, info = build_torrent(bundle)
            params.flags |= lt.torrent_flags.seed_mode
            torrent_file = None
        params.ti = info
        params.save_path = str(bundle.parent.resolve())
        # Not auto-managed (which would queue some of several bundles), and so not paused.
        params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        handle = self.swarm.add(params)
        hashes = info.info_hashes()
        seeded = Seeded(bundle=bundle, magnet=lt.make_magnet_uri(info),
                        info_hash=str(hashes.v2 if hashes.has_v2() else hashes.v1),
                        size=info.total_size(), handle=handle, report=report,
                        torrent_file=torrent_file)
        self.seeded.append(seeded)
        return seeded

    def wait_checked(self, timeout: float = 3600.0) -> None:
        """Wait until every torrent from disk was checked against its file; raises
        `TorrentError` when a file does not match its torrent."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.swarm.pump(200)
            states = [s.handle.status() for s in self.seeded]
            if not any(st.state in self._checking() for st in states):
                break
        for seeded, st in zip(self.seeded, [s.handle.status() for s in self.seeded]):
            if st.errc.value():
                raise TorrentError(f"cannot seed {seeded.bundle}: {st.errc.message()}")
            if not st.is_seeding:
                raise TorrentError(
                    f"{seeded.torrent_file or 'the torrent'} does not match {seeded.bundle} "
                    f"({st.progress * 100:.0f}% of its pieces match): it was made from another "
                    "file", hint=f"make it again: mirrorkit torrent make {seeded.bundle}")

    def _checking(self) -> tuple[Any, ...]:
        states = self.swarm.lt.torrent_status.states
        return (states.queued_for_checking, states.checking_files, states.checking_resume_data)

    def poll(self, wait_ms: int = 1000) -> List[Dict[str, Any]]:
        """Handle alerts for up to `wait_ms`; returns each bundle's status."""
        self.swarm.pump(wait_ms)
        return [s.status() for s in self.seeded]

    def close(self) -> None:
        """Stop seeding."""
        self.swarm.close()


def seed_bundles(bundles: Sequence[Path], opts: SwarmOptions, *,
                 fingerprint: Optional[str] = None) -> Seeder:
    """A `Seeder` listening and seeding every bundle (each verified first)."""
    seeder = Seeder(opts)
    try:
        seeder.listen()
        for bundle in bundles:
            seeder.add(bundle, fingerprint=fingerprint)
        seeder.wait_checked()
    except BaseException:
        seeder.close()
        raise
    return seeder
