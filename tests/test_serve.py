"""The replay app on real bundles: the sample site, iana.org (revisits), damage and tampering."""

from __future__ import annotations

import re
import socket
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest
from serve_support import damage_record, tamper_title

from mirrorkit.bundle import create_bundle
from mirrorkit.cli import main
from mirrorkit.sample_site import SITE_ROOT
from mirrorkit.trust.signing import generate_key
from serve import create_app
from serve.server import start_server


def client_for(*paths: Path, **config: Any) -> Any:
    app = create_app(list(paths), dict({"background": False}, **config))
    return app, app.test_client()


def content_for(app: Any, name: str = "sample") -> Any:
    """A test client of bundle ``name``'s content origin (the only place archived bytes are)."""
    from werkzeug.test import Client

    return Client(app.extensions["mirrorkit"].content_app(name))


def secret(app: Any, name: str = "sample") -> str:
    return str(app.extensions["mirrorkit"].get(name).secret)


def replay(app: Any, url: str, name: str = "sample", ts: str = "20300101000000") -> str:
    return f"/{secret(app, name)}/{ts}/{url}"


@pytest.fixture(scope="module")
def sample(sample_bundle: Any) -> Any:
    app, client = client_for(sample_bundle.path)
    yield app, content_for(app)
    app.extensions["mirrorkit"].close()


def test_every_sample_page_replays_with_banner_and_policy(sample_bundle: Any, sample: Any) -> None:
    app, client = sample
    bundle = app.extensions["mirrorkit"].bundles[0]
    assert bundle.state == "untrusted" and bundle.publisher == "Lantern Rights Watch"
    expected = sample_bundle.expected
    live = (expected["pages"][0].encode(), expected["external_links"][0].rsplit("/", 1)[0].encode())
    for url in sample_bundle.pages:
        r = client.get(replay(app, url))
        assert r.status_code == 200, url
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'none'" in csp and "worker-src 'none'" in csp
        assert "sandbox allow-forms;" in csp and "connect-src 'none'" in csp
        assert "form-action http://" in csp
        assert r.headers["Referrer-Policy"] == "no-referrer"
        # safe mode: nothing injected, no banner inside the archived page (it lives outside)
        assert b"mirrorkit-banner" not in r.data and b"mirrorkit replay" not in r.data
        # nothing in the page still points at the live origins (the site and its partner host)
        for attr in re.findall(rb'(?:src|href|action|srcset)="([^"]*)"', r.data):
            assert not attr.startswith(live), (url, attr)


def test_gbk_page_keeps_its_charset(sample_bundle: Any, sample: Any) -> None:
    app, client = sample
    r = client.get(replay(app, sample_bundle.expected["gbk_page"]))
    assert r.headers["Content-Type"].lower().endswith("charset=gbk")
    assert "<title>新闻简报：流域村民的证词</title>" in r.data.decode("gbk")


def test_requisites_byte_for_byte_and_css_rewritten(sample_bundle: Any, sample: Any) -> None:
    app, client = sample
    site = sample_bundle.expected["pages"][0]
    for url in sample_bundle.expected["requisites"]:
        r = client.get(replay(app, url))
        assert r.status_code == 200, url
    logo = client.get(replay(app, site + "img/logo.png"))
    assert logo.data == (SITE_ROOT / "img" / "logo.png").read_bytes()
    assert logo.headers["Content-Type"] == "image/png"
    css = client.get(replay(app, site + "css/main.css"))  # captured gzip + chunked
    assert "Content-Encoding" not in css.headers
    assert f'@import url("/{secret(app)}/' in css.data.decode()
    assert "url('../img/bg-paper.png')" not in css.data.decode()
    raw = client.get(f"/{secret(app)}/20300101000000id_/{site}css/main.css")  # as archived
    assert raw.headers.get("Content-Encoding") == "gzip"


