"""The replay server's rewriters: HTML attributes, srcset, CSS url()/@import, charsets, search."""

from __future__ import annotations

import pytest

from mirrorkit.formats.charset import html_charset as sniff_charset
from mirrorkit.formats.timestamps import to14
from serve.inject import client_scripts, shim_script
from serve.rewrite_css import rewrite_css
from serve.rewrite_html import rewrite_html, rewrite_refresh, rewrite_srcset
from serve.search import SearchIndex, query_tokens, tokens
from serve.urls import UrlRewriter, parse_replay_path

TS = "20260101120000"
P = f"/b/{TS}/"


def urls(doc: str = "http://ex.org/dir/page.html") -> UrlRewriter:
    return UrlRewriter("/b", TS, doc)


def test_html_rewrites_only_urls_and_keeps_other_bytes() -> None:
    doc = (
        "<!DOCTYPE html>\n<HTML><Head>\n<LINK REL=stylesheet HREF='s.css' integrity=\"x\">"
        "<script src=//cdn.example/j.js></script></head>\n"
        "<body class=\"a\"  data-x='&amp;'>\n<!-- <img src=\"c.png\"> -->"
        "<a href=\"../up?a=1&amp;b=2#f\" ping=\"/p\">up</a>"
        "<img src=\"data:image/png;base64,AAAA\" srcset=\"a.png 1x, b.png 2x\">"
        "<a href=\"#top\">t</a><a href=\"javascript:void(0)\">j</a><a href=\"mailto:x@y\">m</a>"
        "<iframe src=\"f.html\"></iframe><form action=\"https://other.example/post\"></form>"
        "<video poster=p.png><source src=v.mp4></video><td background=bg.gif>"
        "</body></html>"
    )
    out = rewrite_html(doc, urls()).text
    assert f"HREF='{P}http://ex.org/dir/s.css'" in out
    assert "data-mk-integrity=\"x\"" in out
    assert f'src="{P}http://cdn.example/j.js"' in out
    assert f'href="{P}http://ex.org/up?a=1&amp;b=2#f"' in out
    assert f'ping="{P}http://ex.org/p"' in out
    assert 'src="data:image/png;base64,AAAA"' in out
    assert f'srcset="{P}http://ex.org/dir/a.png 1x, {P}http://ex.org/dir/b.png 2x"' in out
    assert 'href="#top"' in out and 'href="javascript:void(0)"' in out and "mailto:x@y" in out
    assert f'src="/b/{TS}if_/http://ex.org/dir/f.html"' in out
    assert f'action="{P}https://other.example/post"' in out
    assert f'poster="{P}http://ex.org/dir/p.png"' in out
    assert f'src="{P}http://ex.org/dir/v.mp4"' in out
    assert f'background="{P}http://ex.org/dir/bg.gif"' in out
    # untouched: comments, case, odd spacing, entity spelling elsewhere
    assert '<!-- <img src="c.png"> -->' in out
    assert "<body class=\"a\"  data-x='&amp;'>" in out
    assert out.startswith("<!DOCTYPE html>\n<HTML><Head>\n<LINK REL=stylesheet")


def test_base_href_style_and_meta_refresh() -> None:
    doc = (
        '<html><head><meta http-equiv="refresh" content="0; url=/next.html">'
        '<base href="/reports/assets/"><style>\nbody { background: url( "bg.png" ) }\n'
        "/* url(skip.png) */ @import 'x.css' print; @import url(y.css);\n</style></head>"
        '<body><img src="chart.png"><div style="background-image:url(&quot;i.png&quot;)">'
        "</div></body></html>"
    )
    out = rewrite_html(doc, urls("http://ex.org/reports/a.html")).text
    assert f'content="0; url={P}http://ex.org/next.html"' in out
    assert f'<base href="{P}http://ex.org/reports/assets/">' in out
    assert f'url( "{P}http://ex.org/reports/assets/bg.png" )' in out
    assert "/* url(skip.png) */" in out
    assert f"@import '{P}http://ex.org/reports/assets/x.css' print" in out
    assert f"@import url({P}http://ex.org/reports/assets/y.css)" in out
    assert f'src="{P}http://ex.org/reports/assets/chart.png"' in out
    assert f'style="background-image:url(&quot;{P}http://ex.org/reports/assets/i.png&quot;)"' in out


def test_injection_points() -> None:
    doc = "<html><head><meta charset=utf-8><script>var a=1</script></head><body>x</body></html>"
    res = rewrite_html(doc, urls())
    out = res.inject("[HEAD]", "[BODY]")
    assert out.index("<meta charset") < out.index("[HEAD]") < out.index("<script>var a")
    assert out.endswith("x[BODY]</body></html>")
    # fragments without head/body still get both
    out = rewrite_html("<p>hi <a href=x>x</a>", urls()).inject("[H]", "[B]")
    assert out.startswith("[H]<p>hi") and out.endswith("[B]")


def test_broken_markup_never_raises() -> None:
    for doc in ["<a href='x", "<![if !IE]><a href=y>", "<<<>>>", "<script>", "</", "<!-->",
                "<img src=a.png<b>", "<a href=\"\x00\">"]:
        rewrite_html(doc, urls())


