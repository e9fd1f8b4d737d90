"""The one rule for output paths: no command replaces or deletes what it did not make.

`bundle -o`, `qr decode -o` and the kit's folder all come here before writing. A path that does
not exist is fine; an existing file is replaced only when it is the same kind of thing the command
writes (a WACZ bundle for `bundle -o`), never a folder, a device, a pipe or someone's document.
Python 3.9-safe.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path
from typing import Union

from mirrorkit.errors import UsageError
from mirrorkit.formats.safetext import neutral

__all__ = ["check_new_file", "check_replaceable_bundle", "is_wacz"]


def is_wacz(path: Union[str, os.PathLike[str]]) -> bool:
    """Whether `path` is a ZIP holding a `datapackage.json` (a WACZ bundle); never raises."""
    try:
        with zipfile.ZipFile(path) as zf:
            return "datapackage.json" in zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return False


def _existing_kind(path: Path) -> str:
    """'' when nothing is at `path`, else 'file', 'folder', 'link' or 'special file'."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return ""
    except OSError as err:
        raise UsageError(f"cannot use {neutral(path)} as output: {err.strerror}") from None
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "folder"
    return "file" if stat.S_ISREG(mode) else "special file"


def check_new_file(path: Path, what: str = "output file") -> bool:
    """Raise UsageError unless `path` is absent or a regular file; True when a file is there.

    Callers decide whether an existing regular file may be replaced (same content, same kind)."""
    kind = _existing_kind(path)
    if kind in ("folder", "link", "special file"):
        raise UsageError(f"{neutral(path)} exists and is a {kind}: it cannot be the {what}",
                         hint="give the path of a new file")
    return kind == "file"


def check_replaceable_bundle(path: Path) -> None:
    """For `bundle -o`: raise UsageError when `path` exists and is not a WACZ bundle.

    An older bundle at the same path is replaced (atomically, by the writer); a document, a
    photo or any other file that happens to be there is never touched."""
    if check_new_file(path, "bundle file") and not is_wacz(path):
        raise UsageError(f"{neutral(path)} exists and is not a WACZ bundle: refusing to replace "
                         "it", hint="give the path of a new file, or move that one away")
