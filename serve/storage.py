"""The replay server's view of a WACZ: `mirrorkit.formats.wacz.WaczReader`, made safe to share.

`WaczReader` reads records with positioned reads (thread-safe), but its `IndexReader` seeks a
shared file object and keeps a block cache, so index lookups are serialised here. Lookups
binary-search ``index.idx`` and inflate one block: opening costs the same for 100 or 100,000
records.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List

from mirrorkit.errors import InvalidBundle
from mirrorkit.formats.cdxj import CdxjEntry
from mirrorkit.formats.wacz import WaczReader


class BundleStorage:
    """Random access to one WACZ file, shared by the server's threads."""

    def __init__(self, path: Path) -> None:
        """Opens the bundle; raises InvalidBundle when it is not a readable WACZ."""
        self.path = Path(path)
        self.reader = WaczReader(self.path)
        self._index_lock = threading.Lock()
        try:
            self.datapackage: Dict[str, Any] = self.reader.datapackage
        except InvalidBundle:
            self.reader.close()
            raise

    def pages(self) -> Iterator[Dict[str, Any]]:
        """Entries of ``pages/pages.jsonl``; raises InvalidBundle when it is malformed."""
        return self.reader.pages()

    def lookup(self, key: str) -> List[CdxjEntry]:
        """Every CDXJ entry with SURT key ``key``; raises InvalidBundle on a damaged index."""
        with self._index_lock:
            return list(self.reader.index.find_key(key))

    def read_record_bytes(self, filename: str, offset: int, length: int) -> bytes:
        """The stored bytes of one record; raises InvalidBundle when out of range."""
        return self.reader.read_record(filename, offset, length)

    def close(self) -> None:
        """Closes the bundle file."""
        self.reader.close()
