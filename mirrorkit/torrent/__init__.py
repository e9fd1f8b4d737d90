"""Distribution over BitTorrent: torrents and magnet links of bundles, seeding, fetching.

The swarm only carries bytes; trust comes from the bundle's signature, checked by
`verify_bundle` before a bundle is offered (`make`, `seed`) and after it is fetched (`get`).
Built on libtorrent's Python bindings, an optional extra (`pip install 'mirrorkit[torrent]'`):
`load_libtorrent()` raises `TorrentUnavailable` (exit 2) when it is missing. Nothing here goes
into the USB kit's zipapp. May import: verify, trust, formats, errors.
"""

from __future__ import annotations

from typing import Any

from mirrorkit.errors import MirrorkitError, UsageError

EXTRA = "pip install 'mirrorkit[torrent]'"


class TorrentError(MirrorkitError):
    """A torrent cannot be made, seeded or fetched (bad torrent, refused names, network)."""


class TorrentRefused(TorrentError):
    """A torrent that must not be fetched: file names outside the folder, several files."""


class TorrentUnavailable(UsageError):
    """libtorrent (the `torrent` extra) is not installed."""


class TorrentInterrupted(TorrentError):
    """Ctrl-C during a seed or a get; a get's progress is saved and the same command resumes."""

    exit_code = 130


def load_libtorrent() -> Any:
    """The `libtorrent` module; raises `TorrentUnavailable` naming the extra when it is absent."""
    try:
        import libtorrent
    except ImportError as err:
        raise TorrentUnavailable(
            f"torrent commands need libtorrent, which is not installed ({err})",
            hint=f"install the torrent extra: {EXTRA}  (or ./dev setup in a clone)",
        ) from None
    return libtorrent
