"""Lite editions: the text of a capture (HTML and CSS) as a small signed WACZ for QR and paper.

A WARC record is evidence of what a server sent, so a lite edition never alters one: it *drops*
records. Kept: HTML pages, style sheets and redirects. Dropped: images, fonts, scripts, video,
audio, revisits and everything else. Shrunk images were considered and rejected: stored as
`conversion` records (the honest WARC type, with WARC-Refers-To) pywb and ReplayWeb.page do not
show them in place of the original URL, and stored as `response`/`resource` records under that URL
they would claim bytes no server sent. Pages show their `alt` text instead.

With `max_bytes`, pages are dropped from the end of the capture (the first pages captured, i.e.
the seeds, are kept longest), then style sheets, until the bundle fits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from mirrorkit.errors import UsageError
from mirrorkit.formats.cdxj import CdxjEntry

HTML_TYPES = {"text/html", "application/xhtml+xml"}
CSS_TYPES = {"text/css"}
_TRIES = 6


def kind(entry: CdxjEntry) -> Optional[str]:
    """"page", "style" or "redirect" for what a lite edition may keep, None to drop (no raise)."""
    mime = str(entry.fields.get("mime", "")).lower()
    if mime == "warc/revisit":
        return None  # its original may be dropped; a dangling revisit breaks replay
    status = str(entry.fields.get("status", ""))
    if status.startswith("3"):
        return "redirect"
    if mime in HTML_TYPES:
        return "page"
    if mime in CSS_TYPES:
        return "style"
    return None


def _size(entry: CdxjEntry) -> int:
    try:
        return int(entry.fields.get("length", 0))
    except (TypeError, ValueError):
        return 0


def _ident(entry: CdxjEntry) -> tuple[str, str, str]:
    return (entry.url, entry.timestamp, str(entry.fields.get("digest", "")))


@dataclass
class LiteResult:
    """The lite bundle written and what it left out."""

    path: Path
    size: int
    kept: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    dropped_pages: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (never raises)."""
        return {"path": str(self.path), "bytes": self.size, "kept": self.kept,
                "dropped": self.dropped, "droppedPages": self.dropped_pages}


def _sequence_of(bundle: Path) -> Optional[int]:
    import json
    import zipfile

    with zipfile.ZipFile(bundle) as zf:
        meta = json.loads(zf.read("datapackage.json")).get("mirrorkit", {})
    value = meta.get("sequence") if isinstance(meta, dict) else None
    return value if isinstance(value, int) else None


class _Plan:
    """Which records the next build keeps; records what the writer showed it."""

    def __init__(self) -> None:
        self.seen: list[CdxjEntry] = []
        self.allowed: Optional[set[tuple[str, str, str]]] = None  # None: every lite kind

    def __call__(self, entry: CdxjEntry) -> bool:
        if self.allowed is None:
            self.seen.append(entry)
        return self.keeps(entry)

    def keeps(self, entry: CdxjEntry) -> bool:
        """Whether the current plan keeps `entry` (no side effect)."""
        return kind(entry) is not None and (self.allowed is None or _ident(entry) in self.allowed)

    def shrink_to(self, budget: int) -> list[str]:
        """Keep redirects, then pages in capture order, then styles, within `budget` bytes."""
        candidates = [e for e in self.seen if kind(e) is not None]
        redirects = [e for e in candidates if kind(e) == "redirect"]
        pages = sorted((e for e in candidates if kind(e) == "page"), key=lambda e: e.timestamp)
        styles = [e for e in candidates if kind(e) == "style"]
        chosen: list[CdxjEntry] = []
        used, dropped, have_page = 0, [], False
        for entry in redirects + pages + styles:
            first_page = kind(entry) == "page" and not have_page
            if first_page or used + _size(entry) <= budget:
                chosen.append(entry)
                used += _size(entry)
                have_page = have_page or kind(entry) == "page"
            elif kind(entry) == "page":
                dropped.append(entry.url)
        self.allowed = {_ident(e) for e in chosen}
        return dropped


def create_lite_bundle(
    captures: Sequence[Union[str, os.PathLike]],
    out: Union[str, os.PathLike],
    *,
    key: Any,
    max_bytes: Optional[int] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    **options: Any,
) -> LiteResult:
    """Write a signed lite WACZ of `captures` (HTML and CSS only), within `max_bytes` if given.

    `options` go to `writer.create_bundle` (title, collection, sequence, ...). Raises
    `UsageError` when the capture has no page or even its first page alone exceeds `max_bytes`,
    and whatever `create_bundle` raises.
    """
    from mirrorkit.bundle.writer import create_bundle

    if max_bytes is not None and max_bytes < 2000:
        raise UsageError("--max-bytes below 2000 cannot hold even an empty signed bundle")
    plan = _Plan()
    out = Path(out)
    # Build beside `out` and move into place only when it fits: a failed attempt never costs the
    # user an earlier bundle of the same name.
    tmp = out.with_name(f".{out.name}.lite.wacz")
    dropped_pages: list[str] = []
    try:
        for _attempt in range(_TRIES):
            create_bundle(captures, tmp, key=key, record_filter=plan, progress=progress, **options)
            if not any(kind(e) == "page" for e in plan.seen):
                raise UsageError("the capture holds no HTML page: nothing for a lite edition")
            if options.get("sequence") is None:
                # Rebuilds must reuse the number the first build took, not take the next ones.
                options["sequence"] = _sequence_of(tmp)
            size = tmp.stat().st_size
            if max_bytes is None or size <= max_bytes:
                break
            kept = [e for e in plan.seen if plan.keeps(e)]
            overhead = size - sum(_size(e) for e in kept)  # index, manifest, signature, ZIP
            previous = {_ident(e) for e in kept}
            dropped_pages = plan.shrink_to(max(0, max_bytes - overhead))
            if plan.allowed == previous:
                raise UsageError(
                    f"even the smallest lite edition is {size:,} bytes, over --max-bytes "
                    f"{max_bytes:,}",
                    hint="raise --max-bytes, or capture just the one article you want to send",
                )
        else:
            raise UsageError(f"could not fit the lite edition in {max_bytes:,} bytes")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    final = [e for e in plan.seen if plan.keeps(e)]
    kept_counts: dict[str, int] = {}
    for e in final:
        kept_counts[str(kind(e))] = kept_counts.get(str(kind(e)), 0) + 1
    dropped_counts: dict[str, int] = {}
    for e in plan.seen:
        if not plan.keeps(e):
            label = (str(e.fields.get("mime", "")).split("/")[0] or "other") if kind(e) is None \
                else str(kind(e))
            dropped_counts[label] = dropped_counts.get(label, 0) + 1
    return LiteResult(path=out, size=out.stat().st_size, kept=kept_counts, dropped=dropped_counts,
                      dropped_pages=dropped_pages)
