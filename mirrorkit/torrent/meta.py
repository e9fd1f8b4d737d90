"""What a torrent describes, checked before anything is written: one file, with a plain name.

A torrent names the files it writes. `check_info` refuses any info dictionary whose file would
land outside the target folder (`../x`, `/etc/x`, `a/b`, drive letters) or that holds more than
one file: a bundle is one `.wacz`. It reads the raw bencoded dictionary, before libtorrent
"sanitises" names, so a hostile name is refused rather than silently rewritten. Pure Python
(the kit builder uses `torrent_matches_file` without libtorrent).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from mirrorkit.torrent import TorrentError, TorrentRefused
from mirrorkit.torrent.bencode import BencodeError, bdecode, info_span

_BAD_CHARS = set('/\\:*?"<>|\x00')
_MAX_TORRENT = 64 * 1024 * 1024  # a 100 GB file with 16 KiB pieces is 128 MB; bundles are smaller


@dataclass
class TorrentFacts:
    """The single file a torrent describes, and where else it can be fetched."""

    name: str
    size: int
    piece_length: int
    info_hash_v1: Optional[str]
    info_hash_v2: Optional[str]
    web_seeds: List[str]
    trackers: List[str]

    @property
    def key(self) -> str:
        """A stable identifier: the v2 info hash when there is one, else the v1 hash."""
        return self.info_hash_v2 or self.info_hash_v1 or self.name


def safe_name(raw: Any) -> str:
    """The file name a torrent gives, when it is one plain name; raises `TorrentError`.

    >>> safe_name(b"report.wacz")
    'report.wacz'
    >>> safe_name(b"../x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mirrorkit.torrent.TorrentRefused: the torrent names the file '../x', which is not a plain ...
    """
    try:
        name = raw.decode("utf-8") if isinstance(raw, bytes) else None
    except UnicodeDecodeError:
        name = None
    if name is None:
        raise TorrentRefused("the torrent's file name is missing or not UTF-8: refused")
    if (not name or name in (".", "..") or name.startswith(".") or name != name.strip()
            or any(c in _BAD_CHARS or ord(c) < 32 for c in name) or len(name) > 255):
        raise TorrentRefused(f"the torrent names the file {name!r}, which is not a plain file name "
                           "(it could be written outside the target folder): refused")
    return name


def check_info(info: Any) -> tuple[str, int, int]:
    """(name, size, piece length) of a single-file info dictionary; raises `TorrentError`."""
    if not isinstance(info, dict):
        raise TorrentError("the torrent has no info dictionary")
    name = safe_name(info.get(b"name"))
    if b"files" in info:
        raise TorrentRefused(f"the torrent {name!r} holds a folder of files, not one bundle: "
                           "refused")
    size = info.get(b"length")
    tree = info.get(b"file tree")
    if tree is not None:
        leaf = tree.get(name.encode("utf-8")) if isinstance(tree, dict) else None
        inner = leaf.get(b"") if isinstance(leaf, dict) else None
        if not isinstance(tree, dict) or len(tree) != 1 or not isinstance(inner, dict) \
                or not isinstance(leaf, dict) or len(leaf) != 1:
            raise TorrentRefused(f"the torrent {name!r} holds more than one file, or files in "
                               "folders: refused")
        if size is None:
            size = inner.get(b"length")
        elif inner.get(b"length") != size:
            raise TorrentError("the torrent's v1 and v2 parts give the file different sizes")
    piece = info.get(b"piece length")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise TorrentError(f"the torrent {name!r} gives no valid file size")
    if not isinstance(piece, int) or piece < 16384 or piece & (piece - 1):
        raise TorrentError(f"the torrent {name!r} has an invalid piece length {piece!r}")
    return name, size, piece


def _strings(value: Any) -> List[str]:
    if isinstance(value, bytes):
        return [value.decode("utf-8", "replace")]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def read_facts(data: bytes) -> TorrentFacts:
    """Parse and check a `.torrent` file's bytes; raises `TorrentError`."""
    if len(data) > _MAX_TORRENT:
        raise TorrentError("this .torrent file is too large to be a bundle's torrent")
    try:
        top = bdecode(data)
        start, end = info_span(data)
    except BencodeError as err:
        raise TorrentError(f"not a valid .torrent file ({err})") from None
    info = top.get(b"info")
    name, size, piece = check_info(info)
    raw = data[start:end]
    return TorrentFacts(
        name=name, size=size, piece_length=piece,
        info_hash_v1=hashlib.sha1(raw).hexdigest() if b"pieces" in info else None,
        info_hash_v2=hashlib.sha256(raw).hexdigest() if b"file tree" in info else None,
        web_seeds=_strings(top.get(b"url-list")),
        trackers=_strings(top.get(b"announce")) + [
            t for t in _strings(top.get(b"announce-list")) if t not in
            _strings(top.get(b"announce"))],
    )


def torrent_matches_file(data: bytes, path: Path) -> Optional[str]:
    """None when the torrent describes exactly `path` (name, size, every SHA-1 piece hash), else
    what differs. Raises `TorrentError` for a torrent that is not valid at all, OSError."""
    facts = read_facts(data)
    info: Dict[bytes, Any] = bdecode(data)[b"info"]
    if facts.name != path.name:
        return f"it names the file {facts.name!r}, not {path.name!r}"
    if facts.size != path.stat().st_size:
        return f"it describes {facts.size:,} bytes, the bundle has {path.stat().st_size:,}"
    pieces = info.get(b"pieces")
    if not isinstance(pieces, bytes):
        return "it has no v1 piece hashes to check the bundle against (a v2-only torrent)"
    with path.open("rb") as fh:
        for i in range(0, len(pieces), 20):
            if hashlib.sha1(fh.read(facts.piece_length)).digest() != pieces[i:i + 20]:
                return f"piece {i // 20} does not match: it was made from another file"
    return None
