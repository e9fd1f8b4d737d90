"""Keys, fingerprints, signing as ArchiveWeb.page does, and checking signatures from other tools."""

from __future__ import annotations

import base64
import doctest
import hashlib
import json
import os
import stat
import sys
import zipfile
from pathlib import Path

import ecdsa
import pytest
from ecdsa.util import sigdecode_string

from mirrorkit.cli import main
from mirrorkit.errors import KeyFileError, SignatureError, UsageError
from mirrorkit.trust import signing
from mirrorkit.trust.signeddata import verify_signed_data
from mirrorkit.trust.signing import (
    KeyPermissionError,
    fingerprint,
    generate_key,
    load_private_key,
    normalize_fingerprint,
    read_public_key,
    save_private_key,
    write_public_key,
)

# Split so that secret scanners do not mistake this test for a leaked key.
ENCRYPTED_PEM = "ENCRYPTED " + "PRIVATE KEY"


def _signed_data(interop: Path, name: str) -> dict:
    with zipfile.ZipFile(interop / name) as zf:
        return json.loads(zf.read("datapackage-digest.json"))["signedData"]


@pytest.fixture(scope="module")
def key() -> signing.SigningKey:
    return generate_key("Lantern Reports")


def test_doctests() -> None:
    assert doctest.testmod(signing).failed == 0


def test_fingerprint_format_and_normalising() -> None:
    fp = fingerprint(b"spki")
    groups = fp.split(" ")
    assert len(groups) == 16 and all(len(g) == 4 and g == g.upper() for g in groups)
    assert fp.replace(" ", "") == hashlib.sha256(b"spki").hexdigest().upper()
    assert normalize_fingerprint(fp.lower().replace(" ", "")) == fp
    assert normalize_fingerprint(" " + fp.replace(" ", ":") + "\n") == fp
    for bad in ("", "1234", fp[:-1], fp.replace("A", "G")[:79] + "Z"):
        with pytest.raises(UsageError):
            normalize_fingerprint(bad)


def test_sign_datapackage_is_what_archiveweb_page_writes(key: signing.SigningKey) -> None:
    data = b'{"profile": "data-package"}'
    signed = key.sign_datapackage(data, "2024-05-01T12:00:00Z")
    assert list(signed) == ["hash", "created", "software", "signature", "publicKey"]
    assert signed["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert signed["created"] == "2024-05-01T12:00:00Z"
    raw = base64.b64decode(signed["signature"])
    assert len(raw) == 96  # raw r||s, not DER
    # Checked independently with the pure-Python ecdsa package, not our own code.
    vk = ecdsa.VerifyingKey.from_der(base64.b64decode(signed["publicKey"]))
    assert vk.curve == ecdsa.NIST384p
    assert vk.verify(raw, signed["hash"].encode(), hashfunc=hashlib.sha256,
                     sigdecode=sigdecode_string)
    info = verify_signed_data(signed)
    assert info.kind == "anonymous" and info.fingerprint == key.fingerprint


def test_key_file_is_0600_encrypted_named_and_never_overwritten(
    tmp_path: Path, key: signing.SigningKey
) -> None:
    path = save_private_key(key, tmp_path / "k.key", "correct horse")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert f"-----BEGIN {ENCRYPTED_PEM}-----" in text
    assert 'mirrorkit-key-name: "Lantern Reports"' in text
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        save_private_key(key, path, "other")
    assert path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name != "k.key"]  # no temp files left
    loaded = load_private_key(path, "correct horse")
    assert loaded.name == "Lantern Reports" and loaded.fingerprint == key.fingerprint


def test_key_loading_errors(tmp_path: Path, key: signing.SigningKey) -> None:
    path = save_private_key(key, tmp_path / "k.key", "pw")
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        load_private_key(path, "nope")
    with pytest.raises(KeyFileError, match="passphrase is needed"):
        load_private_key(path, None)
    with pytest.raises(KeyFileError, match="no key file"):
        load_private_key(tmp_path / "missing.key", None)
    junk = tmp_path / "junk.key"
    junk.write_text("hello")
    junk.chmod(0o600)
    with pytest.raises(KeyFileError, match="not a private key"):
        load_private_key(junk, None)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    p256 = tmp_path / "p256.key"
    p256.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    p256.chmod(0o600)
    with pytest.raises(KeyFileError, match="needs P-384"):
        load_private_key(p256, None)


def test_readable_key_is_refused_unless_allowed(tmp_path: Path, key: signing.SigningKey) -> None:
    path = save_private_key(key, tmp_path / "open.key", None)
    assert "ENCRYPTED" not in path.read_text()
    path.chmod(0o644)
    with pytest.raises(KeyPermissionError, match="read by other users") as info:
        load_private_key(path, None)
    assert "chmod 600" in (info.value.hint or "")
    assert load_private_key(path, None, allow_insecure=True).fingerprint == key.fingerprint


def test_public_key_file_round_trip_and_tamper(tmp_path: Path, key: signing.SigningKey) -> None:
    pub = write_public_key(key, tmp_path / "k.pub")
    record = json.loads(pub.read_text())
    assert record["format"] == "mirrorkit-public-key-1"
    assert record["fingerprint"] == key.fingerprint
    assert read_public_key(pub).fingerprint == key.fingerprint
    record["fingerprint"] = fingerprint(b"other")
    bad = tmp_path / "bad.pub"
    bad.write_text(json.dumps(record))
    with pytest.raises(KeyFileError, match="does not match"):
        read_public_key(bad)


