"""`verify_bundle()`: every check on a WACZ bundle, in order, into a `Report`.

Order: ZIP sanity, datapackage vs digest file, signature, listed resources, the `mirrorkit`
publisher block, (deep) WARC records / index / revisits, then trust and rollback. A bundle that
fails any check raises `VerificationFailed` carrying the report; it is never shown as trusted.
Python 3.9-safe: shipped in kits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from mirrorkit.errors import InvalidBundle, MirrorkitError, UsageError
from mirrorkit.formats import safejson
from mirrorkit.formats.safetext import neutral
from mirrorkit.formats.zipcheck import (
    DATAPACKAGE,
    DIGEST,
    BundleZip,
    ZipProblem,
    _bad_name,
    hash_member,
    open_bundle_zip,
    read_member,
)
from mirrorkit.trust.signeddata import verify_signed_data
from mirrorkit.trust.signing import (
    SignerInfo,
    normalize_fingerprint,
    parse_time,
)

WORDING = ("The signature proves who packaged this archive and that it has not changed since; "
           "it does not prove what the original server sent.")
_MAX_DATAPACKAGE = 64 * 1024 * 1024
_MAX_DIGEST = 1024 * 1024
_HEX = set("0123456789abcdef")


@dataclass
class Check:
    """One check that ran: its name, outcome ("ok", "warn", "fail", "skip") and detail."""

    name: str
    outcome: str
    detail: str


@dataclass
class Report:
    """Everything verification found, for the human summary and for `--json`."""

    path: str
    deep: bool = False
    checks: List[Check] = field(default_factory=list)
    signer: Optional[SignerInfo] = None
    trusted: bool = False
    trusted_name: Optional[str] = None
    bundle: Dict[str, Any] = field(default_factory=dict)
    damaged: List[Dict[str, Any]] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    def add(self, name: str, outcome: str, detail: str) -> Check:
        """Record one check's outcome; never raises."""
        check = Check(name, outcome, detail)
        self.checks.append(check)
        return check

    @property
    def failures(self) -> List[Check]:
        """The checks that failed, in order."""
        return [c for c in self.checks if c.outcome == "fail"]

    @property
    def fingerprint(self) -> Optional[str]:
        """The signing key's fingerprint, once the signature has verified."""
        return self.signer.fingerprint if self.signer else None

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.failures

    def summary(self) -> str:
        """Short human text: verdict and signer first, then what was checked and what failed.

        The verdict line is the program's own words only; every string that came from the
        bundle (publisher, collection, domain, URLs, times, details quoting them) is passed
        through `neutral()`, so escape sequences and bidi overrides show as `\\x1b`, `\\u202e`
        and a bundle's text never starts a line of its own.
        """
        lines = []
        signer = self.signer
        who = neutral(self.bundle.get("publisher") or (signer.domain if signer else None)
                      or "an anonymous key (no publisher name)")
        if not self.ok:
            lines.append("FAILED: this bundle was changed, damaged or is not validly signed. "
                         "Do not trust its content.")
        elif self.trusted:
            lines.append("OK: intact, validly signed by a TRUSTED key.")
            by_fingerprint = any(c.name == "trust" and "the one you gave" in c.detail
                                 for c in self.checks)
            if by_fingerprint:  # then the only name there is the bundle's own claim
                lines.append("Trusted because: its key has the fingerprint you gave.")
            else:
                lines.append(f"Trusted as: {neutral(self.trusted_name or who)} "
                             "(the name in your trust store)")
        else:
            lines.append("VALID BUT NOT TRUSTED: intact and validly signed, but the signing key "
                         "is not in your trust store.")
        if signer is not None:
            kind = ("domain signature for " + neutral(signer.domain) if signer.kind == "domain"
                    else "anonymous ECDSA P-384 key")
            lines.append(f"Signed by: {who} ({kind})")
            lines.append(f"Key fingerprint: {signer.fingerprint}")
            lines.append(f"Signed at: {neutral(signer.created)}")
            if signer.kind == "domain" and signer.certificate:
                cert = signer.certificate
                lines.append(f"Certificate: valid at signing time "
                             f"({neutral(cert.get('notBefore'))} .. "
                             f"{neutral(cert.get('notAfter'))}); chain "
                             f"{neutral(cert.get('chain', 'n/a'))}")
        if self.bundle.get("collection") is not None:
            lines.append(f"Collection: {neutral(self.bundle['collection'])}, "
                         f"sequence {neutral(self.bundle.get('sequence'))}")
        if self.ok and not self.trusted and signer is not None:
            lines.append("Compare the fingerprint with one you got from the publisher in person,"
                         " then run: mirrorkit trust add \"" + signer.fingerprint
                         + "\" --name NAME")
        lines.append("Checked: " + ", ".join(
            f"{c.name} {c.outcome.upper() if c.outcome != 'ok' else 'ok'}" for c in self.checks))
        for check in self.checks:
            if check.outcome in ("fail", "warn"):
                lines.append(f"  {check.outcome.upper()} {check.name}: {neutral(check.detail)}")
        for item in self.damaged[:20]:
            lines.append(f"  damaged: {neutral(item.get('url') or '-')} "
                         f"({neutral(item.get('file'))} @ {neutral(item.get('offset'))}): "
                         f"{neutral(item.get('problem'))}")
        if len(self.damaged) > 20:
            lines.append(f"  ... and {len(self.damaged) - 20} more damaged entries (see --json)")
        for warning in self.warnings:
            lines.append(f"  note: {neutral(warning)}")
        lines.append(WORDING)
        return "\n".join(lines)

    def to_json(self) -> Dict[str, Any]:
        """A JSON-ready dict of the whole report."""
        status = "failed" if not self.ok else ("trusted" if self.trusted else "untrusted")
        return {
            "path": self.path, "status": status, "ok": self.ok, "trusted": self.trusted,
            "trustedName": self.trusted_name, "deep": self.deep,
            "signer": self.signer.to_json() if self.signer else None,
            "bundle": self.bundle,
            "checks": [c.__dict__ for c in self.checks],
            "damaged": self.damaged, "warnings": self.warnings, "statement": WORDING,
        }


