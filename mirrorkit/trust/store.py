"""The per-user trust store (`trust.json`) and rollback memory (`seen.json`).

Both live in `config_dir()` and are rewritten atomically (temp file + `os.replace`), so a crash
or Ctrl-C leaves either the old file or the new one, never half of one. Python 3.9-safe.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from mirrorkit.errors import TrustStoreError, UsageError
from mirrorkit.formats import safejson
from mirrorkit.trust.signing import normalize_fingerprint

TRUST_FORMAT = "mirrorkit-trust-1"
SEEN_FORMAT = "mirrorkit-seen-1"
_MAX_STORE = 16 * 1024 * 1024


def config_dir() -> Path:
    """`$MIRRORKIT_HOME` if set, else the platform's user config dir for mirrorkit; never raises."""
    home = os.environ.get("MIRRORKIT_HOME")
    if home:
        return Path(home).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("mirrorkit", appauthor=False))


def read_json_store(path: Path, fmt: str, what: str) -> Dict[str, Any]:
    """The parsed store file (trust store, rollback memory, sequence numbers), or an empty one
    when absent; a damaged file is refused, never silently replaced. Raises TrustStoreError."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(_MAX_STORE + 1)
    except FileNotFoundError:
        return {"format": fmt}
    except OSError as err:
        raise TrustStoreError(f"cannot read the {what} {path}: {err.strerror}") from None
    try:
        data = safejson.loads(raw, str(path), max_bytes=_MAX_STORE, error=TrustStoreError)
    except TrustStoreError:
        data = None
    if len(raw) > _MAX_STORE or not isinstance(data, dict) or data.get("format") != fmt:
        raise TrustStoreError(
            f"the {what} {path} is damaged (not {fmt} JSON)",
            hint="restore it from a backup, or move it away to start an empty one",
        )
    return data


def write_json_store(path: Path, data: Dict[str, Any], what: str) -> None:
    """Replace `path` atomically with `data`; raises TrustStoreError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2, ensure_ascii=False, sort_keys=True)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, str(path))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as err:
        raise TrustStoreError(f"cannot write the {what} {path}: {err.strerror}") from None


def _read_map_store(path: Path, fmt: str, what: str, key: str) -> Dict[str, Any]:
    """A JSON store whose `key` maps fingerprints to objects; raises TrustStoreError."""
    data = read_json_store(path, fmt, what)
    table = data.setdefault(key, {})
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise TrustStoreError(f"the {what} {path} is damaged (bad {key!r})")
    return data


@dataclass
class TrustEntry:
    """A trusted signer: its fingerprint, the name the user gave it, when and where from."""

    fingerprint: str
    name: str
    added: str
    source: str


class TrustStore:
    """The signers this user trusts, keyed by fingerprint."""

    def __init__(self, path: Optional[Path] = None) -> None:
        self.path = Path(path) if path else config_dir() / "trust.json"

    def _load(self) -> Dict[str, Any]:
        return _read_map_store(self.path, TRUST_FORMAT, "trust store", "keys")

    def list(self) -> List[TrustEntry]:
        """All entries, sorted by name; raises TrustStoreError."""
        out = []
        for fp, entry in self._load()["keys"].items():
            out.append(TrustEntry(fingerprint=fp, name=str(entry.get("name", "")),
                                  added=str(entry.get("added", "")),
                                  source=str(entry.get("source", ""))))
        return sorted(out, key=lambda e: (e.name.lower(), e.fingerprint))

    def get(self, fingerprint: str) -> Optional[TrustEntry]:
        """The entry for `fingerprint`, or None; raises TrustStoreError, UsageError."""
        fp = normalize_fingerprint(fingerprint)
        return next((e for e in self.list() if e.fingerprint == fp), None)

    def add(self, fingerprint: str, name: str, source: str = "command line") -> TrustEntry:
        """Trust `fingerprint` under `name` (replacing its old name); raises TrustStoreError."""
        fp = normalize_fingerprint(fingerprint)
        name = (name or "").strip()
        if not name or len(name) > 200:
            raise UsageError("a trusted key needs a name (--name) of at most 200 characters")
        data = self._load()
        added = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        data["keys"][fp] = {"name": name, "added": added, "source": source}
        write_json_store(self.path, data, "trust store")
        return TrustEntry(fingerprint=fp, name=name, added=added, source=source)

    def remove(self, fingerprint: str) -> TrustEntry:
        """Stop trusting `fingerprint`; raises UsageError when it is not trusted."""
        fp = normalize_fingerprint(fingerprint)
        data = self._load()
        entry = data["keys"].pop(fp, None)
        if entry is None:
            raise UsageError(f"{fp} is not in the trust store",
                             hint="see the trusted keys with: mirrorkit trust list")
        write_json_store(self.path, data, "trust store")
        return TrustEntry(fingerprint=fp, name=str(entry.get("name", "")),
                          added=str(entry.get("added", "")), source=str(entry.get("source", "")))


# --- rollback memory ----------------------------------------------------------------------------

class SeenStore:
    """Highest (collection, sequence) accepted per signer fingerprint, against rollback."""

    def __init__(self, path: Optional[Path] = None) -> None:
        self.path = Path(path) if path else config_dir() / "seen.json"

    def _load(self) -> Dict[str, Any]:
        return _read_map_store(self.path, SEEN_FORMAT, "rollback memory", "seen")

    def highest(self, fingerprint: str, collection: str) -> Optional[int]:
        """The highest sequence accepted for (signer, collection), or None; raises
        TrustStoreError."""
        value = self._load()["seen"].get(normalize_fingerprint(fingerprint), {}).get(collection)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def remember(self, fingerprint: str, collection: str, sequence: int) -> None:
        """Record an accepted (collection, sequence) if higher than known; raises
        TrustStoreError."""
        data = self._load()
        per_key = data["seen"].setdefault(normalize_fingerprint(fingerprint), {})
        old = per_key.get(collection)
        if isinstance(old, int) and old >= sequence:
            return
        per_key[collection] = sequence
        write_json_store(self.path, data, "rollback memory")


def entry_to_json(entry: TrustEntry) -> Dict[str, str]:
    """A JSON-ready dict for a trust entry."""
    return asdict(entry)