def test_redirect_not_archived_and_closest(sample_bundle: Any, sample: Any) -> None:
    app, client = sample
    old, new = next(iter(sample_bundle.expected["redirects"].items()))
    r = client.get(replay(app, old))
    assert r.status_code == 301 and r.headers["Location"].endswith("/" + new)
    assert r.headers["Location"].startswith(f"/{secret(app)}/")
    r = client.get(replay(app, sample_bundle.expected["external_links"][0]))
    assert r.status_code == 404 and "Not in this archive" in r.get_data(as_text=True)
    r = client.get(replay(app, sample_bundle.expected["pages"][0] + "about.html", ts="1990"))
    assert r.status_code == 200  # closest in time, however far
    r = app.test_client().get("/sample/main")
    assert r.status_code == 302 and "/sample/" in r.headers["Location"]


def test_lists_search_and_json(sample: Any) -> None:
    from serve import Drop

    app, _content = sample
    client = app.test_client()
    home = client.get("/").get_data(as_text=True)
    assert "Lantern sample" in home and "signer not in your trust store" in home
    assert "verified, trusted" not in home
    listing = client.get("/sample/").get_data(as_text=True)
    assert "新闻简报：流域村民的证词" in listing and "Petition: clean water" in listing
    hits = client.get("/sample/pages.json?q=村民").get_json()
    assert hits and hits[0]["url"].endswith("news/gbk.html")  # title match ranks first
    assert client.get("/sample/pages.json?q=zzqx").get_json() == []
    hits = client.get("/sample/pages.json?q=petition").get_json()
    assert any(h["url"].endswith("petition.html") for h in hits)
    # DNS rebinding: a foreign host name pointed at 127.0.0.1 gets no answer at all
    with pytest.raises(Drop):
        client.get("/bundles.json", headers={"Host": "evil.example:8090"})
    assert client.get("/bundles.json", headers={"Host": "127.0.0.1:8090"}).status_code == 200
    info = client.get("/bundles.json").get_json()[0]
    assert info["state"] == "untrusted" and info["trusted"] is False and info["pages"] >= 16


def test_trusted_when_fingerprint_given(sample_bundle: Any) -> None:
    app, client = client_for(sample_bundle.path, fingerprint=sample_bundle.fingerprint)
    assert app.extensions["mirrorkit"].bundles[0].state == "trusted"
    assert "verified, trusted signer" in client.get("/").get_data(as_text=True)
    page = client.get("/sample/20300101000000/" + sample_bundle.pages[0]).data
    assert b'data-state="trusted"' in page and b"<iframe" in page
    app.extensions["mirrorkit"].close()


def test_damaged_record_shown_as_damaged_others_still_work(sample_bundle: Any,
                                                           tmp_path: Path) -> None:
    site = sample_bundle.expected["pages"][0]
    bad = tmp_path / "sample.wacz"
    damage_record(sample_bundle.path, bad, site + "about.html")
    app, client = client_for(bad)
    b = app.extensions["mirrorkit"].bundles[0]
    assert b.state == "failed" and "hash" in b.reason.lower()
    content = content_for(app)
    r = content.get(replay(app, site + "about.html"))
    assert r.status_code == 502 and "This record is damaged" in r.get_data(as_text=True)
    assert b"About Lantern" not in r.data
    ok = content.get(replay(app, site + "contact.html"))
    assert ok.status_code == 200
    # A failed bundle is not replayed unless asked, then under the red verdict, scripts off.
    page = client.get("/sample/20300101000000/" + site + "contact.html").data
    assert b"<iframe" not in page and b"failed verification" in page
    asked = client.get("/sample/~failed/20300101000000/" + site + "contact.html").data
    assert b"<iframe" in asked and b'data-state="failed"' in asked
    assert b"verification FAILED" in asked and b'sandbox="allow-forms"' in asked
    app.extensions["mirrorkit"].close()


def test_tampered_bundle_never_trusted(sample_bundle: Any, tmp_path: Path) -> None:
    bad = tmp_path / "tampered.wacz"
    tamper_title(sample_bundle.path, bad, "Totally legit")
    app, client = client_for(bad, fingerprint=sample_bundle.fingerprint)
    home = client.get("/").get_data(as_text=True)
    assert "verification FAILED" in home and "verified, trusted" not in home
    assert app.extensions["mirrorkit"].bundles[0].state == "failed"
    app.extensions["mirrorkit"].close()


