"""Verify stage: every check of a bundle, in order, and the deep record pass.

May import: trust, formats, errors. Travels in the USB kit (pure Python, 3.9).
"""

from mirrorkit.verify.bundle import WORDING, Check, Report, VerificationFailed, verify_bundle

__all__ = ["WORDING", "Check", "Report", "VerificationFailed", "verify_bundle"]
