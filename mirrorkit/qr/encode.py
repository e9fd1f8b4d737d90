"""`qr encode`: a file into numbered PNG frames, a printable A4 sheet and an animated player."""

from __future__ import annotations

import os
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from mirrorkit.errors import MirrorkitError, QRError, UsageError
from mirrorkit.qr import render, transfer
from mirrorkit.verify import verify_bundle

DEFAULT_ECC = "M"
DEFAULT_VERSION = 20  # 97x97 modules: 646 bytes a code, 5 cm printed, easy for a phone camera
DEFAULT_EXTRA = 50.0  # repair codes, in % of K: enough to lose a third of the codes
FRAME_GLOB = "frame-*.png"
BOX = 4  # pixels per module in the PNG frames: 420 px for version 20


@dataclass
class EncodeResult:
    """What `encode_file` wrote, and the facts printed on the sheet."""

    name: str
    size: int
    sha256: str
    transfer_id: str
    version: int
    ecc: str
    symbol_size: int
    needed: int
    frames: int
    out_dir: str
    sheet: str
    player: str
    publisher: Optional[str] = None
    fingerprint: Optional[str] = None
    signature: Optional[str] = None
    files: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (never raises)."""
        data = asdict(self)
        data.pop("files")
        return data


def _bundle_facts(path: Path) -> dict[str, Optional[str]]:
    """Publisher and fingerprint of a WACZ, taken only from a verification that passed."""
    try:
        with zipfile.ZipFile(path) as zf:
            if "datapackage.json" not in zf.namelist():
                return {}  # not a bundle: a plain file has nothing to vouch for
    except (zipfile.BadZipFile, OSError):
        return {}
    try:
        report = verify_bundle(path, remember=False)
    except MirrorkitError as err:
        return {"signature": f"NOT VERIFIED: {err.message}"}
    return {"publisher": report.bundle.get("publisher"),
            "fingerprint": report.signer.fingerprint if report.signer else None,
            "signature": "valid when encoded (decoding verifies it again)"}


def _prepare_dir(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir} exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    old = sorted(out_dir.glob(FRAME_GLOB))
    if old and not force:
        raise UsageError(
            f"{out_dir} already holds {len(old)} QR frames",
            hint="choose an empty folder, or pass --force to replace them",
        )
    for path in old:
        path.unlink()


def encode_file(
    path: Path,
    out_dir: Path,
    *,
    ecc: str = DEFAULT_ECC,
    version: int = DEFAULT_VERSION,
    extra: float = DEFAULT_EXTRA,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> EncodeResult:
    """Write frames, `sheet.html` and `player.html` for `path` into `out_dir`.

    Raises `UsageError` for a missing file or a bad option and `QRError` when the file is too big.
    """
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    if not 0 <= extra <= 1000:
        raise UsageError("--extra must be between 0 and 1000 (percent of the codes needed)")
    capacity = render.alnum_capacity(version, ecc)
    symbol_size = transfer.max_symbol_size(capacity)
    if path.stat().st_size > transfer.MAX_OBJECT:  # refuse before reading it all into memory
        raise QRError(
            f"{path.name} ({path.stat().st_size:,} bytes) is far too big for QR codes",
            hint="QR suits keys and small text editions (`mirrorkit bundle --lite`); "
            "carry larger files on USB",
        )
    data = path.read_bytes()
    encoded = transfer.encode_bytes(data, path.name, symbol_size, extra)
    facts = _bundle_facts(path) if zipfile.is_zipfile(path) else {}
    _prepare_dir(out_dir, force)

    images, files = [], []
    width = len(str(len(encoded.frames)))
    for i, text in enumerate(encoded.frames, 1):
        small = render.image(text, ecc, version)
        images.append(small)
        target = out_dir / f"frame-{i:0{max(4, width)}d}.png"
        target.write_bytes(render.png_bytes(small.resize(
            (small.width * BOX, small.height * BOX), resample=0)))
        files.append(str(target))
        if progress:
            progress(i, len(encoded.frames))

    shown = render.describe({
        "File": path.name,
        "Size": f"{encoded.size:,} bytes",
        "SHA-256": encoded.sha256,
        "Publisher": facts.get("publisher"),
        "Publisher fingerprint": facts.get("fingerprint"),
        "Signature": facts.get("signature"),
        "Transfer": f"{encoded.transfer_id} · QR version {version}-{ecc.upper()} · "
        f"{len(encoded.frames)} codes, any {encoded.needed} suffice",
    })
    sheet = out_dir / "sheet.html"
    player = out_dir / "player.html"
    for target, text in (
        (sheet, render.sheet_html(path.name, shown, images, encoded.needed)),
        (player, render.player_html(path.name, shown, images, encoded.needed)),
    ):
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(text, "utf-8")
        os.replace(tmp, target)
    return EncodeResult(
        name=path.name, size=encoded.size, sha256=encoded.sha256,
        transfer_id=encoded.transfer_id, version=version, ecc=ecc.upper(),
        symbol_size=symbol_size, needed=encoded.needed, frames=len(encoded.frames),
        out_dir=str(out_dir), sheet=str(sheet), player=str(player),
        publisher=facts.get("publisher"), fingerprint=facts.get("fingerprint"),
        signature=facts.get("signature"), files=files,
    )
