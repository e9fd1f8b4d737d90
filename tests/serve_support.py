"""Test support for the replay server: a signed bundle of the sample site, damage and tampering.

Not collected by pytest (no test_ prefix); the session fixture lives in conftest.py.
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

from mirrorkit.bundle import create_bundle
from mirrorkit.capture import CaptureOptions, capture, check_seed
from mirrorkit.formats.wacz import WaczReader
from mirrorkit.sample_site import SampleSite
from mirrorkit.trust.signing import generate_key


@dataclass
class SampleBundle:
    """A signed WACZ of the sample site, captured from a SampleSite that is stopped by now."""

    path: Path
    fingerprint: str
    expected: Dict[str, Any]
    site: SampleSite
    pages: List[str] = field(default_factory=list)


def build_sample_bundle(workdir: Path) -> SampleBundle:
    """Captures the sample site, stops it, and bundles the capture signed by a fresh key."""
    site = SampleSite().start()
    try:
        out = workdir / "capture"
        capture(CaptureOptions(seeds=[check_seed(site.url)], out_dir=out, backoff=0.01))
        expected = site.expected
    finally:
        site.stop()  # replay must never reach it: it is gone
    key = generate_key("Lantern Rights Watch")
    path = create_bundle([out], workdir / "sample.wacz", key=key, title="Lantern sample",
                         collection="lantern", sequence=1, text=True)
    return SampleBundle(Path(path), key.fingerprint, expected, site,
                        pages=list(expected["pages"]))


def damage_record(src: Path, dst: Path, url: str) -> None:
    """Copies ``src`` to ``dst`` with a few bytes flipped inside the record of ``url``."""
    shutil.copyfile(src, dst)
    with WaczReader(src) as reader:
        entries = [e for e in reader.index.lookup(url) if e.mime != "warc/revisit"]
        entry = entries[0]
        start, _size = reader.member_span("archive/" + entry.filename)
    where = start + entry.offset + entry.length // 2
    with open(dst, "r+b") as fh:
        fh.seek(where)
        data = fh.read(4)
        fh.seek(where)
        fh.write(bytes(b ^ 0xFF for b in data))


def tamper_title(src: Path, dst: Path, title: str) -> None:
    """Rewrites ``src`` into ``dst`` with datapackage.json's title changed (not re-signed)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "datapackage.json":
                data = data.replace(b'"title": "Lantern sample"',
                                    b'"title": ' + f'"{title}"'.encode())
            zout.writestr(info, data)
