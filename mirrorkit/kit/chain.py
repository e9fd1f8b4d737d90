"""Update bundles in a kit (issue 15): an update travels with the earlier bundles it needs.

`with_bases(paths)` adds, before each update, every base its `relation.requires` names that was
not given: found beside the update by file name, and only with exactly the required hash.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

from mirrorkit.errors import InvalidBundle, KitError
from mirrorkit.formats.wacz import WaczReader
from mirrorkit.verify.chain import file_sha256, requirements


def needs(path: Path) -> List[str]:
    """File names of the bases a bundle requires ([] for a standalone bundle, or unreadable)."""
    try:
        with WaczReader(path) as reader:
            return [link.filename for link in requirements(reader.datapackage)]
    except (InvalidBundle, OSError):
        return []  # verification reports what is wrong with it


def with_bases(paths: Sequence[Path]) -> List[Path]:
    """`paths` with each update's missing bases inserted before it. Raises KitError when a base
    is neither given nor beside the update with the right hash."""
    out: List[Path] = []
    names = {p.name for p in paths}

    def add(path: Path, depth: int = 0) -> None:
        if depth > 32:
            raise KitError(f"{path.name}: its chain of earlier bundles is too long or circular")
        try:
            with WaczReader(path) as reader:
                links = requirements(reader.datapackage)
        except (InvalidBundle, OSError):
            links = []
        for link in links:
            if link.filename in names or any(p.name == link.filename for p in out):
                continue
            beside = path.parent / link.filename
            if not beside.is_file() or file_sha256(beside) != link.hash:
                raise KitError(
                    f"{path.name} is an update and needs {link.filename} ({link.hash}), which "
                    "was not given and is not beside it",
                    hint="give the earlier bundle too, or put it next to the update")
            add(beside, depth + 1)
        if path not in out:
            out.append(path)

    for path in paths:
        add(path)
    return out
