"""Keys (ECDSA P-384), fingerprints, public key files, and WACZ `signedData` signing and checking.

Signatures are made exactly as ArchiveWeb.page makes its anonymous WACZ signatures, so that
ReplayWeb.page shows our key: SHA-256 over the UTF-8 text `sha256:<hex>`, raw 96-byte r||s in
base64, SPKI DER public key in base64. Python 3.9-safe and shipped in kits: `cryptography` is
imported lazily, and verification falls back to the pure-Python `ecdsa` package without it
(set `MIRRORKIT_CRYPTO=ecdsa` to force the fallback).
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from mirrorkit import __version__
from mirrorkit.errors import KeyFileError, SignatureError, UsageError
from mirrorkit.formats import safejson

PathLike = Union[str, "os.PathLike[str]"]
PUBLIC_KEY_FORMAT = "mirrorkit-public-key-1"
SOFTWARE = f"mirrorkit {__version__}"
_NAME_HEADER = "mirrorkit-key-name: "
_P384_SIG_LEN = 96
_HASH_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


class KeyPermissionError(KeyFileError):
    """A private key file can be read by other users of this machine."""


def _use_cryptography() -> bool:
    """True when the `cryptography` package is importable and not switched off for tests."""
    if os.environ.get("MIRRORKIT_CRYPTO", "").lower() == "ecdsa":
        return False
    try:
        import cryptography.hazmat.primitives.asymmetric.ec  # noqa: F401
    except ImportError:
        return False
    return True


def backend_name() -> str:
    """Which library checks signatures here: "cryptography" or "ecdsa"."""
    return "cryptography" if _use_cryptography() else "ecdsa"


# --- fingerprints -------------------------------------------------------------------------------

def fingerprint(spki_der: bytes) -> str:
    """SHA-256 of a DER SubjectPublicKeyInfo as 16 groups of 4 uppercase hex digits; never raises.

    >>> fingerprint(b"x")[:19]
    '2D71 1642 B726 B044'
    """
    digest = hashlib.sha256(spki_der).hexdigest().upper()
    return " ".join(digest[i:i + 4] for i in range(0, 64, 4))


def normalize_fingerprint(text: str) -> str:
    """Canonical form of a fingerprint typed with any spacing, case or colons; raises UsageError.

    >>> normalize_fingerprint("2d71:1642" + "0" * 56)[:14]
    '2D71 1642 0000'
    """
    compact = re.sub(r"[\s:\-]", "", str(text)).upper()
    if not re.fullmatch(r"[0-9A-F]{64}", compact):
        raise UsageError(
            f"not a key fingerprint: {text!r}",
            hint="a fingerprint is 64 hex digits, usually shown as 16 groups of 4",
        )
    return " ".join(compact[i:i + 4] for i in range(0, 64, 4))


# --- signing keys -------------------------------------------------------------------------------

class SigningKey:
    """A named ECDSA P-384 private key that signs WACZ datapackages."""

    def __init__(self, private_key: Any, name: str) -> None:
        self._key = private_key
        self.name = name
        from cryptography.hazmat.primitives import serialization

        self.public_key_der: bytes = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.fingerprint = fingerprint(self.public_key_der)

    def __repr__(self) -> str:  # never show key material
        return f"SigningKey(name={self.name!r}, fingerprint={self.fingerprint!r})"

    def sign_message(self, message: bytes) -> bytes:
        """Sign `message` with ECDSA P-384/SHA-256; the raw 96-byte r||s. Never raises."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        r, s = decode_dss_signature(self._key.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(48, "big") + s.to_bytes(48, "big")

    def sign_datapackage(self, datapackage_bytes: bytes, created: str) -> Dict[str, str]:
        """`signedData` for these exact datapackage.json bytes, as ArchiveWeb.page writes it."""
        digest = "sha256:" + hashlib.sha256(datapackage_bytes).hexdigest()
        signature = self.sign_message(digest.encode("utf-8"))
        return {
            "hash": digest,
            "created": created,
            "software": SOFTWARE,
            "signature": base64.b64encode(signature).decode("ascii"),
            "publicKey": base64.b64encode(self.public_key_der).decode("ascii"),
        }

    def public_key_record(self) -> Dict[str, str]:
        """The shareable public key file content (format `mirrorkit-public-key-1`)."""
        return {
            "format": PUBLIC_KEY_FORMAT,
            "name": self.name,
            "fingerprint": self.fingerprint,
            "publicKey": base64.b64encode(self.public_key_der).decode("ascii"),
        }