def test_damaged_page_list_is_said_not_silently_cut(sample_bundle: Any, tmp_path: Path) -> None:
    bad = tmp_path / "pages-damaged.wacz"
    with zipfile.ZipFile(sample_bundle.path) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "pages/pages.jsonl":
                lines = data.splitlines(keepends=True)
                data = b"".join(lines[:4]) + b"{not json\n" + b"".join(lines[4:])
            zout.writestr(info, data)
    app, client = client_for(bad)
    bundle = app.extensions["mirrorkit"].bundles[0]
    page = client.get(f"/{bundle.name}/").get_data(as_text=True)
    assert "The page list is damaged" in page and "line 5 is not JSON" in page
    assert bundle.page_count == 3  # the pages before the damage are still listed
    app.extensions["mirrorkit"].close()


def test_unreadable_file_listed_as_failed(tmp_path: Path, sample_bundle: Any) -> None:
    junk = tmp_path / "junk.wacz"
    junk.write_bytes(b"not a zip at all")
    app, client = client_for(junk, sample_bundle.path)
    states = {b.name: b.state for b in app.extensions["mirrorkit"].bundles}
    assert states == {"junk": "failed", "sample": "untrusted"}
    assert client.get("/").status_code == 200
    assert client.get("/junk/20200101000000/http://x.org/").status_code == 502
    assert "junk" not in app.extensions["mirrorkit"].content_apps  # nothing to replay
    app.extensions["mirrorkit"].close()


@pytest.mark.interop
def test_iana_with_revisits(interop: Path, tmp_path: Path) -> None:
    key = generate_key("IANA test")
    wacz = create_bundle([interop / "iana.warc.gz"], tmp_path / "iana.wacz", key=key,
                         title="IANA", text=True)
    app, _reader = client_for(wacz)
    client = content_for(app, "iana")
    page = client.get(f"/{secret(app, 'iana')}/20140126200624/http://www.iana.org/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    css_url = re.search(r'href="(/[^/"]+/[^"]+screen\.css)"', html).group(1)
    css = client.get(css_url)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    fonts = re.findall(r'url\("?(/[^/")]+/[^")]+\.(?:ttf|otf))', css.get_data(as_text=True))
    ok_fonts = [f for f in fonts if client.get(f).status_code == 200]
    assert len(ok_fonts) >= 3
    # a later capture of the font is a revisit: it resolves to the original payload
    s = secret(app, "iana")
    direct = client.get(f"/{s}/20140126200625id_/http://www.iana.org/_css/2013.1/fonts/"
                        "OpenSans-Bold.ttf").data
    revisit = client.get(f"/{s}/20140126201240id_/http://www.iana.org/_css/2013.1/fonts/"
                         "OpenSans-Bold.ttf")
    assert revisit.status_code == 200 and revisit.data == direct and len(direct) > 100_000
    img = re.search(r'src="(/[^/"]+/[^"]+\.(?:svg|png))"', html).group(1)
    assert client.get(img).status_code == 200
    app.extensions["mirrorkit"].close()


def test_waitress_head_and_range_on_raw_wacz(sample_bundle: Any) -> None:
    server = start_server([sample_bundle.path], port=0)
    server.start_in_thread()
    try:
        url = f"{server.url}sample.wacz"
        size = sample_bundle.path.stat().st_size
        head = urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10)
        assert head.status == 200 and head.headers["Accept-Ranges"] == "bytes"
        assert int(head.headers["Content-Length"]) == size
        part = urllib.request.urlopen(urllib.request.Request(url, headers={"Range": "bytes=0-3"}),
                                      timeout=10)
        assert part.status == 206 and part.read() == b"PK\x03\x04"
        assert part.headers["Content-Range"] == f"bytes 0-3/{size}"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(urllib.request.Request(
                url, headers={"Range": f"bytes={size + 10}-"}), timeout=10)
        assert err.value.code == 416
        page = urllib.request.urlopen(server.url + "sample/", timeout=10)
        assert page.headers["Server"] == "mirrorkit"
    finally:
        server.close()


