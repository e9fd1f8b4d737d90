"""Replay of base + update as one collection (issue 15): the latest edition of each page by
default, the earlier edition one click away, "new"/"changed" in the page list, and a broken chain
never shown as trusted. The last test drives real headless Chromium against the replay server."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from update_support import CHANGED_PAGES, NEW_TEXT, Chain, build_chain

from mirrorkit.bundle import writer
from mirrorkit.trust.signing import generate_key
from mirrorkit.verify.chain import file_sha256
from serve import create_app


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
        latest = client.get(f"/{b.name}/99991231235959if_/{about}").get_data(as_text=True)
        assert NEW_TEXT in latest
        earlier = b.page_change(about)
        assert earlier is not None and earlier["kind"] == "changed"
        assert earlier["earlier"] in listing
        old = client.get(earlier["earlier"].replace(f"/{b.name}/", f"/{b.name}/", 1))
        assert old.status_code == 200 and NEW_TEXT not in old.get_data(as_text=True)
        # an unchanged page: a revisit in the update, its payload read from the base
        petition = client.get(f"/{b.name}/99991231235959if_/{chain.site_url}petition.html")
        assert petition.status_code == 200 and b.page_change(chain.site_url + "petition.html") \
            is None
        logo = client.get(f"/{b.name}/99991231235959id_/{chain.site_url}css/main.css")
        assert logo.status_code == 200
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
    app = _app([lone], chain.fingerprint)
    try:
        (b,) = app.extensions["mirrorkit"].bundles
        assert b.state == "failed" and "missing" in b.reason
        page = app.test_client().get(f"/{b.name}/99991231235959/{chain.site_url}about.html")
        assert "VERIFICATION FAILED" in page.get_data(as_text=True)
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

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.mark.browser
def test_chromium_shows_new_unchanged_and_earlier_editions(chain: Chain, browser: Any) -> None:
    from serve.server import start_server

    server = start_server([chain.update, chain.base], port=0, fingerprint=chain.fingerprint)
    server.start_in_thread()
    context = browser.new_context()
    requests: List[str] = []
    context.on("request", lambda req: requests.append(req.url))
    try:
        page = context.new_page()
        name = chain.update.name[:-len(".wacz")]
        page.goto(f"{server.url}{name}/", wait_until="networkidle")
        assert page.locator(".change-changed").count() >= 2
        # the changed page, latest edition by default
        page.click(f"a[href$='/{chain.site_url}{CHANGED_PAGES[0]}']")
        page.wait_for_load_state("networkidle")
        frame_text = " ".join(f.inner_text("body") for f in page.frames if f.url != "about:blank")
        assert NEW_TEXT in frame_text
        # its earlier edition, one click away from the page list
        page.goto(f"{server.url}{name}/", wait_until="networkidle")
        page.locator("a.earlier").first.click()
        page.wait_for_load_state("networkidle")
        old_text = " ".join(f.inner_text("body") for f in page.frames if f.url != "about:blank")
        assert NEW_TEXT not in old_text and len(old_text) > 200
        # an unchanged page (its payload lives in the base)
        resp = page.goto(f"{server.url}{name}/99991231235959/{chain.site_url}petition.html",
                         wait_until="networkidle")
        assert resp is not None and resp.status == 200
        text = " ".join(f.inner_text("body") for f in page.frames if f.url != "about:blank")
        assert "Clean water for every village" in text
    finally:
        context.close()
        server.close()
    origin = server.url.rstrip("/")
    assert all(u.startswith(origin) or u.startswith(("data:", "blob:", "about:"))
               for u in requests), [u for u in requests if not u.startswith(origin)][:5]


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
        client = app.test_client()
        latest = f"/{b.name}/99991231235959if_/{chain.site_url}"
        assert "Third edition text" in client.get(latest + "petition.html").get_data(as_text=True)
        # changed in the first update, unchanged since: still its new text
        assert NEW_TEXT in client.get(latest + CHANGED_PAGES[0]).get_data(as_text=True)
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
