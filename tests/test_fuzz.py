"""Property-based tests: random bytes and random mutations into the ZIP, JSON, WARC and signature
readers give only clean `MirrorkitError`s (or a correct verdict), never another exception."""

from __future__ import annotations

import base64
import contextlib
import gzip
import io
import json
import os
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from signed_bundle import build_bundle

from mirrorkit.errors import MirrorkitError
from mirrorkit.trust.signeddata import verify_signed_data
from mirrorkit.trust.signing import SigningKey, generate_key
from mirrorkit.verify import verify_bundle

# Lean by default (the suite budget); MIRRORKIT_FUZZ_EXAMPLES=2000 for a long random hunt.
_LONG = int(os.environ.get("MIRRORKIT_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=_LONG or 60, deadline=None, derandomize=not _LONG,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return generate_key("Fuzz")


@pytest.fixture(scope="module")
def plain_warc(tmp_path_factory: pytest.TempPathFactory, interop: Path) -> Path:
    out = tmp_path_factory.mktemp("fuzz") / "example.warc"
    out.write_bytes(gzip.decompress((interop / "example.warc.gz").read_bytes()))
    return out


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory, key: SigningKey, interop: Path) -> bytes:
    out = tmp_path_factory.mktemp("fuzz") / "good.wacz"
    return build_bundle(out, [interop / "example.warc.gz"], key).read_bytes()


def _verify(path: Path, **kwargs: object) -> bool:
    """True when the bundle verified; False on a clean MirrorkitError (anything else fails)."""
    try:
        verify_bundle(path, remember=False, **kwargs)  # type: ignore[arg-type]
    except MirrorkitError:
        return False
    return True


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


@FUZZ
@given(data=st.binary(max_size=4096), zip_prefix=st.booleans())
def test_random_bytes(tmp_path: Path, data: bytes, zip_prefix: bool) -> None:
    path = tmp_path / "random.wacz"
    path.write_bytes((b"PK\x03\x04" if zip_prefix else b"") + data)
    _verify(path, deep=True)


@FUZZ
@given(edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
                      min_size=1, max_size=8),
       cut=st.none() | st.floats(0, 1))
def test_random_mutations_of_a_good_bundle(tmp_path: Path, good: bytes, edits: list,
                                           cut: float | None) -> None:
    raw = bytearray(good)
    for where, value in edits:
        raw[int(where * len(raw))] = value
    if cut is not None:
        raw = raw[: int(cut * len(raw))]
    path = tmp_path / "mutated.wacz"
    path.write_bytes(bytes(raw))
    if _verify(path, deep=True):
        # A mutation may land in fields nothing vouches for (timestamps, padding); then the
        # content must be exactly the signed content. Anything else would be a false accept.
        assert _members(bytes(raw)) == _members(good)


@FUZZ
@given(package=json_values, digest=json_values, which=st.sampled_from(["package", "digest"]))
def test_random_json_manifests(tmp_path: Path, good: bytes, package: object, digest: object,
                               which: str) -> None:
    src = tmp_path / "src.wacz"
    src.write_bytes(good)
    path = tmp_path / "json.wacz"
    name = "datapackage.json" if which == "package" else "datapackage-digest.json"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == name:
                data = json.dumps(package if which == "package" else digest).encode()
            zout.writestr(info.filename, data, info.compress_type)
    assert not _verify(path), f"a random {name} was accepted"


@FUZZ
@given(edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.binary(max_size=6)),
                      min_size=1, max_size=6))
def test_random_warc_damage_under_a_valid_signature(tmp_path: Path, key: SigningKey,
                                                    plain_warc: Path, edits: list) -> None:
    # The publisher signed a damaged WARC, so the deep WARC and index readers really run on it.
    data = bytearray(plain_warc.read_bytes())
    for where, chunk in edits:
        at = int(where * len(data))
        data[at:at + len(chunk)] = chunk
    path = build_bundle(tmp_path / "warc.wacz", [plain_warc], key,
                        members={"archive/example.warc": bytes(data)})
    _verify(path, deep=True)


@FUZZ
@given(signed=st.dictionaries(
    st.sampled_from(["hash", "created", "signature", "publicKey", "domain", "domainCert",
                     "timeSignature", "timestampCert", "software"]),
    json_values | st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode()),
    max_size=9))
def test_random_signed_data(signed: dict) -> None:
    with contextlib.suppress(MirrorkitError):
        verify_signed_data(signed)


@FUZZ
@given(where=st.floats(0, 1, exclude_max=True), value=st.integers(0, 255),
       field=st.sampled_from(["timeSignature", "domainCert"]))
def test_damaged_domain_signature_parts(interop: Path, where: float, value: int,
                                        field: str) -> None:
    with zipfile.ZipFile(interop / "starling-good-domain-sig.wacz") as zf:
        signed = json.loads(zf.read("datapackage-digest.json"))["signedData"]
    if field == "timeSignature":
        raw = bytearray(base64.b64decode(signed[field]))
        raw[int(where * len(raw))] = value
        signed[field] = base64.b64encode(bytes(raw)).decode()
    else:
        pem = signed[field]
        body_start = pem.index("\n") + 1
        at = body_start + int(where * (len(pem) - body_start - 30))
        signed[field] = pem[:at] + "ABCDEFGHIJKLMNOP"[value % 16] + pem[at + 1:]
    with contextlib.suppress(MirrorkitError):
        verify_signed_data(signed)


# -- WARC header fields and dates, through bundling, deep verification and replay -------------

