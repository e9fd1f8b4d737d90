"""READER.html: the single-file, no-install reader and verifier, and its single-file editions.

`READER.html` is built from `reader/` (JavaScript, esbuild, pinned lockfile) and ships in this
package, so writing it needs no Node. A *single-file edition* is that exact file with one bundle
embedded as base64 in a `<script type="application/octet-stream">` at the marker, so the reader
part of an edition can be cut out again and compared with the genuine build: `check_reader`.
A reader file brings its own verifier, so its origin matters; its SHA-256 is what people compare.
May import: verify, trust, formats, errors (a stage's helper: kit and qr use it).
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from mirrorkit.errors import MirrorkitError, UsageError

READER_PATH = Path(__file__).with_name("READER.html")
MARKER = b"<!--MIRRORKIT-BUNDLE-->"
# A single-file edition is for a phone or a messenger: beyond this, use a lite edition.
MAX_EMBED_BYTES = 200 * 1024 * 1024
MAX_CHECK_BYTES = 2 * MAX_EMBED_BYTES
_EMBED_RE = re.compile(
    rb'<script type="application/octet-stream" id="mirrorkit-bundle" data-name="([^"<>]*)">\n'
    rb"([A-Za-z0-9+/=\n]*)</script>")

PathLike = Union[str, "os.PathLike[str]"]


def reader_bytes() -> bytes:
    """The genuine READER.html of this mirrorkit version; MirrorkitError if it is missing."""
    try:
        return READER_PATH.read_bytes()
    except OSError as err:
        raise MirrorkitError(f"READER.html is missing from this installation ({err.strerror})",
                             hint="Reinstall mirrorkit, or build it: cd reader && npm ci && "
                                  "npm run build") from None


def reader_sha256() -> str:
    """SHA-256 (hex) of the genuine READER.html: the figure trust cards and guides print."""
    return hashlib.sha256(reader_bytes()).hexdigest()


def _write_atomic(out: Path, chunks: list[bytes]) -> Path:
    if not out.parent.is_dir():
        raise UsageError(f"output folder {out.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        os.replace(tmp, out)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise MirrorkitError(f"cannot write {out}: {err.strerror or err}") from None
    return out


def write_reader(out: PathLike) -> Path:
    """Write READER.html to `out`; raises UsageError or MirrorkitError (disk)."""
    return _write_atomic(Path(out), [reader_bytes()])


def write_single_file(bundle: PathLike, out: PathLike, *, verify: bool = True) -> Path:
    """Write the reader with `bundle` embedded to `out`.

    The bundle is verified first (`verify_bundle`, nothing remembered): a failing bundle raises
    `VerificationFailed` and nothing is written. Raises UsageError for a missing or too large
    bundle (hint: `bundle --lite`).
    """
    src = Path(bundle)
    if not src.is_file():
        raise UsageError(f"bundle {src} does not exist")
    size = src.stat().st_size
    if size > MAX_EMBED_BYTES:
        raise UsageError(f"{src.name} is {size // (1024 * 1024)} MB: too large to embed in one "
                         "HTML file", hint="Make a lite edition first: mirrorkit bundle --lite "
                                           "--max-size 20M ..., or give the recipient "
                                           "READER.html and the .wacz side by side.")
    if verify:
        from mirrorkit.verify import verify_bundle

        verify_bundle(src, remember=False)
    reader = reader_bytes()
    if reader.count(MARKER) != 1:
        raise MirrorkitError("READER.html has no bundle marker: not a genuine build")
    name = html.escape(src.name, quote=True).encode("utf-8")
    data = base64.encodebytes(src.read_bytes())
    head, tail = reader.split(MARKER)
    opening = (b'<script type="application/octet-stream" id="mirrorkit-bundle" data-name="'
               + name + b'">\n')
    return _write_atomic(Path(out), [head, opening, data, b"</script>", tail])


@dataclass
class ReaderCheck:
    """What `check_reader` found: whether the reader part is this version's genuine build."""

    path: str
    genuine: bool
    sha256: str            # of the file as it is
    reader_sha256: str     # of its reader part (the embedded bundle cut out)
    expected_sha256: str   # of the genuine build
    edition: str           # "reader" or "single-file"
    bundle_name: Optional[str] = None

    def to_json(self) -> dict:
        """A JSON-ready dict."""
        return dict(self.__dict__)


def check_reader(path: PathLike) -> ReaderCheck:
    """Say whether `path` is a genuine READER.html of this version, or a single-file edition
    whose reader part is; raises UsageError when the file cannot be read.

    Only the reader is checked: the embedded bundle is verified by the reader when it opens.
    """
    p = Path(path)
    try:
        if p.stat().st_size > MAX_CHECK_BYTES:
            raise UsageError(f"{p} is too large to be a reader file")
        data = p.read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read {p}: {err.strerror or err}") from None
    expected = reader_sha256()
    edition, name = "reader", None
    reader_part = data
    matches = list(_EMBED_RE.finditer(data))
    if len(matches) == 1:
        m = matches[0]
        edition = "single-file"
        name = html.unescape(m.group(1).decode("utf-8", "replace"))
        reader_part = data[:m.start()] + MARKER + data[m.end():]
    part_sha = hashlib.sha256(reader_part).hexdigest()
    return ReaderCheck(path=str(p), genuine=part_sha == expected,
                       sha256=hashlib.sha256(data).hexdigest(), reader_sha256=part_sha,
                       expected_sha256=expected, edition=edition, bundle_name=name)
