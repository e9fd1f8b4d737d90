"""The built-in sample site serves what it promises: every page, the redirect, GBK, robots.txt."""

from __future__ import annotations

import gzip
import http.client
import subprocess
import sys
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import pytest

from mirrorkit.sample_site import SITE_ROOT, SampleSite


def _get(url: str, method: str = "GET", gzip_ok: bool = False) -> http.client.HTTPResponse:
    # http.client, not requests: it shows the exact status line, headers and framing.
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Accept-Encoding": "gzip"} if gzip_ok else {}
    conn.request(method, path, headers=headers)
    return conn.getresponse()


def test_every_page_and_requisite_is_served(sample_site: SampleSite) -> None:
    expected = sample_site.expected
    for url in expected["pages"] + expected["requisites"] + expected["external_links"]:
        resp = _get(url)
        assert resp.status == 200, url
        assert resp.read(), url
    assert len(expected["pages"]) >= 15


def test_pages_are_bilingual(sample_site: SampleSite) -> None:
    zh = _get(sample_site.url + "zh/").read().decode("utf-8")
    assert 'lang="zh-Hans"' in zh and "灯笼人权观察" in zh
    en = _get(sample_site.url).read().decode("utf-8")
    assert "Lantern Rights Watch" in en


def test_redirect_is_a_301_to_the_reports(sample_site: SampleSite) -> None:
    for source, target in sample_site.expected["redirects"].items():
        resp = _get(source)
        assert resp.status == 301
        assert resp.getheader("Location") == target
        assert _get(target).status == 200


def test_missing_page_is_404(sample_site: SampleSite) -> None:
    for url in sample_site.expected["not_found"]:
        assert _get(url).status == 404
    assert _get(sample_site.url + "reports/?page=9").status == 404
    assert _get(sample_site.url + "../../etc/passwd").status == 404


def test_pagination_pages_link_to_each_other(sample_site: SampleSite) -> None:
    page2 = _get(sample_site.url + "reports/?page=2").read().decode()
    assert 'href="?page=3"' in page2 and 'href="./"' in page2
    assert "page 2 of 3" in page2


def test_gbk_page_header_and_bytes(sample_site: SampleSite) -> None:
    resp = _get(sample_site.expected["gbk_page"], gzip_ok=True)
    assert resp.getheader("Content-Type") == "text/html; charset=GBK"
    assert resp.getheader("Content-Encoding") is None
    body = resp.read()
    assert body == (SITE_ROOT / "news" / "gbk.html").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert "新闻简报：流域村民的证词" in body.decode("gbk")
    assert b"charset" not in body  # declared only in the HTTP header


def test_robots_txt_disallows_the_private_folder(sample_site: SampleSite) -> None:
    robots = RobotFileParser()
    robots.parse(_get(sample_site.url + "robots.txt").read().decode().splitlines())
    for url in sample_site.expected["disallowed"]:
        assert not robots.can_fetch("mirrorkit", url)
        assert _get(url).status == 200  # it exists: only politeness keeps a crawler out
    for url in sample_site.expected["pages"]:
        assert robots.can_fetch("mirrorkit", url)


def test_gzip_and_chunked_framing(sample_site: SampleSite) -> None:
    resp = _get(sample_site.url + "news/", gzip_ok=True)
    assert resp.getheader("Transfer-Encoding") == "chunked"
    assert resp.getheader("Content-Encoding") == "gzip"
    assert b"<h1>News</h1>" in gzip.decompress(resp.read())
    plain = _get(sample_site.url + "news/")
    assert plain.getheader("Content-Encoding") is None
    assert sample_site.body("news/") == plain.read()


def test_pages_reference_the_partner_host(sample_site: SampleSite) -> None:
    home = _get(sample_site.url).read().decode()
    assert sample_site.other_url + "logo.png" in home
    assert sample_site.other_url + "widget.js" in home
    assert "{{" not in home


def test_head_and_request_log() -> None:
    with SampleSite(delay=0.01) as site:
        resp = _get(site.url + "about.html", method="HEAD")
        assert resp.status == 200 and resp.read() == b""
        assert ("HEAD", "/about.html", f"127.0.0.1:{site.port}") in site.requests_log
    with pytest.raises(OSError):
        _get(site.url)  # stopped: the port is closed


def test_module_runs_as_a_script() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mirrorkit.sample_site", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "--delay" in out.stdout
