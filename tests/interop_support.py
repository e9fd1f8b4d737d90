"""Test support: WARCs and WACZs written the way other tools write them.

`warc()` writes real records with warcio (digests computed by warcio, as every tool does);
`foreign_wacz()` packs WARCs into a WACZ whose index follows another tool's habits
(ArchiveWeb.page's 17-digit timestamps and percent-encoded queries, js-wacz's trailing slashes),
signed anonymously the way ArchiveWeb.page signs, or not signed at all. Not collected by pytest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from mirrorkit.formats.warcindex import iter_warc_entries
from mirrorkit.trust.signing import SigningKey

Record = Dict[str, Any]
Transform = Callable[[str, str, Dict[str, Any]], Tuple[str, str]]


def response(url: str, body: bytes, *, status: str = "200 OK", ctype: str = "text/html",
             headers: Sequence[Tuple[str, str]] = (), date: Optional[str] = None) -> Record:
    """A response record (for `warc`)."""
    return {"type": "response", "url": url, "body": body, "status": status, "ctype": ctype,
            "headers": list(headers), "date": date}


def warc(path: Path, records: Sequence[Record], *, gzip: bool = True) -> Path:
    """Write `records` (dicts from `response`, or {"type": "resource"|"metadata"|"revisit", ...})
    as a WARC with warcio, digests and all."""
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=gzip, warc_version="WARC/1.1")
        for spec in records:
            kind = spec["type"]
            extra = {}
            if spec.get("date"):
                extra["WARC-Date"] = spec["date"]
            if kind in ("response", "revisit"):
                http = StatusAndHeaders(spec.get("status", "200 OK"),
                                        [("Content-Type", spec.get("ctype", "text/html"))]
                                        + list(spec.get("headers", ())), protocol="HTTP/1.1")
            if kind == "response":
                record = writer.create_warc_record(spec["url"], "response",
                                                   payload=io.BytesIO(spec["body"]),
                                                   http_headers=http, warc_headers_dict=extra)
            elif kind == "revisit":
                record = writer.create_revisit_record(
                    spec["url"], spec["digest"], spec["refers_url"], spec["refers_date"],
                    http_headers=http, warc_headers_dict=extra)
            else:
                record = writer.create_warc_record(spec["url"], kind,
                                                   payload=io.BytesIO(spec["body"]),
                                                   warc_content_type=spec["ctype"],
                                                   warc_headers_dict=extra)
            if spec.get("date") == "":  # a record without any WARC-Date
                record.rec_headers.remove_header("WARC-Date")
            writer.write_record(record)
    return path


def payload_digest(path: Path, url: str) -> Tuple[str, str]:
    """(WARC-Payload-Digest, WARC-Date) of the response for `url` in a WARC."""
    from warcio.archiveiterator import ArchiveIterator

    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh):
            if record.rec_type == "response" and record.rec_headers.get_header(
                    "WARC-Target-URI") == url:
                return (record.rec_headers.get_header("WARC-Payload-Digest"),
                        record.rec_headers.get_header("WARC-Date"))
    raise AssertionError(f"no response for {url}")


def archiveweb_key(key: str, ts: str, fields: Dict[str, Any]) -> Tuple[str, str]:
    """ArchiveWeb.page's habits: milliseconds in the timestamp, `:@;|` escaped in the query."""
    path, sep, query = key.partition("?")
    if sep:
        query = "".join("%" + format(ord(c), "02X") if c in ":@;|" else c for c in query)
    return path + sep + query, ts + "123"


def jswacz_key(key: str, ts: str, fields: Dict[str, Any]) -> Tuple[str, str]:
    """js-wacz (Scoop): the SURT key keeps the URL's trailing slash."""
    url = str(fields.get("url", ""))
    path = url.split("?", 1)[0]
    if path.endswith("/") and not key.split("?", 1)[0].endswith("/"):
        head, sep, query = key.partition("?")
        key = head + "/" + sep + query
    return key, ts


