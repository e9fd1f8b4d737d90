"""Revisits whose original is in none of the captures given (a crawl deduplicated against an
earlier one): refused, naming `--drop-unresolved-revisits`, or left out of the index.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

from mirrorkit.errors import UsageError
from mirrorkit.formats.cdxj import CdxjEntry, pick_original
from mirrorkit.formats.surt import surt_key

__all__ = ["unresolved_revisits"]


def unresolved_revisits(warcs: List[Any], drop: bool,
                        elsewhere: Optional[Callable[[CdxjEntry], bool]] = None) -> int:
    """Refuse (UsageError) a revisit whose original is in none of the captures, or with `drop`
    take it out of the index; returns how many were dropped. `elsewhere(entry)` says whether an
    update's base holds the original (`bundle --base`): such a revisit resolves there.

    The rule is replay's and `verify --deep`'s (`cdxj.pick_original`), so what bundles replays.
    """
    by_key: Dict[str, List[CdxjEntry]] = {}
    for warc in warcs:
        for entry in warc.entries:
            if entry.mime != "warc/revisit":
                by_key.setdefault(entry.key, []).append(entry)
    lost: List[CdxjEntry] = []
    for warc in warcs:
        for entry in warc.entries:
            if entry.mime != "warc/revisit":
                continue
            target = str(entry.fields.get("refersToUrl") or entry.url)
            candidates = by_key.get(surt_key(target), [])
            if pick_original(candidates, entry.fields.get("refersToDate"), entry.digest,
                             entry.timestamp) is None and not (elsewhere and elsewhere(entry)):
                lost.append(entry)
    if not lost:
        return 0
    if not drop:
        first = lost[0]
        target = str(first.fields.get("refersToUrl") or first.url)
        date = first.fields.get("refersToDate")
        more = f" (and {len(lost) - 1} more like it)" if len(lost) > 1 else ""
        raise UsageError(
            f"the revisit record for {first.url} ({first.filename}) refers to {target}"
            f"{' at ' + str(date) if date else ''}, which is not in the captures given{more}",
            hint="Add the capture (WARC) that holds the original records to the same bundle, "
                 "or bundle without those revisits: --drop-unresolved-revisits (they are left "
                 "out of the index and counted in the bundle; those URLs will not replay).")
    gone = {id(e) for e in lost}
    for warc in warcs:
        warc.entries = [e for e in warc.entries if id(e) not in gone]
    return len(lost)
