"""Fountain-coded transfers: a file as RaptorQ packets, one per QR code, each with a small header.

What RaptorQ codes is not the bare file but an *object*: a short manifest (format byte, file
name, the file's full SHA-256) followed by the file. Every frame then needs only a short id, and any
set of frames that rebuilds the object also brings the SHA-256 to check it against; no frame is
special.

Frame text (QR alphanumeric mode): ``MK:`` + Base45 of these big-endian bytes:

    version u8 (=1) | transfer id 8 bytes (SHA-256 of the file, first 8 bytes)
    | object length u32 | symbol size u16 | RaptorQ packet (SBN u8, ESI u24, symbol) | CRC-32 u32

The CRC-32 covers everything before it. It only catches damage (a misread or edited code); it is no
authentication: the SHA-256 in the object and the bundle signature carry trust.
"""

from __future__ import annotations

import hashlib
import math
import struct
import zlib
from dataclasses import dataclass, field
from typing import Iterable

import raptorq

from mirrorkit.errors import QRError
from mirrorkit.qr import base45

PREFIX = "MK:"
FRAME_VERSION = 1
OBJECT_VERSION = 1
_HEAD = struct.Struct(">B8sIH")  # version, transfer id, object length, symbol size
HEADER_BYTES = _HEAD.size + 4 + 4  # + RaptorQ payload id + CRC-32
MAX_FRAMES = 20_000  # beyond this a USB stick or the network is the sane channel
MAX_OBJECT = 32 * 1024 * 1024
_ALIGN = 8  # RaptorQ symbol alignment used by raptorq's with_defaults


@dataclass(frozen=True)
class Frame:
    """One parsed, CRC-checked frame."""

    transfer_id: bytes
    object_length: int
    symbol_size: int
    packet: bytes

    @property
    def key(self) -> tuple[bytes, int, int]:
        """Frames can be combined only when all three agree."""
        return (self.transfer_id, self.object_length, self.symbol_size)

    @property
    def packet_id(self) -> bytes:
        """RaptorQ SBN + ESI: two frames with the same id carry the same symbol."""
        return self.packet[:4]

    def text(self) -> str:
        """The QR text for this frame (never raises)."""
        return frame_text(self.transfer_id, self.object_length, self.symbol_size, self.packet)


@dataclass
class Manifest:
    """What travels in front of the file inside the coded object."""

    name: str
    sha256: bytes
    size: int


@dataclass
class Encoded:
    """A file cut into QR frame texts, plus what a sheet needs to describe it."""

    name: str
    size: int
    sha256: str
    transfer_id: str
    symbol_size: int
    needed: int
    frames: list[str] = field(default_factory=list)


def frame_text(tid: bytes, obj_len: int, symbol_size: int, packet: bytes) -> str:
    """Serialize one frame to its QR text (never raises)."""
    body = _HEAD.pack(FRAME_VERSION, tid, obj_len, symbol_size) + packet
    return PREFIX + base45.encode(body + struct.pack(">I", zlib.crc32(body)))


def parse_frame(text: str) -> Frame:
    """Parse and CRC-check one QR text; raises `QRError` saying what is wrong with it."""
    if not text.startswith(PREFIX):
        raise QRError("not a mirrorkit transfer code")
    raw = base45.decode(text[len(PREFIX) :])
    if len(raw) < HEADER_BYTES + 1:
        raise QRError("transfer code too short")
    body, crc = raw[:-4], struct.unpack(">I", raw[-4:])[0]
    if zlib.crc32(body) != crc:
        raise QRError("transfer code damaged (CRC-32 mismatch)")
    version, tid, obj_len, symbol_size = _HEAD.unpack_from(body)
    if version != FRAME_VERSION:
        raise QRError(f"transfer code format {version} is newer than this mirrorkit understands")
    packet = body[_HEAD.size :]
    if len(packet) != 4 + symbol_size or symbol_size % _ALIGN or not 0 < obj_len <= MAX_OBJECT:
        raise QRError("transfer code has an inconsistent header")
    return Frame(tid, obj_len, symbol_size, packet)


def symbols_needed(obj_len: int, symbol_size: int) -> int:
    """K: how many distinct packets rebuild an object of `obj_len` bytes (never raises)."""
    return math.ceil(obj_len / symbol_size)


