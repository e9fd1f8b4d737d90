"""Replay of base + update as one collection (issue 15): the latest edition of each page by
default, the earlier edition one click away, "new"/"changed" in the page list, and a broken chain
never shown as trusted. The last test drives real headless Chromium against the replay server."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Iterator, List
from urllib.parse import urlsplit

import pytest
from reader_support import launch_browser
from update_replay_support import content_get, frame_src, through_reader
from update_support import CHANGED_PAGES, NEW_TEXT, Chain, build_chain

from mirrorkit.bundle import writer
from mirrorkit.trust.signing import generate_key
from mirrorkit.verify.chain import file_sha256
from serve import create_app
from serve.content import LATEST


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    return build_chain(tmp_path_factory.mktemp("serve-chain"))


def _app(paths: List[Path], fingerprint: Any = None) -> Any:
    return create_app(paths, {"background": False, "fingerprint": fingerprint})


def test_base_and_update_are_one_collection(chain: Chain) -> None:
    app = _app([chain.update, chain.base], chain.fingerprint)
    try:
        bundles = app.extensions["mirrorkit"].bundles
        assert [b.filename for b in bundles] == [chain.update.name]
        (b,) = bundles
        assert b.state == "trusted", b.reason
        client = app.test_client()
        listing = client.get(f"/{b.name}/").get_data(as_text=True)
        assert listing.count("changed since") >= 2
        about = chain.site_url + CHANGED_PAGES[0]
        # the latest edition by default: reader page -> its frame on the content origin
        reader, latest = through_reader(app, b.name, f"/{b.name}/{LATEST}/{about}")
        assert 'data-state="trusted"' in reader.get_data(as_text=True)
        assert NEW_TEXT not in reader.get_data(as_text=True)  # archived text only in the frame
        assert latest.status_code == 200 and NEW_TEXT in latest.get_data(as_text=True)
        assert "script-src 'none'" in latest.headers["Content-Security-Policy"]
        assert client.get(f"/_mk/at/{b.name}").get_json()["url"] == about
        # the earlier edition, one click away from the page list (its base timestamp)
        earlier = b.page_change(about)
        assert earlier is not None and earlier["kind"] == "changed"
        assert earlier["earlier"] in listing
        _reader, old = through_reader(app, b.name, earlier["earlier"])
        assert old.status_code == 200 and NEW_TEXT not in old.get_data(as_text=True)
        assert "About" in old.get_data(as_text=True)
        at = client.get(f"/_mk/at/{b.name}").get_json()
        assert at["url"] == about and earlier["earlier"] == f"/{b.name}/{at['ts']}/{about}"
        # an unchanged page: a revisit in the update, its payload read from the base
        petition = chain.site_url + "petition.html"
        _reader, page = through_reader(app, b.name, f"/{b.name}/{LATEST}/{petition}")
        assert page.status_code == 200 and b.page_change(petition) is None
        assert "Clean water for every village" in page.get_data(as_text=True)
        css = content_get(app, b.name, LATEST, chain.site_url + "css/main.css", "id_")
        assert css.status_code == 200
        # the archived bytes are never on the reader's origin
        assert client.get(f"/{b.name}/{LATEST}id_/{chain.site_url}css/main.css").mimetype \
            == "text/html"
    finally:
        app.extensions["mirrorkit"].close()


def test_base_found_beside_the_update(chain: Chain) -> None:
    app = _app([chain.update])
    try:
        (b,) = app.extensions["mirrorkit"].bundles
        assert b.state == "untrusted" and chain.base.name in b.reason
    finally:
        app.extensions["mirrorkit"].close()


def test_missing_base_is_never_trusted(chain: Chain, tmp_path: Path) -> None:
    lone = tmp_path / chain.update.name
    shutil.copyfile(chain.update, lone)
    app = create_app([lone], {"background": False, "fingerprint": chain.fingerprint,
                              "scripts": True})
    try:
        (b,) = app.extensions["mirrorkit"].bundles
        assert b.state == "failed" and "missing" in b.reason
        client = app.test_client()
        assert client.get("/bundles.json").get_json()[0]["trusted"] is False
        about = chain.site_url + "about.html"
        # a failed bundle: its reader page explains the failure and frames nothing
        page = client.get(f"/{b.name}/{LATEST}/{about}").get_data(as_text=True)
        assert frame_src(page) is None and 'id="mk-failed"' in page
        assert "failed verification" in page and "missing" in page
        # asked for anyway: framed under the red verdict, safe mode even with --scripts
        reader, framed = through_reader(app, b.name, f"/{b.name}/~failed/{LATEST}/{about}")
        shown = reader.get_data(as_text=True)
        assert 'data-state="failed"' in shown and "verification FAILED" in shown
        assert 'sandbox="allow-forms"' in shown and "allow-scripts" not in shown
        assert "script-src 'none'" in framed.headers["Content-Security-Policy"]
        assert framed.status_code == 200 and NEW_TEXT in framed.get_data(as_text=True)
    finally:
        app.extensions["mirrorkit"].close()


def test_update_resigned_by_another_key_is_never_trusted(chain: Chain, tmp_path: Path) -> None:
    base = tmp_path / chain.base.name
    shutil.copyfile(chain.base, base)
    requires = {"relation": {"requires": [{"filename": base.name, "hash": file_sha256(base),
                                           "size": base.stat().st_size}]}}
    impostor = generate_key("Impostor")
    forged = writer.create_bundle([chain.capture2], tmp_path / "lantern-2.wacz", key=impostor,
                                  collection="lantern", sequence=3, package_extra=requires,
                                  revisit_elsewhere=lambda _e: True)
    for fingerprint in (chain.fingerprint, impostor.fingerprint):
        app = _app([forged, base], fingerprint)
        try:
            (b,) = app.extensions["mirrorkit"].bundles
            assert b.state == "failed" and "one signing key" in b.reason
        finally:
            app.extensions["mirrorkit"].close()


# -- real Chromium ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_browser()


def _archived_text(page: Any, server: Any, name: str) -> str:
    """The text of the archived page in the reader page's frame, which must come from the
    bundle's content origin; the reader page itself never shows archived text."""
    page.wait_for_selector("#mk-frame")
    frame = next(f for f in page.frames if f.parent_frame == page.main_frame)
    frame.wait_for_load_state("load")
    assert frame.url.startswith(server.content_url(name)), frame.url
    assert page.locator("#mk-bar .verdict").get_attribute("data-state") == "trusted"
    assert NEW_TEXT not in page.inner_text("body")
    return str(frame.inner_text("body"))