def _need_cryptography(action: str) -> None:
    if not _use_cryptography():
        raise KeyFileError(
            f"{action} needs the 'cryptography' package, which is not installed here",
            hint="install it with: pip install cryptography (verifying works without it)",
        )


def generate_key(name: str) -> SigningKey:
    """A new P-384 signing key called `name`; raises UsageError for an empty name."""
    name = (name or "").strip()
    if not name or len(name) > 200 or any(ord(c) < 32 for c in name):
        raise UsageError("a key needs a name: one line of at most 200 characters")
    _need_cryptography("Generating a key")
    from cryptography.hazmat.primitives.asymmetric import ec

    return SigningKey(ec.generate_private_key(ec.SECP384R1()), name)


def _write_new_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to a new file atomically: mode `mode` from creation, never overwriting."""
    path = Path(path)
    if path.exists():
        raise KeyFileError(f"{path} already exists; refusing to overwrite it",
                           hint="choose another path with --out, or move the old file away")
    if not path.parent.is_dir():
        raise KeyFileError(f"folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     mode)
    except OSError as err:
        raise KeyFileError(f"cannot create {path}: {err.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            # link() fails if the target exists, so a race can never overwrite another key.
            os.link(str(tmp), str(path))
        except FileExistsError:
            raise KeyFileError(f"{path} already exists; refusing to overwrite it") from None
        except OSError:
            # Filesystems without hard links (FAT on USB sticks): checked above, then rename.
            if path.exists():
                raise KeyFileError(f"{path} already exists; refusing to overwrite it") from None
            os.replace(str(tmp), str(path))
    finally:
        if tmp.exists():
            tmp.unlink()


def save_private_key(key: SigningKey, path: PathLike, passphrase: Optional[str]) -> Path:
    """Write `key` as PKCS#8 PEM (encrypted unless passphrase is None), mode 0600, never
    overwriting; raises KeyFileError."""
    from cryptography.hazmat.primitives import serialization

    if passphrase is not None and not passphrase:
        raise KeyFileError("the passphrase is empty",
                           hint="type a passphrase, or use --no-passphrase to store it unencrypted")
    if passphrase is None:
        encryption: Any = serialization.NoEncryption()
    else:
        # cryptography's best PKCS#8 scheme: PBES2 (PBKDF2-SHA256, AES-256-CBC).
        encryption = serialization.BestAvailableEncryption(passphrase.encode("utf-8"))
    pem = key._key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    header = (_NAME_HEADER + json.dumps(key.name, ensure_ascii=False) + "\n").encode("utf-8")
    path = Path(path)
    _write_new_file(path, header + pem)
    return path


def _read_key_file(path: Path) -> Tuple[str, bytes]:
    """(name, PEM block) of a key file; raises KeyFileError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"no key file at {path}",
                           hint="create one with: mirrorkit key generate --name NAME") from None
    except OSError as err:
        raise KeyFileError(f"cannot read key file {path}: {err.strerror}") from None
    if len(raw) > 64 * 1024:
        raise KeyFileError(f"{path} is not a mirrorkit key file (too large)")
    text = raw.decode("utf-8", errors="replace")
    name = path.stem
    for line in text.splitlines():
        if line.startswith(_NAME_HEADER):
            try:
                value = safejson.loads(line[len(_NAME_HEADER):], f"{path}'s name line",
                                       error=KeyFileError)
            except KeyFileError:
                value = None
            if isinstance(value, str) and value.strip():
                name = value
    start = text.find("-----BEGIN ")
    if start < 0 or "PRIVATE KEY-----" not in text[start:start + 60]:
        raise KeyFileError(f"{path} is not a private key file (no PEM private key inside)")
    return name, text[start:].encode("ascii", errors="replace")


