"""READER.html on damaged and forged bundles: a flipped byte in a WARC record, in the index, in
datapackage.json, a swapped public key, a re-signing key, ArchiveWeb.page's bad signature. None
ends `trusted`, even with the publisher's fingerprint typed in; a damaged record shows as such."""

from __future__ import annotations

import base64
import json
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest
from reader_support import launch_browser, open_bundle
from serve_support import damage_record, tamper_title
from signed_bundle import rezip

from mirrorkit.trust.signing import fingerprint, generate_key

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_browser()


def _never_trusted(browser: Any, bundle: Path, fp: str) -> Any:
    phone = open_bundle(browser, bundle)
    try:
        state = phone.settle()
        if phone.page.is_visible("#fp-input"):
            phone.page.fill("#fp-input", fp)
        assert phone.state != "trusted", bundle
        return state, phone.page.inner_text("#verdict"), phone
    except BaseException:
        phone.close()
        raise


def test_flipped_byte_in_a_record_shows_it_damaged(browser: Any, sample_bundle: Any,
                                                   tmp_path: Path) -> None:
    url = sample_bundle.pages[0] + "about.html"
    bad = tmp_path / "record.wacz"
    damage_record(sample_bundle.path, bad, url)
    state, text, phone = _never_trusted(browser, bad, sample_bundle.fingerprint)
    try:
        assert state == "failed"
        assert "FAILED" in text and "does not match its hash" in text
        assert phone.show(url) == "damaged"
        assert "damaged" in phone.page.inner_text("#page-note")
        assert "Damaged record" in phone.page.inner_text("#problems")
        assert phone.page.evaluate("getComputedStyle(document.querySelector('#verdict-text'))"
                                   ".color") == "rgb(176, 0, 32)"  # red
        # Other pages stay readable, each still checked.
        assert phone.show(sample_bundle.pages[0]) == "shown"
    finally:
        phone.close()
    assert phone.network == []


def _flip_member(src: Path, dst: Path, name: str) -> None:
    with zipfile.ZipFile(src) as zf:
        data = bytearray(zf.read(name))
    data[len(data) // 2] ^= 0x01
    rezip(src, dst, replace={name: bytes(data)})


def test_flipped_byte_in_the_index_fails(browser: Any, sample_bundle: Any, tmp_path: Path) -> None:
    with zipfile.ZipFile(sample_bundle.path) as zf:
        name = next(n for n in zf.namelist() if n.startswith("indexes/"))
    bad = tmp_path / "index.wacz"
    _flip_member(sample_bundle.path, bad, name)
    state, text, phone = _never_trusted(browser, bad, sample_bundle.fingerprint)
    phone.close()
    assert state == "failed" and name in text


def test_changed_datapackage_fails(browser: Any, sample_bundle: Any, tmp_path: Path) -> None:
    bad = tmp_path / "title.wacz"
    tamper_title(sample_bundle.path, bad, "Lantern sample (edited)")
    state, text, phone = _never_trusted(browser, bad, sample_bundle.fingerprint)
    phone.close()
    assert state == "failed" and "manifest was changed" in text


def _edit_digest(src: Path, dst: Path, edit: Any) -> None:
    with zipfile.ZipFile(src) as zf:
        digest = json.loads(zf.read("datapackage-digest.json"))
    edit(digest["signedData"])
    rezip(src, dst, replace={"datapackage-digest.json": json.dumps(digest).encode()})


def test_swapped_public_key_fails(browser: Any, sample_bundle: Any, tmp_path: Path) -> None:
    other = generate_key("Impostor")
    spki = base64.b64decode(other.public_key_record()["publicKey"])
    bad = tmp_path / "key.wacz"
    _edit_digest(sample_bundle.path, bad,
                 lambda signed: signed.update(publicKey=base64.b64encode(spki).decode()))
    state, text, phone = _never_trusted(browser, bad, fingerprint(spki))
    phone.close()
    assert state == "failed" and "signature does not verify" in text


def test_resigned_by_another_key_fails(browser: Any, sample_bundle: Any, tmp_path: Path) -> None:
    # A valid signature by another key over the same manifest: the publisher block names the
    # real key, so the bundle is refused rather than shown as the impostor's.
    other = generate_key("Impostor")
    with zipfile.ZipFile(sample_bundle.path) as zf:
        raw = zf.read("datapackage.json")
        created = json.loads(raw)["created"]
    signed = other.sign_datapackage(raw, created)
    digest = {"path": "datapackage.json", "hash": signed["hash"], "signedData": signed}
    bad = tmp_path / "resigned.wacz"
    rezip(sample_bundle.path, bad, replace={"datapackage-digest.json": json.dumps(digest).encode()})
    state, text, phone = _never_trusted(browser, bad, other.fingerprint)
    phone.close()
    assert state == "failed" and "another key" in text


@pytest.mark.interop
def test_archivewebpage_signatures(browser: Any, interop: Path) -> None:
    state, text, phone = _never_trusted(browser, interop / "starling-bad-anon-sig.wacz", "0" * 64)
    phone.close()
    assert state == "failed" and "signature does not verify" in text

    from mirrorkit.verify import verify_bundle

    good = interop / "starling-good-anon-sig.wacz"
    expected = verify_bundle(good, remember=False).fingerprint
    phone = open_bundle(browser, good)
    try:
        assert phone.settle() == "untrusted"
        assert phone.page.inner_text("#fingerprint") == expected
        phone.page.fill("#fp-input", str(expected))
        assert phone.state == "trusted"
        # Its pages come from another tool's index (17-digit timestamps): the first one shows.
        first = phone.page.get_attribute("#pages a.page", "data-url")
        assert first and phone.show(first) == "shown"
    finally:
        phone.close()
    assert phone.network == []


def test_compressed_index_is_read_and_checked(browser: Any, sample_bundle: Any,
                                              tmp_path: Path) -> None:
    from mirrorkit.bundle import create_bundle

    key = generate_key("Lantern Rights Watch")
    good = create_bundle([sample_bundle.path.parent / "capture"], tmp_path / "cdxgz.wacz",
                         key=key, collection="cdxgz", text=True, index_format="compressed")
    with zipfile.ZipFile(good) as zf:
        assert "indexes/index.cdx.gz" in zf.namelist()
    phone = open_bundle(browser, good)
    try:
        assert phone.settle() == "untrusted"
        assert phone.show(sample_bundle.expected["gbk_page"]) == "shown"
        assert phone.frame_doc().evaluate("document.title") == "新闻简报：流域村民的证词"
    finally:
        phone.close()
    bad = tmp_path / "cdxgz-bad.wacz"
    _flip_member(good, bad, "indexes/index.cdx.gz")
    state, text, phone = _never_trusted(browser, bad, key.fingerprint)
    phone.close()
    assert state == "failed" and "index.cdx.gz" in text


@pytest.mark.interop
@pytest.mark.parametrize("name", ["pywacz-valid-domain-sig.wacz", "starling-good-domain-sig.wacz",
                                  "starling-bad-domain-sig.wacz"])
def test_domain_signatures_are_not_checked_here(browser: Any, interop: Path, name: str) -> None:
    phone = open_bundle(browser, interop / name)
    try:
        state = phone.settle()
        assert state in ("untrusted", "failed")  # never trusted: nothing to compare
        assert not phone.page.is_visible("#fp-input")
        if state == "untrusted":
            assert "NOT CHECKED HERE" in phone.page.inner_text("#verdict-text")
            assert "not checked here" in phone.page.inner_text("#fingerprint")
    finally:
        phone.close()
    assert phone.network == []
