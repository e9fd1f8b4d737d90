"""`bundle CAPTURE --base OLD.wacz`: an update bundle, holding only what OLD does not.

The capture was made with `capture --dedup-against OLD.wacz`, so every response whose payload OLD
already holds is a revisit into OLD. The update is then an ordinary signed WACZ of that capture
(new and changed records and the revisits, without the request records, which replay never
reads and which would double the size of every revisit; its own index; the page list of the whole
new edition), plus `relation.requires: [{"filename", "hash", "size"}]` naming OLD (Browsertrix's
convention) inside the signed datapackage, the collection of OLD and its sequence number + 1.

Refused: a base that fails verification, a base from another collection or signed by another
key (key rotation statements come later), and a capture that was not deduplicated against that
base (its warcinfo does not name the base, or a response holds a payload the base already has).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Union

from mirrorkit.bundle import writer
from mirrorkit.errors import InvalidBundle, UsageError
from mirrorkit.formats.bases import is_original, parse_bases
from mirrorkit.formats.cdxj import CdxjEntry, find_original
from mirrorkit.formats.wacz import WaczReader
from mirrorkit.formats.warc import warc_files
from mirrorkit.verify import VerificationFailed, verify_bundle
from mirrorkit.verify.chain import file_sha256


class _Base:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.hash = file_sha256(path)
        self.size = path.stat().st_size
        try:
            self.report = verify_bundle(path, remember=False)
        except VerificationFailed as err:
            raise UsageError(f"--base {path} failed verification: {err.message}",
                             hint="an update can only build on an intact, validly signed "
                                  "bundle") from None
        self.reader = WaczReader(path)
        self.collection = self.report.bundle.get("collection")
        self.sequence = self.report.bundle.get("sequence")
        self.digests: Set[str] = set()
        for entry in self.reader.index:
            if is_original(entry.mime, entry.status, entry.digest):
                self.digests.add(entry.digest)


def _declared_bases(captures: Sequence[Union[str, os.PathLike]]) -> Set[str]:
    """The sha256 hashes the captures' warcinfo records name as bases."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    found: Set[str] = set()
    for capture in captures:
        for path in warc_files(Path(capture)):
            # Each WARC starts with its warcinfo: read the leading ones, not the whole file.
            try:
                with open(path, "rb") as fh:
                    for record in ArchiveIterator(fh):
                        if record.rec_type != "warcinfo":
                            break
                        text = record.content_stream().read(1 << 20).decode("utf-8", "replace")
                        found.update(h for _name, h in parse_bases(text))
            except (ArchiveLoadFailed, OSError):
                continue  # the writer reports an unreadable WARC in its own words
    return found


def create_update(captures: Sequence[Union[str, os.PathLike]], out: Union[str, os.PathLike], *,
                  bases: Sequence[Union[str, os.PathLike]], key: Any,
                  title: Optional[str] = None, description: Optional[str] = None,
                  collection: Optional[str] = None, sequence: Optional[int] = None,
                  text: bool = False, progress: Optional[Callable[[int, int], None]] = None,
                  index_format: str = "auto") -> Path:
    """Write a signed update bundle of `captures` over `bases`; return its path.

    Raises UsageError for each refusal (see the module doc), WarcError, MirrorkitError.
    """
    out = Path(out)
    if not bases:
        raise UsageError("an update needs at least one --base")
    opened: List[_Base] = []
    try:
        for given in bases:
            path = Path(given)
            if not path.is_file():
                raise UsageError(f"--base {path}: no such file")
            if out.exists() and path.resolve() == out.resolve():
                raise UsageError("the update cannot replace its own base (-o is the --base)")
            opened.append(_Base(path))
        return _create(captures, out, opened, key=key, title=title, description=description,
                       collection=collection, sequence=sequence, text=text, progress=progress,
                       index_format=index_format)
    except InvalidBundle as err:
        raise UsageError(f"a --base is not a readable bundle: {err.message}") from None
    finally:
        for one in opened:
            one.reader.close()


def _create(captures: Sequence[Union[str, os.PathLike]], out: Path, bases: List[_Base], *,
            key: Any, title: Optional[str], description: Optional[str],
            collection: Optional[str], sequence: Optional[int], text: bool,
            progress: Optional[Callable[[int, int], None]], index_format: str) -> Path:
    fingerprint = str(key.fingerprint)
    collections = {b.collection for b in bases}
    for base in bases:
        if base.report.fingerprint != fingerprint:
            raise UsageError(
                f"--base {base.path.name} is signed by {base.report.fingerprint}, but you sign "
                f"with {fingerprint}: a chain must keep one signing key",
                hint="sign the update with the key that signed the base")
    if len(collections) != 1:
        raise UsageError("the --base bundles belong to different collections: "
                         + ", ".join(sorted(map(str, collections))))
    base_collection = str(collections.pop())
    if collection is not None and collection != base_collection:
        raise UsageError(f"--collection {collection!r} differs from the base's collection "
                         f"{base_collection!r}: an update stays in its base's collection")
    declared = _declared_bases(captures)
    for base in bases:
        if base.hash not in declared:
            raise UsageError(
                f"the capture was not deduplicated against {base.path.name}",
                hint=f"capture again with --dedup-against {base.path}, then bundle with --base")
    top = max(int(b.sequence or 0) for b in bases)
    if sequence is not None and sequence <= top:
        raise UsageError(f"--sequence {sequence} is not after the base's sequence {top}")
    package_extra: Dict[str, Any] = {"relation": {"requires": [
        {"filename": b.path.name, "hash": b.hash, "size": b.size} for b in bases]}}

    def in_base(entry: CdxjEntry) -> bool:
        return any(find_original(b.reader.index, entry) is not None for b in bases)

    tmp = out.parent / f".{out.name}.update.wacz"
    try:
        writer.create_bundle(captures, tmp, key=key, title=title, description=description,
                             collection=base_collection, sequence=sequence or top + 1, text=text,
                             progress=progress, index_format=index_format,
                             package_extra=package_extra, revisit_elsewhere=in_base,
                             # Every indexed record kept, request records dropped: replay never
                             # reads them, and beside a revisit they would double its size. The
                             # records themselves are not altered (re-gzipped at level 9).
                             record_filter=_keep_indexed)
        _check_no_base_payload(tmp, bases)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


def _keep_indexed(_entry: CdxjEntry) -> bool:
    return True


def _check_no_base_payload(path: Path, bases: List[_Base]) -> None:
    """Refuse an update that carries a payload its base already has (it was not deduplicated)."""
    held: Set[str] = set().union(*(b.digests for b in bases))
    with WaczReader(path) as reader:
        for entry in list(reader.index):
            if is_original(entry.mime, entry.status, entry.digest) and entry.digest in held:
                raise UsageError(
                    f"the capture holds {entry.url} with a payload the base already has: it was "
                    "not deduplicated against that base",
                    hint="capture again with --dedup-against BASE.wacz")
