"""Checking a WACZ `signedData`: an anonymous signature (ArchiveWeb.page's and ours) here, an
authsign domain signature in `authsign`.

A module of its own so the dispatch sits above both kinds: `authsign` uses `signing`'s ECDSA
helpers, and neither imports this.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from mirrorkit.errors import SignatureError
from mirrorkit.trust.authsign import verify_domain_signature
from mirrorkit.trust.signing import (
    SignerInfo,
    backend_name,
    check_signature,
    fingerprint,
    parse_time,
)

_HASH_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or len(value) > 100_000:
        raise SignatureError(f"signedData.{what} is missing or not text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"signedData.{what} is not valid base64") from None


def verify_signed_data(signed_data: Any) -> SignerInfo:
    """Check a WACZ `signedData` (anonymous or authsign domain); raises SignatureError."""
    if not isinstance(signed_data, dict):
        raise SignatureError("the bundle is not signed (no signedData)")
    digest = signed_data.get("hash")
    if not isinstance(digest, str) or not _HASH_RE.match(digest):
        raise SignatureError("signedData.hash is not a sha256:<hex> digest")
    created = signed_data.get("created")
    parse_time(created)
    software = signed_data.get("software")
    software = software if isinstance(software, str) else ""
    signature = _b64(signed_data.get("signature"), "signature")
    if "domainCert" in signed_data:
        return verify_domain_signature(signed_data, signature)
    public_der = _b64(signed_data.get("publicKey"), "publicKey")
    check_signature(public_der, "P-384", digest.encode("utf-8"), signature, raw=True)
    return SignerInfo(kind="anonymous", fingerprint=fingerprint(public_der),
                      public_key_der=public_der, created=str(created), software=software,
                      backend=backend_name())