def foreign_wacz(out: Path, warcs: Sequence[Path], *, transform: Optional[Transform] = None,
                 key: Optional[SigningKey] = None, software: str = "ArchiveWeb.page 0.11.3",
                 pages: Optional[List[Dict[str, Any]]] = None) -> Path:
    """A WACZ as another tool writes it: its index shaped by `transform(key, ts, fields)`,
    `pages` as its page list, signed anonymously by `key` (None: not signed at all)."""
    created = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    files: Dict[str, bytes] = {}
    lines = []
    for path in warcs:
        data = Path(path).read_bytes()
        files["archive/" + Path(path).name] = data
        with open(path, "rb") as fh:
            for entry in iter_warc_entries(fh, Path(path).name):
                off, length = int(entry.fields["offset"]), int(entry.fields["length"])
                entry.fields["recordDigest"] = "sha256:" + hashlib.sha256(
                    data[off:off + length]).hexdigest()
                k, ts = (transform or (lambda a, b, c: (a, b)))(entry.key, entry.timestamp,
                                                                 entry.fields)
                lines.append(f"{k} {ts} {json.dumps(dict(entry.fields))}\n")
    files["indexes/index.cdxj"] = "".join(sorted(lines)).encode()
    header = {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}
    files["pages/pages.jsonl"] = "".join(json.dumps(p) + "\n"
                                         for p in [header] + list(pages or [])).encode()
    package = {
        "profile": "data-package", "wacz_version": "1.1.1", "title": "foreign", "created":
        created, "modified": created, "software": software,
        "resources": [{"name": Path(n).name, "path": n,
                       "hash": "sha256:" + hashlib.sha256(d).hexdigest(), "bytes": len(d)}
                      for n, d in files.items()],
    }
    if pages:
        package["mainPageUrl"] = pages[0]["url"]
    raw = json.dumps(package, indent=2).encode()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            stored = name.startswith("archive/")
            zf.writestr(name, data, zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
        zf.writestr("datapackage.json", raw)
        if key is not None:
            signed = key.sign_datapackage(raw, created)
            digest = {"path": "datapackage.json", "hash": signed["hash"], "signedData": signed}
            zf.writestr("datapackage-digest.json", json.dumps(digest))
    return out


def run_cli(*args: str, env: Optional[Dict[str, str]] = None,
            cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    """`python -m mirrorkit ARGS` in a real process: what a user sees, exit code and all."""
    return subprocess.run([sys.executable, "-m", "mirrorkit", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


def flip_payload_byte(path: Path, needle: bytes) -> None:
    """Change one byte of `needle` inside an uncompressed WARC: the record's own digests no
    longer match, as on a disk that rotted before anyone bundled it."""
    data = bytearray(path.read_bytes())
    at = data.index(needle)
    data[at] ^= 0x20
    path.write_bytes(bytes(data))


def links(html: str, prefix: str) -> List[str]:
    """Every href/src in a replayed page that starts with `prefix`."""
    from html import unescape

    found = [unescape(m) for m in re.findall(r'(?:href|src)="([^"]+)"', html)]
    return [m for m in found if m.startswith(prefix)]


class Served:
    """A real replay server (waitress on 127.0.0.1) over some bundles, for `with` blocks.

    Paths are the reader's (`NAME/TS/URL`, `NAME/main`, `NAME/pages.json`); archived bytes are
    fetched from the bundle's own content origin (safe replay: they never come from the reader's
    origin), so replay paths and the reader pages they lead to are mapped onto it. Links found in
    replayed pages start with `prefix(NAME)` and are fetched as they are.
    """

    def __init__(self, *paths: Path, fingerprint: Optional[str] = None) -> None:
        from serve.server import start_server

        self.server = start_server(list(paths), port=0, fingerprint=fingerprint)
        self.url = self.server.url

    def __enter__(self) -> Served:
        self.server.start_in_thread()
        for bundle in self.server.bundles:
            bundle.wait_verified(60)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.close()

    def prefix(self, name: str) -> str:
        """The path every archived URL of bundle `name` starts with on its content origin."""
        from urllib.parse import urlsplit

        return urlsplit(self.server.content_url(name)).path

    def _content(self, path: str) -> Optional[str]:
        """The content-origin URL for a reader replay path or a content path, else None."""
        path = "/" + path.lstrip("/")
        for bundle in self.server.bundles:
            if not hasattr(bundle, "secret"):
                continue  # an unreadable bundle has no content origin
            content = self.server.content_url(bundle.name)
            if path.startswith(self.prefix(bundle.name)):
                return content.split("/", 3)[0] + "//" + content.split("/", 3)[2] + path
            m = re.match(rf"^/{re.escape(bundle.name)}/(?:~[a-z]+/)*(\d{{1,17}}[a-z]{{0,2}}_?/.*)$",
                         path)
            if m:
                return content + m.group(1)
        return None

    def get(self, path: str) -> Tuple[int, Dict[str, str], bytes]:
        """(status, headers, body) of GET `path`, errors included (never raises for 4xx/5xx)."""
        import urllib.error
        import urllib.request
        from urllib.parse import urlsplit

        def fetch(url: str) -> Tuple[int, Dict[str, str], bytes, str]:
            try:
                with urllib.request.urlopen(url, timeout=30) as resp:
                    return resp.status, dict(resp.headers.items()), resp.read(), resp.geturl()
            except urllib.error.HTTPError as err:
                return err.code, dict(err.headers.items()), err.read(), url

        content = self._content(path)
        if content is not None:
            return fetch(content)[:3]
        status, headers, body, final = fetch(self.url + path.lstrip("/"))
        content = self._content(urlsplit(final).path) if status == 200 else None
        if content is not None:  # a reader page (e.g. after /NAME/main): its framed content
            return fetch(content)[:3]
        return status, headers, body

    def raw_headers(self, path: str) -> bytes:
        """The response head exactly as sent (header names included), over a plain socket."""
        import socket
        from urllib.parse import urlsplit

        url = self._content(path) or self.url + path.lstrip("/")
        where = urlsplit(url)
        target = where.path + (f"?{where.query}" if where.query else "")
        with socket.create_connection((where.hostname, where.port), timeout=30) as sock:
            sock.sendall(f"GET {target} HTTP/1.0\r\nHost: 127.0.0.1:{where.port}\r\n\r\n"
                         .encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data.split(b"\r\n\r\n", 1)[0]
