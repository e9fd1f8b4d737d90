"""`verify_bundle()`: every check on a WACZ bundle, in order, into a `Report`.

Order: ZIP sanity, datapackage vs digest file, signature, listed resources, the `mirrorkit`
publisher block, (deep) WARC records / index / revisits, then trust and rollback. A bundle that
fails any check raises `VerificationFailed` carrying the report; it is never shown as trusted.
Python 3.9-safe: shipped in kits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from mirrorkit.errors import UsageError
from mirrorkit.formats.wacz import multi_wacz_parts
from mirrorkit.formats.zipcheck import (
    ZipProblem,
    open_bundle_zip,
)
from mirrorkit.trust.signing import (
    normalize_fingerprint,
)
from mirrorkit.verify.checks import _check_trust, _run_checks
from mirrorkit.verify.inputs import outer_package, refuse_warc
from mirrorkit.verify.parts import verify_parts
from mirrorkit.verify.report import WORDING, Check, Report, VerificationFailed

__all__ = ["WORDING", "Check", "Report", "VerificationFailed", "verify_bundle"]


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
    refuse_warc(target)
    report = Report(path=str(target), deep=deep)
    try:
        bundle = open_bundle_zip(str(target))
    except ZipProblem as err:
        report.add("zip", "fail", err.message)
        raise VerificationFailed(report) from None
    try:
        report.add("zip", "ok", f"{len(bundle.members)} members; names, sizes and headers sane")
        package = outer_package(bundle)
        parts = multi_wacz_parts(package, list(bundle.members))
        block = None
        if parts is not None:
            verify_parts(bundle, report, package, parts, expected, deep, strict, remember,
                         progress)
        else:
            block = _run_checks(bundle, report, deep, progress)
    finally:
        bundle.close()
    if report.ok and report.parts is None:
        _check_trust(report, expected, strict, remember, block)
    if not report.ok:
        raise VerificationFailed(report)
    return report
