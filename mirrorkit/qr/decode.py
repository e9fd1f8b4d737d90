"""Reading QR codes from images and photos with zxing-cpp, and rebuilding transfers from them."""

from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

import zxingcpp
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from mirrorkit.errors import QRError, UsageError
from mirrorkit.formats.outpath import check_new_file
from mirrorkit.formats.safetext import has_unsafe, neutral
from mirrorkit.qr import transfer

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
PARTIAL_SUFFIX = ".qr-partial"


def image_files(inputs: Iterable[Path]) -> list[Path]:
    """Images named or inside the folders named (sorted); raises `UsageError` for missing paths."""
    found: list[Path] = []
    for path in inputs:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"no such file or folder: {path}")
    return found


def _load(path: Path) -> Image.Image:
    try:
        with Image.open(path) as img:
            upright = ImageOps.exif_transpose(img)  # phone photos are often stored sideways
            return upright.convert("L")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
        raise QRError(f"{path} is not a readable image ({err})") from None


def read_texts(path: Path) -> list[str]:
    """Texts of every QR code in the image at `path`; raises `QRError` if it is no image."""
    img = _load(path)
    qr = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    codes = zxingcpp.read_barcodes(img, formats=qr)
    if not codes:
        # Noisy photos (JPEG, paper grain): smoothing plus the global binarizer rescue many.
        soft = img.filter(ImageFilter.GaussianBlur(1))
        codes = zxingcpp.read_barcodes(soft, formats=qr,
                                       binarizer=zxingcpp.Binarizer.GlobalHistogram)
    if not codes:
        # Out-of-focus photos: sharpening the module edges brings back blur up to about half a
        # module (measured: Gaussian sigma 2 at 4 px a module goes from 0 to 100% read).
        codes = zxingcpp.read_barcodes(img.filter(ImageFilter.UnsharpMask(4, 200, 2)), formats=qr)
    texts = []
    for code in codes:
        raw = bytes(code.bytes)
        texts.append(raw.decode("latin-1") if raw else code.text)
    return texts


@dataclass
class Rebuilt:
    """One transfer rebuilt and SHA-256-checked."""

    transfer_id: str
    name: str
    size: int
    sha256: str
    data: bytes
    path: Optional[Path] = None
    report: Any = None  # verify.Report when the file is a WACZ that verified
    error: Optional[str] = None  # why verification failed, when it did
    exit_code: int = 0