class VerificationFailed(InvalidBundle):
    """A bundle failed verification; `.report` says which checks failed and where."""

    def __init__(self, report: Report) -> None:
        first = report.failures[0] if report.failures else Check("verify", "fail", "failed")
        more = len(report.failures) - 1
        super().__init__(
            # The detail may quote the bundle (a collection, a name): one escaped line.
            f"{report.path} failed verification: {first.name}: {neutral(first.detail)}"
            + (f" (and {more} more failed check{'s' if more > 1 else ''})" if more > 0 else ""),
            hint="the bundle was changed or damaged after it was signed; get another copy",
        )
        self.report = report


def _load_json(bundle: BundleZip, name: str, limit: int) -> Any:
    data = read_member(bundle, name, limit)
    return data, safejson.loads(data, name, max_bytes=limit, error=ZipProblem)


def _check_datapackage(bundle: BundleZip, report: Report) -> Dict[str, Any]:
    """Parse both manifests and tie datapackage.json to the digest file's hash."""
    import hashlib

    if DIGEST not in bundle.members:
        raise ZipProblem("the bundle is not signed: it has no datapackage-digest.json")
    _, digest = _load_json(bundle, DIGEST, _MAX_DIGEST)
    raw, package = _load_json(bundle, DATAPACKAGE, _MAX_DATAPACKAGE)
    if not isinstance(digest, dict) or not isinstance(package, dict):
        raise ZipProblem("datapackage.json or datapackage-digest.json is not a JSON object")
    if digest.get("path", DATAPACKAGE) != DATAPACKAGE:
        raise ZipProblem("datapackage-digest.json describes another file than datapackage.json")
    actual = "sha256:" + hashlib.sha256(raw).hexdigest()
    if digest.get("hash") != actual:
        raise ZipProblem("datapackage.json does not match the hash in datapackage-digest.json "
                         "(the manifest was changed)")
    signed = digest.get("signedData")
    if isinstance(signed, dict) and signed.get("hash") != actual:
        raise ZipProblem("the signed hash is not the hash of datapackage.json")
    if not isinstance(package.get("resources"), list):
        raise ZipProblem("datapackage.json has no resources list")
    for key in ("title", "created", "modified", "mainPageUrl"):
        if isinstance(package.get(key), str):
            report.bundle[key] = package[key]
    report.bundle["waczVersion"] = package.get("wacz_version")
    report.add("datapackage", "ok", "datapackage.json matches datapackage-digest.json")
    return {"digest": digest, "package": package}


