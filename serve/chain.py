"""Base + updates served as one collection (issue 15).

An update bundle names its bases in ``relation.requires``. When the server is given the update
and its bases (or finds the bases beside it by file name), the update becomes a `ChainBundle`:
one lookup source over the update and its bases, so its revisits resolve into the base, the latest
edition of each page is shown by default and earlier editions stay one click away (their own
timestamps). Bases that belong to a chain are not listed on their own. Verification is
`verify_chain`: a broken chain (missing, wrong, invalid or foreign base, unresolvable revisit)
is never shown as trusted. Python 3.9-safe, pure Python: shipped in kits.

Under safe replay a `ChainBundle` is an ordinary `ReplayBundle` to the reader and its content
origin (its own `secret`, `content_port`, `last_served`, content app); only lookups are
chain-aware. A page's rendered snapshot (safe mode) comes only from the bundle holding the
capture shown, and a revisit resolves into the bundle it names, so one edition's text is never
shown under another edition's address and time.

Hook (serve/__init__.py, `create_app`): ``opened = link_chains(opened)`` after the bundles are
opened and before the `BundleSet` is built.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from mirrorkit.errors import MirrorkitError
from mirrorkit.formats.cdxj import CdxjEntry
from mirrorkit.formats.timestamps import pretty

from .archive import (
    Capture,
    ReplayBundle,
    open_bundle,
)
from .records import DamagedRecord, Record
from .search import Page


class _ChainEntry(CdxjEntry):
    """An index entry of a base, remembering which bundle holds its record."""

    __slots__ = ("source",)

    def __init__(self, entry: CdxjEntry, source: ReplayBundle) -> None:
        super().__init__(entry.key, entry.timestamp, entry.fields)
        self.source = source


class ChainBundle(ReplayBundle):
    """An update bundle replayed together with its bases."""

    def __init__(self, path: Path, name: str, bases: List[ReplayBundle]) -> None:
        super().__init__(path, name)
        self.bases = bases
        self._changes: Optional[Dict[str, Tuple[str, str]]] = None
        self._chain_pages: Optional[List[Page]] = None

    @property
    def base_files(self) -> List[str]:
        """File names of the bases, oldest first."""
        return [b.filename for b in self.bases]

    def verify(self, fingerprint: Optional[str] = None) -> None:
        """Runs `verify_chain` over the update and its bases; never raises."""

        def check() -> Tuple[Any, bool, str, str]:
            from mirrorkit.verify.chain import verify_chain

            paths = [str(b.path) for b in self.bases]
            chain = verify_chain(str(self.path), bases=paths, fingerprint=fingerprint,
                                 remember=False)
            for base in self.bases:  # an earlier update of a longer chain: its own bases too
                if _requires(base):
                    verify_chain(str(base.path), bases=paths, fingerprint=fingerprint,
                                 remember=False)
            self.fingerprint = self.fingerprint or chain.update.fingerprint
            names = ", ".join(self.base_files)
            return (chain, bool(chain.trusted),
                    "Signature and every file hash verified, for this update and the earlier "
                    f"bundle(s) it needs ({names}); the signer is in your trust store.",
                    f"This update and the earlier bundle(s) it needs ({names}) are intact and "
                    "signed by one key, but the signer is not in your trust store: compare the "
                    "fingerprint with the publisher's card.")

        self._record_outcome(check)

    @property
    def pages(self) -> List[Page]:
        """The update's page list (the whole edition). A page stored as a revisit into a base
        has no text in the update (its record is not there): it takes the base's, for search."""
        if self._chain_pages is None:
            own = super().pages
            texts: Dict[str, str] = {}
            for base in self.bases:  # oldest first: a later edition's text wins
                texts.update((p.url, p.text) for p in base.pages if p.text)
            self._chain_pages = [p if p.text or p.url not in texts else
                                 Page(p.url, p.ts, p.ts14, p.title, texts[p.url]) for p in own]
        return self._chain_pages

    # -- one lookup over the chain ----------------------------------------------------------
    def candidates(self, url: str, key: Optional[str] = None) -> List[CdxjEntry]:
        """Entries for ``url`` in the update and in every base (base entries tagged)."""
        own = super().candidates(url, key)
        for base in self.bases:
            own.extend(_ChainEntry(e, base) for e in base.candidates(url, key))
        return own

    def _read_checked(self, entry: CdxjEntry) -> Record:
        if isinstance(entry, _ChainEntry):
            return entry.source._read_checked(entry)
        return super()._read_checked(entry)

    def find_snapshot(self, url: str, ts14: str) -> Optional[Capture]:
        """The rendered snapshot shown in safe mode for the capture of ``url`` at ``ts14``,
        taken only from the bundle that holds that capture: a snapshot of another edition (a
        base's within a day of the update's capture, or the reverse) would show one edition's
        text under the other's address and time. None when that bundle has none."""
        holder = self._holder(url, ts14)
        if holder is not self:
            return holder.find_snapshot(url, ts14)  # a plain bundle: its own index only
        return self._own_snapshot(url, ts14)

    def _holder(self, url: str, ts14: str) -> ReplayBundle:
        """The bundle of the chain whose record is the capture of ``url`` at ``ts14`` (the
        update itself when it has one, or when none matches)."""
        try:
            entries = self.candidates(url)
        except DamagedRecord:
            return self
        held = [e for e in entries if e.timestamp == ts14]
        held = [e for e in held if e.url == url] or held
        if any(not isinstance(e, _ChainEntry) for e in held):
            return self  # the update's own record comes first
        return self._source(held[0]) if held else self

    def _original_options(self, options: List[CdxjEntry], record: Record,
                          digest: str) -> List[CdxjEntry]:
        """The revisit's original is looked up over the whole chain, but two editions of a page
        can share a capture second (their WARC-Refers-To-Date): the bundle the revisit names
        (``WARC-Refers-To-Container: file://NAME``, as capture --dedup-against writes it) and
        its payload digest narrow the choice first, so an update's unchanged page never
        resolves to an older edition's payload."""
        container = (record.warc_header("WARC-Refers-To-Container") or "").strip("<>")
        if container.startswith("file://"):
            container = container[len("file://"):]
        if container:
            options = [e for e in options if self._source(e).filename == container] or options
        if digest:
            options = [e for e in options if e.digest == digest
                       and e.mime != "warc/revisit"] or options
        return options

    def _source(self, entry: CdxjEntry) -> ReplayBundle:
        return entry.source if isinstance(entry, _ChainEntry) else self

    # -- what changed -----------------------------------------------------------------------
    def page_change(self, url: str) -> Optional[Dict[str, str]]:
        """For the page list: "new" or "changed" (with the earlier edition's replay path), or
        None for a page unchanged since the base. Never raises."""
        if self._changes is None:
            self._changes = self._compute_changes()
        found = self._changes.get(url)
        if found is None:
            return None
        kind, earlier = found
        out = {"kind": kind, "label": "new in this update" if kind == "new" else
               f"changed since {pretty(earlier)[:10]}"}
        if earlier:
            out["earlier"] = f"/{self.name}/{earlier}/{url}"
            out["when"] = pretty(earlier)
        return out

    def _compute_changes(self) -> Dict[str, Tuple[str, str]]:
        changes: Dict[str, Tuple[str, str]] = {}
        try:
            for page in self.pages:
                entries = super().candidates(page.url)
                stored = [e for e in entries if e.mime != "warc/revisit"
                          and str(e.fields.get("status", ""))[:1] == "2"]
                if not stored:
                    continue  # a revisit: the same payload as before
                older = [e for b in self.bases for e in b.candidates(page.url)]
                if not older:
                    changes[page.url] = ("new", "")
                else:
                    changes[page.url] = ("changed", max(e.timestamp for e in older))
        except MirrorkitError:
            pass  # a damaged index shows up when the page is replayed
        return changes

    def close(self) -> None:
        """Releases the update's and the bases' files."""
        super().close()
        for base in self.bases:
            base.close()


