"""The ZIP layer of verification: structure sanity before anything is inflated, and bounded,
hashed reads of members.

Every size is checked against what the central directory declares before a byte is inflated, so
a ZIP bomb or an oversized member costs nothing. Python 3.9-safe (stdlib only).
"""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Dict, List, Optional, Tuple, cast

from mirrorkit.errors import InvalidBundle

CHUNK = 1024 * 1024
# DEFLATE cannot expand more than ~1032:1; anything claiming more is a bomb or a lie.
_MAX_DEFLATE_RATIO = 1100
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_ALLOWED_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
DATAPACKAGE = "datapackage.json"
DIGEST = "datapackage-digest.json"
Progress = Optional[Callable[[int], None]]


class ZipProblem(InvalidBundle):
    """The bundle's ZIP structure is unsafe or damaged."""


@dataclass
class Member:
    """A checked ZIP member: where its bytes are and how they are stored."""

    name: str
    info: zipfile.ZipInfo
    data_start: int
    data_end: int

    @property
    def stored(self) -> bool:
        """True when the member is STORED (not compressed) in the ZIP."""
        return self.info.compress_type == zipfile.ZIP_STORED

    @property
    def size(self) -> int:
        """The member's declared (uncompressed) size."""
        return self.info.file_size


@dataclass
class BundleZip:
    """An opened bundle ZIP whose structure passed `open_bundle_zip`."""

    fh: IO[bytes]
    zf: zipfile.ZipFile
    members: Dict[str, Member] = field(default_factory=dict)
    directories: List[str] = field(default_factory=list)

    def close(self) -> None:
        """Close the ZIP and its file; never raises."""
        self.zf.close()
        self.fh.close()


def _bad_name(name: str) -> Optional[str]:
    """Why a member name is unsafe, or None."""
    if not name:
        return "an empty name"
    if "\x00" in name or any(ord(c) < 32 for c in name):
        return "control characters in its name"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if "\\" in name:
        return "a backslash in its name"
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        return "a '..' path component"
    if "." in parts or "" in parts:
        return "an empty or '.' path component"
    return None


def open_bundle_zip(path: str, *, max_members: int = 100_000) -> BundleZip:
    """Open a WACZ and check its structure without inflating anything; raises ZipProblem."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 (kept open in BundleZip, closed by close())
    except OSError as err:
        raise ZipProblem(f"cannot open {path}: {err.strerror}") from None
    return open_bundle_fileobj(fh, max_members=max_members)


def open_nested(bundle: BundleZip, member: Member) -> BundleZip:
    """A WACZ stored (STORED) inside another ZIP, opened in place like `open_bundle_zip`; raises
    ZipProblem. Closing it leaves the outer bundle open."""
    if not member.stored:
        raise ZipProblem(f"{member.name} is compressed inside the package; it must be STORED")
    window = FileWindow(bundle.fh, member.data_start, member.data_end)
    return open_bundle_fileobj(cast(IO[bytes], window))


class FileWindow(io.RawIOBase):
    """Bytes [start, end) of a seekable file, as a seekable file of their own; reads return at
    most `max_read` bytes when given (warcio inflates what one read returns in one go)."""

    def __init__(self, fh: IO[bytes], start: int, end: int,
                 max_read: Optional[int] = None) -> None:
        super().__init__()
        self._fh, self._start, self._end, self._pos = fh, start, end, start
        self._max_read = max_read

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def origin(self) -> Tuple[IO[bytes], int]:
        """The file this window is on, and where the window starts in it."""
        return self._fh, self._start

    def tell(self) -> int:
        return self._pos - self._start

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: self._start, 1: self._pos, 2: self._end}[whence]
        self._pos = min(max(self._start, base + offset), self._end)
        return self.tell()

    def readinto(self, buf: Any) -> int:
        want = min(len(buf), self._end - self._pos, self._max_read or len(buf))
        if want <= 0:
            return 0
        self._fh.seek(self._pos)
        data = self._fh.read(want)
        buf[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:  # the outer file belongs to the outer bundle
        super().close()


def open_bundle_fileobj(fh: IO[bytes], *, max_members: int = 100_000) -> BundleZip:
    """`open_bundle_zip` on an open, seekable file (closed on failure); raises ZipProblem."""
    try:
        try:
            zf = zipfile.ZipFile(fh)
        except Exception as err:  # a hostile ZIP can make zipfile raise many exception types
            raise ZipProblem(f"not a readable ZIP file (truncated or damaged: {err})") from None
        bundle = BundleZip(fh=fh, zf=zf)
        _check_members(bundle, max_members)
        return bundle
    except BaseException:
        fh.close()
        raise


def _check_members(bundle: BundleZip, max_members: int) -> None:
    bundle.members, bundle.directories = check_members(bundle.zf, bundle.fh, max_members)


def check_members(
    zf: zipfile.ZipFile, fh: IO[bytes], max_members: int = 100_000
) -> Tuple[Dict[str, Member], List[str]]:
    """Check every member's name, method, sizes and local header against the central directory,
    without inflating anything; return (members by name, directory entries). Raises ZipProblem.

    The one structural check of a bundle's ZIP: `verify` and `WaczReader` (replay) both use it.
    """
    infos = zf.infolist()
    if len(infos) > max_members:
        raise ZipProblem(f"the ZIP has {len(infos)} members; more than {max_members} is refused")
    start_dir = getattr(zf, "start_dir", None)
    seen = set()
    members: Dict[str, Member] = {}
    directories: List[str] = []
    fh.seek(0, 2)
    file_size = fh.tell()
    limit = start_dir if isinstance(start_dir, int) else file_size
    spans: List[Tuple[int, int, str]] = []
    for info in infos:
        name = info.filename
        why = _bad_name(name)
        if why:
            raise ZipProblem(f"unsafe member name {name!r}: it has {why}")
        if name in seen:
            raise ZipProblem(f"member {name!r} appears twice in the ZIP")
        seen.add(name)
        if info.flag_bits & 0x1:
            raise ZipProblem(f"member {name!r} is encrypted")
        if info.compress_type not in _ALLOWED_METHODS:
            raise ZipProblem(f"member {name!r} uses unsupported compression "
                             f"(method {info.compress_type})")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise ZipProblem(f"member {name!r} is stored but declares two different sizes")
        if (info.compress_type == zipfile.ZIP_DEFLATED
                and info.file_size > info.compress_size * _MAX_DEFLATE_RATIO + 1024):
            raise ZipProblem(f"member {name!r} claims to inflate {info.compress_size} bytes to "
                             f"{info.file_size}: a ZIP bomb or a damaged size")
        data_start = _local_header(fh, info, limit)
        data_end = data_start + info.compress_size
        if data_end > limit:
            raise ZipProblem(f"member {name!r} runs past the end of the ZIP data (truncated?)")
        spans.append((info.header_offset, data_end, name))
        if name.endswith("/"):
            if info.file_size:
                raise ZipProblem(f"directory entry {name!r} has content")
            directories.append(name)
        else:
            members[name] = Member(name, info, data_start, data_end)
    spans.sort()
    for (_, end, name), (start, _, nxt) in zip(spans, spans[1:]):
        if start < end:
            raise ZipProblem(f"members {name!r} and {nxt!r} overlap in the ZIP (a ZIP bomb "
                             f"trick, or damage)")
    return members, directories


def _local_header(fh: IO[bytes], info: zipfile.ZipInfo, limit: int) -> int:
    """Check a member's local header against the central directory; its data offset."""
    name = info.filename
    if info.header_offset < 0 or info.header_offset + _LOCAL_HEADER.size > limit:
        raise ZipProblem(f"member {name!r} points outside the ZIP")
    fh.seek(info.header_offset)
    raw = fh.read(_LOCAL_HEADER.size)
    if len(raw) != _LOCAL_HEADER.size:
        raise ZipProblem(f"member {name!r}: local header is truncated")
    (sig, _ver, flags, method, _t, _d, crc, csize, usize, name_len,
     extra_len) = _LOCAL_HEADER.unpack(raw)
    if sig != b"PK\x03\x04":
        raise ZipProblem(f"member {name!r}: no local header where the directory says")
    local_name = fh.read(name_len)
    encoding = "utf-8" if flags & 0x800 else "cp437"
    try:
        decoded = local_name.decode(encoding)
    except UnicodeDecodeError:
        decoded = None
    if decoded != info.orig_filename and local_name != info.orig_filename.encode("utf-8"):
        raise ZipProblem(f"member {name!r}: its local header names another file "
                         f"({local_name[:60]!r})")
    if method != info.compress_type:
        raise ZipProblem(f"member {name!r}: local header and directory disagree on compression")
    # Without a data descriptor (flag bit 3) the local header repeats CRC and sizes; ZIP64
    # members say 0xFFFFFFFF there and keep the real sizes in an extra field.
    if not flags & 0x08 and 0xFFFFFFFF not in (csize, usize) and (
            (crc, csize, usize) != (info.CRC, info.compress_size, info.file_size)):
        raise ZipProblem(f"member {name!r}: local header and directory disagree on its "
                         f"size or checksum")
    return info.header_offset + _LOCAL_HEADER.size + name_len + extra_len


