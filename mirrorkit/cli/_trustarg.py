"""`trust add`'s argument: a fingerprint, a `.pub` file, or a photo of a key card.

Here, in the CLI layer, because it composes the trust store's key files with the QR card reader;
the trust store itself knows nothing of images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

from mirrorkit.errors import UsageError
from mirrorkit.trust.signing import normalize_fingerprint, read_public_key

_CARD_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")


def resolve_trust_argument(arg: str, name: Optional[str]) -> Tuple[str, str, str]:
    """(fingerprint, name, source) for `trust add`'s argument: a fingerprint, a `.pub` file, or
    an image or photo of a key card (`mirrorkit qr key`), whose source starts with "key card".

    Kept in one small function so other inputs (e.g. trust-card images) can be added here.
    Raises UsageError or KeyFileError.
    """
    path = Path(arg)
    if path.is_file() and path.suffix.lower() in _CARD_IMAGE_SUFFIXES:
        try:  # the QR reader (Pillow, zxing-cpp) is not in USB kits: import it only here
            from mirrorkit.qr.card import read_card
        except ImportError:
            raise UsageError("reading key cards needs the full mirrorkit (pip install mirrorkit)",
                             hint="or type the fingerprint printed on the card") from None
        card = read_card(path)
        return card.fingerprint, (name or card.name), f"key card {path.name}"
    if path.is_file():
        pub = read_public_key(path)
        return pub.fingerprint, (name or pub.name), f"file {path.name}"
    fp = normalize_fingerprint(arg)
    if not name:
        raise UsageError("give the key's owner a name with --name",
                         hint='e.g. mirrorkit trust add "3F2A 91C0 ..." --name "Org name"')
    return fp, name, "fingerprint typed in"
