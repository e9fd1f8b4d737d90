"""The USB kit's `mirrorkit-serve.pyz`: a zipapp of `serve/`, the kit-safe part of `mirrorkit/`
and every pure-Python package they import, all of it able to run on Python 3.9.

Packages are copied from the installed environment (only sources and data, never compiled
extensions, so pure-Python fallbacks are used). When the installed version of a package no longer
supports Python 3.9 (click 8.2 and later, platformdirs after 4.4), the wheel kept in `vendor/` is
used instead. The archive is written with fixed timestamps in sorted order: the same inputs always
give the same bytes, so two archivists building the same kit can compare checksums.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import importlib.util
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Dict, Iterable, Iterator, List, Literal, Optional, Set, Tuple, Union

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from mirrorkit.errors import KitError

FLOOR = "3.9"
_FLOOR_FULL = "3.9.0"
# Markers are evaluated as on the oldest Python the kit supports (on Linux; markers on the
# platform do not occur in the packages we ship).
_FLOOR_ENV = {"python_version": FLOOR, "python_full_version": _FLOOR_FULL, "extra": ""}

KIT_DIR = Path(__file__).resolve().parent
PACKAGE_ROOT = KIT_DIR.parent
SOURCE_ROOT = PACKAGE_ROOT.parent
VENDOR_DIR = KIT_DIR / "vendor"
LAUNCHER = KIT_DIR / "main.py"

# The mirrorkit modules the replay app needs (docs/architecture.md); whatever they import from
# mirrorkit is added too.
KIT_MODULES = ("mirrorkit", "mirrorkit.errors", "mirrorkit.formats.cdxj", "mirrorkit.formats.wacz",
               "mirrorkit.trust.signing", "mirrorkit.verify", "mirrorkit.trust.store",
               "mirrorkit.kit", "mirrorkit.kit.main")
# Writing-side modules: never run by a reader, so they stay out of the kit, which keeps it small
# and its 3.9 floor checkable (import-linter also forbids kit-side imports of them).
WRITE_SIDE = ("mirrorkit.bundle", "mirrorkit.capture", "mirrorkit.cli", "mirrorkit.qr",
              "mirrorkit.sample_site", "mirrorkit.kit.build", "mirrorkit.kit.pyz",
              "mirrorkit.kit.text", "mirrorkit.torrent", "mirrorkit.demo", "mirrorkit.__main__")
# Distributions always shipped, besides whatever the shipped code imports: the server, the
# pure-Python signature fallback (cryptography is compiled, so it never travels) and qrcode
# (the --lan address as a QR code in the terminal).
BASE_DISTRIBUTIONS = ("flask", "waitress", "warcio", "ecdsa", "platformdirs", "qrcode")
# Compiled extensions we may drop because the package falls back to pure Python without them.
PURE_FALLBACK = {"markupsafe"}
# Required only on Python < 3.10 by code paths the replay server never runs (Flask's plugin
# command loader), and not installable next to a 3.11 interpreter.
NOT_NEEDED = {"importlib-metadata", "zipp"}
# Imported lazily or under try/except by shipped code; never required.
NEVER_SHIPPED = {"cryptography", "zlib-ng"}

_SKIP_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".dylib", ".dll", ".c", ".h", ".pyi", ".exe")
_COMPILED_SUFFIXES = (".so", ".pyd", ".dylib")
_DIST_INFO_KEEP = re.compile(r"^(METADATA|WHEEL|top_level\.txt|LICEN[CS]E.*|COPYING.*|NOTICE.*"
                             r"|AUTHORS.*|licenses/.*)$")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass
class ZipappInfo:
    """What went into a zipapp: file count, size, and each shipped distribution's version."""

    path: Path
    files: int
    size: int
    distributions: Dict[str, str] = field(default_factory=dict)
    vendored: List[str] = field(default_factory=list)


