"""The tamper suite: every mutation of a good signed bundle must give exit 1, a message naming
what failed, and no traceback. The good bundle is made by `create_bundle` from interop WARCs."""

from __future__ import annotations

import json
import struct
import warnings
import zipfile
from pathlib import Path
from typing import Callable, Dict

import pytest
from signed_bundle import build_bundle, rezip

from mirrorkit.bundle.writer import create_bundle
from mirrorkit.cli import main
from mirrorkit.trust.signing import SigningKey, generate_key
from mirrorkit.verify import verify_bundle

WARC = "archive/example.warc.gz"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return generate_key("Lantern Reports")


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory, key: SigningKey, interop: Path) -> Path:
    out = tmp_path_factory.mktemp("tamper") / "good.wacz"
    warcs = ["example.warc.gz", "example-url-agnostic-orig.warc.gz",
             "example-url-agnostic-revisit.warc.gz"]
    return create_bundle([interop / w for w in warcs], out, key=key, collection="lantern",
                         sequence=3, index_format="compressed")


# --- raw byte helpers -----------------------------------------------------------------------

def _data_span(path: Path, name: str) -> tuple[int, int]:
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    raw = path.read_bytes()
    n, m = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + n + m
    return start, start + info.compress_size


def _flip(src: Path, dst: Path, name: str, where: float = 0.5) -> None:
    raw = bytearray(src.read_bytes())
    start, end = _data_span(src, name)
    pos = start + int((end - start) * where)
    raw[pos] ^= 0x01
    dst.write_bytes(bytes(raw))


def _central(raw: bytes, name: str) -> int:
    pos = raw.find(b"PK\x01\x02")
    while pos >= 0:
        n = struct.unpack("<H", raw[pos + 28:pos + 30])[0]
        if raw[pos + 46:pos + 46 + n] == name.encode():
            return pos
        pos = raw.find(b"PK\x01\x02", pos + 4)
    raise KeyError(name)


def _patch_central(src: Path, dst: Path, name: str, field: int, fmt: str, value: int) -> None:
    raw = bytearray(src.read_bytes())
    pos = _central(bytes(raw), name) + field
    struct.pack_into(fmt, raw, pos, value)
    dst.write_bytes(bytes(raw))


def _json(src: Path, name: str) -> dict:
    with zipfile.ZipFile(src) as zf:
        return json.loads(zf.read(name))


def _edit_package(src: Path, dst: Path, edit: Callable[[dict], None]) -> None:
    package = _json(src, "datapackage.json")
    edit(package)
    rezip(src, dst, replace={"datapackage.json": json.dumps(package, indent=2).encode()})


def _edit_digest(src: Path, dst: Path, edit: Callable[[dict], None]) -> None:
    digest = _json(src, "datapackage-digest.json")
    edit(digest)
    rezip(src, dst, replace={"datapackage-digest.json": json.dumps(digest).encode()})


def _resign(src: Path, dst: Path, signer: SigningKey, edit: Callable[[dict], None]) -> None:
    """Change the manifest and sign it again with `signer` (an attacker's key)."""
    package = _json(src, "datapackage.json")
    edit(package)
    raw = json.dumps(package, indent=2).encode()
    signed = signer.sign_datapackage(raw, package["created"])
    digest = {"path": "datapackage.json", "hash": signed["hash"], "signedData": signed}
    rezip(src, dst, replace={"datapackage.json": raw,
                             "datapackage-digest.json": json.dumps(digest).encode()})


def _append_member(src: Path, dst: Path, name: str, data: bytes) -> None:
    dst.write_bytes(src.read_bytes())
    with warnings.catch_warnings(), zipfile.ZipFile(dst, "a") as zf:
        warnings.simplefilter("ignore")  # "Duplicate name" is the point of one mutation
        zf.writestr(zipfile.ZipInfo(name), data)


# --- the mutations --------------------------------------------------------------------------
# Each takes (good bundle, output path, context) and returns text the failure must mention.

