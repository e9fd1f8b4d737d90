"""`make_torrent`: a hybrid (BitTorrent v1 + v2) torrent and magnet link of a verified bundle.

Hybrid, because v1 is what most clients in the field speak and v2 gives per-file SHA-256
Merkle roots. Web seeds (BEP 19, `url-list`) point at mirrors that host the same file over HTTP,
so a swarm with no peers can still start. The torrent is made only after the bundle verifies:
nobody should spread a damaged or forged bundle by accident.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from mirrorkit import __version__
from mirrorkit.errors import UsageError
from mirrorkit.torrent import TorrentError, load_libtorrent


@dataclass
class MadeTorrent:
    """A torrent written beside (or for) a bundle, with what verification said of the bundle."""

    bundle: Path
    torrent: Optional[Path]
    magnet_file: Optional[Path]
    magnet: str
    info_hash_v1: str
    info_hash_v2: str
    size: int
    piece_length: int
    pieces: int
    web_seeds: List[str] = field(default_factory=list)
    report: Any = None
    data: bytes = b""

    def to_json(self) -> Dict[str, Any]:
        """JSON-ready facts (for `--json`)."""
        report = self.report
        return {
            "bundle": str(self.bundle), "torrent": str(self.torrent) if self.torrent else None,
            "magnetFile": str(self.magnet_file) if self.magnet_file else None,
            "magnet": self.magnet, "infoHashV1": self.info_hash_v1,
            "infoHashV2": self.info_hash_v2, "bytes": self.size,
            "pieceLength": self.piece_length, "pieces": self.pieces, "webSeeds": self.web_seeds,
            "verification": report.to_json() if report is not None else None,
        }


def check_web_seed(url: str) -> str:
    """A web seed URL (http or https, with a host); raises `UsageError`.

    >>> check_web_seed("https://mirror.example/lantern.wacz")
    'https://mirror.example/lantern.wacz'
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"the web seed {url!r} is not an http:// or https:// URL")
    return url


def build_torrent(bundle: Path, web_seeds: Sequence[str] = (),
                  progress: Optional[Callable[[int, int], None]] = None) -> Tuple[bytes, Any]:
    """The `.torrent` file's bytes for `bundle` (hashing it) and libtorrent's `torrent_info` of
    them; raises `TorrentError`."""
    lt = load_libtorrent()
    size = bundle.stat().st_size
    if size == 0:
        raise TorrentError(f"{bundle} is empty: there is nothing to share")
    # Flags 0 = hybrid v1 + v2; piece size 0 = libtorrent's choice for this size.
    creator = lt.create_torrent([lt.create_file_entry(bundle.name, size)], 0)
    for url in web_seeds:
        creator.add_url_seed(check_web_seed(url))
    creator.set_creator(f"mirrorkit {__version__}")
    pieces = creator.num_pieces()
    try:
        if progress is not None:
            lt.set_piece_hashes(creator, str(bundle.parent),
                                lambda piece: progress(piece + 1, pieces))
        else:
            lt.set_piece_hashes(creator, str(bundle.parent))
    except (RuntimeError, OSError) as err:
        raise TorrentError(f"cannot hash {bundle}: {err}") from None
    data = bytes(lt.bencode(creator.generate()))
    return data, lt.torrent_info(data)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise TorrentError(f"cannot write {path}: {err.strerror or err}") from None


def make_torrent(bundle: Path, *, web_seeds: Sequence[str] = (), out: Optional[Path] = None,
                 fingerprint: Optional[str] = None, write: bool = True,
                 verify_progress: Optional[Callable[[int], None]] = None,
                 hash_progress: Optional[Callable[[int, int], None]] = None) -> MadeTorrent:
    """Verify `bundle`, then make its torrent; with `write`, also `out` (default
    BUNDLE.wacz.torrent) and the magnet link beside it as `<out minus .torrent>.magnet`.

    Raises `VerificationFailed` (exit 1) when the bundle fails, `UsageError`, `TorrentError`.
    """
    from mirrorkit.verify import verify_bundle

    if not bundle.is_file():
        raise UsageError(f"no such bundle: {bundle}")
    seeds = [check_web_seed(u) for u in web_seeds]
    target = out or bundle.with_name(bundle.name + ".torrent")
    if write and not target.parent.is_dir():
        raise UsageError(f"cannot write {target}: the folder {target.parent} does not exist")
    report = verify_bundle(bundle, fingerprint=fingerprint, remember=False,
                           progress=verify_progress)
    lt = load_libtorrent()
    data, info = build_torrent(bundle, seeds, hash_progress)
    magnet = lt.make_magnet_uri(info)
    hashes = info.info_hashes()
    torrent_path = magnet_path = None
    if write:
        torrent_path = target
        name = target.name[:-len(".torrent")] if target.name.endswith(".torrent") else target.name
        magnet_path = target.with_name(name + ".magnet")
        _write_atomic(torrent_path, data)
        _write_atomic(magnet_path, (magnet + "\n").encode("ascii"))
    return MadeTorrent(
        bundle=bundle, torrent=torrent_path, magnet_file=magnet_path, magnet=magnet,
        info_hash_v1=str(hashes.v1), info_hash_v2=str(hashes.v2), size=info.total_size(),
        piece_length=info.piece_length(), pieces=info.num_pieces(), web_seeds=seeds,
        report=report, data=data)