_DATES = st.sampled_from(["2014-01", "", "2014", "2014-01-26", "2014-01-26T20:06:24Z",
                          "2014-01-26T20:06:24.123456789Z", "2014-13-45T99:99:99Z",
                          "20140126200624", "Sun, 26 Jan 2014 20:06:24 GMT", "0000-00-00",
                          "2014-01-26T20:06:24+05:30", "9999-12-31T23:59:59Z"]
                         ) | st.text(max_size=30)
_FIELD_TEXT = st.text(st.characters(blacklist_characters="\r\n", codec="utf-8"), max_size=40)
_HEADER_NAMES = st.sampled_from(["X-Content Type Options", "Content-Encoding", "Content-Type",
                                 "Location", "Transfer-Encoding", "Content-Length", "Bad:Name",
                                 "", " ", "X-\u00e9"]) | _FIELD_TEXT


@st.composite
def warc_records(draw: st.DrawFn) -> bytes:
    """One WARC record with fields drawn from what other tools (and broken tools) write."""
    body = draw(st.binary(max_size=200))
    status = draw(st.sampled_from(["200 OK", "404 Not Found", "301 Moved", "999 X", "abc",
                                   "", "200", "0 Zero", "99999 Big", "101 Switching",
                                   "304 Not Modified"]))
    http_headers = draw(st.lists(st.tuples(_HEADER_NAMES, _FIELD_TEXT), max_size=4))
    http = f"HTTP/1.1 {status}\r\n".encode() + b"".join(
        f"{k}: {v}\r\n".encode() for k, v in http_headers) + b"\r\n" + body
    rec_type = draw(st.sampled_from(["response", "resource", "metadata", "revisit", "request",
                                     "warcinfo", "conversion", "bogus", ""]))
    block = http if rec_type in ("response", "revisit", "request") else body
    uri = draw(st.sampled_from(["http://fuzz.example/", "https://fuzz.example/a?b=1&c=%3A",
                                "file:///screenshot.png", "urn:X-wpull:log",
                                "<http://fuzz.example/wget>", "", "metadata://x/y",
                                "http://[::1/"]) | _FIELD_TEXT)
    fields = [("WARC-Type", rec_type), ("WARC-Target-URI", uri),
              ("WARC-Record-ID", f"<urn:uuid:{draw(st.uuids())}>")]
    # Half the records are well-framed (good date and length), so that the random fields
    # behind them reach indexing, page text, deep verification and replay too.
    clean = draw(st.booleans())
    date = "2014-01-26T20:06:24Z" if clean else draw(st.none() | _DATES)
    if date is not None:
        fields.append(("WARC-Date", date))
    fields.append(("Content-Type", draw(st.sampled_from([
        "application/http; msgtype=response", "application/http;msgtype=request",
        "text/html", "image/png", "application/warc-fields", ""]))))
    for name in draw(st.lists(st.sampled_from([
            "WARC-Payload-Digest", "WARC-Block-Digest", "WARC-Refers-To-Target-URI",
            "WARC-Refers-To-Date", "WARC-Truncated", "WARC-Profile"]), max_size=3, unique=True)):
        value = draw(st.sampled_from(["sha1:AAAA", "sha256:00", "md5:", "nonsense", "",
                                      "2014-01", "http://fuzz.example/"]) | _FIELD_TEXT)
        fields.append((name, value))
    length = str(len(block)) if clean else draw(st.sampled_from(
        [str(len(block)), "0", "-1", "x", "99999"]))
    fields.append(("Content-Length", length))
    head = "WARC/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n"
    return head.encode("utf-8") + block + b"\r\n\r\n"


BUNDLED: list = []


@FUZZ
@given(records=st.lists(warc_records(), min_size=1, max_size=4), gz=st.booleans())
def test_random_warc_fields_and_dates_bundle_verify_and_replay(
        tmp_path: Path, key: SigningKey, records: list, gz: bool) -> None:
    from mirrorkit.bundle import create_bundle
    from serve import create_app

    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<title>ok</title>"
    good = (b"WARC/1.1\r\nWARC-Type: response\r\nWARC-Target-URI: http://fuzz.example/ok\r\n"
            b"WARC-Date: 2014-01-26T20:06:24Z\r\nWARC-Record-ID: <urn:uuid:1>\r\n"
            b"Content-Type: application/http; msgtype=response\r\n"
            b"Content-Length: %d\r\n\r\n%s\r\n\r\n" % (len(http), http))
    data = good + b"".join(records)
    warc = tmp_path / ("fuzz.warc.gz" if gz else "fuzz.warc")
    warc.write_bytes(gzip.compress(data) if gz else data)
    try:
        wacz = create_bundle([warc], tmp_path / "fuzz.wacz", key=key, text=True,
                             keep_damaged=True, drop_unresolved_revisits=True)
    except MirrorkitError:
        return
    BUNDLED.append(1)
    _verify(wacz, deep=True)
    app = create_app([wacz], {"background": False})
    try:
        client = app.test_client()
        listing = client.get("/fuzz/pages.json")
        assert listing.status_code == 200
        targets = [p["replay"] for p in listing.get_json()]
        from mirrorkit.formats.wacz import WaczReader

        with WaczReader(wacz) as reader:
            targets += [f"/fuzz/{e.timestamp}/{e.url}" for e in reader.index]
        for target in targets[:12]:
            response = client.get(target)
            code = response.status_code
            assert 200 <= code < 500 or code in (501, 502), (target, code)
    finally:
        app.extensions["mirrorkit"].close()


def test_random_warc_fields_reached_replay() -> None:
    # Runs after the property above (file order): some random WARCs must have been bundled,
    # or the replay half of it tested nothing.
    assert BUNDLED, "no random WARC was ever bundled"