@pytest.mark.parametrize("backend", ["cryptography", "ecdsa"])
def test_interop_signatures(interop: Path, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if backend == "ecdsa":
        monkeypatch.setenv("MIRRORKIT_CRYPTO", "ecdsa")
    assert signing.backend_name() == backend
    good = verify_signed_data(_signed_data(interop, "starling-good-anon-sig.wacz"))
    assert good.kind == "anonymous" and good.backend == backend
    with pytest.raises(SignatureError, match="does not verify"):
        verify_signed_data(_signed_data(interop, "starling-bad-anon-sig.wacz"))
    domain = verify_signed_data(_signed_data(interop, "starling-good-domain-sig.wacz"))
    assert domain.kind == "domain" and domain.domain == "org1.authsign.stg.starlinglab.org"
    assert domain.certificate["validAtCreated"] is True
    assert domain.certificate["expiredNow"] is True  # expired in 2022: judged at `created`
    assert any("judged at the signing time" in n for n in domain.notes)
    assert domain.timestamp["withinWindow"] is True
    with pytest.raises(SignatureError, match="does not verify"):
        verify_signed_data(_signed_data(interop, "starling-bad-domain-sig.wacz"))
    valid = verify_signed_data(_signed_data(interop, "pywacz-valid-domain-sig.wacz"))
    assert valid.domain == "btrix-sign-test.webrecorder.net"
    if backend == "cryptography":
        assert "ISRG Root X1" in valid.certificate["chain"]
        assert valid.timestamp["tsaSignature"] == "verified with timestampCert"
        # Signed through Let's Encrypt's *staging* CA: the signature is fine, the chain is not.
        with pytest.raises(SignatureError, match="does not chain"):
            verify_signed_data(_signed_data(interop, "pywacz-invalid-domain-sig.wacz"))
    else:
        assert any("not checked" in n for n in valid.notes)


def test_fallback_without_cryptography_installed(
    key: signing.SigningKey, interop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed = key.sign_datapackage(b"{}", "2024-01-01T00:00:00Z")
    monkeypatch.setitem(sys.modules, "cryptography", None)  # import now fails
    assert signing.backend_name() == "ecdsa"
    assert verify_signed_data(signed).fingerprint == key.fingerprint
    tampered = dict(signed, hash="sha256:" + "0" * 64)
    with pytest.raises(SignatureError):
        verify_signed_data(tampered)
    with pytest.raises(KeyFileError, match="cryptography"):
        generate_key("x")


def test_domain_signature_tampering(interop: Path) -> None:
    base = _signed_data(interop, "starling-good-domain-sig.wacz")
    with pytest.raises(SignatureError, match="claimed domain"):
        verify_signed_data(dict(base, domain="example.org"))
    with pytest.raises(SignatureError, match="not valid when the bundle was signed"):
        verify_signed_data(dict(base, created="2023-01-01T00:00:00Z"))
    with pytest.raises(SignatureError, match="time stamp"):
        verify_signed_data(dict(base, timeSignature=base["timeSignature"][:200]))
    with pytest.raises(SignatureError):
        verify_signed_data(dict(base, domainCert="-----BEGIN CERTIFICATE-----\nAAAA\n"
                                                 "-----END CERTIFICATE-----"))


@pytest.mark.parametrize("bad", [None, [], {"hash": "md5:x"}, {"hash": "sha256:" + "a" * 64},
                                 {"hash": "sha256:" + "a" * 64, "created": "2024-01-01",
                                  "signature": "!!", "publicKey": "AAAA"}])
def test_malformed_signed_data_is_a_clean_error(bad: object) -> None:
    with pytest.raises(SignatureError):
        verify_signed_data(bad)


# --- the `mirrorkit key` command ----------------------------------------------------------------

def test_key_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirrorkit_home: Path,
                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MIRRORKIT_PASSPHRASE", "s3cret passphrase")
    assert main(["key", "generate", "--name", "Lantern Reports"]) == 0
    path = mirrorkit_home / "keys" / "lantern-reports.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ENCRYPTED_PEM in path.read_text()
    out = capsys.readouterr().out
    assert "Fingerprint:" in out
    # Never overwrites: exit 1 and the file is untouched.
    before = path.read_bytes()
    assert main(["key", "generate", "--name", "Lantern Reports"]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert path.read_bytes() == before

    assert main(["key", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["name"] == "Lantern Reports"
    pub = tmp_path / "lantern.pub"
    assert main(["key", "export", "--key", str(path), "-o", str(pub)]) == 0
    assert read_public_key(pub).fingerprint == shown["fingerprint"]
    assert main(["key", "show", "--key", str(pub)]) == 0
    assert shown["fingerprint"] in capsys.readouterr().out

    monkeypatch.setenv("MIRRORKIT_PASSPHRASE", "wrong")
    assert main(["key", "show", "--key", str(path)]) == 1
    err = capsys.readouterr().err
    assert "wrong passphrase" in err and "Traceback" not in err


def test_key_cli_unencrypted_and_usage_errors(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plain.key"
    assert main(["key", "generate", "--name", "Plain", "--out", str(out), "--no-passphrase"]) == 0
    assert "ENCRYPTED" not in out.read_text()
    assert main(["key", "generate", "--name", "  ", "--out", str(tmp_path / "x.key"),
                 "--no-passphrase"]) == 2
    assert main(["key", "show"]) == 2  # no key in the config dir yet
    assert os.listdir(tmp_path) == ["plain.key"]


def test_interrupted_save_leaves_no_key_and_no_temp(tmp_path: Path, key: signing.SigningKey,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "link", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_private_key(key, tmp_path / "k.key", "pw")
    assert list(tmp_path.iterdir()) == []
