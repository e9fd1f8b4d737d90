"""Verifying an update bundle together with the earlier bundles it needs (issue 15).

An update's `datapackage.json` names its bases in `relation.requires: [{"filename", "hash",
"size"}]` (Browsertrix's convention), bound by the signature. A chain is trusted only when every
base is present with exactly that hash and size, is itself intact and validly signed by the same
key, belongs to the same collection with a lower sequence number, and every revisit in the update
resolves into the update or a base. Bases are earlier editions by design: only the newest edition
is compared with (and remembered in) the rollback memory. Python 3.9-safe: shipped in kits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from mirrorkit.errors import InvalidBundle, MirrorkitError, UsageError
from mirrorkit.formats.cdxj import CdxjEntry, find_original
from mirrorkit.formats.wacz import WaczReader
from mirrorkit.verify.bundle import Report, VerificationFailed, verify_bundle

_CHUNK = 1 << 20
_MAX_REQUIRES = 64


@dataclass
class Link:
    """One base an update requires, and what was found for it."""

    filename: str
    hash: str
    size: Optional[int]
    path: Optional[str] = None
    report: Optional[Report] = None
    problem: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        """For `verify --json`."""
        rep = self.report
        return {"filename": self.filename, "hash": self.hash, "size": self.size,
                "path": self.path, "ok": self.problem is None and rep is not None,
                "problem": self.problem,
                "fingerprint": rep.fingerprint if rep else None,
                "sequence": rep.bundle.get("sequence") if rep else None}


@dataclass
class ChainReport:
    """The update's own report plus its chain."""

    update: Report
    links: List[Link] = field(default_factory=list)
    revisits: int = 0
    unresolved: List[Dict[str, Any]] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the update and its whole chain passed."""
        return self.update.ok and not self.problems

    @property
    def trusted(self) -> bool:
        """Trusted only when the chain is whole and the (one) signing key is trusted."""
        return self.ok and self.update.trusted

    @property
    def is_update(self) -> bool:
        """Whether the bundle names any base at all."""
        return bool(self.links)

    def summary(self) -> str:
        """The update's summary, with the chain's verdict first when it failed."""
        lines = []
        if self.problems:
            lines.append("FAILED: this update's chain of earlier bundles is broken. Do not trust "
                         "its content.")
            lines.extend(f"  FAIL chain: {p}" for p in self.problems)
        own = self.update.summary().splitlines()
        # The update's own verdict ("valid but not trusted") does not hold for a broken chain.
        lines.extend(own[1:] if self.problems and self.update.ok else own)
        for link in self.links:
            seq = link.report.bundle.get("sequence") if link.report else "?"
            state = link.problem or f"found at {link.path}, intact, same key, sequence {seq}"
            lines.append(f"Needs {link.filename} ({link.hash}): {state}")
        if self.links:
            lines.append(f"Revisits into the chain: {self.revisits} checked, "
                         f"{len(self.unresolved)} unresolved")
        return "\n".join(lines)

    def to_json(self) -> Dict[str, Any]:
        """The update's JSON report plus a `chain` object."""
        out = self.update.to_json()
        if self.problems:
            out.update(status="failed", ok=False, trusted=False)
        out["chain"] = {"ok": not self.problems, "requires": [lk.to_json() for lk in self.links],
                        "revisits": self.revisits, "unresolved": self.unresolved[:100],
                        "problems": self.problems}
        return out


class ChainFailed(InvalidBundle):
    """An update's chain failed (missing, wrong, invalid or foreign base); `.report` says why."""

    def __init__(self, report: ChainReport) -> None:
        first = report.problems[0] if report.problems else "the update failed verification"
        super().__init__(f"{report.update.path}: {first}",
                         hint="get the earlier bundle(s) it names, unchanged, and put them "
                              "beside it or give them with --base")
        self.report = report


