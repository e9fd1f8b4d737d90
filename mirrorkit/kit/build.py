"""The USB kit: a folder holding verified bundles, the `mirrorkit-serve.pyz` reader, bilingual
instructions (`START-HERE.html`, `README.txt`) and `SHA256SUMS`.

The kit is built in a hidden temporary folder beside the target and renamed into place at the
end, so a crash, a full disk or Ctrl-C never leaves half a kit where a whole one is expected.
Bundles are verified after they are copied: what goes on the stick is exactly what was checked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from mirrorkit.errors import InvalidBundle, KitError, UsageError
from mirrorkit.kit.chain import needs, with_bases
from mirrorkit.kit.pyz import ZipappInfo, build_zipapp
from mirrorkit.kit.text import render_texts

PathLike = Union[str, "os.PathLike[str]"]
ZIPAPP_NAME = "mirrorkit-serve.pyz"
SUMS_NAME = "SHA256SUMS"
# Progress callback: (what, done, total), e.g. ("copy demo.wacz", 3_000_000, 9_000_000).
Progress = Callable[[str, int, int], None]
_CHUNK = 1024 * 1024


@dataclass
class KitBundle:
    """One bundle in a kit, as its verification and datapackage describe it."""

    file: str
    title: str
    publisher: str
    fingerprint: str
    trusted: bool
    collection: str = ""
    sequence: Optional[int] = None
    created: str = ""
    pages: int = 0
    size: int = 0
    sha256: str = ""
    needs: List[str] = field(default_factory=list)  # bases of an update (issue 15)


@dataclass
class Kit:
    """A finished kit: where it is, its bundles, its zipapp and the checksum of every file."""

    path: Path
    bundles: List[KitBundle]
    zipapp: ZipappInfo
    files: Dict[str, str] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        """A JSON-ready description (for `mirrorkit kit --json`)."""
        return {
            "path": str(self.path),
            "bundles": [asdict(b) for b in self.bundles],
            "zipapp": {"file": self.zipapp.path.name, "bytes": self.zipapp.size,
                       "files": self.zipapp.files, "packages": self.zipapp.distributions,
                       "vendored": self.zipapp.vendored},
            "files": self.files,
        }


def _copy(src: Path, dest: Path, progress: Optional[Progress]) -> str:
    """Copy `src` to `dest` and return the copy's SHA-256 (hashed from what was written)."""
    total = src.stat().st_size
    digest = hashlib.sha256()
    done = 0
    with src.open("rb") as fin, dest.open("wb") as fout:
        while True:
            chunk = fin.read(_CHUNK)
            if not chunk:
                break
            fout.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(f"copy {src.name}", done, total)
        fout.flush()
        os.fsync(fout.fileno())
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes; raises OSError."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _datapackage(path: Path) -> Dict[str, Any]:
    try:
        with zipfile.ZipFile(path) as zf:
            data = json.loads(zf.read("datapackage.json").decode("utf-8"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise InvalidBundle(f"{path.name}: cannot read datapackage.json ({err})") from None
    return data if isinstance(data, dict) else {}


def _page_count(path: Path) -> int:
    try:
        with zipfile.ZipFile(path) as zf, zf.open("pages/pages.jsonl") as fh:
            return max(0, sum(1 for line in fh if line.strip()) - 1)  # minus the header line
    except (OSError, KeyError, zipfile.BadZipFile):
        return 0


def _verify(copy: Path, source: Path, fingerprints: Sequence[str],
            progress: Optional[Progress]) -> Any:
    """The verification report of a copied bundle; raises KitError when it fails."""
    from mirrorkit.verify.chain import ChainFailed, verify_chain

    total, done = copy.stat().st_size, 0

    def hashed(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(f"verify {source.name}", min(done, total), total)

    try:
        # An update is checked with its bases, copied beside it first (kit/chain.py).
        return verify_chain(copy, fingerprint=_matching(copy, fingerprints), remember=False,
                            progress=hashed).update
    except (InvalidBundle, ChainFailed) as err:
        raise KitError(f"refusing to build a kit: {source} failed verification: {err.message}",
                       hint=f"check it with: mirrorkit verify {source}") from None


def _matching(copy: Path, fingerprints: Sequence[str]) -> Optional[str]:
    """Which given fingerprint to check this bundle against: the one of the key it claims to be
    signed with (verification then proves or refutes it), else the only one given."""
    if len(fingerprints) <= 1:
        return fingerprints[0] if fingerprints else None
    from mirrorkit.trust.signing import fingerprint

    try:
        with zipfile.ZipFile(copy) as zf:
            signed = json.loads(zf.read("datapackage-digest.json"))["signedData"]
        claimed = fingerprint(base64.b64decode(signed["publicKey"]))
    except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile):
        return None  # verification reports what is wrong with it
    return claimed if claimed in fingerprints else None


def _domain(signer: Any) -> str:
    domain = getattr(signer, "domain", None)
    return f"{domain} (domain signature)" if domain else ""


def _describe(copy: Path, report: Any, sha256: str) -> KitBundle:
    data = _datapackage(copy)
    raw_meta = data.get("mirrorkit")
    meta = raw_meta if isinstance(raw_meta, dict) else {}
    signer = getattr(report, "signer", None)
    fingerprint = str(getattr(signer, "fingerprint", "") or meta.get("fingerprint") or "")
    sequence = meta.get("sequence")
    return KitBundle(
        file=copy.name,
        title=str(data.get("title") or copy.stem),
        publisher=str(meta.get("publisher") or _domain(signer) or "not named in the bundle"),
        fingerprint=fingerprint,
        trusted=bool(getattr(report, "trusted", False)),
        collection=str(meta.get("collection") or ""),
        sequence=sequence if isinstance(sequence, int) else None,
        created=str(data.get("created") or ""),
        pages=_page_count(copy),
        size=copy.stat().st_size,
        sha256=sha256,
        needs=needs(copy),
    )


def _check_inputs(bundles: Sequence[Path], out: Path, force: bool) -> None:
    if not bundles:
        raise UsageError("give at least one bundle (.wacz) to put in the kit")
    names = set()
    for path in bundles:
        if not path.is_file():
            raise UsageError(f"no such bundle: {path}")
        if path.suffix.lower() != ".wacz":
            raise UsageError(f"{path} is not a .wacz bundle",
                             hint="make one with: mirrorkit bundle CAPTURE -o FILE.wacz")
        if path.name in names:
            raise UsageError(f"two bundles are called {path.name}: rename one, the kit keeps "
                             "them side by side")
        names.add(path.name)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UsageError(f"{out} already exists and is not empty",
                         hint="choose another -o folder, or add --force to replace it")
    target = out.resolve()
    for path in bundles:
        if target in path.resolve().parents:
            raise UsageError(f"{out} holds {path.name}, which goes into the kit: choose another "
                             "folder for the kit")


def write_sums(folder: Path, known: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Write `SHA256SUMS` (sha256sum format) for every file under `folder`; returns name->hex.

    `known` gives digests already computed while writing (the bundles, hashed as they were
    copied), so gigabytes are not read once more. Raises OSError."""
    known = known or {}
    sums: Dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel != SUMS_NAME:
            sums[rel] = known.get(rel) or sha256_file(path)
    lines = "".join(f"{digest}  {rel}\n" for rel, digest in sums.items())
    (folder / SUMS_NAME).write_text(lines, encoding="utf-8", newline="\n")
    return sums


def _install(tmp: Path, out: Path) -> None:
    """Move the finished kit into place; an old kit is only removed once the new one is there."""
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=str(out.parent)))
        old.rmdir()
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_kit(bundles: Sequence[PathLike], out: PathLike, *, fingerprints: Sequence[str] = (),
              force: bool = False, progress: Optional[Progress] = None,
              on_step: Optional[Callable[[str], None]] = None) -> Kit:
    """Build a USB kit folder at `out` from verified bundles.

    `fingerprints` are signer fingerprints the builder vouches for (as `verify --fingerprint`).
    Raises UsageError for bad arguments, KitError when a bundle fails verification or the
    zipapp cannot be built; on any error (or Ctrl-C) nothing is left at `out`'s place.
    """
    from mirrorkit.trust.signing import normalize_fingerprint

    out_path = Path(out)
    _check_inputs([Path(b) for b in bundles], out_path, force)
    paths = with_bases([Path(b) for b in bundles])  # updates travel with their bases
    fps = [normalize_fingerprint(f) for f in fingerprints]
    step = on_step or (lambda _msg: None)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.partial-", dir=str(out_path.parent)))
        tmp.chmod(0o755)  # mkdtemp's 0700 would lock other users out of the copied stick
    except OSError as err:
        raise KitError(f"cannot write the kit next to {out_path}: {err.strerror}") from None
    try:
        described = []
        copied: Dict[str, str] = {}
        for src in paths:
            copy = tmp / src.name
            digest = copied[src.name] = _copy(src, copy, progress)
            report = _verify(copy, src, fps, progress)
            info = _describe(copy, report, digest)
            described.append(info)
            trust = "trusted" if info.trusted else "NOT trusted here"
            step(f"verified {src.name}: {info.publisher}, {info.fingerprint} ({trust})")
        zipapp = build_zipapp(tmp / ZIPAPP_NAME)
        step(f"wrote {ZIPAPP_NAME}: {zipapp.files} files, {zipapp.size // 1024} KiB "
             f"({len(zipapp.distributions)} packages)")
        for name in render_texts(tmp, described):
            step(f"wrote {name}")
        sums = write_sums(tmp, known=copied)
        step(f"wrote {SUMS_NAME}: {len(sums)} files")
        _install(tmp, out_path)
    except OSError as err:
        raise KitError(f"cannot write the kit at {out_path}: {err}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    zipapp.path = out_path / ZIPAPP_NAME
    return Kit(path=out_path, bundles=described, zipapp=zipapp, files=sums)