def read_member(bundle: BundleZip, name: str, max_size: int) -> bytes:
    """A small member's bytes, refusing more than `max_size` or its declared size; raises
    ZipProblem."""
    member = bundle.members.get(name)
    if member is None:
        raise ZipProblem(f"the bundle has no {name}")
    if member.size > max_size:
        raise ZipProblem(f"{name} declares {member.size} bytes; more than {max_size} is refused")
    chunks = []
    for chunk in iter_member(bundle, member):
        chunks.append(chunk)
    return b"".join(chunks)


def iter_member(bundle: BundleZip, member: Member, progress: Progress = None):  # type: ignore[no-untyped-def]
    """Yield a member's bytes in chunks, never more than declared; raises ZipProblem."""
    if member.stored:
        # Straight from the file: no CRC pass needed, the caller hashes with SHA-256.
        fh = bundle.fh
        pos, end = member.data_start, member.data_end
        while pos < end:
            fh.seek(pos)
            chunk = fh.read(min(CHUNK * 4, end - pos))
            if not chunk:
                raise ZipProblem(f"{member.name} is truncated")
            pos += len(chunk)
            if progress:
                progress(len(chunk))
            yield chunk
        return
    total = 0
    try:
        with bundle.zf.open(member.info) as stream:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                total += len(chunk)
                if total > member.size:
                    raise ZipProblem(f"{member.name} inflates to more than its declared "
                                     f"{member.size} bytes")
                if progress:
                    progress(len(chunk))
                yield chunk
    except ZipProblem:
        raise
    except Exception as err:  # zlib.error, BadZipFile (CRC), EOFError from damaged data
        raise ZipProblem(f"{member.name} is damaged inside the ZIP ({err})") from None
    if total != member.size:
        raise ZipProblem(f"{member.name} is shorter than its declared {member.size} bytes")


def hash_member(bundle: BundleZip, member: Member, progress: Progress = None) -> str:
    """`sha256:<hex>` of a member's content; raises ZipProblem."""
    digest = hashlib.sha256()
    for chunk in iter_member(bundle, member, progress):
        digest.update(chunk)
    return "sha256:" + digest.hexdigest()