def _check_signature(manifests: Dict[str, Any], report: Report) -> None:
    signed = manifests["digest"].get("signedData")
    if signed is None:
        raise ZipProblem("the bundle is not signed: datapackage-digest.json has no signedData")
    info = verify_signed_data(signed)
    report.signer = info
    created = manifests["package"].get("created")
    if created is not None and parse_time(created) != parse_time(info.created):
        raise ZipProblem(f"the signature's created time ({info.created}) differs from "
                         f"datapackage.json's ({created})")
    report.warnings.extend(info.notes)
    kind = f"domain {info.domain}" if info.kind == "domain" else "anonymous P-384"
    report.add("signature", "ok", f"valid {kind} signature by {info.fingerprint}")


def _check_resources(bundle: BundleZip, package: Dict[str, Any], report: Report,
                     progress: Optional[Callable[[int], None]]) -> None:
    problems: List[str] = []
    listed = set()
    todo = []
    for entry in package["resources"]:
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str) or _bad_name(path):
            problems.append(f"resource entry with an unsafe or missing path: {str(path)[:80]!r}")
            continue
        if path in listed:
            problems.append(f"{path} is listed twice")
            continue
        listed.add(path)
        member = bundle.members.get(path)
        if member is None:
            problems.append(f"{path} is listed but missing from the ZIP")
            continue
        size, digest = entry.get("bytes"), entry.get("hash")
        if not isinstance(size, int) or isinstance(size, bool) or size != member.size:
            problems.append(f"{path} is {member.size} bytes in the ZIP, the manifest says "
                            f"{size}")
            continue
        if (not isinstance(digest, str) or not digest.startswith("sha256:")
                or len(digest) != 71 or not set(digest[7:]) <= _HEX):
            problems.append(f"{path} has no sha256 hash in the manifest")
            continue
        if path.startswith("archive/") and not member.stored:
            problems.append(f"{path} is compressed inside the ZIP; WARCs must be STORED")
            continue
        if path.endswith(".cdx.gz") and not member.stored:
            problems.append(f"{path} is compressed inside the ZIP; it must be STORED")
            continue
        todo.append((member, digest))
    for name in sorted(set(bundle.members) - listed - {DATAPACKAGE, DIGEST}):
        problems.append(f"{name} is in the ZIP but not listed in datapackage.json")
    for member, digest in todo:
        if hash_member(bundle, member, progress) != digest:
            problems.append(f"{member.name}: content does not match its hash (changed or "
                            f"damaged)")
    report.bundle["files"] = len(listed)
    report.bundle["bytes"] = sum(m.size for m, _ in todo)
    if problems:
        report.add("resources", "fail", "; ".join(problems[:5])
                   + (f"; and {len(problems) - 5} more" if len(problems) > 5 else ""))
    else:
        report.add("resources", "ok", f"{len(listed)} files match their sizes and hashes, "
                                      "none unlisted")


def _check_publisher(package: Dict[str, Any], report: Report) -> Optional[Dict[str, Any]]:
    block = package.get("mirrorkit")
    if block is None:
        report.add("publisher", "skip", "no mirrorkit block: a bundle made by another tool")
        return None
    signer = report.signer
    try:
        if not isinstance(block, dict):
            raise ValueError("not an object")
        publisher, fp = block.get("publisher"), block.get("fingerprint")
        collection, sequence = block.get("collection"), block.get("sequence")
        if not isinstance(publisher, str) or not isinstance(collection, str) or not collection:
            raise ValueError("publisher or collection missing")
        if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0:
            raise ValueError("sequence is not a whole number")
        if block.get("format", 1) != 1:
            raise ValueError(f"format {block.get('format')!r} is newer than this mirrorkit")
        fp = normalize_fingerprint(str(fp))
    except (ValueError, UsageError) as err:
        report.add("publisher", "fail", f"the mirrorkit block in datapackage.json is invalid "
                                        f"({getattr(err, 'message', err)})")
        return None
    report.bundle.update(publisher=publisher, collection=collection, sequence=sequence)
    if signer is None:
        report.add("publisher", "skip", f"claims publisher '{publisher}', but no valid "
                                        "signature ties it to a key")
        return None
    if fp != signer.fingerprint:
        report.add("publisher", "fail", f"datapackage.json names key {fp} as the publisher's, "
                                        f"but the bundle was signed by {signer.fingerprint}")
        return None
    report.add("publisher", "ok", f"publisher '{publisher}', collection '{collection}' "
                                  f"#{sequence}, bound to the signing key")
    return block


