"""A small bencode reader (BEP 3), pure Python, for checks that must work without libtorrent.

`mirrorkit kit` uses it to check that a `.torrent` beside a bundle describes exactly that file
(its SHA-1 piece hashes), so a stale torrent from an older edition never goes on a stick, and
the kit builder needs no libtorrent. Only what a torrent holds: ints, byte strings, lists, dicts.
"""

from __future__ import annotations

from typing import Any, Tuple

_MAX_DEPTH = 64


class BencodeError(ValueError):
    """The data is not well-formed bencode."""


def bdecode(data: bytes) -> Any:
    """Decode one bencoded value that spans all of `data`; raises `BencodeError`.

    >>> bdecode(b"d4:infod6:lengthi3e4:name1:xee")
    {b'info': {b'length': 3, b'name': b'x'}}
    """
    value, end = _decode(data, 0, 0)
    if end != len(data):
        raise BencodeError(f"trailing data after byte {end}")
    return value


def info_span(data: bytes) -> Tuple[int, int]:
    """(start, end) of the raw `info` dictionary inside a torrent file: the bytes its info hashes
    are computed over. Raises `BencodeError` when there is none."""
    if data[:1] != b"d":
        raise BencodeError("a torrent file is a bencoded dictionary")
    pos = 1
    while data[pos:pos + 1] != b"e":
        key, pos = _decode(data, pos, 1)
        start = pos
        _, pos = _decode(data, pos, 1)
        if key == b"info":
            return start, pos
    raise BencodeError("the torrent has no info dictionary")


def _decode(data: bytes, pos: int, depth: int) -> Tuple[Any, int]:
    if depth > _MAX_DEPTH:
        raise BencodeError("nested too deeply")
    head = data[pos:pos + 1]
    if head == b"i":
        end = data.find(b"e", pos)
        if end < 0:
            raise BencodeError("unterminated integer")
        try:
            return int(data[pos + 1:end]), end + 1
        except ValueError:
            raise BencodeError(f"bad integer at byte {pos}") from None
    if head in (b"l", b"d"):
        items = []
        pos += 1
        while data[pos:pos + 1] != b"e":
            if pos >= len(data):
                raise BencodeError("unterminated list or dictionary")
            item, pos = _decode(data, pos, depth + 1)
            items.append(item)
        if head == b"l":
            return items, pos + 1
        if len(items) % 2 or not all(isinstance(k, bytes) for k in items[::2]):
            raise BencodeError("a dictionary with a missing value or a non-string key")
        return dict(zip(items[::2], items[1::2])), pos + 1
    if head.isdigit():
        colon = data.find(b":", pos)
        if colon < 0 or not data[pos:colon].isdigit():
            raise BencodeError(f"bad string length at byte {pos}")
        end = colon + 1 + int(data[pos:colon])
        if end > len(data):
            raise BencodeError("string runs past the end")
        return data[colon + 1:end], end
    raise BencodeError(f"unexpected byte {head!r} at {pos}")
