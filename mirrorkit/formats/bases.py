"""How a capture names the earlier bundles it was deduplicated against (issue 15).

`capture --dedup-against OLD.wacz` writes, in each WARC's warcinfo, the field
`mirrorkit-base: file://OLD.wacz sha256:<hex> <size>` (several bases separated by " ; ");
`bundle --base OLD.wacz` reads it back to refuse a capture that was not deduplicated against
that very file. Both sides use this module. Python 3.9-safe.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

BASE_FIELD = "mirrorkit-base"
# sha1 of nothing: an empty payload is never deduplicated, there is nothing to save.
EMPTY_SHA1 = "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ"


def is_original(mime: str, status: object, digest: str) -> bool:
    """Whether an index entry can stand as the original of a revisit: a 2xx response with a
    non-empty payload (the capture's own rule within one crawl); revisits never are."""
    if mime == "warc/revisit" or not digest or digest == EMPTY_SHA1:
        return False
    try:
        return 200 <= int(str(status)) < 300
    except ValueError:
        return False


def format_bases(bases: Sequence[Tuple[str, str, int]]) -> Dict[str, str]:
    """The warcinfo field for (file name, hex sha256, size) bases; {} for none."""
    if not bases:
        return {}
    return {BASE_FIELD: " ; ".join(f"file://{name} sha256:{digest} {size}"
                                   for name, digest, size in bases)}


def parse_bases(warcinfo_text: str) -> List[Tuple[str, str]]:
    """(file name, "sha256:<hex>") pairs named by a warcinfo block's text; never raises."""
    out = []
    for line in warcinfo_text.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() != BASE_FIELD:
            continue
        for part in value.split(";"):
            words = part.split()
            if len(words) >= 2 and words[0].startswith("file://") \
                    and words[1].startswith("sha256:"):
                out.append((words[0][len("file://"):], words[1].lower()))
    return out
