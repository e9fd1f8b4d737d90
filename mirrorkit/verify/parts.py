"""Multi-WACZ packages (Browsertrix's collection download, profile `multi-wacz-package`): each
nested WACZ is verified in place, part by part, with every check a single bundle gets.

The package's own datapackage.json is not signed by anyone (Browsertrix signs the parts), so the
verdict is the parts': the package is OK only when every part is, trusted only when every part's
signer is. Replay and USB kits take single bundles: they refuse a package by name (unzip it and
use the parts). Python 3.9-safe: shipped in kits.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional

from mirrorkit.errors import MirrorkitError
from mirrorkit.formats.zipcheck import BundleZip, ZipProblem, open_nested
from mirrorkit.verify.checks import _check_resources, _check_trust, _run_checks
from mirrorkit.verify.report import Report

__all__ = ["verify_parts"]

MAX_PARTS = 1000


def verify_parts(bundle: BundleZip, report: Any, package: Any, parts: List[str],
                 expected: Optional[str], deep: bool, strict: bool, remember: bool,
                 progress: Optional[Callable[[int], None]]) -> None:
    """Fill `report.parts` with one Report per nested WACZ and the outer checks; never raises
    for a bad part (it is a failed part)."""
    report.multi_wacz = parts
    report.parts = []
    if len(parts) > MAX_PARTS:
        report.add("parts", "fail", f"{len(parts)} parts: more than {MAX_PARTS} is refused")
        return
    if isinstance(package, dict) and isinstance(package.get("resources"), list):
        try:
            _check_resources(bundle, package, report, progress)
        except MirrorkitError as err:
            report.add("resources", "fail", err.message)
    for name in parts:
        sub = Report(path=f"{report.path} » {name}", deep=deep)
        report.parts.append(sub)
        try:
            nested = open_nested(bundle, bundle.members[name])
        except ZipProblem as err:
            sub.add("zip", "fail", err.message)
            continue
        try:
            sub.add("zip", "ok", f"{len(nested.members)} members; names, sizes and headers sane")
            block = _run_checks(nested, sub, deep, progress)
        finally:
            nested.close()
        if sub.ok:
            _check_trust(sub, expected, strict, remember, block)
    failed = [p for p in report.parts if not p.ok]
    if not report.parts:
        report.add("parts", "fail", "the package holds no WACZ file")
    elif failed:
        report.add("parts", "fail", f"{len(failed)} of {len(parts)} parts failed: "
                                    + ", ".join(p.path.rsplit(" » ", 1)[-1] for p in failed))
    else:
        report.add("parts", "ok", f"all {len(parts)} parts intact and validly signed")
    report.trusted = bool(report.parts) and not failed and all(p.trusted for p in report.parts)