@pytest.mark.browser
def test_chromium_shows_new_unchanged_and_earlier_editions(chain: Chain, browser: Any) -> None:
    from serve.server import start_server

    server = start_server([chain.update, chain.base], port=0, fingerprint=chain.fingerprint)
    server.start_in_thread()
    context = browser.new_context()
    requests: List[str] = []
    context.on("request", lambda req: requests.append(req.url))
    try:
        (bundle,) = server.bundles
        assert bundle.wait_verified(60) and bundle.state == "trusted", bundle.reason
        name = chain.update.name[:-len(".wacz")]
        assert bundle.name == name
        page = context.new_page()
        page.goto(f"{server.url}{name}/", wait_until="networkidle")
        assert page.locator(".change-changed").count() >= 2
        # the changed page, latest edition by default
        page.click(f"a[href$='/{chain.site_url}{CHANGED_PAGES[0]}']:not(.earlier)")
        page.wait_for_load_state("networkidle")
        assert NEW_TEXT in _archived_text(page, server, name)
        # its earlier edition, one click away from the page list
        page.goto(f"{server.url}{name}/", wait_until="networkidle")
        earlier = page.locator(f"a.earlier[href$='/{chain.site_url}{CHANGED_PAGES[0]}']")
        href = earlier.get_attribute("href")
        earlier.click()
        page.wait_for_load_state("networkidle")
        old_text = _archived_text(page, server, name)
        assert NEW_TEXT not in old_text and len(old_text) > 200
        assert page.url.endswith(str(href))  # the reader's address is the earlier edition
        # an unchanged page (its payload lives in the base)
        resp = page.goto(f"{server.url}{name}/{LATEST}/{chain.site_url}petition.html",
                         wait_until="networkidle")
        assert resp is not None and resp.status == 200
        assert "Clean water for every village" in _archived_text(page, server, name)
    finally:
        context.close()
        server.close()
    # all from the replay server: its reader origin and the bundle's content origin, no other
    ports = {server.port} | {b.content_port for b in server.bundles}
    leaks = [u for u in requests if not u.startswith(("data:", "blob:", "about:"))
             and (urlsplit(u).hostname != "127.0.0.1" or urlsplit(u).port not in ports)]
    assert leaks == [], leaks[:5]
    assert any(urlsplit(u).port == bundle.content_port for u in requests)


