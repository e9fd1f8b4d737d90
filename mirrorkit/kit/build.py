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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from mirrorkit.errors import InvalidBundle, KitError, UsageError
from mirrorkit.formats import safejson
from mirrorkit.formats.safetext import has_unsafe, neutral
from mirrorkit.kit.chain import needs, with_bases
from mirrorkit.kit.pyz import ZipappInfo, build_zipapp
from mirrorkit.kit.text import render_texts

PathLike = Union[str, "os.PathLike[str]"]
ZIPAPP_NAME = "mirrorkit-serve.pyz"
READER_NAME = "READER.html"
SUMS_NAME = "SHA256SUMS"
# Written into every kit: `--force` replaces a folder only when it holds this marker (and nothing
# but what that kit wrote), so it can never delete a user's own folder.
MARKER_NAME = ".mirrorkit-kit"
MARKER_FORMAT = "mirrorkit-kit-1"
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
    torrent: str = ""  # FILE.wacz.torrent in the kit, when it was beside the bundle
    magnet: str = ""  # the magnet link from FILE.wacz.magnet, when it was beside the bundle
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
    from mirrorkit.formats.wacz import WaczReader

    try:
        with WaczReader(path) as reader:
            return reader.datapackage  # bounded: size and nesting depth
    except InvalidBundle as err:
        raise KitError(f"{path.name}: cannot read datapackage.json ({err.message})") from None


def _page_count(path: Path) -> int:
    """The bundle's pages, each line read and checked as the reader will (bounded length and
    JSON nesting); raises KitError naming the damaged line: a kit is never built around a page
    list the reader cannot show."""
    from mirrorkit.formats.wacz import WaczReader

    try:
        with WaczReader(path) as reader:
            return sum(1 for _ in reader.pages())
    except InvalidBundle as err:
        raise KitError(f"refusing to build a kit: {path.name}: {err.message}") from None


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
        report = verify_chain(copy, fingerprint=_matching(copy, fingerprints), remember=False,
                              progress=hashed).update
        if report.parts is not None:  # verified part by part, but the reader serves bundles
            from mirrorkit.formats.wacz import multi_wacz_message

            raise KitError(f"refusing to build a kit: {source}: "
                           f"{multi_wacz_message(report.multi_wacz or [])}")
        return report
    except (InvalidBundle, ChainFailed) as err:
        raise KitError(f"refusing to build a kit: {source} failed verification: {err.message}",
                       hint=f"check it with: mirrorkit verify {source}") from None


def _matching(copy: Path, fingerprints: Sequence[str]) -> Optional[str]:
    """Which given fingerprint to check this bundle against: the one of the key it claims to be
    signed with (verification then proves or refutes it), else the only one given."""
    if len(fingerprints) <= 1:
        return fingerprints[0] if fingerprints else None
    from mirrorkit.formats.wacz import WaczReader
    from mirrorkit.trust.signing import fingerprint

    try:
        with WaczReader(copy) as reader:  # bounded reads and JSON, like verification's own
            signed = (reader.digest or {})["signedData"]
        claimed = fingerprint(base64.b64decode(signed["publicKey"]))
    except (OSError, KeyError, TypeError, ValueError, InvalidBundle, UsageError):
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


def _copy_torrent(src: Path, copy: Path, info: KitBundle) -> None:
    """Copy FILE.wacz.torrent and FILE.wacz.magnet from beside `src`, when they are there, after
    checking they describe exactly the bundle (a stale torrent of an older edition is refused).
    Pure Python: building a kit never needs libtorrent. Raises KitError, OSError."""
    from mirrorkit.torrent import TorrentError
    from mirrorkit.torrent.meta import read_facts, torrent_matches_file

    torrent, magnet = (src.with_name(src.name + ".torrent"), src.with_name(src.name + ".magnet"))
    if not torrent.is_file():
        if magnet.is_file():
            raise KitError(f"{magnet} has no {torrent.name} beside it to check it against",
                           hint=f"make both again: mirrorkit torrent make {src}")
        return
    data = torrent.read_bytes()
    try:
        problem = torrent_matches_file(data, copy)
        facts = read_facts(data)
    except TorrentError as err:
        problem, facts = err.message, None
    link = magnet.read_text(encoding="utf-8").strip() if magnet.is_file() else ""
    if problem is None and facts is not None and link and not (
            link.startswith("magnet:?") and f"btih:{facts.info_hash_v1}" in link.lower()):
        problem = f"{magnet.name} is not the magnet link of {torrent.name}"
    if problem is not None:
        raise KitError(f"refusing to build a kit: {torrent} does not belong to {src.name}: "
                       f"{problem}", hint=f"make it again: mirrorkit torrent make {src}")
    shutil.copyfile(torrent, copy.with_name(torrent.name))
    info.torrent = torrent.name
    if link:
        shutil.copyfile(magnet, copy.with_name(magnet.name))
        info.magnet = link


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
        if has_unsafe(path.name):
            raise UsageError(f"the bundle's file name {neutral(path.name)} holds control or "
                             "text-direction characters: rename it before putting it in a kit")
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UsageError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise UsageError(f"{out} already exists and is not empty",
                             hint="choose another -o folder, or add --force to replace a kit "
                                  "built there before")
        _check_previous_kit(out)
    target = out.resolve()
    for path in bundles:
        if target in path.resolve().parents:
            raise UsageError(f"{out} holds {path.name}, which goes into the kit: choose another "
                             "folder for the kit")


