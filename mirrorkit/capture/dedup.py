"""`capture --dedup-against OLD.wacz`: the payload digests of earlier bundles, so that a response
whose payload is already in one of them is written as a revisit pointing into it.

Browsertrix Crawler's convention (>= 1.12 "dedupe"): the revisit carries the
identical-payload-digest profile, `WARC-Refers-To-Target-URI`, `WARC-Refers-To-Date` and
`WARC-Refers-To-Container: file://OLD.wacz`. The capture's warcinfo names each base with its
sha256 (`mirrorkit-base`), so `bundle --base` can tell a capture that was deduplicated against
*that* file from one that was not.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Dict, List, NamedTuple, Sequence, Tuple

from mirrorkit.errors import InvalidBundle, UsageError
from mirrorkit.formats import timestamps
from mirrorkit.formats.bases import format_bases, is_original
from mirrorkit.formats.wacz import WaczReader

_CHUNK = 1 << 20


class Original(NamedTuple):
    """A record in a base that a new response may stand in for: what its revisit refers to."""

    url: str
    date: str  # WARC date (RFC 3339, to the second, as the base's index has it)
    container: str  # "file://NAME.wacz"


class Base(NamedTuple):
    """One base bundle given with --dedup-against."""

    path: Path
    sha256: str  # hex
    size: int


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, streamed. Raises OSError."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_bases(paths: Sequence[str]) -> Tuple[List[Base], Dict[str, Original]]:
    """Open each base WACZ and map payload digest -> the record a revisit should refer to.

    The earliest-listed base wins for a digest held by several. Raises UsageError when a path is
    missing or is not a readable bundle (the capture has not started then).
    """
    bases: List[Base] = []
    digests: Dict[str, Original] = {}
    for name in paths:
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"--dedup-against {path}: no such file")
        container = "file://" + path.name
        try:
            with WaczReader(path) as reader:
                for entry in reader.index:
                    if not is_original(entry.mime, entry.status, entry.digest):
                        continue
                    if entry.digest not in digests:
                        digests[entry.digest] = Original(
                            entry.url, timestamps.iso(entry.timestamp), container)
            bases.append(Base(path, file_sha256(path), path.stat().st_size))
        except InvalidBundle as err:
            raise UsageError(f"--dedup-against {path}: {err.message}") from None
        except (OSError, ValueError) as err:
            raise UsageError(f"--dedup-against {path}: cannot read it ({err})") from None
    return bases, digests


def warcinfo_fields(bases: Sequence[Base]) -> Dict[str, str]:
    """The warcinfo field naming the bases (see mirrorkit.formats.bases)."""
    return format_bases([(b.path.name, b.sha256, b.size) for b in bases])
