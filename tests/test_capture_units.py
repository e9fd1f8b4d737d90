"""Unit tests of the crawler's parts: canonical URLs, scope, extraction, frontier politeness."""

from __future__ import annotations

import threading
import time

import pytest

from mirrorkit.capture.extract import extract_css, extract_html, parse_srcset
from mirrorkit.capture.frontier import PAGE, REQ, ROBOTS, Frontier, Task
from mirrorkit.capture.robots import Robots
from mirrorkit.capture.urls import Scope, canonicalize, check_seed, compile_patterns
from mirrorkit.errors import UsageError


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("HTTP://Example.COM:80/a/./b/../c#frag", "http://example.com/a/c"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("http://example.com/%7euser/%2fpath?q=%2a&a=b", "http://example.com/~user/%2Fpath?q=%2A&a=b"),
        ("http://example.com/a b?x=é", "http://example.com/a%20b?x=%C3%A9"),
        ("http://bücher.example/", "http://xn--bcher-kva.example/"),
        ("http://[::1]:8080/", "http://[::1]:8080/"),
    ],
)
def test_canonicalize(raw: str, canonical: str) -> None:
    assert canonicalize(raw) == canonical


@pytest.mark.parametrize("bad", ["ftp://example.com/", "example.com", "mailto:x@example.com",
                                 "http://", "http://[::1"])
def test_bad_seed_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError):
        check_seed(bad)


def test_scopes() -> None:
    seed = "http://www.example.org/reports/2024/index.html"
    url_in_prefix = "http://www.example.org/reports/2024/b.html"
    other_dir = "http://www.example.org/about.html"
    sub = "http://media.example.org/x"
    assert Scope("page", [seed]).follows(seed) and not Scope("page", [seed]).follows(url_in_prefix)
    prefix = Scope("prefix", [seed])
    assert prefix.follows(url_in_prefix) and not prefix.follows(other_dir)
    host = Scope("host", [seed])
    assert host.follows(other_dir) and not host.follows(sub)
    assert not host.follows("http://www.example.org:8080/")  # another port is another host
    assert Scope("domain", [seed]).follows(sub)
    assert not Scope("domain", [seed]).follows("http://example.org.evil.net/")
    excl = Scope("host", [seed], exclude=compile_patterns([r"\.pdf$"], "--exclude"),
                 include=compile_patterns([r"^http://cdn\."], "--include"))
    assert not excl.follows("http://www.example.org/a.pdf")
    assert excl.follows("http://cdn.other.net/lib.js")
    with pytest.raises(UsageError):
        compile_patterns(["("], "--exclude")


def test_srcset() -> None:
    assert parse_srcset(" a.jpg 1x,b.jpg 2x , c.jpg") == ["a.jpg", "b.jpg", "c.jpg"]
    assert parse_srcset("a.jpg 480w, b.jpg 960w") == ["a.jpg", "b.jpg"]


def test_html_requisites_and_links() -> None:
    html = b"""<!doctype html><html><head><base href="/sub/">
    <link rel=stylesheet href="a.css"><link rel="icon" href="/favicon.ico">
    <link rel=preload as=fetch href="data.json"><link rel=preload as=image imagesrcset="h1.png 1x">
    <style>@import "imp.css"; body{background:url(bg.png)}
      .x{background-image:image-set("i1.png" 1x, url(i2.png) 2x)}</style>
    <meta http-equiv="refresh" content="5; url=/next.html"><title> Hi  there </title></head>
    <body style="background: url('st.png')"><picture><source srcset="p1.webp 1x, p2.webp 2x">
    <img src="p.jpg" srcset="p-2x.jpg 2x"></picture>
    <svg><image href="svgimg.png"/><use xlink:href="sprite.svg#a"/></svg>
    <a href="../page?x=1#frag">x</a><a href="#top">top</a><a href="mailto:a@b">m</a>
    <iframe src="frame.html"></iframe><object data="o.swf"></object><embed src="e.swf">
    <video poster="poster.jpg" src="v0.mp4"><source src="v.mp4"><track src="t.vtt"></video>
    <audio src="a.mp3"></audio><script src="https://cdn.example.net/lib.js"></script>
    <img src="data:image/png;base64,AAAA"></body></html>"""
    found = extract_html(html, "http://h/dir/doc.html")
    base = "http://h/sub/"
    expected = ["a.css", "imp.css", "bg.png", "i1.png", "i2.png", "st.png", "p1.webp", "p2.webp",
                "p.jpg", "p-2x.jpg", "svgimg.png", "sprite.svg", "frame.html", "o.swf", "e.swf",
                "poster.jpg", "v0.mp4", "v.mp4", "t.vtt", "a.mp3", "data.json", "h1.png"]
    for name in expected:
        assert base + name in found.requisites, name
    assert "http://h/favicon.ico" in found.requisites
    assert "https://cdn.example.net/lib.js" in found.requisites
    assert found.links == ["http://h/page?x=1"]
    assert found.redirects == ["http://h/next.html"]
    assert found.title == "Hi there"
    assert not any(u.startswith("data:") for u in found.requisites)


