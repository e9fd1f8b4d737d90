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