def _requires(bundle: ReplayBundle) -> List[Dict[str, Any]]:
    relation = bundle.storage.datapackage.get("relation")
    requires = relation.get("requires") if isinstance(relation, dict) else None
    if not isinstance(requires, list):
        return []
    return [r for r in requires if isinstance(r, dict) and isinstance(r.get("filename"), str)]


def link_chains(opened: List[Any]) -> List[Any]:
    """Turn each newest update among ``opened`` into a ChainBundle over all its bases.

    Bases are followed through `relation.requires` transitively (an update of an update needs
    both earlier files), taken from the bundles given (by file name) or opened from beside the
    update; bases absorbed into a chain leave the list. A missing base leaves the chain shorter:
    its verification then fails ("the base ... is missing"), so it is replayed as VERIFICATION
    FAILED, never as trusted. Never raises.
    """
    by_file = {b.filename: b for b in opened if isinstance(b, ReplayBundle)}
    required = {r["filename"] for b in by_file.values() for r in _requires(b)}
    absorbed = set()
    out: List[Any] = []
    for bundle in opened:
        if not isinstance(bundle, ReplayBundle) or isinstance(bundle, ChainBundle) \
                or not _requires(bundle) or bundle.filename in required:
            out.append(bundle)  # a standalone bundle, or a base (dropped below if absorbed)
            continue
        bases: List[ReplayBundle] = []
        seen = {bundle.filename}
        todo = [bundle]
        while todo and len(seen) < 64:
            current = todo.pop()
            for req in _requires(current):
                name = req["filename"]
                if name in seen or "/" in name or "\\" in name:
                    continue
                seen.add(name)
                base = by_file.get(name)
                if base is None and (bundle.path.parent / name).is_file():
                    # An unreadable one: verification then reports the base as missing.
                    with contextlib.suppress(MirrorkitError):
                        base = open_bundle((bundle.path.parent / name).resolve(),
                                           f"{bundle.name}~{len(bases)}")
                if base is None:
                    continue
                absorbed.add(id(base))
                bases.append(base)
                todo.append(base)
        bases.sort(key=lambda b: _sequence(b))
        try:
            chained = ChainBundle(bundle.path, bundle.name, bases)
        except MirrorkitError:
            out.append(bundle)
            continue
        bundle.close()
        out.append(chained)
    return [b for b in out if id(b) not in absorbed]


def _sequence(bundle: ReplayBundle) -> int:
    block = bundle.storage.datapackage.get("mirrorkit")
    seq = block.get("sequence") if isinstance(block, dict) else None
    return seq if isinstance(seq, int) else 0