def max_symbol_size(capacity_chars: int) -> int:
    """Largest RaptorQ symbol whose frame fits `capacity_chars`; raises `QRError` if none does."""
    room = capacity_chars - len(PREFIX)
    raw = (room // 3) * 2 + (1 if room % 3 == 2 else 0)
    size = (raw - HEADER_BYTES) // _ALIGN * _ALIGN
    if size < _ALIGN * 4:
        raise QRError(
            f"a QR code of {capacity_chars} characters is too small for transfer frames",
            hint="choose a larger --version or a lower --ecc level",
        )
    return size


def pack_object(name: str, data: bytes) -> tuple[bytes, bytes]:
    """Build the coded object for `data`; returns (object, sha256 digest). Never raises."""
    digest = hashlib.sha256(data).digest()
    raw_name = name.encode("utf-8")[:255]
    while raw_name:  # never cut a UTF-8 sequence in half
        try:
            raw_name.decode("utf-8")
            break
        except UnicodeDecodeError:
            raw_name = raw_name[:-1]
    return bytes([OBJECT_VERSION, len(raw_name)]) + raw_name + digest + data, digest


def unpack_object(obj: bytes) -> tuple[Manifest, bytes]:
    """Split a rebuilt object and check the file's SHA-256; raises `QRError` on any mismatch."""
    if len(obj) < 34 or obj[0] != OBJECT_VERSION:
        raise QRError("the rebuilt data is not a mirrorkit transfer object")
    n = obj[1]
    name = obj[2 : 2 + n].decode("utf-8", "replace")
    digest = obj[2 + n : 34 + n]
    data = obj[34 + n :]
    if hashlib.sha256(data).digest() != digest:
        raise QRError(
            "the rebuilt file does not match its SHA-256: a code was damaged or forged",
            hint="rescan the codes from a clean copy; nothing was written",
        )
    return Manifest(name=name, sha256=digest, size=len(data)), data


def encode_bytes(data: bytes, name: str, symbol_size: int, extra_percent: float) -> Encoded:
    """Cut `data` into frame texts plus `extra_percent` repair frames; raises QRError if too big."""
    obj, digest = pack_object(name, data)
    k = symbols_needed(len(obj), symbol_size)
    repair = math.ceil(k * extra_percent / 100.0)
    if len(obj) > MAX_OBJECT or k + repair > MAX_FRAMES:
        raise QRError(
            f"{name} ({len(data):,} bytes) would need {k + repair:,} QR codes",
            hint="QR suits keys and small text editions (`mirrorkit bundle --lite`); "
            "carry larger files on USB",
        )
    encoder = raptorq.Encoder.with_defaults(obj, symbol_size)
    packets = encoder.get_encoded_packets(repair)
    tid = digest[:8]
    return Encoded(
        name=name,
        size=len(data),
        sha256=digest.hex(),
        transfer_id=tid.hex(),
        symbol_size=symbol_size,
        needed=k,
        frames=[frame_text(tid, len(obj), symbol_size, p) for p in packets],
    )


def _valid_blocks(obj_len: int, symbol_size: int) -> int:
    # raptorq panics (an uncatchable-by-Exception PanicException) on a packet naming a source
    # block that does not exist, so learn the block count from an encoder of the same shape.
    packets = raptorq.Encoder.with_defaults(bytes(obj_len), symbol_size).get_encoded_packets(0)
    return max(p[0] for p in packets) + 1


class Collector:
    """Accumulates frames from any source, in any order, for any number of transfers."""

    def __init__(self) -> None:
        self._groups: dict[tuple[bytes, int, int], dict[bytes, bytes]] = {}

    def add(self, frame: Frame) -> bool:
        """Keep `frame`; returns False when it was a duplicate (never raises)."""
        group = self._groups.setdefault(frame.key, {})
        if frame.packet_id in group:
            return False
        group[frame.packet_id] = frame.packet
        return True

    def transfers(self) -> list[tuple[bytes, int, int, int]]:
        """(transfer id, object length, symbol size, distinct frames), largest first."""
        rows = [(k[0], k[1], k[2], len(v)) for k, v in self._groups.items()]
        return sorted(rows, key=lambda r: -r[3])

    def frames_of(self, key: tuple[bytes, int, int]) -> Iterable[bytes]:
        """The distinct packets of one transfer (never raises)."""
        return self._groups.get(key, {}).values()

    def texts(self, key: tuple[bytes, int, int]) -> list[str]:
        """Frame texts of one transfer, for a resumable partial-state file (never raises)."""
        return [frame_text(key[0], key[1], key[2], p) for p in self.frames_of(key)]

    def try_decode(self, key: tuple[bytes, int, int]) -> bytes | None:
        """The rebuilt object of one transfer, or None when more frames are needed (no raise)."""
        _tid, obj_len, symbol_size = key
        packets = list(self.frames_of(key))
        if len(packets) < symbols_needed(obj_len, symbol_size):
            return None
        blocks = _valid_blocks(obj_len, symbol_size)
        decoder = raptorq.Decoder.with_defaults(obj_len, symbol_size)
        for packet in packets:
            if packet[0] >= blocks:
                continue
            result = decoder.decode(packet)
            if result is not None:
                return bytes(result)
        return None