def load_private_key(path: PathLike, passphrase: Optional[str], *,
                     allow_insecure: bool = False) -> SigningKey:
    """Load a key file; raises KeyFileError (wrong or missing passphrase, wrong curve, not a key)
    and KeyPermissionError (a KeyFileError) if others can read it, unless allow_insecure."""
    path = Path(path)
    name, pem = _read_key_file(path)
    if os.name == "posix" and not allow_insecure:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyPermissionError(
                f"key file {path} can be read by other users (mode {stat.S_IMODE(mode):o})",
                hint=f"restrict it with: chmod 600 {path}",
            )
    _need_cryptography("Signing")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    encrypted = b"ENCRYPTED" in pem.split(b"\n", 1)[0]
    if encrypted and passphrase is None:
        raise KeyFileError(f"key file {path} is encrypted: its passphrase is needed",
                           hint="type it when asked, or set MIRRORKIT_PASSPHRASE")
    password = passphrase.encode("utf-8") if encrypted and passphrase is not None else None
    try:
        private_key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as err:
        if encrypted:
            raise KeyFileError(f"wrong passphrase for key file {path}") from None
        raise KeyFileError(f"{path} is not a readable private key ({err})") from None
    except Exception as err:  # cryptography raises UnsupportedAlgorithm and Rust errors too
        raise KeyFileError(f"{path} is not a readable private key ({err})") from None
    if not isinstance(private_key, ec.EllipticCurvePrivateKey):
        raise KeyFileError(f"{path} is not an ECDSA key; mirrorkit signs with ECDSA P-384")
    if not isinstance(private_key.curve, ec.SECP384R1):
        raise KeyFileError(f"{path} uses curve {private_key.curve.name}; mirrorkit needs P-384",
                           hint="make a new key with: mirrorkit key generate --name NAME")
    return SigningKey(private_key, name)


# --- public key files ---------------------------------------------------------------------------

@dataclass
class PublicKey:
    """A named public key as shared in a `.pub` file."""

    name: str
    public_key_der: bytes
    fingerprint: str


def write_public_key(key: Union[SigningKey, PublicKey], path: PathLike) -> Path:
    """Write the shareable `.pub` JSON for `key` (never overwrites); raises KeyFileError."""
    record = {
        "format": PUBLIC_KEY_FORMAT,
        "name": key.name,
        "fingerprint": key.fingerprint,
        "publicKey": base64.b64encode(key.public_key_der).decode("ascii"),
    }
    data = (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    path = Path(path)
    _write_new_file(path, data, mode=0o644)
    return path


def parse_public_key(data: bytes, source: str = "public key") -> PublicKey:
    """Parse `.pub` JSON bytes and check the fingerprint matches the key; raises KeyFileError."""
    try:
        record = safejson.loads(data, source, max_bytes=64 * 1024, error=KeyFileError)
    except KeyFileError:
        raise KeyFileError(f"{source} is not a mirrorkit public key file (not JSON)") from None
    if not isinstance(record, dict) or record.get("format") != PUBLIC_KEY_FORMAT:
        raise KeyFileError(f"{source} is not a mirrorkit public key file ({PUBLIC_KEY_FORMAT})")
    name, b64 = record.get("name"), record.get("publicKey")
    if not isinstance(name, str) or not isinstance(b64, str):
        raise KeyFileError(f"{source} lacks a name or a publicKey")
    try:
        der = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"{source}: publicKey is not base64") from None
    _load_public_key(der, KeyFileError, "P-384")
    actual = fingerprint(der)
    claimed = record.get("fingerprint")
    if claimed is not None:
        try:
            claimed = normalize_fingerprint(str(claimed))
        except UsageError:
            claimed = "invalid"
        if claimed != actual:
            raise KeyFileError(f"{source}: its fingerprint does not match its key; do not trust it")
    return PublicKey(name=name, public_key_der=der, fingerprint=actual)


def read_public_key(path: PathLike) -> PublicKey:
    """Read a `.pub` file; raises KeyFileError."""
    try:
        data = Path(path).read_bytes()[: 1024 * 1024]
    except OSError as err:
        raise KeyFileError(f"cannot read public key file {path}: {err.strerror}") from None
    return parse_public_key(data, str(path))


# --- verification -------------------------------------------------------------------------------

