"""Reading WARCs: "a capture" (a folder of WARCs or one WARC file), its records, WARC dates.

Accepts WARCs from other tools (wget, wpull, pywb, Heritrix); travels in the USB kit.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, List, Optional

from warcio.timeutils import datetime_to_iso_date

from mirrorkit.errors import UsageError, WarcError

WARC_SUFFIXES = (".warc.gz", ".warc")


def warc_date(when: Optional[datetime] = None) -> str:
    """WARC-Date text (UTC, microseconds) for `when` (default: now). Raises nothing."""
    when = when or datetime.now(timezone.utc)
    return datetime_to_iso_date(when.astimezone(timezone.utc).replace(tzinfo=None), use_micros=True)


def warc_files(path: Path | str) -> List[Path]:
    """The WARC files of a capture (a folder of WARCs, or one WARC). Raises UsageError if none."""
    path = Path(path)
    if path.is_file():
        if path.name.endswith(WARC_SUFFIXES):
            return [path]
        if path.name.lower().endswith((".arc", ".arc.gz")):
            raise UsageError(f"{path} is an ARC file (the format before WARC)",
                             hint=f"Convert it first: warcio recompress {path} NEW.warc.gz")
        raise UsageError(f"{path} is not a WARC file (expected a name ending in .warc or .warc.gz)")
    if not path.is_dir():
        raise UsageError(f"{path} does not exist: give a capture folder or a WARC file")
    found = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(WARC_SUFFIXES))
    if not found:
        raise UsageError(f"no WARC files (*.warc.gz, *.warc) in {path}")
    return found


def target_uri(record: Any) -> str:
    """A record's WARC-Target-URI, without the angle brackets wget 1.14 put around it."""
    uri = record.rec_headers.get_header("WARC-Target-URI") or ""
    uri = uri.strip()
    if uri.startswith("<") and uri.endswith(">"):
        uri = uri[1:-1]
    return uri


def iter_records(path: Path | str) -> Iterator[Any]:
    """Every record of every WARC in a capture, as warcio records. Raises UsageError, WarcError."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    for file in warc_files(path):
        try:
            with open(file, "rb") as fh:
                yield from ArchiveIterator(fh)
        except ArchiveLoadFailed as err:
            raise WarcError(f"{file} is not a readable WARC: {str(err).strip()}") from err
        except (OSError, EOFError, zlib.error) as err:
            raise WarcError(f"{file} is damaged or truncated: {err}") from err


