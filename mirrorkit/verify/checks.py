"""The checks of one bundle, in order: datapackage, signature, resources, publisher, source,
records (deep), trust and rollback. Each records its outcome in the report; none raises for a
bad bundle."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

from mirrorkit.errors import MirrorkitError, UsageError
from mirrorkit.formats import safejson
from mirrorkit.formats.wacz import multi_wacz_message, multi_wacz_parts
from mirrorkit.formats.zipcheck import (
    DATAPACKAGE,
    DIGEST,
    BundleZip,
    ZipProblem,
    _bad_name,
    hash_member,
    read_member,
)
from mirrorkit.trust.signeddata import verify_signed_data
from mirrorkit.trust.signing import (
    normalize_fingerprint,
    parse_time,
)
from mirrorkit.verify.report import Report

_MAX_DATAPACKAGE = 64 * 1024 * 1024
_MAX_DIGEST = 1024 * 1024
_HEX = set("0123456789abcdef")


def _load_json(bundle: BundleZip, name: str, limit: int) -> Any:
    data = read_member(bundle, name, limit)
    return data, safejson.loads(data, name, max_bytes=limit, error=ZipProblem)


def _check_datapackage(bundle: BundleZip, report: Report) -> Dict[str, Any]:
    """Parse both manifests and tie datapackage.json to the digest file's hash."""
    import hashlib

    if DATAPACKAGE not in bundle.members:
        raise ZipProblem("the ZIP has no datapackage.json: it is not a WACZ bundle")
    raw, package = _load_json(bundle, DATAPACKAGE, _MAX_DATAPACKAGE)
    if not isinstance(package, dict):
        raise ZipProblem("datapackage.json is not a JSON object")
    parts = multi_wacz_parts(package, list(bundle.members))
    if parts is not None:
        report.multi_wacz = parts
        raise ZipProblem(multi_wacz_message(parts))
    if DIGEST not in bundle.members:
        # Intact or not is still worth saying: the resources are checked against it below.
        report.unsigned = True
        if not isinstance(package.get("resources"), list):
            raise ZipProblem("datapackage.json has no resources list")
        report.add("datapackage", "ok", "datapackage.json read; there is no "
                                        "datapackage-digest.json (the bundle is not signed)")
        return {"digest": {}, "package": package}
    _, digest = _load_json(bundle, DIGEST, _MAX_DIGEST)
    if not isinstance(digest, dict):
        raise ZipProblem("datapackage-digest.json is not a JSON object")
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
        report.unsigned = True
        raise ZipProblem("not signed: the bundle has no signature (no signedData in "
                         "datapackage-digest.json, or no datapackage-digest.json at all)")
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
                     progress: Optional[Callable[[int], None]],
                     known: Optional[Dict[str, str]] = None) -> None:
    """Every listed file's size and hash; `known` holds digests the deep scan already took."""
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
        actual = (known or {}).get(member.name) or hash_member(bundle, member, progress)
        if actual != digest:
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
    _check_source(block, report)
    return block


def _check_source(block: Dict[str, Any], report: Report) -> None:
    """What the publisher declared, inside the signature, about damage in the source."""
    declared = block.get("damaged")
    if isinstance(declared, list) and declared:
        report.damaged_at_source = [d for d in declared if isinstance(d, dict)]
        count = len(report.damaged_at_source)
        report.add("source", "warn", f"{count} record(s) were damaged before it was bundled "
                                     "(the publisher kept them, marked as damaged; they are "
                                     "not shown as content)")
    dropped = block.get("droppedRevisits")
    if isinstance(dropped, int) and dropped > 0:
        report.warnings.append(f"{dropped} revisit record(s) were left out when bundling: "
                               "their originals were not in the captures (those URLs do not "
                               "replay)")


def _check_deep(bundle: BundleZip, report: Report, progress: Optional[Callable[[int], None]],
                scanned: Any) -> None:
    from mirrorkit.verify.deep import deep_check

    declared = {(str(d.get("file")), d["offset"]) for d in report.damaged_at_source
                if isinstance(d.get("offset"), int)}
    result = deep_check(bundle, progress, scanned, declared)
    report.damaged = result.problems
    report.warnings.extend(result.notes)
    counts = (f"{result.records} WARC records, {result.index_entries} index entries, "
              f"{result.revisits} revisits")
    known = ""
    if result.known:
        records = len({(p.get("file"), p.get("offset")) for p in result.known})
        known = f"; {records} record(s) damaged before it was bundled, as the bundle declares"
    if result.problems:
        first = result.problems[0]
        bad = []
        if result.damaged_records:
            read = " read" if any("cannot be read from here on" in str(p.get("problem"))
                                  for p in result.problems) else ""
            bad.append(f"{result.damaged_records} of {result.records} WARC records{read} "
                       "damaged")
        if result.bad_index_entries:
            bad.append(f"{result.bad_index_entries} of {result.index_entries} index entries "
                       "wrong")
        report.add("records", "fail", f"{', '.join(bad) or 'damage found'} ({counts}){known}; "
                                      f"first: {first.get('url') or first.get('file')}: "
                                      f"{first.get('problem')}")
    else:
        report.add("records", "ok", f"{counts}: all match their digests and resolve{known}")


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


def _run_checks(bundle: BundleZip, report: Report, deep: bool,
                progress: Optional[Callable[[int], None]]) -> Optional[Dict[str, Any]]:
    """The integrity checks after the ZIP opened; failures are recorded, not raised."""
    manifests = None
    block = None
    scanned = None
    if deep:
        from mirrorkit.verify.deep import scan_warcs

        # One read of each WARC serves both the manifest hashes and the record checks.
        scanned = scan_warcs(bundle, progress)
    known = {name: warc.file_digest for name, warc in (scanned or {}).items()}
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
            _check_resources(bundle, manifests["package"], report, progress, known)
        except MirrorkitError as err:
            report.add("resources", "fail", err.message)
        block = _check_publisher(manifests["package"], report)
    else:
        report.add("signature", "skip", "no usable manifest to check the signature against")
    if deep:
        try:
            _check_deep(bundle, report, progress, scanned)
        except MirrorkitError as err:
            report.add("records", "fail", err.message)
    return block