def test_a_chain_of_two_updates(chain: Chain, tmp_path: Path) -> None:
    from update_support import third_edition

    from mirrorkit.bundle.merge import merge_bundles
    from mirrorkit.trust.signing import load_private_key
    from mirrorkit.verify.chain import verify_chain

    third = third_edition(chain, "petition.html", "Third edition text")
    report = verify_chain(third, fingerprint=chain.fingerprint)
    assert report.trusted and [lk.filename for lk in report.links] == [chain.base.name,
                                                                        chain.update.name]
    app = _app([third, chain.update, chain.base], chain.fingerprint)
    try:
        (b,) = app.extensions["mirrorkit"].bundles
        assert b.state == "trusted", b.reason
        def latest(page: str) -> str:
            _reader, framed = through_reader(app, b.name, f"/{b.name}/{LATEST}/{site}{page}")
            assert framed.status_code == 200, page
            return str(framed.get_data(as_text=True))

        site = chain.site_url
        assert "Third edition text" in latest("petition.html")
        # changed in the first update, unchanged since: still its new text
        assert NEW_TEXT in latest(CHANGED_PAGES[0])
        # the first update's edition of petition.html is its earlier edition
        change = b.page_change(site + "petition.html")
        assert change is not None and change["kind"] == "changed"
        _reader, older = through_reader(app, b.name, change["earlier"])
        assert "Third edition text" not in older.get_data(as_text=True)
        assert "Clean water for every village" in older.get_data(as_text=True)
    finally:
        app.extensions["mirrorkit"].close()
    full = merge_bundles([chain.base, chain.update, third], tmp_path / "full.wacz",
                         key=load_private_key(chain.key_path, None))
    alone = verify_chain(full, fingerprint=chain.fingerprint, deep=True)
    assert alone.trusted and not alone.links


def test_search_finds_unchanged_pages_of_an_update(chain: Chain, tmp_path: Path) -> None:
    from update_support import FolderSite

    from mirrorkit.bundle.update import create_update
    from mirrorkit.capture import CaptureOptions, capture, check_seed
    from mirrorkit.trust.signing import load_private_key

    key = load_private_key(chain.key_path, None)
    base = writer.create_bundle([chain.capture1], tmp_path / "t-1.wacz", key=key,
                                collection="texts", sequence=1, text=True)
    site = FolderSite(port=chain.port, partner_port=chain.partner_port,
                      root=chain.root / "site-2").start()
    try:
        capture(CaptureOptions(seeds=[check_seed(chain.site_url)], out_dir=tmp_path / "c",
                               dedup_against=[str(base)]))
    finally:
        site.stop()
    update = create_update([tmp_path / "c"], tmp_path / "t-2.wacz", bases=[base], key=key,
                           text=True)
    app = _app([update, base])
    try:
        (b,) = app.extensions["mirrorkit"].bundles
        hits = [p.url for p in b.search("provincial water authority")]
        assert chain.site_url + "petition.html" in hits  # a revisit: its text is the base's
        assert any(NEW_TEXT in p.text for p in b.search("second edition"))
    finally:
        app.extensions["mirrorkit"].close()


def test_wrong_or_foreign_base_is_never_trusted(chain: Chain, tmp_path: Path) -> None:
    from mirrorkit.trust.signing import load_private_key

    key = load_private_key(chain.key_path, None)
    wrong = tmp_path / "wrong"
    foreign = tmp_path / "foreign"
    for folder in (wrong, foreign):
        folder.mkdir()
    # the same name, another file (re-bundled by the same key)
    writer.create_bundle([chain.capture1], wrong / chain.base.name, key=key,
                         collection="lantern", sequence=1)
    shutil.copyfile(chain.update, wrong / chain.update.name)
    # a base signed by another key, and an update naming exactly that file
    other = generate_key("Impostor")
    base = writer.create_bundle([chain.capture1], foreign / chain.base.name, key=other,
                                collection="lantern", sequence=1)
    requires = {"relation": {"requires": [{"filename": base.name, "hash": file_sha256(base),
                                           "size": base.stat().st_size}]}}
    forged = writer.create_bundle([chain.capture2], foreign / "lantern-2.wacz", key=key,
                                  collection="lantern", sequence=2, package_extra=requires,
                                  revisit_elsewhere=lambda _e: True)
    for paths, why in (([wrong / chain.update.name, wrong / chain.base.name], "not the one"),
                       ([forged, base], "one signing key")):
        app = _app(paths, chain.fingerprint)
        try:
            (b,) = app.extensions["mirrorkit"].bundles
            assert b.state == "failed" and why in b.reason, b.reason
        finally:
            app.extensions["mirrorkit"].close()


def _notice(text: bytes) -> bytes:
    return b"<!doctype html><title>Notice</title><p>" + text + b"</p>"