@dataclass
class DecodeResult:
    """Everything a decode run saw, for the summary and for `--json`."""

    images: int = 0
    unreadable: list[str] = field(default_factory=list)
    without_code: list[str] = field(default_factory=list)
    codes: int = 0
    accepted: int = 0
    duplicates: int = 0
    damaged: list[str] = field(default_factory=list)
    foreign: int = 0
    resumed: int = 0
    transfers: list[dict[str, Any]] = field(default_factory=list)
    rebuilt: list[Rebuilt] = field(default_factory=list)
    partial_file: Optional[Path] = None

    @property
    def exit_code(self) -> int:
        """0 all rebuilt and trusted, 3 a signer is untrusted, 1 anything else failed."""
        if not self.rebuilt:
            return 1
        return max(r.exit_code for r in self.rebuilt)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (never raises)."""
        return {
            "images": self.images,
            "unreadable": self.unreadable,
            "without_code": self.without_code,
            "codes": self.codes,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "damaged": self.damaged,
            "foreign_codes": self.foreign,
            "resumed": self.resumed,
            "transfers": self.transfers,
            "partial_file": str(self.partial_file) if self.partial_file else None,
            "files": [
                {
                    "transfer": r.transfer_id,
                    "name": r.name,
                    "path": str(r.path) if r.path else None,
                    "size": r.size,
                    "sha256": r.sha256,
                    "verification": r.report.to_json() if r.report is not None else None,
                    "error": r.error,
                    "exit_code": r.exit_code,
                }
                for r in self.rebuilt
            ],
            "exit_code": self.exit_code,
        }


def _partial_path(out: Path) -> Path:
    return out / ("mirrorkit" + PARTIAL_SUFFIX) if out.is_dir() else out.with_name(
        out.name + PARTIAL_SUFFIX
    )


def _iter_texts(
    files: list[Path], result: DecodeResult, progress: Callable[[int, int, str], None]
) -> Iterator[tuple[str, str]]:
    for i, path in enumerate(files):
        try:
            texts = read_texts(path)
        except QRError:
            result.unreadable.append(str(path))
            texts = []
        result.images += 1
        if not texts and str(path) not in result.unreadable:
            result.without_code.append(str(path))
        for text in texts:
            yield str(path), text
        progress(i + 1, len(files), path.name)


# Names Windows reserves for devices: a file called `NUL` or `con.txt` cannot be created there.
_WINDOWS_DEVICES = frozenset(["con", "prn", "aux", "nul"] + [f"com{i}" for i in range(1, 10)]
                             + [f"lpt{i}" for i in range(1, 10)])


def _safe_name(name: str, tid: str) -> str:
    """The file name a transfer asks for, as a plain name in the output folder.

    The name comes from the codes (anyone can make codes), so it is refused — QRError naming it,
    escaped — when it holds control characters (NUL included) or text-direction overrides
    (`report\u202etxt.exe` shows as `reportexe.txt`), is one of the names this command uses
    itself (`mirrorkit.qr-partial`, `.NAME.tmp` files) or a Windows device name. The user can
    still rebuild the file under a name of their own choosing with `-o FILE`."""
    base = os.path.basename(name.replace("\\", "/")).strip(". ") or f"transfer-{tid}"
    problem = ""
    if has_unsafe(base):
        problem = "holds control or text-direction characters"
    elif base.lower().endswith(PARTIAL_SUFFIX):
        problem = "is a name this command uses for its own files"
    elif base.split(".", 1)[0].strip().lower() in _WINDOWS_DEVICES:
        problem = "is a device name on Windows"
    if problem:
        raise QRError(f"transfer {tid} names its file '{neutral(base)}', which {problem}: "
                      "not written under that name",
                      hint="give a file name of your own: mirrorkit qr decode ... -o FILE")
    return base


def _same_content(path: Path, data: bytes) -> bool:
    """Whether the regular file at `path` holds exactly `data` (size first: no big reads)."""
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _is_wacz(data_path: Path) -> bool:
    try:
        with zipfile.ZipFile(data_path) as zf:
            return "datapackage.json" in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _verify(rebuilt: Rebuilt, verify: bool) -> None:
    if not verify or rebuilt.path is None or not _is_wacz(rebuilt.path):
        return
    from mirrorkit.errors import MirrorkitError
    from mirrorkit.verify.chain import verify_chain

    try:
        # An update is verified with its base when that is at hand (beside the rebuilt file);
        # otherwise the chain fails naming the base it needs (exit 1), and the file stays.
        report = verify_chain(rebuilt.path).update
    except MirrorkitError as err:
        rebuilt.report = getattr(err, "report", None)
        rebuilt.error = err.message
        rebuilt.exit_code = err.exit_code
        return
    rebuilt.report = report
    rebuilt.exit_code = 0 if getattr(report, "trusted", False) else 3


def decode_inputs(
    inputs: list[Path],
    out: Path,
    *,
    transfer_id: str | None = None,
    verify: bool = True,
    progress: Callable[[str], None] | None = None,
    image_progress: Callable[[int, int, str], None] | None = None,
) -> DecodeResult:
    """Rebuild the file(s) carried by the QR codes in `inputs` into `out` (a file, or a folder).

    Raises `UsageError` for bad paths or an ambiguous `out`, and `QRError` when a rebuilt file fails
    its SHA-256. Too few frames is no exception: nothing is written but the resumable partial file,
    and the result says how many more codes are needed.
    """
    if not out.is_dir() and not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: the folder {out.parent} does not exist")
    files = image_files(inputs)
    result = DecodeResult()
    collector = transfer.Collector()
    partial = _partial_path(out)
    if partial.is_file():
        for line in partial.read_text("ascii", "replace").splitlines():
            try:
                if collector.add(transfer.parse_frame(line)):
                    result.resumed += 1
            except QRError:
                continue
    if not files and not result.resumed:
        raise UsageError("no images to read", hint="name PNG/JPEG files or a folder holding them")
    say = progress or (lambda _msg: None)

    def current() -> str:
        rows = collector.transfers()
        if not rows:
            return "no mirrorkit codes yet"
        tid, obj_len, size, have = rows[0]
        return f"{have} of {transfer.symbols_needed(obj_len, size)} needed"

    for path, text in _iter_texts(files, result, image_progress or (lambda *_: None)):
        result.codes += 1
        if not text.startswith(transfer.PREFIX):
            result.foreign += 1
            continue
        try:
            frame = transfer.parse_frame(text)
        except QRError as err:
            result.damaged.append(f"{path}: {err.message}")
            continue
        if transfer_id and not frame.transfer_id.hex().startswith(transfer_id.lower()):
            result.foreign += 1
            continue
        if collector.add(frame):
            result.accepted += 1
        else:
            result.duplicates += 1
        say(current())

    candidates = []
    for tid, obj_len, size, have in collector.transfers():
        needed = transfer.symbols_needed(obj_len, size)
        obj = collector.try_decode((tid, obj_len, size))
        row = {"transfer": tid.hex(), "frames": have, "needed": needed, "complete": obj is not None}
        result.transfers.append(row)
        if obj is None:
            row["missing"] = max(1, needed - have)
            continue
        manifest, data = transfer.unpack_object(obj)  # raises QRError on a SHA-256 mismatch
        if manifest.sha256[:8] != tid:
            raise QRError("a transfer's id does not match its content: its codes were forged")
        row["name"] = manifest.name
        candidates.append(
            Rebuilt(tid.hex(), manifest.name, manifest.size, manifest.sha256.hex(), data)
        )

    if len(candidates) > 1 and not out.is_dir():
        ids = ", ".join(f"{c.transfer_id} ({c.name})" for c in candidates)
        raise UsageError(
            f"the images hold {len(candidates)} complete transfers: {ids}",
            hint="pick one with --transfer ID, or give a folder as -o to write them all",
        )
    for rebuilt in candidates:
        target = out / _safe_name(rebuilt.name, rebuilt.transfer_id) if out.is_dir() else out
        if target == partial:
            raise UsageError(f"{neutral(target)} is where this command keeps codes read so far",
                             hint="give another -o")
        if check_new_file(target, "rebuilt file") and not _same_content(target, rebuilt.data):
            # The name comes from the codes: never let them replace a file the user has.
            raise UsageError(f"{neutral(target)} already exists and differs from the rebuilt "
                             "file", hint="move it away, or give another -o")
        _write_atomic(target, rebuilt.data)
        rebuilt.path = target
        _verify(rebuilt, verify)
        result.rebuilt.append(rebuilt)

    if candidates:
        partial.unlink(missing_ok=True)
    elif collector.transfers():
        lines = [t for row in collector.transfers() for t in collector.texts(row[:3])]
        _write_atomic(partial, ("\n".join(lines) + "\n").encode("ascii"))
        result.partial_file = partial
    return result