def test_srcset_and_refresh_helpers() -> None:
    u = urls()
    assert rewrite_srcset("a.png", u) == f"{P}http://ex.org/dir/a.png"
    assert rewrite_srcset(" a.png 480w,b.png  960w ", u) == (
        f" {P}http://ex.org/dir/a.png 480w,{P}http://ex.org/dir/b.png  960w ")
    assert rewrite_srcset("a,1.png 1x, b.png 2x", u).startswith(f"{P}http://ex.org/dir/a,1.png 1x")
    assert rewrite_refresh("5", u) == "5"
    assert rewrite_refresh("3;URL='/x'", u) == f"3;URL='{P}http://ex.org/x'"


def test_css_rewriter() -> None:
    u = urls("http://ex.org/css/main.css")
    css = ('@import url("fonts.css");\n@import "print.css" print;\n'
           "a{background:url(../img/a.png)} b{content:\"url(no.png)\"} "
           "c{background:image-set(url(lo.png) 1x, url('hi.png') 2x)}"
           " d{src:url(data:font/woff2;base64,AA)} e{x:url(a\\(b.png)} /* url(c.png) */")
    out = rewrite_css(css, u)
    assert f'@import url("{P}http://ex.org/css/fonts.css")' in out
    assert f'@import "{P}http://ex.org/css/print.css" print' in out
    assert f"url({P}http://ex.org/img/a.png)" in out
    assert 'content:"url(no.png)"' in out
    assert f"url({P}http://ex.org/css/lo.png) 1x, url('{P}http://ex.org/css/hi.png')" in out
    assert "url(data:font/woff2;base64,AA)" in out
    assert f"url({P}http://ex.org/css/a\\28 b.png)" in out
    assert "/* url(c.png) */" in out
    assert rewrite_css("p{color:red}", u) == "p{color:red}"


@pytest.mark.parametrize("body,ctype,expected", [
    (b"<html>", "text/html; charset=GBK", "gbk"),
    (b"<html>", "text/html; charset=gb2312", "gbk"),
    (b"<meta charset='shift_jis'>", "text/html", "shift_jis"),
    (b'<meta http-equiv="Content-Type" content="text/html; charset=big5">', None, "big5"),
    (b"\xef\xbb\xbf<html>", "text/html; charset=latin1", "utf-8-sig"),
    (b"<html>", "text/html; charset=nonsense", "utf-8"),
    (b"<html>", "text/html; charset=iso-8859-1", "cp1252"),
])
def test_charset_sniffing(body: bytes, ctype: str, expected: str) -> None:
    assert sniff_charset(body, ctype) == expected


def test_replay_paths() -> None:
    t = parse_replay_path("2014/http://ex.org/a?b=1")
    assert t == (to14("2014"), "", "http://ex.org/a?b=1")
    assert parse_replay_path("20140101000000if_/https:/ex.org/").url == "https://ex.org/"
    assert parse_replay_path("20140101000000id_/ex.org/x").url == "http://ex.org/x"
    assert parse_replay_path("20140101000000zz_/http://ex.org/") is None
    assert parse_replay_path("main") is None


def test_injected_markup_is_ascii_and_escaped() -> None:
    script = shim_script(P, "/b/", "http://ex.org/</script><script>alert(1)//")
    assert script.isascii() and script.count("</script>") == 1
    assert "RTCPeerConnection" in script  # WebRTC removal comes first
    both = client_scripts(P, "http://ex.org/\u2028</script>")
    assert both.isascii() and both.startswith(script.split("(function mk")[0])


def test_search_latin_and_chinese() -> None:
    pages = [
        {"url": "http://ex.org/a", "title": "Clean water report", "text": "Wells ran dry."},
        {"url": "http://ex.org/b", "title": "新闻简报",
         "text": "流域村民的证词，井水的颜色发生了变化。"},
        {"url": "http://ex.org/c", "title": "Other", "text": "water in the text only"},
    ]
    index = SearchIndex(pages)
    assert [p["url"] for p in index.search("WATER")] == ["http://ex.org/a", "http://ex.org/c"]
    assert [p["url"] for p in index.search("村民")] == ["http://ex.org/b"]
    assert [p["url"] for p in index.search("井水 颜色")] == ["http://ex.org/b"]
    assert index.search("村长") == [] and index.search("  ") == []
    assert "村民" in index.search("村民")[0]["snippet"]
    assert {"清", "清水"} <= tokens("清水") and query_tokens("清水河") == ["清水", "水河"]


def test_reencoding_keeps_bytes_and_never_fails() -> None:
    from serve.respond import ENCODE_ERRORS

    raw = "中文".encode("gbk") + b"\x81\x30 <a href=x>"  # an invalid GBK pair in the middle
    text = raw.decode("gbk", "surrogateescape")
    assert text.encode("gbk", ENCODE_ERRORS) == raw
    assert "/é".encode("cp1252", ENCODE_ERRORS) == b"/\xe9"
    assert "/中".encode("cp1252", ENCODE_ERRORS) == b"/%E4%B8%AD"