Mutation = Callable[[Path, Path, Dict[str, object]], str]
MUTATIONS: Dict[str, Mutation] = {}


def mutation(name: str) -> Callable[[Mutation], Mutation]:
    def register(fn: Mutation) -> Mutation:
        MUTATIONS[name] = fn
        return fn
    return register


@mutation("flipped byte in a WARC")
def _m1(src: Path, dst: Path, ctx: dict) -> str:
    _flip(src, dst, WARC)
    return WARC


@mutation("flipped byte in the index")
def _m2(src: Path, dst: Path, ctx: dict) -> str:
    _flip(src, dst, "indexes/index.cdx.gz")
    return "indexes/index.cdx.gz"


@mutation("flipped byte in datapackage.json")
def _m3(src: Path, dst: Path, ctx: dict) -> str:
    with zipfile.ZipFile(src) as zf:
        raw = bytearray(zf.read("datapackage.json"))
    raw[raw.index(b'"title"') + 3] ^= 0x20
    rezip(src, dst, replace={"datapackage.json": bytes(raw)})
    return "datapackage.json does not match"


@mutation("flipped byte in the signature")
def _m4(src: Path, dst: Path, ctx: dict) -> str:
    def edit(d: dict) -> None:
        sig = d["signedData"]["signature"]
        d["signedData"]["signature"] = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    _edit_digest(src, dst, edit)
    return "signature does not verify"


@mutation("swapped public key")
def _m5(src: Path, dst: Path, ctx: dict) -> str:
    other = ctx["other"].sign_datapackage(b"x", "2024-01-01T00:00:00Z")["publicKey"]
    _edit_digest(src, dst, lambda d: d["signedData"].__setitem__("publicKey", other))
    return "signature does not verify"


@mutation("manifest re-signed with another key")
def _m6(src: Path, dst: Path, ctx: dict) -> str:
    _resign(src, dst, ctx["other"], lambda p: p.__setitem__("title", "changed"))
    return "names key"


@mutation("removed member")
def _m7(src: Path, dst: Path, ctx: dict) -> str:
    rezip(src, dst, drop=[WARC])
    return "listed but missing"


@mutation("added member")
def _m8(src: Path, dst: Path, ctx: dict) -> str:
    rezip(src, dst, add={"logs/extra.html": b"<script>evil()</script>"})
    return "not listed"


@mutation("renamed member")
def _m9(src: Path, dst: Path, ctx: dict) -> str:
    rezip(src, dst, rename={WARC: "archive/renamed.warc.gz"})
    return "archive/renamed.warc.gz"


@mutation("duplicated member")
def _m10(src: Path, dst: Path, ctx: dict) -> str:
    with zipfile.ZipFile(src) as zf:
        data = zf.read("pages/pages.jsonl")
    _append_member(src, dst, "pages/pages.jsonl", data)
    return "appears twice"


@mutation("truncated ZIP")
def _m11(src: Path, dst: Path, ctx: dict) -> str:
    dst.write_bytes(src.read_bytes()[:-300])
    return "not a readable ZIP"


@mutation("'..' member name")
def _m12(src: Path, dst: Path, ctx: dict) -> str:
    _append_member(src, dst, "archive/../../evil.sh", b"rm -rf ~")
    return "'..'"


@mutation("absolute member name")
def _m13(src: Path, dst: Path, ctx: dict) -> str:
    _append_member(src, dst, "/etc/cron.d/evil", b"* * * * * root evil")
    return "absolute path"


@mutation("oversized declared member (ZIP bomb claim)")
def _m14(src: Path, dst: Path, ctx: dict) -> str:
    _patch_central(src, dst, "pages/pages.jsonl", 24, "<I", 0xFFFFFFF0)
    return "ZIP bomb"


@mutation("real ZIP bomb in place of a listed file")
def _m15(src: Path, dst: Path, ctx: dict) -> str:
    rezip(src, dst, replace={"pages/pages.jsonl": b"\0" * (64 * 1024 * 1024)},
          compress=["pages/pages.jsonl"])
    return "the manifest says"  # refused on its declared size, before inflating