def test_html_in_its_own_charset() -> None:
    # GBK declared only by the HTTP header; the link's non-ASCII path must decode right.
    html = '<html><head><title>新闻</title></head><body><a href="/新闻.html">x</a>'.encode("gbk")
    found = extract_html(html, "http://h/", "GBK")
    assert found.title == "新闻"
    assert found.links == ["http://h/%E6%96%B0%E9%97%BB.html"]


def test_css_requisites() -> None:
    css = (b'@charset "utf-8"; @import url("x.css") screen; @import "y.css";'
           b'@font-face{src:url(f.woff2) format("woff2"), url("f.woff") format("woff")}'
           b'@media print{ .a{background:url(p.png)} } .b{mask:image-set("m.png" 1x)}')
    found = extract_css(css, "http://h/c/s.css")
    assert found.requisites == [f"http://h/c/{n}" for n in
                                ("x.css", "y.css", "f.woff2", "f.woff", "p.png", "m.png")]


def test_robots_rules() -> None:
    robots = Robots(200, "User-agent: *\nDisallow: /private/\nCrawl-delay: 2\n")
    assert not robots.allows("http://h/private/x") and robots.allows("http://h/public")
    assert robots.crawl_delay() == 2
    assert not Robots(403).allows("http://h/") and Robots(404).allows("http://h/")
    assert Robots(None).allows("http://h/")


def test_frontier_per_host_limit_and_robots_first() -> None:
    frontier = Frontier(per_host=2, delay=0.0, obey_robots=True)
    tasks = frontier.claim([Task(f"http://a/{i}", PAGE) for i in range(5)]
                           + [Task("http://a/0", PAGE)])
    assert tasks[0].kind == ROBOTS and len(tasks) == 6  # robots + 5, the duplicate dropped
    frontier.enqueue(tasks)
    first = frontier.get()
    assert first is not None and first.kind == ROBOTS
    # nothing else of host a until its robots.txt is known
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(frontier.get()))
    waiter.start()
    time.sleep(0.2)
    assert not got
    frontier.set_robots("http://a", Robots(200, "User-agent: *\nDisallow: /3\n"))
    frontier.finish(first)
    waiter.join(2)
    second = frontier.get()
    assert got[0] is not None and second is not None
    assert frontier.hosts["http://a"].active == 2
    frontier.finish(got[0])
    frontier.finish(second)
    rest = []
    while (task := frontier.get()) is not None:
        rest.append(task.url)
        frontier.finish(task)
    assert "http://a/3" not in rest and [t.url for t, why in frontier.skipped] == ["http://a/3"]
    assert frontier.finished


def test_frontier_requisites_before_links_and_max_pages() -> None:
    frontier = Frontier(per_host=1, delay=0.0, obey_robots=False, max_pages=1)
    frontier.enqueue(frontier.claim([Task("http://a/p1", PAGE), Task("http://a/p2", PAGE),
                                     Task("http://a/r1", REQ)]))
    order = []
    while (task := frontier.get()) is not None:
        order.append(task.url)
        frontier.finish(task)
    assert order == ["http://a/r1", "http://a/p1"]
    assert frontier.skipped[0][1] == "max-pages"


def test_frontier_delay_between_requests_to_one_host() -> None:
    frontier = Frontier(per_host=2, delay=0.3, obey_robots=False)
    frontier.enqueue(frontier.claim([Task("http://a/1", PAGE), Task("http://a/2", PAGE),
                                     Task("http://b/1", PAGE)]))
    start = time.monotonic()
    first, other = frontier.get(), frontier.get()
    assert first is not None and other is not None
    assert {first.url, other.url} == {"http://a/1", "http://b/1"}  # b need not wait for a
    second = frontier.get()
    assert second is not None and second.url == "http://a/2"
    assert time.monotonic() - start >= 0.29
