"""Bundle stage: captures -> signed WACZ (writer, sources, lite editions, page text).

May import: formats, trust, errors. Never imported by serve/ or anything in the USB kit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

from mirrorkit.bundle import writer
from mirrorkit.bundle.lite import create_lite_bundle
from mirrorkit.errors import UsageError
from mirrorkit.formats.cdxj import CdxjEntry
from mirrorkit.trust.signing import SigningKey

__all__ = ["create_bundle"]


def create_bundle(captures: Sequence[Union[str, os.PathLike]], out: Union[str, os.PathLike], *,
                  key: SigningKey, title: Optional[str] = None,
                  description: Optional[str] = None, collection: Optional[str] = None,
                  sequence: Optional[int] = None, text: bool = False,
                  record_filter: Optional[Callable[[CdxjEntry], bool]] = None,
                  progress: Optional[Callable[[int, int], None]] = None,
                  index_format: str = "auto", lite: bool = False,
                  max_bytes: Optional[int] = None, keep_damaged: bool = False,
                  drop_unresolved_revisits: bool = False) -> Path:
    """Write a signed WACZ 1.1.1 bundle of `captures` to `out` (atomically) and return its path.

    Raises UsageError (bad input), WarcError (unreadable WARC), OSError-derived MirrorkitError.
    See `writer.create_bundle` for the details. `lite` keeps only HTML, CSS and
    redirects, within `max_bytes` if given (see `mirrorkit.bundle.lite`). `keep_damaged` and
    `drop_unresolved_revisits` let a damaged or incomplete source through, said so inside the
    signed bundle (see `writer.create_bundle`).
    """
    if max_bytes is not None and not lite:
        raise UsageError("--max-bytes goes with --lite")
    if lite:
        return create_lite_bundle(
            captures, out, key=key, max_bytes=max_bytes, progress=progress, title=title,
            description=description, collection=collection, sequence=sequence, text=text,
            index_format=index_format, keep_damaged=keep_damaged,
            drop_unresolved_revisits=drop_unresolved_revisits).path
    return writer.create_bundle(
        captures, out, key=key, title=title, description=description, collection=collection,
        sequence=sequence, text=text, record_filter=record_filter, progress=progress,
        index_format=index_format, keep_damaged=keep_damaged,
        drop_unresolved_revisits=drop_unresolved_revisits)
