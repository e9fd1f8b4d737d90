"""What was handed to `verify`: a WARC instead of a bundle, or a package of bundles.
Python 3.9-safe: shipped in kits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from mirrorkit.errors import UsageError
from mirrorkit.formats import safejson
from mirrorkit.formats.wacz import WARC_NOT_WACZ, looks_like_warc
from mirrorkit.formats.zipcheck import DATAPACKAGE, BundleZip, ZipProblem, read_member

__all__ = ["outer_package", "refuse_warc"]

_MAX_PACKAGE = 64 * 1024 * 1024


def refuse_warc(target: Path) -> None:
    """Raise UsageError ("this is a WARC file: bundle it first") when `target` is a WARC."""
    try:
        with open(target, "rb") as fh:
            head = fh.read(64 * 1024)
    except OSError as err:
        raise UsageError(f"cannot read {target}: {err.strerror or err}") from None
    if looks_like_warc(head):
        raise UsageError(f"{target}: {WARC_NOT_WACZ.replace('FILE.warc.gz', str(target))}",
                         hint="verify checks signed WACZ bundles; a WARC carries no signature.")


def outer_package(bundle: BundleZip) -> Dict[str, Any]:
    """datapackage.json parsed, or {} when it is missing or unreadable (the checks proper say
    why); only used to tell a multi-WACZ package from a bundle. Never raises."""
    if DATAPACKAGE not in bundle.members:
        return {}
    try:
        value = safejson.loads(read_member(bundle, DATAPACKAGE, _MAX_PACKAGE), DATAPACKAGE,
                               max_bytes=_MAX_PACKAGE, error=ZipProblem)
    except ZipProblem:
        return {}
    return value if isinstance(value, dict) else {}
