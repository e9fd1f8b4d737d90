"""A tiny, bounded DER (ASN.1) reader: just enough to walk certificates and RFC 3161 time stamps.

It only parses; no cryptography happens here. Every malformed input raises `DerError`, never an
IndexError, so callers can turn it into a clean verification failure. Python 3.9-safe.
"""

from __future__ import annotations

import datetime as _dt
from typing import List, Tuple

from mirrorkit.errors import SignatureError

SEQUENCE = 0x30
SET = 0x31
INTEGER = 0x02
OCTET_STRING = 0x04
OID = 0x06
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18
BIT_STRING = 0x03


class DerError(SignatureError):
    """A DER structure inside a signature or certificate is malformed."""


def read_tlv(data: bytes, pos: int = 0) -> Tuple[int, bytes, int, int]:
    """Read one TLV at `pos`: (tag, value, start_of_tlv, end_of_tlv). Raises DerError."""
    start = pos
    if pos + 2 > len(data):
        raise DerError("DER data is truncated")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DerError("DER high tag numbers are not supported")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise DerError("DER length is malformed")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise DerError("DER value runs past the end of its data")
    return tag, data[pos:end], start, end


def children(value: bytes) -> List[Tuple[int, bytes, bytes]]:
    """Split a constructed value into its children as (tag, value, whole_tlv). Raises DerError."""
    out = []
    pos = 0
    while pos < len(value):
        tag, inner, start, end = read_tlv(value, pos)
        out.append((tag, inner, value[start:end]))
        pos = end
        if len(out) > 10000:
            raise DerError("DER structure has too many elements")
    return out


def expect(value: bytes, tag: int) -> bytes:
    """Parse `value` as exactly one TLV with `tag` and return its content. Raises DerError."""
    got, inner, _, end = read_tlv(value, 0)
    if got != tag or end != len(value):
        raise DerError(f"unexpected DER element (tag 0x{got:02x}, wanted 0x{tag:02x})")
    return inner


def decode_oid(value: bytes) -> str:
    """Dotted text of an OBJECT IDENTIFIER's content bytes. Raises DerError."""
    if not value:
        raise DerError("empty DER object identifier")
    first = value[0]
    parts = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    acc = 0
    for byte in value[1:]:
        acc = (acc << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(acc)
            acc = 0
    return ".".join(str(p) for p in parts)


def decode_time(tag: int, value: bytes) -> _dt.datetime:
    """A UTCTime or GeneralizedTime as an aware UTC datetime. Raises DerError."""
    try:
        text = value.decode("ascii")
        if not text.endswith("Z"):
            raise ValueError(text)
        text = text[:-1].split(".")[0]
        if tag == UTC_TIME:
            year = int(text[:2])
            text = ("19" if year >= 50 else "20") + text
        elif tag != GENERALIZED_TIME:
            raise ValueError(text)
        if len(text) == 12:
            text += "00"
        return _dt.datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=_dt.timezone.utc)
    except ValueError as err:
        raise DerError(f"DER time value is malformed: {err}") from None


def cert_parts(cert_der: bytes) -> Tuple[_dt.datetime, _dt.datetime, bytes]:
    """(not_before, not_after, SPKI DER) of an X.509 certificate; raises DerError."""
    tbs = children(expect(cert_der, SEQUENCE))
    if not tbs or tbs[0][0] != SEQUENCE:
        raise DerError("certificate has no TBSCertificate")
    fields = children(tbs[0][1])
    if fields and fields[0][0] == 0xA0:  # explicit version
        fields = fields[1:]
    # serial, signature algorithm, issuer, validity, subject, subjectPublicKeyInfo
    if len(fields) < 6 or fields[3][0] != SEQUENCE or fields[5][0] != SEQUENCE:
        raise DerError("certificate structure is not X.509")
    validity = children(fields[3][1])
    if len(validity) != 2:
        raise DerError("certificate validity is malformed")
    not_before = decode_time(validity[0][0], validity[0][1])
    not_after = decode_time(validity[1][0], validity[1][1])
    return not_before, not_after, fields[5][2]