def _check_previous_kit(out: Path) -> None:
    """Raise UsageError unless `out` is a kit this program built: its marker file is there, and
    every file in it is one that kit listed in SHA256SUMS. `--force` replaces nothing else."""
    refuse = f"refusing to replace {out}: "
    hint = "choose another -o folder; --force only replaces a folder holding an earlier kit"
    marker = out / MARKER_NAME
    try:
        if marker.is_symlink() or not marker.is_file():
            raise UsageError(refuse + f"it is not a mirrorkit kit (no {MARKER_NAME} marker), so "
                             "it may hold someone's own files", hint=hint)
        info = safejson.loads(marker.read_bytes()[:4096], MARKER_NAME, error=UsageError)
        if not isinstance(info, dict) or info.get("format") != MARKER_FORMAT:
            raise ValueError(MARKER_NAME)
        listed = {MARKER_NAME, SUMS_NAME}
        with (out / SUMS_NAME).open(encoding="utf-8") as fh:
            for line in fh:
                _digest, sep, rel = line.rstrip("\n").partition("  ")
                if sep:
                    listed.add(rel)
        for path in sorted(out.rglob("*")):
            rel = path.relative_to(out).as_posix()
            if path.is_symlink() or (not path.is_dir() and rel not in listed):
                raise UsageError(refuse + f"{neutral(rel)} in it is not part of the kit built "
                                 "there (a file someone added?)", hint=hint)
    except (OSError, ValueError, UnicodeDecodeError):
        raise UsageError(refuse + f"its {MARKER_NAME} marker or {SUMS_NAME} is unreadable, so "
                         "it cannot be told apart from someone's own folder", hint=hint) from None


def _write_marker(folder: Path) -> None:
    from mirrorkit import __version__

    (folder / MARKER_NAME).write_text(json.dumps(
        {"format": MARKER_FORMAT, "software": f"mirrorkit {__version__}",
         "note": "a USB kit built by mirrorkit; `mirrorkit kit --force` may replace this folder"},
        indent=1) + "\n", encoding="utf-8")


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


def _install(tmp: Path, out: Path, force: bool) -> None:
    """Move the finished kit into place; an old kit is only removed once the new one is there."""
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    elif out.exists():
        # Checked again: files may have arrived while the kit was being built.
        if not force:
            raise UsageError(f"{out} is no longer empty: not replaced")
        _check_previous_kit(out)
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
            _copy_torrent(src, copy, info)
            described.append(info)
            trust = "trusted" if info.trusted else "NOT trusted here"
            step(f"verified {src.name}: {neutral(info.publisher)}, {info.fingerprint} ({trust})")
        zipapp = build_zipapp(tmp / ZIPAPP_NAME)
        step(f"wrote {ZIPAPP_NAME}: {zipapp.files} files, {zipapp.size // 1024} KiB "
             f"({len(zipapp.distributions)} packages)")
        # READER.html: the no-install reader (any browser, phones too); its SHA-256 goes into
        # the guide so a recipient can tell a genuine build from a stranger's.
        from mirrorkit.reader import reader_sha256, write_reader

        write_reader(tmp / READER_NAME)
        reader_sha = reader_sha256()
        step(f"wrote {READER_NAME} (SHA-256 {reader_sha})")
        for name in render_texts(tmp, described, reader_sha256=reader_sha):
            step(f"wrote {name}")
        _write_marker(tmp)
        sums = write_sums(tmp, known=copied)
        step(f"wrote {SUMS_NAME}: {len(sums)} files")
        _install(tmp, out_path, force)
    except OSError as err:
        raise KitError(f"cannot write the kit at {out_path}: {err}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    zipapp.path = out_path / ZIPAPP_NAME
    return Kit(path=out_path, bundles=described, zipapp=zipapp, files=sums)
