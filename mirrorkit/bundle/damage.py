"""Records that were damaged before they were bundled: found, confirmed, refused or declared.

While the bundle writer indexes a WARC, warcio checks each record's own WARC digests at no extra
cost. A record it flags is read again and checked with `formats.warcdigest` (the rule
`verify --deep` applies, which accepts a payload digest over the chunked or the de-chunked body),
so bundling and deep verification always agree on which records are damaged. By default such a
source is refused; with `--keep-damaged` the list goes into the signed `mirrorkit.damaged` of
datapackage.json, where `verify`, `verify --deep`, `serve` and the USB kit read it.
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path
from typing import Any, Dict, List

from mirrorkit.errors import WarcError
from mirrorkit.formats.warcdigest import record_digest_problems

__all__ = ["confirm", "listing", "refusal"]

_MAX_LISTED = 10


def _problems_of(data: bytes) -> List[str]:
    from warcio.archiveiterator import ArchiveIterator

    if data[:2] == b"\x1f\x8b":
        try:
            data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
        except zlib.error as err:
            return [f"the record's gzip member is damaged ({err})"]
    try:
        record = next(iter(ArchiveIterator(io.BytesIO(data), no_record_parse=True)))
    except Exception as err:  # hostile bytes: any warcio error means the same here
        return [f"the record cannot be read again ({type(err).__name__})"]
    return record_digest_problems(record)


def confirm(path: Path, name: str, suspects: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Of the records warcio flagged in the WARC at `path` (named `name` in the bundle), those
    `verify --deep` would call damaged, as `{file, offset, url, type, problem}` dicts (plus the
    record's index `entry`, dropped before anything is written). Raises WarcError on I/O."""
    out: List[Dict[str, Any]] = []
    if not suspects:
        return out
    try:
        with open(path, "rb") as fh:
            for suspect in suspects:
                fh.seek(int(suspect["offset"]))
                problems = _problems_of(fh.read(int(suspect["length"])))
                if problems:
                    out.append({"file": name, "offset": int(suspect["offset"]),
                                "url": suspect["url"], "type": suspect["type"],
                                "problem": "; ".join(problems), "entry": suspect["entry"]})
    except OSError as err:
        raise WarcError(f"{path} cannot be read again: {err.strerror or err}") from None
    return out


def listing(warcs: List[Any]) -> List[Dict[str, Any]]:
    """Every damaged record of the writer's WARCs, ready for datapackage.json (final offsets);
    `source` (the user's own WARC path) is for the refusal message only."""
    return [dict({k: d[k] for k in ("file", "offset", "url", "type", "problem")},
                 source=str(w.origin)) for w in warcs for d in w.damaged]


def refusal(damaged: List[Dict[str, Any]]) -> WarcError:
    """The error that refuses a damaged source, naming its damaged records."""
    lines = [f"  {d.get('source') or d['file']}: {d['type']} record {d['url'] or '-'}: "
             f"{d['problem']}" for d in damaged[:_MAX_LISTED]]
    if len(damaged) > _MAX_LISTED:
        lines.append(f"  ... and {len(damaged) - _MAX_LISTED} more")
    count = len(damaged)
    return WarcError(
        f"{count} record{'s' if count != 1 else ''} in the captures given "
        f"{'are' if count != 1 else 'is'} damaged: {'their' if count != 1 else 'its'} own WARC "
        "digests do not match (damaged before bundling, not by mirrorkit):\n" + "\n".join(lines),
        hint="Get an undamaged copy of the WARC, or bundle it anyway with --keep-damaged: the "
             "records are then marked as damaged inside the signed bundle, and every reader "
             "says so instead of showing them.")


def scan(path: Path, name: str, entries: List[Any]) -> List[Dict[str, Any]]:
    """Check every record of the WARC at `path` with `formats.warcdigest`, as `verify --deep`
    does (used when warcio's own checker could not run). Raises WarcError when unreadable."""
    from warcio.archiveiterator import ArchiveIterator

    by_offset = {int(e.fields["offset"]): e for e in entries}
    out: List[Dict[str, Any]] = []
    try:
        with open(path, "rb") as fh:
            it = ArchiveIterator(fh, no_record_parse=True)
            for record in it:
                problems = record_digest_problems(record)
                it.read_to_end(record)
                offset = it.get_record_offset()
                if problems:
                    url = (record.rec_headers.get_header("WARC-Target-URI") or "").strip("<> ")
                    out.append({"file": name, "offset": offset, "url": url,
                                "type": record.rec_type or "", "problem": "; ".join(problems),
                                "entry": by_offset.get(offset)})
    except Exception as err:  # the first pass read it: this is I/O trouble or a changed file
        raise WarcError(f"{path} cannot be read again: {err}") from None
    return out
