"""`mirrorkit merge OLD.wacz UPDATE.wacz [...]`: one standalone, signed edition of the newest state.

For readers that take single files only. Every record of the newest bundle is kept, and of the
earlier bundles exactly the records its revisits stand for (the unchanged payloads); records are
copied byte for byte, gzip member and all, never altered, so every WARC digest still holds. The
page list is the newest edition's. The chain is verified first (same rules as `verify`), and the
merged bundle keeps its collection and the newest sequence number: it is the same edition.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple, Union

from mirrorkit.bundle import writer
from mirrorkit.errors import InvalidBundle, UsageError
from mirrorkit.formats.cdxj import CdxjEntry, find_original
from mirrorkit.formats.wacz import WaczReader
from mirrorkit.verify.chain import ChainFailed, requirements, verify_chain

_CHUNK = 1 << 20
_PAGES_HEADER = {"format": "json-pages-1.0", "id": "pages", "title": "Pages"}


def _edition_order(paths: List[Path]) -> List[Tuple[Path, int, bool]]:
    """(path, sequence, is_update) sorted oldest first; raises UsageError for unreadable input."""
    out = []
    for path in paths:
        if not path.is_file():
            raise UsageError(f"no such bundle: {path}")
        try:
            with WaczReader(path) as reader:
                package = reader.datapackage
                links = requirements(package)
        except InvalidBundle as err:
            raise UsageError(f"{path} is not a readable bundle: {err.message}") from None
        block = package.get("mirrorkit")
        seq = block.get("sequence") if isinstance(block, dict) else None
        out.append((path, seq if isinstance(seq, int) else 0, bool(links)))
    return sorted(out, key=lambda item: item[1])


def merge_bundles(bundles: Sequence[Union[str, os.PathLike]], out: Union[str, os.PathLike], *,
                  key: Any, title: Optional[str] = None,
                  description: Optional[str] = None) -> Path:
    """Merge a base and its updates into `out` (signed with `key`); return its path.

    Raises UsageError (fewer than two bundles, a chain that does not verify, another key),
    ChainFailed is turned into UsageError naming the problem; WarcError, MirrorkitError (disk).
    """
    paths = [Path(b) for b in bundles]
    out = Path(out)
    if len(paths) < 2:
        raise UsageError("merge needs a base and at least one update")
    if any(out.exists() and p.resolve() == out.resolve() for p in paths):
        raise UsageError("-o must not be one of the bundles being merged")
    order = _edition_order(paths)
    if not order[-1][2]:
        raise UsageError(f"{order[-1][0].name}, the newest bundle given, is not an update")
    fingerprint = None
    for i, (path, _seq, is_update) in enumerate(order):
        if not is_update:
            continue
        try:
            chain = verify_chain(path, bases=[p for p, _s, _u in order[:i]], remember=False)
        except ChainFailed as err:
            raise UsageError(f"cannot merge: {err.message}") from None
        fingerprint = chain.update.fingerprint
    if fingerprint != str(key.fingerprint):
        raise UsageError(f"the chain is signed by {fingerprint}, but you sign with "
                         f"{key.fingerprint}: merge with the key that signed the chain")
    workdir = Path(tempfile.mkdtemp(prefix=f".{out.name}.merge.", dir=out.parent))
    try:
        folders = _lay_out(order, workdir)
        newest = order[-1][0]
        with WaczReader(newest) as reader:
            block = reader.datapackage.get("mirrorkit") or {}
            newest_title = reader.datapackage.get("title")
        return writer.create_bundle(
            folders, out, key=key, title=title or newest_title, description=description,
            collection=str(block.get("collection")), sequence=int(block.get("sequence") or 1))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _lay_out(order: List[Tuple[Path, int, bool]], workdir: Path) -> List[Path]:
    """One folder per bundle with the WARCs going into the merge; the newest has the pages."""
    readers = [WaczReader(path) for path, _s, _u in order]
    try:
        newest = readers[-1]
        needed = _needed(readers)
        names: Set[str] = set()
        folders = []
        for n, reader in enumerate(readers):
            folder = workdir / f"{n:03d}"
            folder.mkdir()
            pages = list(newest.pages()) if reader is newest else []
            with open(folder / "pages.jsonl", "w", encoding="utf-8") as fh:
                for line in [_PAGES_HEADER, *pages]:
                    fh.write(json.dumps(line, ensure_ascii=False) + "\n")
            for name in reader.warc_names:
                keep = None if reader is newest else needed.get((n, name), set())
                if keep is not None and not keep:
                    continue
                # Two captures in the same second have WARCs of the same name: number the later.
                target, number = name, 2
                while target in names:
                    target, number = f"{number}-{name}", number + 1
                names.add(target)
                _copy_warc(reader, name, folder / target, keep)
            if not any(folder.glob("*.warc*")):
                shutil.rmtree(folder)
                continue
            folders.append(folder)
        return folders
    finally:
        for reader in readers:
            reader.close()


def _needed(readers: List[WaczReader]) -> Dict[Tuple[int, str], Set[int]]:
    """(bundle number, WARC name) -> offsets of the earlier records the newest edition needs."""
    needed: Dict[Tuple[int, str], Set[int]] = {}
    newest = readers[-1]
    revisits = [e for e in newest.index if e.mime == "warc/revisit"]
    for entry in revisits:
        if find_original(newest.index, entry) is not None:
            continue
        for n in range(len(readers) - 2, -1, -1):  # the latest earlier edition first
            original = _original(readers[n], entry)
            if original is not None:
                needed.setdefault((n, original.filename), set()).add(original.offset)
                break
    return needed


def _original(reader: WaczReader, entry: CdxjEntry) -> Optional[CdxjEntry]:
    return find_original(reader.index, entry)


def _copy_warc(reader: WaczReader, name: str, dest: Path, keep: Optional[Set[int]]) -> None:
    """Copy a WARC out of the bundle: whole, or its warcinfo and the kept records only, each
    gzip member byte for byte."""
    from warcio.archiveiterator import ArchiveIterator

    with reader.open_member("archive/" + name) as src, open(dest, "wb") as dst:
        if keep is None:
            shutil.copyfileobj(src, dst, _CHUNK)
            return
        spans = []
        it = ArchiveIterator(src, no_record_parse=True)
        for record in it:
            offset = it.get_record_offset()
            if record.rec_type == "warcinfo" or offset in keep:
                spans.append((offset, it.get_record_length()))
    for offset, length in spans:
        data = reader.read_record(name, offset, length)
        with open(dest, "ab") as dst:
            dst.write(data)