def _module_file(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise KitError(f"cannot find the module {module!r} that the kit needs",
                       hint="is mirrorkit fully installed? (pip install -e .)")
    return Path(spec.origin)


def _imports(path: Path) -> Tuple[Set[str], Set[str]]:
    """(modules imported unconditionally at module level, modules imported anywhere)."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    parts = list(path.relative_to(SOURCE_ROOT).with_suffix("").parts)
    # Relative imports resolve against the package: the module itself for an __init__.py.
    package = parts[:-1]

    def names_of(node: ast.AST) -> Set[str]:
        if isinstance(node, ast.Import):
            return {alias.name for alias in node.names}
        if not isinstance(node, ast.ImportFrom):
            return set()
        if node.level:
            base = package[: len(package) - (node.level - 1)]
            mod = ".".join(base + ([node.module] if node.module else []))
        else:
            mod = node.module or ""
        # `from mirrorkit import errors` imports a submodule.
        return {mod} | {f"{mod}.{alias.name}" for alias in node.names}

    top: Set[str] = set()
    for node in tree.body:
        top |= names_of(node)
    anywhere: Set[str] = set()
    for any_node in ast.walk(tree):
        anywhere |= names_of(any_node)
    return {n for n in top if n}, {n for n in anywhere if n}


def _write_side(module: str) -> bool:
    return any(module == w or module.startswith(w + ".") or module.startswith(w + "_")
               for w in WRITE_SIDE)


def _is_own(module: str) -> bool:
    return module.split(".")[0] in ("mirrorkit", "serve")


def _own_sources() -> Tuple[Dict[str, Path], Set[str]]:
    """Our files to ship (archive name -> path) and the third-party modules they import."""
    files: Dict[str, Path] = {}
    serve_dir = SOURCE_ROOT / "serve"
    if not (serve_dir / "__init__.py").is_file():
        raise KitError("the replay app (serve/) is not installed, so no kit can be built",
                       hint="install mirrorkit from its source tree (pip install -e .)")
    for path in sorted(serve_dir.rglob("*")):
        rel = path.relative_to(SOURCE_ROOT)
        if path.is_file() and "__pycache__" not in rel.parts and not path.name.endswith(
                _SKIP_SUFFIXES) and rel.as_posix() != "serve/__main__.py":
            files[rel.as_posix()] = path
    todo = [p for p in files.values() if p.suffix == ".py"]
    todo += [_module_file(m) for m in KIT_MODULES]
    third: Set[str] = set()
    seen: Set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        files.setdefault(path.relative_to(SOURCE_ROOT).as_posix(), path)
        top, anywhere = _imports(path)
        # Our own modules travel even when imported lazily (domain signatures, verification);
        # third-party packages only when imported unconditionally: lazy ones are optional.
        for name in anywhere:
            if _is_own(name) and not _write_side(name) and _importable(name):
                spec = importlib.util.find_spec(name)
                if spec is not None and spec.origin and spec.origin.endswith(".py"):
                    todo.append(Path(spec.origin))
        for name in top:
            if not _is_own(name) and name.split(".")[0] not in sys.stdlib_module_names \
                    and name != "__future__":
                third.add(name.split(".")[0])
    return files, third


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False  # `from mirrorkit.errors import KitError`: KitError is no module


def _dist_for_module(module: str) -> str:
    dists = md.packages_distributions().get(module)
    if not dists:
        raise KitError(f"the replay app imports {module!r}, which is not installed",
                       hint=f"install it (pip install {module}) and build the kit again")
    return canonicalize_name(dists[0])


def _requirements(dist: md.Distribution) -> Iterator[NormalizedName]:
    for text in dist.requires or []:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if req.marker is not None and not req.marker.evaluate(_FLOOR_ENV):
            continue
        yield canonicalize_name(req.name)


def _requires_python(dist: md.Distribution) -> Optional[str]:
    """The distribution's Requires-Python, or None when it declares none."""
    values = dist.metadata.get_all("Requires-Python")
    return str(values[0]) if values else None


def _supports_floor(requires_python: Optional[str]) -> bool:
    if not requires_python:
        return True
    try:
        return SpecifierSet(requires_python).contains(_FLOOR_FULL, prereleases=True)
    except ValueError:
        return True


def _vendored_wheel(name: str) -> Optional[Path]:
    for wheel in sorted(VENDOR_DIR.glob("*.whl")):
        if canonicalize_name(wheel.name.split("-")[0]) == name:
            return wheel
    return None


def _dist_from_wheel(wheel: Path) -> Tuple[str, List[str]]:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(meta).decode("utf-8")
    version = re.search(r"^Version: (.+)$", text, re.M)
    requires = re.findall(r"^Requires-Dist: (.+)$", text, re.M)
    return (version.group(1).strip() if version else "?"), requires


Source = Union[Tuple[Literal["installed"], md.Distribution], Tuple[Literal["wheel"], Path]]


def _resolve(names: Iterable[str]) -> Dict[str, Tuple[str, Source]]:
    """Each needed distribution -> (version, where to copy it from), dependencies included."""
    chosen: Dict[str, Tuple[str, Source]] = {}
    todo = [canonicalize_name(n) for n in names]
    while todo:
        name = todo.pop()
        if name in chosen or name in NOT_NEEDED or name in NEVER_SHIPPED:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            dist = None
        if dist is not None and _supports_floor(_requires_python(dist)):
            chosen[name] = (dist.version, ("installed", dist))
            todo.extend(_requirements(dist))
            continue
        wheel = _vendored_wheel(name)
        if wheel is None:
            why = (f"{name} {dist.version} needs Python {_requires_python(dist)}"
                   if dist is not None else f"{name} is not installed")
            raise KitError(f"cannot put {name} in the kit: {why}, and the kit must run on "
                           f"Python {FLOOR}",
                           hint=f"add a Python {FLOOR} wheel of it to {VENDOR_DIR}")
        version, requires = _dist_from_wheel(wheel)
        chosen[name] = (version, ("wheel", wheel))
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate(_FLOOR_ENV):
                todo.append(canonicalize_name(req.name))
    return chosen


def _keep(rel: str, name: str) -> bool:
    parts = PurePosixPath(rel).parts
    if not parts or parts[0] == ".." or "__pycache__" in parts or rel.endswith(_SKIP_SUFFIXES):
        return False
    if parts[0].endswith(".dist-info"):
        return bool(_DIST_INFO_KEEP.match("/".join(parts[1:])))
    return not parts[0].endswith((".data", ".egg-info"))


def _check_compiled(name: str, rels: Iterable[str]) -> None:
    compiled = [r for r in rels if r.endswith(_COMPILED_SUFFIXES)]
    if compiled and name not in PURE_FALLBACK:
        raise KitError(f"{name} contains compiled code ({compiled[0]}), which cannot travel in "
                       "the kit's zipapp", hint="the replay app must only import pure-Python "
                       "packages (docs/architecture.md)")


def _dist_files(name: str, source: Source) -> Iterator[Tuple[str, bytes]]:
    if source[0] == "installed":
        dist = source[1]
        rels = [str(f).replace("\\", "/") for f in dist.files or []]
        _check_compiled(name, rels)
        for rel in rels:
            if _keep(rel, name):
                yield rel, Path(str(dist.locate_file(rel))).read_bytes()
    else:
        with zipfile.ZipFile(source[1]) as zf:
            _check_compiled(name, zf.namelist())
            for rel in zf.namelist():
                if not rel.endswith("/") and _keep(rel, name):
                    yield rel, zf.read(rel)


def _zip_write(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data, compresslevel=9)


def collect_files() -> Tuple[Dict[str, bytes], Dict[str, str], List[str]]:
    """Every file for the zipapp (archive name -> bytes), the versions shipped and the vendored
    wheels used; raises KitError when something cannot be shipped."""
    own, third = _own_sources()
    names = set(BASE_DISTRIBUTIONS) | {_dist_for_module(m) for m in third}
    resolved = _resolve(sorted(names))
    files: Dict[str, bytes] = {name: path.read_bytes() for name, path in own.items()}
    files["__main__.py"] = LAUNCHER.read_bytes()
    vendored = []
    for name, (_version, source) in sorted(resolved.items()):
        if source[0] == "wheel":
            vendored.append(Path(str(source[1])).name)
        for rel, data in _dist_files(name, source):
            files.setdefault(rel, data)
    _regular_packages(files)
    _add_bytecode(files)
    versions = {name: version for name, (version, _src) in sorted(resolved.items())}
    return files, versions, vendored


def _add_bytecode(files: Dict[str, bytes]) -> None:
    """Put a `.pyc` beside each module, compiled by the Python building the kit.

    The reader imports straight from the zip, where nothing can be cached: without bytecode
    every start compiles Flask, Werkzeug and Jinja2 from source (about three times slower to
    the first page). zipimport uses a `.pyc` only when its magic number is this Python's and
    (checked-hash pycs) its source hash matches the `.py` beside it; any other Python falls back
    to the source, so the kit still runs everywhere from 3.9 on.
    """
    import py_compile
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mirrorkit-kit-pyc-") as tmp:
        src, dst = Path(tmp) / "m.py", Path(tmp) / "m.pyc"
        for name in sorted(files):
            if not name.endswith(".py") or name == "__main__.py":
                continue
            src.write_bytes(files[name])
            try:
                py_compile.compile(str(src), cfile=str(dst), dfile=name, doraise=True,
                                   invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
            except py_compile.PyCompileError:
                continue  # source only (e.g. a file for another Python): zipimport compiles it
            files[name + "c"] = dst.read_bytes()


def _regular_packages(files: Dict[str, bytes]) -> None:
    """Give each folder of modules under a package an empty `__init__.py` if it has none.

    zipimport cannot import namespace packages (PEP 420) such as `flask.sansio`, and the reader
    runs straight from its zipapp: those folders become regular packages inside it."""
    for name in list(files):
        parts = name.split("/")[:-1]
        if not name.endswith(".py") or not parts:
            continue
        for depth in range(1, len(parts) + 1):
            init = "/".join(parts[:depth]) + "/__init__.py"
            if depth > 1 or "/".join(parts[:1]) + "/__init__.py" in files:
                files.setdefault(init, b"")


def build_zipapp(dest: Path) -> ZipappInfo:
    """Write the kit's zipapp to `dest` (reproducibly); raises KitError if a part cannot ship."""
    files, versions, vendored = collect_files()
    tmp = dest.with_name(dest.name + ".part")
    try:
        with tmp.open("wb") as fh:
            fh.write(b"#!/usr/bin/env python3\n")
            with zipfile.ZipFile(fh, "w") as zf:
                for name in sorted(files):
                    _zip_write(zf, name, files[name])
        tmp.chmod(0o755)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    return ZipappInfo(path=dest, files=len(files), size=dest.stat().st_size,
                      distributions=versions, vendored=vendored)

