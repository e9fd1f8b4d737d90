"""`verify_bundle` and `mirrorkit verify`: the interop corpus, our own bundles, trust, rollback."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any, Dict, List

import pytest
from signed_bundle import build_bundle, rezip

from mirrorkit.cli import main
from mirrorkit.errors import InvalidBundle, UsageError
from mirrorkit.trust.signing import SigningKey, generate_key
from mirrorkit.trust.store import SeenStore, TrustStore
from mirrorkit.verify import WORDING, VerificationFailed, verify_bundle

ANON_FP = "831E 071A 7976 1FEF CBCD C141 2090 0D0F 97A6 F6AE A277 983E 568E ED9B 9B5A 66ED"


def run_json(args: List[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Dict[str, Any]]:
    code = main(["verify", *args, "--json"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, json.loads(captured.out)


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return generate_key("Lantern Reports")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, key: SigningKey, interop: Path) -> Path:
    out = tmp_path_factory.mktemp("verify") / "lantern.wacz"
    return build_bundle(out, [interop / "example.warc.gz", interop / "iana.warc.gz"], key,
                        collection="lantern", sequence=5)


# --- the interop corpus ---------------------------------------------------------------------

@pytest.mark.parametrize("name, domain", [
    ("starling-good-anon-sig.wacz", None),
    ("starling-good-domain-sig.wacz", "org1.authsign.stg.starlinglab.org"),
    ("pywacz-valid-domain-sig.wacz", "btrix-sign-test.webrecorder.net"),
])
def test_good_interop_bundles_verify(interop: Path, name: str, domain: str | None,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = str(interop / name)
    code, report = run_json([path, "--deep"], capsys)
    assert code == 3, report  # intact and valid, but nobody trusts the signer yet
    assert report["status"] == "untrusted"
    signer = report["signer"]
    assert signer["domain"] == domain
    if name.startswith("starling-good-anon"):
        assert signer["fingerprint"] == ANON_FP
    if domain:
        assert signer["certificate"]["validAtCreated"] is True
        assert any("judged at the signing time" in w for w in report["warnings"])
    code, report = run_json([path, "--fingerprint", signer["fingerprint"].replace(" ", "")],
                            capsys)
    assert code == 0 and report["trusted"] is True


@pytest.mark.parametrize("name, failed", [
    ("starling-bad-anon-sig.wacz", "does not verify"),
    ("starling-bad-domain-sig.wacz", "does not verify"),
    ("pywacz-invalid-domain-sig.wacz", "does not chain to Let's Encrypt"),
])
def test_bad_interop_bundles_fail(interop: Path, name: str, failed: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(interop / name), "--fingerprint", ANON_FP]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILED")
    assert failed in out and "signature" in out


def test_interop_trust_store_makes_it_exit_0(interop: Path) -> None:
    TrustStore().add(ANON_FP, "ArchiveWeb.page sample")
    report = verify_bundle(interop / "starling-good-anon-sig.wacz")
    assert report.trusted and report.trusted_name == "ArchiveWeb.page sample"
    assert main(["verify", str(interop / "starling-good-anon-sig.wacz")]) == 0


# --- our own bundles --------------------------------------------------------------------------

def test_own_bundle_untrusted_then_trusted(bundle: Path, key: SigningKey,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(bundle)]) == 3
    text = capsys.readouterr().out
    assert text.startswith("VALID BUT NOT TRUSTED")
    assert key.fingerprint in text and "Lantern Reports" in text
    assert WORDING in text
    assert main(["trust", "add", key.fingerprint, "--name", "Lantern"]) == 0
    capsys.readouterr()
    code, report = run_json([str(bundle), "--deep"], capsys)
    assert code == 0
    assert [c["name"] for c in report["checks"]] == [
        "zip", "datapackage", "signature", "resources", "publisher", "records", "trust",
        "rollback"]
    assert all(c["outcome"] == "ok" for c in report["checks"])
    assert report["bundle"]["collection"] == "lantern" and report["bundle"]["sequence"] == 5
    records = next(c for c in report["checks"] if c["name"] == "records")["detail"]
    assert "124 revisits" in records  # 123 in iana.warc.gz + 1 in example.warc.gz, all resolved


def test_rollback_warns_and_strict_fails(tmp_path: Path, bundle: Path, key: SigningKey,
                                         interop: Path) -> None:
    TrustStore().add(key.fingerprint, "Lantern")
    verify_bundle(bundle)  # sequence 5 accepted and remembered
    assert SeenStore().highest(key.fingerprint, "lantern") == 5
    older = build_bundle(tmp_path / "old.wacz", [interop / "example.warc.gz"], key,
                         collection="lantern", sequence=4)
    report = verify_bundle(older)
    assert report.trusted
    rollback = next(c for c in report.checks if c.name == "rollback")
    assert rollback.outcome == "warn" and "#5" in rollback.detail
    with pytest.raises(VerificationFailed) as info:
        verify_bundle(older, strict=True)
    assert "rollback" in info.value.message
    assert main(["verify", str(older), "--strict"]) == 1
    # Nothing about the older copy was remembered over the newer one.
    assert SeenStore().highest(key.fingerprint, "lantern") == 5


def test_no_remember(bundle: Path, key: SigningKey) -> None:
    verify_bundle(bundle, remember=False)
    assert SeenStore().highest(key.fingerprint, "lantern") is None


def test_impersonation_is_untrusted_and_flagged(tmp_path: Path, key: SigningKey,
                                                interop: Path) -> None:
    TrustStore().add(key.fingerprint, "Lantern Reports")
    mallory = generate_key("Lantern Reports")  # same name, different key, consistent manifest
    fake = build_bundle(tmp_path / "fake.wacz", [interop / "example.warc.gz"], mallory,
                        collection="lantern", sequence=99)
    report = verify_bundle(fake)
    assert not report.trusted
    assert any("impersonation" in w for w in report.warnings)
    assert main(["verify", str(fake)]) == 3


def test_deep_names_the_damaged_url(tmp_path: Path, key: SigningKey, interop: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    # An uncompressed WARC, so a flipped body byte leaves every record parseable.
    warc = tmp_path / "example.warc"
    warc.write_bytes(gzip.decompress((interop / "example.warc.gz").read_bytes()))
    good = build_bundle(tmp_path / "plain.wacz", [warc], key)
    data = warc.read_bytes()
    at = data.index(b"Example Domain")  # inside the first response's HTML
    damaged = rezip(good, tmp_path / "damaged.wacz", replace={
        "archive/example.warc": data[:at] + b"X" + data[at + 1:]})
    code, report = run_json([str(damaged), "--deep"], capsys)
    assert code == 1
    urls = {d["url"] for d in report["damaged"]}
    assert urls == {"http://example.com?example=1"}
    problems = " ".join(d["problem"] for d in report["damaged"])
    assert "WARC-Payload-Digest" in problems and "recordDigest" in problems
    failed = {c["name"] for c in report["checks"] if c["outcome"] == "fail"}
    assert failed == {"resources", "records"}


def test_revisit_outside_bundle_real_data(tmp_path: Path, key: SigningKey, interop: Path) -> None:
    # dupes.warc.gz revisits records that live in iana.warc.gz.
    alone = build_bundle(tmp_path / "alone.wacz", [interop / "dupes.warc.gz"], key)
    with pytest.raises(VerificationFailed) as info:
        verify_bundle(alone, deep=True)
    assert "outside the bundle" in info.value.message
    verify_bundle(alone)  # without --deep the manifest is all that is checked
    both = build_bundle(tmp_path / "both.wacz",
                        [interop / "dupes.warc.gz", interop / "iana.warc.gz"], key)
    assert verify_bundle(both, deep=True).ok


def test_usage_errors(bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        verify_bundle(tmp_path / "missing.wacz")
    with pytest.raises(UsageError):
        verify_bundle(bundle, fingerprint="12 34")
    assert main(["verify", str(tmp_path / "missing.wacz")]) == 2
    assert main(["verify"]) == 2


def test_wrong_fingerprint_is_untrusted_and_says_so(bundle: Path) -> None:
    report = verify_bundle(bundle, fingerprint=ANON_FP)
    assert not report.trusted
    trust = next(c for c in report.checks if c.name == "trust")
    assert "NOT by the fingerprint you gave" in trust.detail


def test_verification_failed_is_an_invalid_bundle(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wacz"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InvalidBundle) as info:
        verify_bundle(junk)
    assert isinstance(info.value, VerificationFailed)
    assert info.value.report.checks[0].name == "zip"
    assert info.value.exit_code == 1


@pytest.mark.parametrize("mode", ["env-switch", "no-cryptography"])
def test_verify_without_cryptography(bundle: Path, key: SigningKey, interop: Path, mode: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    if mode == "env-switch":
        monkeypatch.setenv("MIRRORKIT_CRYPTO", "ecdsa")
    else:
        monkeypatch.setitem(sys.modules, "cryptography", None)
    report = verify_bundle(bundle, fingerprint=key.fingerprint, deep=True)
    assert report.trusted and report.signer is not None and report.signer.backend == "ecdsa"
    with pytest.raises(VerificationFailed):
        verify_bundle(interop / "starling-bad-anon-sig.wacz")
    domain = verify_bundle(interop / "starling-good-domain-sig.wacz")
    assert domain.signer is not None and domain.signer.domain
    assert any("not checked" in w for w in domain.warnings)


def test_bundle_from_create_bundle(tmp_path: Path, key: SigningKey, interop: Path) -> None:
    wacz = pytest.importorskip("mirrorkit.bundle.writer")
    out = wacz.create_bundle([interop / "example.warc.gz"], tmp_path / "made.wacz", key=key,
                             collection="made", sequence=1)
    report = verify_bundle(out, fingerprint=key.fingerprint, deep=True)
    assert report.trusted and report.bundle["collection"] == "made"


def test_copy_of_bundle_verifies_same(bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.wacz"
    shutil.copyfile(bundle, copy)
    assert verify_bundle(copy).signer.fingerprint == verify_bundle(bundle).signer.fingerprint


def test_progress_reports_the_bytes_hashed(bundle: Path, interop: Path) -> None:
    seen: List[int] = []
    verify_bundle(bundle, progress=seen.append)
    assert sum(seen) >= (interop / "iana.warc.gz").stat().st_size


def test_revisit_found_by_payload_when_its_date_matches_nothing(
    tmp_path: Path, key: SigningKey
) -> None:
    # Bundling and replay accept a revisit whose refers-to date matches no record when a
    # response for the same URL has its payload digest; --deep must agree, not cry "tampered".
    from io import BytesIO

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    warc = tmp_path / "revisit.warc.gz"
    with open(warc, "wb") as fh:
        writer = WARCWriter(fh, gzip=True, warc_version="WARC/1.1")
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        original = writer.create_warc_record(
            "http://example.org/", "response", payload=BytesIO(b"<p>same</p>"),
            http_headers=http, warc_headers_dict={"WARC-Date": "2026-01-01T00:00:00Z"})
        writer.write_record(original)
        digest = original.rec_headers.get_header("WARC-Payload-Digest")
        revisit = writer.create_revisit_record(
            "http://example.org/", digest, "http://example.org/", "2001-01-01T00:00:00Z",
            http_headers=http)
        writer.write_record(revisit)
    bundle = build_bundle(tmp_path / "revisit.wacz", [warc], key)
    report = verify_bundle(bundle, deep=True)
    assert report.ok
    records = next(c for c in report.checks if c.name == "records")
    assert records.outcome == "ok"