def _check_deep(bundle: BundleZip, report: Report,
                progress: Optional[Callable[[int], None]]) -> None:
    from mirrorkit.verify.deep import deep_check

    result = deep_check(bundle, progress)
    report.damaged = result.problems
    report.warnings.extend(result.notes)
    counts = (f"{result.records} WARC records, {result.index_entries} index entries, "
              f"{result.revisits} revisits")
    if result.problems:
        first = result.problems[0]
        report.add("records", "fail", f"{len(result.problems)} damaged of {counts}; first: "
                                      f"{first.get('url') or first.get('file')}: "
                                      f"{first.get('problem')}")
    else:
        report.add("records", "ok", f"{counts}: all match their digests and resolve")


def _check_trust(report: Report, expected: Optional[str], strict: bool, remember: bool,
                 block: Optional[Dict[str, Any]]) -> None:
    from mirrorkit.trust.store import SeenStore, TrustStore

    signer = report.signer
    assert signer is not None
    store = TrustStore()
    entry = store.get(signer.fingerprint)
    if entry is not None:
        report.trusted, report.trusted_name = True, entry.name
        report.add("trust", "ok", f"the signer is in your trust store as '{entry.name}'")
    elif expected is not None and expected == signer.fingerprint:
        report.trusted = True
        report.trusted_name = report.bundle.get("publisher") or "the fingerprint you gave"
        report.add("trust", "ok", "the signer's fingerprint equals the one you gave")
    else:
        detail = "the signer is not in your trust store"
        if expected is not None:
            detail = f"signed by {signer.fingerprint}, NOT by the fingerprint you gave ({expected})"
        report.add("trust", "warn", detail)
        claimed = str(report.bundle.get("publisher") or "").strip().lower()
        for other in store.list() if claimed else []:
            if other.name.strip().lower() == claimed:
                report.warnings.append(
                    f"it claims to come from '{other.name}', but your trusted key for that name "
                    f"is {other.fingerprint}: this may be an impersonation")
    if block is None:
        return
    seen = SeenStore()
    collection, sequence = block["collection"], block["sequence"]
    highest = seen.highest(signer.fingerprint, collection)
    if highest is not None and sequence < highest:
        detail = (f"this is #{sequence} of collection '{collection}', but #{highest} from the "
                  f"same key was already accepted here: an older copy (possible rollback)")
        report.add("rollback", "fail" if strict else "warn", detail)
        if strict:
            return
    else:
        report.add("rollback", "ok", f"#{sequence} is not older than any accepted copy")
    if remember:
        seen.remember(signer.fingerprint, collection, sequence)


def verify_bundle(path: Any, *, fingerprint: Optional[str] = None, deep: bool = False,
                  strict: bool = False, remember: bool = True,
                  progress: Optional[Callable[[int], None]] = None) -> Report:
    """Verify a WACZ bundle; returns the Report when intact and validly signed (see `.trusted`).

    Raises VerificationFailed (an InvalidBundle) carrying `.report` when any check fails,
    UsageError for a bad fingerprint or a missing file, TrustStoreError for a damaged store.
    `progress(n)` is called with the number of bytes read as hashing proceeds.
    """
    expected = normalize_fingerprint(fingerprint) if fingerprint else None
    target = Path(path)
    if not target.is_file():
        raise UsageError(f"no such file: {target}")
    report = Report(path=str(target), deep=deep)
    try:
        bundle = open_bundle_zip(str(target))
    except ZipProblem as err:
        report.add("zip", "fail", err.message)
        raise VerificationFailed(report) from None
    try:
        report.add("zip", "ok", f"{len(bundle.members)} members; names, sizes and headers sane")
        block = _run_checks(bundle, report, deep, progress)
    finally:
        bundle.close()
    if report.ok:
        _check_trust(report, expected, strict, remember, block)
    if not report.ok:
        raise VerificationFailed(report)
    return report


def _run_checks(bundle: BundleZip, report: Report, deep: bool,
                progress: Optional[Callable[[int], None]]) -> Optional[Dict[str, Any]]:
    """The integrity checks after the ZIP opened; failures are recorded, not raised."""
    manifests = None
    block = None
    try:
        manifests = _check_datapackage(bundle, report)
    except MirrorkitError as err:
        report.add("datapackage", "fail", err.message)
    if manifests is not None:
        try:
            _check_signature(manifests, report)
        except MirrorkitError as err:
            report.add("signature", "fail", err.message)
        try:
            _check_resources(bundle, manifests["package"], report, progress)
        except MirrorkitError as err:
            report.add("resources", "fail", err.message)
        block = _check_publisher(manifests["package"], report)
    else:
        report.add("signature", "skip", "no usable manifest to check the signature against")
    if deep:
        try:
            _check_deep(bundle, report, progress)
        except MirrorkitError as err:
            report.add("records", "fail", err.message)
    return block