def file_sha256(path: Path) -> str:
    """`sha256:<hex>` of a file, streamed. Raises OSError."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def requirements(package: Dict[str, Any]) -> List[Link]:
    """The bases a datapackage names; raises InvalidBundle when `relation.requires` is malformed."""
    relation = package.get("relation")
    if relation is None:
        return []
    requires = relation.get("requires") if isinstance(relation, dict) else None
    if not isinstance(requires, list) or len(requires) > _MAX_REQUIRES:
        raise InvalidBundle("datapackage.json has a malformed relation.requires")
    links = []
    for item in requires:
        if not isinstance(item, dict):
            raise InvalidBundle("datapackage.json has a malformed relation.requires entry")
        name, digest, size = item.get("filename"), item.get("hash"), item.get("size")
        if not isinstance(name, str) or not name or "/" in name or "\\" in name \
                or not isinstance(digest, str) or not digest.startswith("sha256:"):
            raise InvalidBundle("relation.requires needs a plain filename and a sha256: hash")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
            raise InvalidBundle("relation.requires has a size that is not a whole number")
        links.append(Link(name, digest.lower(), size))
    return links


def _locate(link: Link, update: Path, given: Sequence[Path],
            hashes: Dict[Path, str]) -> Optional[Path]:
    """A given base with the required hash, else the file of that name beside the update."""
    def digest_of(path: Path) -> str:
        if path not in hashes:
            hashes[path] = file_sha256(path)
        return hashes[path]

    for path in given:
        if link.size is not None and path.stat().st_size != link.size:
            continue
        if digest_of(path) == link.hash:
            return path
    beside = update.parent / link.filename
    if beside.is_file() and beside.resolve() != update.resolve():
        return beside
    return None


def _base_report(path: Path, fingerprint: Optional[str], deep: bool) -> Report:
    report = verify_bundle(path, fingerprint=fingerprint, deep=deep, remember=False)
    for check in report.checks:
        if check.name == "rollback" and check.outcome != "ok":
            # An earlier edition is old by design; the update is the one compared.
            check.outcome, check.detail = "skip", "a base of an update: an earlier edition"
    return report


def _resolve_revisits(update: Path, bases: List[Path], chain: ChainReport) -> None:
    readers = [WaczReader(p) for p in [update, *bases]]
    try:
        own, others = readers[0], readers[1:]
        # Listed first: a lookup seeks the same index file the iteration reads.
        revisits = [e for e in own.index if e.mime == "warc/revisit"]
        for entry in revisits:
            chain.revisits += 1
            if _original_in(own, entry) or any(_original_in(r, entry) for r in others):
                continue
            chain.unresolved.append({"url": entry.url, "file": entry.filename,
                                     "offset": entry.offset,
                                     "refersTo": entry.fields.get("refersToUrl") or entry.url,
                                     "refersToDate": entry.fields.get("refersToDate")})
    finally:
        for reader in readers:
            reader.close()
    if chain.unresolved:
        first = chain.unresolved[0]
        chain.problems.append(
            f"{len(chain.unresolved)} revisit(s) point at records no bundle of the chain holds; "
            f"first: {first['url']} -> {first['refersTo']} {first['refersToDate'] or ''}".rstrip())


def _original_in(reader: WaczReader, entry: CdxjEntry) -> bool:
    return find_original(reader.index, entry) is not None


def _verify_update(path: Path, fingerprint: Optional[str], deep: bool, strict: bool,
                   progress: Optional[Callable[[int], None]], is_update: bool) -> Report:
    try:
        return verify_bundle(path, fingerprint=fingerprint, deep=deep, strict=strict,
                             remember=False, progress=progress)
    except VerificationFailed as err:
        report = err.report
        # --deep flags revisits leaving the bundle; in an update they go into its bases, which
        # the chain check resolves one by one instead.
        outside = [d for d in report.damaged if d.get("type") == "revisit"
                   and "outside the bundle" in str(d.get("problem"))]
        fails = report.failures
        if not (is_update and deep and outside and len(outside) == len(report.damaged)
                and [c.name for c in fails] == ["records"]):
            raise
        from mirrorkit.verify.checks import _check_trust

        report.damaged = []
        fails[0].outcome = "ok"
        fails[0].detail = (f"all records match their digests; {len(outside)} revisit(s) "
                           "point into the bases (checked with the chain)")
        report.checks = [c for c in report.checks if c.name not in ("trust", "rollback")]
        block = _check_publisher_block(report)
        _check_trust(report, fingerprint and _norm(fingerprint), strict, False, block)
        if not report.ok:
            raise VerificationFailed(report) from None
        return report


def _norm(fingerprint: str) -> str:
    from mirrorkit.trust.signing import normalize_fingerprint

    return normalize_fingerprint(fingerprint)


def _check_publisher_block(report: Report) -> Optional[Dict[str, Any]]:
    bundle = report.bundle
    if "collection" not in bundle:
        return None
    return {"collection": bundle["collection"], "sequence": bundle.get("sequence", 0)}


def verify_chain(path: Any, *, bases: Sequence[Any] = (), fingerprint: Optional[str] = None,
                 deep: bool = False, strict: bool = False, remember: bool = True,
                 progress: Optional[Callable[[int], None]] = None) -> ChainReport:
    """Verify a bundle and, when it is an update, the chain of bases it requires.

    `bases` are candidate base files (matched by hash); otherwise each base is looked for beside
    the update under the file name it requires. Returns the ChainReport when everything passed
    (see `.trusted`). Raises VerificationFailed when the update itself fails, ChainFailed (exit 1)
    when its chain does, UsageError for a missing file or bad fingerprint.
    """
    target = Path(path)
    given = [Path(b) for b in bases]
    for base in given:
        if not base.is_file():
            raise UsageError(f"--base {base}: no such file")
    if not target.is_file():
        raise UsageError(f"no such file: {target}")
    try:
        with WaczReader(target) as reader:
            links = requirements(reader.datapackage)
    except InvalidBundle:
        links = []  # verify_bundle below reports the damage in its own words
    if given and not links:
        raise UsageError(f"--base was given, but {target.name} is not an update (its "
                         "datapackage.json names no base in relation.requires)")
    report = _verify_update(target, fingerprint, deep, strict, progress, bool(links))
    chain = ChainReport(update=report, links=links)
    found: List[Path] = []
    hashes: Dict[Path, str] = {}
    for link in links:
        chain_path = _locate(link, target, given, hashes)
        if chain_path is None:
            link.problem = "missing"
            chain.problems.append(f"the base {link.filename} ({link.hash}) is missing: put it "
                                  f"beside {target.name} or give it with --base")
            continue
        link.path = str(chain_path)
        _check_link(link, chain_path, hashes, report, fingerprint, deep, chain)
        if link.problem is None:
            found.append(chain_path)
    if links and not chain.problems:
        try:
            _resolve_revisits(target, found, chain)
        except MirrorkitError as err:
            chain.problems.append(f"cannot read the chain's indexes: {err.message}")
    if chain.problems:
        raise ChainFailed(chain)
    if remember and report.signer is not None and report.bundle.get("collection"):
        from mirrorkit.trust.store import SeenStore

        seq = report.bundle.get("sequence")
        if isinstance(seq, int):
            SeenStore().remember(report.signer.fingerprint, report.bundle["collection"], seq)
    return chain


def _check_link(link: Link, path: Path, hashes: Dict[Path, str], update: Report,
                fingerprint: Optional[str], deep: bool, chain: ChainReport) -> None:
    size = path.stat().st_size
    if path not in hashes:
        hashes[path] = file_sha256(path)
    if hashes[path] != link.hash or (link.size is not None and size != link.size):
        link.problem = f"wrong file: {path} has {hashes[path]} ({size} bytes)"
        chain.problems.append(f"the base {link.filename} at {path} is not the one the update "
                              f"needs: it has {hashes[path]}, the update requires {link.hash}")
        return
    try:
        link.report = _base_report(path, fingerprint, deep)
    except VerificationFailed as err:
        link.report = err.report
        link.problem = f"invalid: {err.message}"
        chain.problems.append(f"the base {link.filename} failed verification: {err.message}")
        return
    base_fp, update_fp = link.report.fingerprint, update.fingerprint
    if base_fp != update_fp:
        link.problem = f"signed by another key ({base_fp})"
        chain.problems.append(f"the base {link.filename} is signed by {base_fp}, the update by "
                              f"{update_fp}: a chain must keep one signing key")
        return
    collection = update.bundle.get("collection")
    if link.report.bundle.get("collection") != collection:
        link.problem = f"other collection {link.report.bundle.get('collection')!r}"
        chain.problems.append(f"the base {link.filename} belongs to collection "
                              f"{link.report.bundle.get('collection')!r}, the update to "
                              f"{collection!r}")
        return
    base_seq, seq = link.report.bundle.get("sequence"), update.bundle.get("sequence")
    if isinstance(base_seq, int) and isinstance(seq, int) and base_seq >= seq:
        link.problem = f"sequence {base_seq} is not earlier than the update's {seq}"
        chain.problems.append(f"the base {link.filename} is #{base_seq}, not earlier than the "
                              f"update (#{seq})")