@mutation("revisit pointing outside the bundle")
def _m16(src: Path, dst: Path, ctx: dict) -> str:
    interop: Path = ctx["interop"]  # type: ignore[assignment]
    build_bundle(dst, [interop / "example-url-agnostic-revisit.warc.gz"], ctx["key"])
    return "outside the bundle"


@mutation("deleted resource entry")
def _m17(src: Path, dst: Path, ctx: dict) -> str:
    _edit_package(src, dst, lambda p: p["resources"].pop(0))
    return "datapackage.json does not match"


@mutation("changed sequence number")
def _m18(src: Path, dst: Path, ctx: dict) -> str:
    _edit_package(src, dst, lambda p: p["mirrorkit"].__setitem__("sequence", 99))
    return "datapackage.json does not match"


@mutation("non-STORED WARC")
def _m19(src: Path, dst: Path, ctx: dict) -> str:
    rezip(src, dst, compress=[WARC])
    return "STORED"


@mutation("digest file removed (unsigned)")
def _m20(src: Path, dst: Path, ctx: dict) -> str:
    rezip(src, dst, drop=["datapackage-digest.json"])
    return "not signed"


@mutation("signedData removed")
def _m21(src: Path, dst: Path, ctx: dict) -> str:
    _edit_digest(src, dst, lambda d: d.pop("signedData"))
    return "not signed"


@mutation("manifest edited and digest hashes updated")
def _m22(src: Path, dst: Path, ctx: dict) -> str:
    import hashlib

    package = _json(src, "datapackage.json")
    package["title"] = "edited"
    raw = json.dumps(package).encode()
    digest = _json(src, "datapackage-digest.json")
    digest["hash"] = digest["signedData"]["hash"] = "sha256:" + hashlib.sha256(raw).hexdigest()
    rezip(src, dst, replace={"datapackage.json": raw,
                             "datapackage-digest.json": json.dumps(digest).encode()})
    return "signature does not verify"


@mutation("signature time changed")
def _m23(src: Path, dst: Path, ctx: dict) -> str:
    _edit_digest(src, dst, lambda d: d["signedData"].__setitem__("created",
                                                                 "2001-01-01T00:00:00Z"))
    return "created time"


@mutation("local header names another file")
def _m24(src: Path, dst: Path, ctx: dict) -> str:
    raw = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        offset = zf.getinfo(WARC).header_offset
    raw[offset + 30 + 8] ^= 0x20  # a letter of the name in the local header only
    dst.write_bytes(bytes(raw))
    return "local header"


@mutation("directory entry pointing at another member's header")
def _m25(src: Path, dst: Path, ctx: dict) -> str:
    with zipfile.ZipFile(src) as zf:
        target = zf.getinfo("pages/pages.jsonl").header_offset
    # Point the index's directory entry at the pages member's bytes.
    _patch_central(src, dst, "indexes/index.idx", 42, "<I", target)
    return "local header names another file"


@mutation("overlapping members (a file hidden inside another)")
def _m31(src: Path, dst: Path, ctx: dict) -> str:
    import zlib

    hidden, name = b"<script>evil()</script>", b"logs/hidden.html"
    inner = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, zlib.crc32(hidden),
                        len(hidden), len(hidden), len(name), 0) + name + hidden
    rezip(src, dst, add={})
    with zipfile.ZipFile(dst, "a") as zf:
        zf.writestr(zipfile.ZipInfo("logs/carrier.bin"), inner)  # STORED
    raw = bytearray(dst.read_bytes())
    carrier = _central(bytes(raw), "logs/carrier.bin")
    start, _ = _data_span(dst, "logs/carrier.bin")
    entry = bytearray(raw[carrier:carrier + 46])
    struct.pack_into("<LLLH", entry, 16, zlib.crc32(hidden), len(hidden), len(hidden), len(name))
    struct.pack_into("<L", entry, 42, start)
    eocd = raw.rfind(b"PK\x05\x06")
    count, size, offset = struct.unpack("<HLL", raw[eocd + 10:eocd + 20])
    new_entry = bytes(entry) + name
    struct.pack_into("<HHLL", raw, eocd + 8, count + 1, count + 1, size + len(new_entry), offset)
    dst.write_bytes(bytes(raw[:eocd]) + new_entry + bytes(raw[eocd:]))
    return "overlap"


