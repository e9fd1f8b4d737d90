"""Test support: an independent, minimal writer of signed mirrorkit WACZ bundles.

It is deliberately separate from `mirrorkit.bundle.create_bundle`, so the verifier is also checked
against a second writer, and so tamper tests can rebuild a bundle with one thing changed (a
manifest re-signed by another key, a member renamed, ...). Not collected by pytest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from warcio.archiveiterator import ArchiveIterator

from mirrorkit.formats.surt import surt_key
from mirrorkit.trust.signing import SigningKey


def cdxj_lines(warc_name: str, data: bytes) -> List[str]:
    """CDXJ lines (with recordDigest) for the response/revisit/resource records of a WARC."""
    lines = []
    it = ArchiveIterator(io.BytesIO(data))
    for record in it:
        rtype = record.rec_type
        url = (record.rec_headers.get_header("WARC-Target-URI") or "").strip("<>")
        date = record.rec_headers.get_header("WARC-Date") or ""
        it.read_to_end(record)
        offset, length = it.get_record_offset(), it.get_record_length()
        if rtype not in ("response", "revisit", "resource"):
            continue
        ts = "".join(c for c in date if c.isdigit())[:14]
        fields = {
            "url": url, "mime": "text/html", "status": "200", "offset": str(offset),
            "length": str(length), "filename": warc_name,
            "recordDigest": "sha256:" + hashlib.sha256(data[offset:offset + length]).hexdigest(),
        }
        if rtype == "revisit":
            fields["mime"] = "warc/revisit"
        lines.append(f"{surt_key(url)} {ts} {json.dumps(fields, sort_keys=True)}")
    return sorted(lines)


def build_bundle(out: Path, warcs: Sequence[Path], key: SigningKey, *, collection: str = "test",
                 sequence: int = 1, created: Optional[str] = None,
                 edit_package: Optional[Callable[[Dict[str, Any]], None]] = None,
                 members: Optional[Dict[str, bytes]] = None,
                 signer: Optional[SigningKey] = None,
                 raw_package: Optional[Callable[[bytes], bytes]] = None) -> Path:
    """Write a signed WACZ of `warcs` to `out`; `edit_package` may change the manifest before
    signing, `members` adds or replaces files, `signer` signs with another key, `raw_package`
    rewrites the manifest's bytes before signing (for JSON that `json.dumps` cannot write)."""
    created = created or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    files: Dict[str, bytes] = {}
    index: List[str] = []
    for warc in warcs:
        data = Path(warc).read_bytes()
        files[f"archive/{Path(warc).name}"] = data
        index.extend(cdxj_lines(Path(warc).name, data))
    files["indexes/index.cdxj"] = ("\n".join(sorted(index)) + "\n").encode()
    pages = [{"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}]
    first = json.loads(index[0].split(" ", 2)[2]) if index else {"url": "http://example.com/"}
    pages.append({"url": first["url"], "ts": created, "title": "first page"})
    files["pages/pages.jsonl"] = "".join(json.dumps(p) + "\n" for p in pages).encode()
    files.update(members or {})
    package: Dict[str, Any] = {
        "profile": "data-package",
        "resources": [
            {"name": Path(name).name, "path": name,
             "hash": "sha256:" + hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            for name, data in files.items()
        ],
        "wacz_version": "1.1.1", "title": "test bundle", "created": created,
        "modified": created, "software": "mirrorkit tests",
        "mirrorkit": {"publisher": key.name, "fingerprint": key.fingerprint,
                      "collection": collection, "sequence": sequence, "format": 1},
    }
    if edit_package:
        edit_package(package)
    raw = json.dumps(package, indent=2).encode()
    if raw_package:
        raw = raw_package(raw)
    signed = (signer or key).sign_datapackage(raw, created)
    digest = {"path": "datapackage.json", "hash": signed["hash"], "signedData": signed}
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            stored = name.startswith("archive/") or name.endswith(".cdx.gz")
            zf.writestr(name, data, zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
        zf.writestr("datapackage.json", raw, zipfile.ZIP_DEFLATED)
        zf.writestr("datapackage-digest.json", json.dumps(digest).encode(), zipfile.ZIP_DEFLATED)
    return out


def rezip(src: Path, dst: Path, *, drop: Sequence[str] = (),
          rename: Optional[Dict[str, str]] = None,
          replace: Optional[Dict[str, bytes]] = None, add: Optional[Dict[str, bytes]] = None,
          compress: Sequence[str] = ()) -> Path:
    """Copy a bundle member by member with changes, keeping everything else byte-identical."""
    rename, replace, add = rename or {}, replace or {}, add or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = replace.get(info.filename, zin.read(info))
            method = zipfile.ZIP_DEFLATED if info.filename in compress else info.compress_type
            zout.writestr(rename.get(info.filename, info.filename), data, method)
        for name, data in add.items():
            zout.writestr(name, data, zipfile.ZIP_DEFLATED)
    return dst


def flip_warc_byte(src: Path, dst: Path) -> str:
    """Copy a bundle, flipping one byte halfway into its first WARC (which damages a gzip
    member, and with it a record); the WARC's member name."""
    shutil.copy(src, dst)
    with zipfile.ZipFile(dst) as zf:
        info = next(i for i in zf.infolist() if i.filename.startswith("archive/"))
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    with open(dst, "r+b") as fh:
        fh.seek(start + info.file_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    return info.filename