@dataclass
class SignerInfo:
    """Who signed a `signedData`, and the facts checked about it."""

    kind: str  # "anonymous" or "domain"
    fingerprint: str
    public_key_der: bytes
    created: str
    software: str = ""
    domain: Optional[str] = None
    certificate: Dict[str, Any] = field(default_factory=dict)
    timestamp: Dict[str, Any] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    backend: str = ""

    def to_json(self) -> Dict[str, Any]:
        """A JSON-ready dict (the public key in base64)."""
        return {
            "kind": self.kind, "fingerprint": self.fingerprint,
            "publicKey": base64.b64encode(self.public_key_der).decode("ascii"),
            "created": self.created, "software": self.software, "domain": self.domain,
            "certificate": self.certificate, "timestamp": self.timestamp, "notes": self.notes,
            "backend": self.backend,
        }


def _load_public_key(der: bytes, error: type, curve: str) -> Any:
    """A public key object for `der` on `curve` ("P-384"/"P-256"); raises `error`."""
    if _use_cryptography():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        try:
            key = serialization.load_der_public_key(der)
        except Exception:  # ValueError, UnsupportedAlgorithm, Rust parse errors
            raise error("the public key is not a valid DER SubjectPublicKeyInfo") from None
        want = ec.SECP384R1 if curve == "P-384" else ec.SECP256R1
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, want):
            raise error(f"the public key is not an ECDSA {curve} key")
        return key
    import ecdsa

    try:
        key = ecdsa.VerifyingKey.from_der(der)
    except Exception:  # UnexpectedDER, MalformedPointError, ValueError
        raise error("the public key is not a valid DER SubjectPublicKeyInfo") from None
    want_curve = ecdsa.NIST384p if curve == "P-384" else ecdsa.NIST256p
    if key.curve != want_curve:
        raise error(f"the public key is not an ECDSA {curve} key")
    return key


def check_signature(der_key: bytes, curve: str, message: bytes, signature: bytes,
                    raw: bool) -> None:
    """Check an ECDSA/SHA-256 signature (raw r||s or DER); raises SignatureError."""
    key = _load_public_key(der_key, SignatureError, curve)
    size = 48 if curve == "P-384" else 32
    if raw and len(signature) != 2 * size:
        raise SignatureError(f"the signature is {len(signature)} bytes, not {2 * size} (r||s)")
    if _use_cryptography():
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        if raw:
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            signature = encode_dss_signature(r, s)
        try:
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise SignatureError("the signature does not verify: the signed data was changed "
                                 "or signed by another key") from None
        except ValueError:
            raise SignatureError("the signature is malformed") from None
        return
    import ecdsa
    from ecdsa.util import sigdecode_der, sigdecode_string

    try:
        ok = key.verify(signature, message, hashfunc=hashlib.sha256,
                        sigdecode=sigdecode_string if raw else sigdecode_der)
    except ecdsa.BadSignatureError:
        ok = False
    except Exception:  # ecdsa.der.UnexpectedDER and friends for a malformed DER signature
        raise SignatureError("the signature is malformed") from None
    if not ok:
        raise SignatureError("the signature does not verify: the signed data was changed "
                             "or signed by another key")


def parse_time(text: Any) -> _dt.datetime:
    """An RFC 3339 timestamp (as WACZ writes it) as an aware datetime; raises SignatureError."""
    match = re.fullmatch(
        r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|z|[+-]\d\d:?\d\d)?",
        str(text).strip(),
    )
    if not match:
        raise SignatureError(f"not an RFC 3339 time: {str(text)[:40]!r}")
    y, mo, d, h, mi, s, frac, tz = match.groups()
    offset = _dt.timedelta(0)
    if tz and tz not in "Zz":
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        offset = sign * _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    try:
        micro = int((frac or "0").ljust(6, "0")[:6])
        value = _dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro,
                             tzinfo=_dt.timezone(offset))
    except ValueError as err:
        raise SignatureError(f"not a valid time: {text!r} ({err})") from None
    return value.astimezone(_dt.timezone.utc)


__all__ = [
    "KeyPermissionError", "PublicKey", "SignerInfo", "SigningKey",
    "backend_name", "check_signature", "fingerprint", "generate_key", "load_private_key",
    "normalize_fingerprint", "parse_public_key", "parse_time", "read_public_key",
    "save_private_key", "write_public_key",
]
