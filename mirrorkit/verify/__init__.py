"""Verify stage: every check of a bundle, in order, and the deep record pass.

May import: trust, formats, errors. Travels in the USB kit (pure Python, 3.9).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mirrorkit.verify.bundle import WORDING, Check, Report, VerificationFailed, verify_bundle

__all__ = ["WORDING", "Check", "Report", "VerificationFailed", "verify_bundle"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the deep pass's worker processes import only the scan, and start
    # in half the time.
    if name in __all__:
        from mirrorkit.verify import bundle

        return getattr(bundle, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
