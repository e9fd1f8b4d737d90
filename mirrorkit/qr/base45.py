"""Base45 (RFC 9285): bytes as text in the QR alphanumeric character set.

Written here rather than taken from PyPI: the `base45` package has had no release since 2022 and
`b45` is new with few users, while the algorithm is twenty lines that the RFC's own examples pin
down (they are the doctests below and in `tests/test_qr_base45.py`).

>>> encode(b"AB")
'BB8'
>>> encode(b"Hello!!")
'%69 VD92EX0'
>>> encode(b"base-45")
'UJCLQE7W581'
>>> decode("QED8WEX0")
b'ietf!'
"""

from __future__ import annotations

from mirrorkit.errors import QRError

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUES = {c: i for i, c in enumerate(ALPHABET)}


def encode(data: bytes) -> str:
    """Encode `data` as Base45 text (never raises).

    >>> encode(b"")
    ''
    >>> encode(b"\\xff\\xff")
    'FGW'
    """
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        e, n = divmod(n, 45 * 45)
        d, c = divmod(n, 45)
        out.append(ALPHABET[c] + ALPHABET[d] + ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out.append(ALPHABET[c] + ALPHABET[d])
    return "".join(out)


def encoded_length(n: int) -> int:
    """Number of Base45 characters for `n` bytes (never raises).

    >>> encoded_length(7)
    11
    """
    return 3 * (n // 2) + 2 * (n % 2)


def decode(text: str) -> bytes:
    """Decode Base45 `text`; raises `QRError` for characters outside the alphabet or bad lengths.

    >>> decode("BB8")
    b'AB'
    >>> decode("GGW")
    Traceback (most recent call last):
    ...
    mirrorkit.errors.QRError: not Base45: the triplet 'GGW' is larger than two bytes
    """
    if len(text) % 3 == 1:
        raise QRError(f"not Base45: a length of {len(text)} characters is impossible")
    try:
        values = [_VALUES[c] for c in text]
    except KeyError as err:
        raise QRError(f"not Base45: character {err.args[0]!r} is outside the alphabet") from None
    out = bytearray()
    for i in range(0, len(values), 3):
        chunk = values[i : i + 3]
        if len(chunk) == 3:
            n = chunk[0] + chunk[1] * 45 + chunk[2] * 45 * 45
            if n > 0xFFFF:
                raise QRError(f"not Base45: the triplet {text[i:i + 3]!r} is larger than two bytes")
            out += n.to_bytes(2, "big")
        else:
            n = chunk[0] + chunk[1] * 45
            if n > 0xFF:
                raise QRError(f"not Base45: the pair {text[i:i + 2]!r} is larger than one byte")
            out.append(n)
    return bytes(out)