def _edition_warc(path: Path, date: str, text: bytes, snapshot: bytes = b"",
                  revisit_of: Any = None) -> Path:
    """One page at ``date`` (WARC-Date), with a rendered snapshot when ``snapshot`` is given;
    with ``revisit_of`` = (date, body, container), a revisit of that capture instead."""
    import base64
    import hashlib
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    body = _notice(text)
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                              ("Content-Length", str(len(body)))],
                                   protocol="HTTP/1.1")
        if revisit_of is not None:
            when, original, container = revisit_of
            digest = "sha1:" + base64.b32encode(hashlib.sha1(original).digest()).decode()
            w.write_record(w.create_revisit_record(
                "http://notice.example/", digest, "http://notice.example/", when,
                http_headers=headers,
                warc_headers_dict={"WARC-Date": date, "WARC-Refers-To-Container": container}))
            return path
        resp = w.create_warc_record("http://notice.example/", "response",
                                    payload=io.BytesIO(body), http_headers=headers,
                                    warc_headers_dict={"WARC-Date": date})
        w.write_record(resp)
        if snapshot:
            w.write_record(w.create_warc_record(
                "urn:snapshot:http://notice.example/", "conversion",
                payload=io.BytesIO(b"<!doctype html><p>" + snapshot + b"</p>"),
                warc_content_type="text/html; charset=utf-8",
                warc_headers_dict={"WARC-Date": date,
                                   "WARC-Refers-To-Target-URI": "http://notice.example/",
                                   "WARC-Refers-To": resp.rec_headers.get_header(
                                       "WARC-Record-ID")}))
    return path


def test_safe_mode_snapshot_comes_from_the_edition_shown(tmp_path: Path) -> None:
    """A rendered snapshot stands for its own capture only: the update's new page (captured
    within a day of the base, without a snapshot of its own) is not shown from the base's
    snapshot of the old text, nor the base's edition from the update's."""
    key = generate_key("Notice board")
    base = writer.create_bundle(
        [_edition_warc(tmp_path / "b.warc.gz", "2026-11-30T08:00:00Z", b"OLD-PAGE",
                       snapshot=b"OLD-SNAPSHOT")],
        tmp_path / "notice-1.wacz", key=key, collection="notice", sequence=1)
    update = writer.create_bundle(
        [_edition_warc(tmp_path / "u.warc.gz", "2026-11-30T20:00:00Z", b"NEW-PAGE")],
        tmp_path / "notice-2.wacz", key=key, collection="notice", sequence=2,
        package_extra=_requires(base))
    app = _app([update, base])
    try:
        (b,) = app.extensions["mirrorkit"].bundles
        assert b.filename == update.name and b.base_files == [base.name]
        url = "http://notice.example/"
        latest = content_get(app, b.name, LATEST, url, navigate=True)
        assert latest.status_code == 200 and b"NEW-PAGE" in latest.data
        assert b"OLD-SNAPSHOT" not in latest.data and b.last_served[1:] == (url, "page")
        earlier = content_get(app, b.name, "20261130080000", url, navigate=True)
        assert b"OLD-SNAPSHOT" in earlier.data and b.last_served[1:] == (url, "snapshot")
        assert b.find_snapshot(url, "20261130200000") is None
    finally:
        app.extensions["mirrorkit"].close()


def _requires(*bundles: Path) -> Any:
    return {"relation": {"requires": [{"filename": b.name, "hash": file_sha256(b),
                                       "size": b.stat().st_size} for b in bundles]}}


def test_revisit_resolves_into_the_edition_it_names(tmp_path: Path) -> None:
    """Two editions captured within one second share a WARC-Refers-To-Date: a later update's
    revisit of the newer one still replays the newer payload (its container and digest), not
    the older edition's."""
    key = generate_key("Notice board")
    when = "2026-11-30T08:00:00Z"
    base = writer.create_bundle([_edition_warc(tmp_path / "b.warc.gz", when, b"OLD-PAGE")],
                                tmp_path / "notice-1.wacz", key=key, collection="notice",
                                sequence=1)
    update = writer.create_bundle([_edition_warc(tmp_path / "u.warc.gz", when, b"NEW-PAGE")],
                                  tmp_path / "notice-2.wacz", key=key, collection="notice",
                                  sequence=2, package_extra=_requires(base))
    third = writer.create_bundle(
        [_edition_warc(tmp_path / "t.warc.gz", "2026-12-01T08:00:00Z", b"",
                       revisit_of=(when, _notice(b"NEW-PAGE"), "file://" + update.name))],
        tmp_path / "notice-3.wacz", key=key, collection="notice", sequence=3,
        package_extra=_requires(base, update), revisit_elsewhere=lambda _e: True)
    app = _app([third, update, base])
    try:
        (b,) = app.extensions["mirrorkit"].bundles
        assert b.filename == third.name and b.base_files == [base.name, update.name]
        latest = content_get(app, b.name, LATEST, "http://notice.example/")
        assert latest.status_code == 200, latest.data
        assert b"NEW-PAGE" in latest.data and b"OLD-PAGE" not in latest.data
    finally:
        app.extensions["mirrorkit"].close()