@mutation("index entry pointing at no record")
def _m26(src: Path, dst: Path, ctx: dict) -> str:
    interop: Path = ctx["interop"]  # type: ignore[assignment]
    from signed_bundle import cdxj_lines

    lines = cdxj_lines("example.warc.gz", (interop / "example.warc.gz").read_bytes())
    key, ts, fields = lines[0].split(" ", 2)
    record = json.loads(fields)
    record["offset"] = str(int(record["offset"]) + 7)
    lines[0] = f"{key} {ts} {json.dumps(record)}"
    build_bundle(dst, [interop / "example.warc.gz"], ctx["key"],
                 members={"indexes/index.cdxj": ("\n".join(lines) + "\n").encode()})
    return "points at no record"


@mutation("encrypted member flag")
def _m27(src: Path, dst: Path, ctx: dict) -> str:
    _patch_central(src, dst, "pages/pages.jsonl", 8, "<H", 0x0001)
    return "encrypted"


@mutation("not a ZIP at all")
def _m28(src: Path, dst: Path, ctx: dict) -> str:
    dst.write_bytes(b"WARC/1.1\r\n" + b"x" * 500)
    return "not a readable ZIP"


@mutation("flipped byte at the end of a WARC")
def _m29(src: Path, dst: Path, ctx: dict) -> str:
    _flip(src, dst, "archive/example-url-agnostic-orig.warc.gz", where=0.999)
    return "archive/example-url-agnostic-orig.warc.gz"


@mutation("WARC swapped for another signed bundle's WARC")
def _m30(src: Path, dst: Path, ctx: dict) -> str:
    interop: Path = ctx["interop"]  # type: ignore[assignment]
    rezip(src, dst, replace={WARC: (interop / "example-wget-1-14.warc.gz").read_bytes()})
    return "the manifest says"


def test_there_are_at_least_twenty_mutations() -> None:
    assert len(MUTATIONS) >= 20


def test_good_bundle_is_accepted(good: Path, key: SigningKey) -> None:
    report = verify_bundle(good, fingerprint=key.fingerprint, deep=True)
    assert report.trusted


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_mutation_is_rejected(name: str, good: Path, key: SigningKey, interop: Path,
                              tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = {"key": key, "other": OTHER, "interop": interop}
    bad = tmp_path / "bad.wacz"
    expected = MUTATIONS[name](good, bad, ctx)
    code = main(["verify", str(bad), "--deep", "--fingerprint", key.fingerprint])
    captured = capsys.readouterr()
    assert code == 1, f"{name}: accepted!\n{captured.out}"
    text = captured.out + captured.err
    assert "Traceback" not in text
    assert captured.out.startswith("FAILED")
    assert expected in text, f"{name}: message does not say {expected!r}:\n{text}"
    assert "OK:" not in text and "TRUSTED" not in text


def test_consistent_resign_by_another_key_is_not_the_trusted_publisher(
    good: Path, key: SigningKey, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The attacker rewrites the publisher block with their own fingerprint: the bundle is then
    # genuinely valid, but signed by someone else, so it must never pass as the original.
    bad = tmp_path / "resigned.wacz"
    _resign(good, bad, OTHER, lambda p: p["mirrorkit"].__setitem__("fingerprint",
                                                                   OTHER.fingerprint))
    assert main(["verify", str(bad), "--fingerprint", key.fingerprint]) == 3
    main(["trust", "add", key.fingerprint, "--name", "Lantern Reports"])
    capsys.readouterr()
    assert main(["verify", str(bad)]) == 3
    out = capsys.readouterr().out
    assert OTHER.fingerprint in out and "impersonation" in out


OTHER = generate_key("Mallory")