def test_cli_errors(tmp_path: Path, sample_bundle: Any) -> None:
    assert main(["serve", str(tmp_path / "missing.wacz")]) == 2
    assert main(["serve", str(sample_bundle.path), "--port", "70000"]) == 2
    assert main(["serve", str(sample_bundle.path), "--fingerprint", "not hex"]) == 2
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main(["serve", str(sample_bundle.path), "--port", str(port)]) == 1
    assert main(["serve", "--help"]) == 0


def _brotli_bundle(tmp_path: Path) -> Path:
    import io

    brotli = pytest.importorskip("brotli")
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    css = b"body { background: url('/img/bg.png') }"
    body = brotli.compress(css)
    warc = tmp_path / "br.warc.gz"
    with open(warc, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/css"),
                                              ("Content-Encoding", "br"),
                                              ("Content-Length", str(len(body)))],
                                   protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(
            "http://br.example/s.css", "response", payload=io.BytesIO(body),
            http_headers=headers))
    return create_bundle([warc], tmp_path / "br.wacz", key=generate_key("br test"))


def test_brotli_decoded_for_rewriting_or_passed_through(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from mirrorkit.formats import http

    wacz = _brotli_bundle(tmp_path)
    app, _reader = client_for(wacz)
    url = f"/{secret(app, 'br')}/2030/http://br.example/s.css"
    r = content_for(app, "br").get(url)
    assert "Content-Encoding" not in r.headers
    assert f"url('/{secret(app, 'br')}/".encode() in r.data
    # The kit's Python lacks the compiled brotli module (tests/test_interop_brotli.py runs the
    # real zipapp): a style sheet that needs rewriting is then refused by name, never a 500,
    # and the bytes as archived (id_) go out with their Content-Encoding for the browser.
    def no_brotli() -> None:
        raise http.DecoderMissing("no brotli decoder here")

    monkeypatch.setattr(http, "_brotli", no_brotli)
    app2, _reader2 = client_for(wacz)
    content2 = content_for(app2, "br")
    r = content2.get(f"/{secret(app2, 'br')}/2030/http://br.example/s.css")
    assert r.status_code == 501 and b"cannot be decoded here" in r.data
    r = content2.get(f"/{secret(app2, 'br')}/2030id_/http://br.example/s.css")
    assert r.headers["Content-Encoding"] == "br" and r.status_code == 200
    for a in (app, app2):
        a.extensions["mirrorkit"].close()


def test_cli_serves_until_ctrl_c(sample_bundle: Any, capsys: pytest.CaptureFixture) -> None:
    import _thread
    import json
    import threading
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    seen = {}

    def reader_then_ctrl_c() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "bundles" not in seen:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/bundles.json") as r:
                    seen["bundles"] = json.loads(r.read())
            except OSError:
                time.sleep(0.05)
        _thread.interrupt_main()  # what Ctrl-C does

    threading.Thread(target=reader_then_ctrl_c, daemon=True).start()
    assert main(["serve", str(sample_bundle.path), "--port", str(port), "--json"]) == 0
    assert seen["bundles"][0]["name"] == "sample"
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first["url"] == f"http://127.0.0.1:{port}/"


@pytest.mark.interop
def test_url_agnostic_revisit_across_warcs(interop: Path, tmp_path: Path) -> None:
    wacz = create_bundle([interop / "example-url-agnostic-orig.warc.gz",
                          interop / "example-url-agnostic-revisit.warc.gz"],
                         tmp_path / "ua.wacz", key=generate_key("ua test"))
    app, _reader = client_for(wacz)
    client, s = content_for(app, "ua"), secret(app, "ua")
    revisit = client.get(f"/{s}/2013/http://example.com/")  # a revisit of another URL
    original = client.get(f"/{s}/2013/http://example.iana.org/")
    assert revisit.status_code == original.status_code == 200
    assert b"Example Domain" in revisit.data
    app.extensions["mirrorkit"].close()
