"""Acceptance: `mirrorkit capture` on the sample site gives a complete, valid, exact capture."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest
from warcio.archiveiterator import ArchiveIterator

from mirrorkit.bundle.sources import read_pages
from mirrorkit.cli import main
from mirrorkit.formats.warc import target_uri, warc_files
from mirrorkit.sample_site import SampleSite

WARCIO = str(Path(sys.executable).parent / "warcio")


def load_capture(out: Path) -> Dict[str, Any]:
    """url -> {type, status, headers, warc headers, payload (raw, as stored)} of a capture."""
    records: Dict[str, Any] = {}
    requests: Counter = Counter()
    for path in warc_files(out):
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type == "request":
                    requests[target_uri(rec)] += 1
                if rec.rec_type not in ("response", "revisit"):
                    continue
                url = target_uri(rec)
                assert url not in records, f"{url} recorded twice"
                records[url] = {
                    "type": rec.rec_type,
                    "status": int(rec.http_headers.get_statuscode()),
                    "http": rec.http_headers,
                    "warc": rec.rec_headers,
                    "payload": rec.raw_stream.read(),
                }
    records["__requests__"] = requests
    return records


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A fresh sample site (its own request log) captured once through the CLI."""
    out = tmp_path_factory.mktemp("capture") / "site"
    with SampleSite() as site:
        code = main(["capture", site.url, "-o", str(out), "--quiet"])
        assert code == 0
        yield site, out, load_capture(out)


def test_every_page_and_requisite_is_captured(captured: Any) -> None:
    site, _out, recs = captured
    exp = site.expected
    for url in exp["pages"]:
        assert url in recs, f"page missing: {url}"
        assert recs[url]["status"] == 200
    for url in exp["requisites"]:  # incl. <picture><source>, @import'ed fonts, iframe's image
        assert url in recs, f"requisite missing: {url}"
    for url in exp["not_found"]:
        assert recs[url]["status"] == 404
    for source, target in exp["redirects"].items():
        assert recs[source]["status"] == 301
        assert recs[source]["http"].get_header("Location") == target
        assert recs[target]["status"] == 200
    for url in exp["external_links"]:  # a link to another host is outside the default scope
        assert url not in recs


def test_robots_folder_is_neither_fetched_nor_recorded(captured: Any) -> None:
    site, out, recs = captured
    for url in site.expected["disallowed"]:
        assert url not in recs
        path = "/" + url.split("/", 3)[3]
        assert not [r for r in site.requests_log if r[1] == path]
    assert "skipped: robots" in (out / "crawl.log").read_text()
    with open(warc_files(out)[0], "rb") as fh:
        info = next(iter(ArchiveIterator(fh)))
        text = info.content_stream().read().decode()
    assert info.rec_type == "warcinfo" and "robots: obey" in text and "operator:" in text


def test_nothing_fetched_twice(captured: Any) -> None:
    site, _out, recs = captured
    counts = Counter((m, p, h) for m, p, h in site.requests_log)
    assert [k for k, n in counts.items() if n > 1] == []
    assert all(n == 1 for n in recs["__requests__"].values())


def test_gbk_page_bytes_are_exactly_what_the_server_sent(captured: Any) -> None:
    site, _out, recs = captured
    rec = recs[site.expected["gbk_page"]]
    assert rec["http"].get_header("Content-Type") == "text/html; charset=GBK"
    assert rec["payload"] == site.body("news/gbk.html")


def test_encoded_and_chunked_responses_are_stored_as_sent(captured: Any) -> None:
    site, _out, recs = captured
    rec = recs[site.url + "css/main.css"]
    http = rec["http"]
    assert http.get_header("Content-Encoding") == "gzip"
    assert http.get_header("Transfer-Encoding") is None  # framing removed ...
    assert http.get_header("X-Archive-Orig-Transfer-Encoding") == "chunked"  # ... and said so
    assert rec["payload"] == gzip.compress(site.body("css/main.css"), mtime=0)
    assert rec["warc"].get_header("WARC-IP-Address") == "127.0.0.1"


def test_identical_payloads_become_revisits(captured: Any) -> None:
    site, _out, recs = captured
    home, index = recs[site.url], recs[site.url + "index.html"]
    assert {home["type"], index["type"]} == {"response", "revisit"}
    revisit = home if home["type"] == "revisit" else index
    original = index if revisit is home else home
    assert revisit["warc"].get_header("WARC-Refers-To-Date") == \
        original["warc"].get_header("WARC-Date")
    assert revisit["warc"].get_header("WARC-Refers-To-Target-URI") in (site.url,
                                                                       site.url + "index.html")


def test_warcio_check_passes(captured: Any) -> None:
    _site, out, _recs = captured
    files = [str(p) for p in warc_files(out)]
    result = subprocess.run([WARCIO, "check", "-v", *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    assert "digest pass" in result.stdout and "failed" not in result.stdout


def test_pages_jsonl_and_crawl_log(captured: Any) -> None:
    site, out, _recs = captured
    pages = read_pages(out)
    urls = {p["url"] for p in pages}
    assert set(site.expected["pages"]) <= urls | {site.url + "index.html"}
    by_url = {p["url"]: p for p in pages}
    assert by_url[site.url + "reports/?page=2"]["title"].startswith("Reports, page 2")
    assert by_url[site.expected["gbk_page"]]["title"] == "新闻简报：流域村民的证词"  # from GBK
    # The same titles from the WARC alone, as for another tool's WARC without pages.jsonl.
    for warc in sorted(out.glob("*.warc.gz")):
        for page in read_pages(warc):
            if page["url"] in by_url:
                assert page["title"] == by_url[page["url"]]["title"], page["url"]
    assert all(p["ts"].endswith("Z") and p["status"] == 200 for p in pages)
    first = (out / "pages.jsonl").read_text().splitlines()[0]
    assert json.loads(first)["format"] == "json-pages-1.0"
    log = (out / "crawl.log").read_text().splitlines()
    assert any(" 404 " in line and "missing.html" in line for line in log)


def test_json_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with SampleSite() as site:
        code = main(["capture", site.url + "reports/", "-o", str(tmp_path / "c"), "--json",
                     "--scope", "prefix", "--depth", "1", "--max-pages", "2",
                     "--warc-size", "4K"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["complete"] is True and summary["pages"] == 2 and summary["skipped"] >= 1
    assert summary["requisites"] >= 1 and len(summary["warc_files"]) >= 2  # rolled over
    result = subprocess.run([WARCIO, "check", *map(str, warc_files(tmp_path / "c"))],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["ftp://example.org/"], 2, "unsupported URL scheme"),
        (["example.org"], 2, "not a full URL"),
        (["http://[::1"], 2, "malformed URL"),
        (["http://does-not-exist.invalid/"], 1, "cannot resolve host"),
        (["http://127.0.0.1:9/", "--retries", "0"], 1, "connection refused"),
        (["--resume"], 2, "nothing to resume"),
        (["http://127.0.0.1:9/", "--proxy", "ftp://p:1"], 2, "unsupported proxy"),
        (["http://127.0.0.1:9/", "--max-size", "lots"], 2, "not a size"),
    ],
)
def test_bad_input_gives_one_line_and_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list, code: int, message: str
) -> None:
    assert main(["capture", *args, "-o", str(tmp_path / "out")]) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_unwritable_folder_and_reused_folder(tmp_path: Path, capsys: Any) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with SampleSite() as site:
        assert main(["capture", site.url, "-o", str(blocker / "sub"), "--quiet"]) == 1
        assert "cannot create the output folder" in capsys.readouterr().err
        out = tmp_path / "twice"
        assert main(["capture", site.url + "about.html", "-o", str(out), "--quiet",
                     "--scope", "page"]) == 0
        assert main(["capture", site.url, "-o", str(out), "--quiet"]) == 2
        assert "already holds a capture" in capsys.readouterr().err
        assert main(["capture", "--resume", "-o", str(tmp_path / "empty")]) == 2


def test_seeds_file_and_page_scope(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.txt"
    with SampleSite() as site:
        seeds.write_text(f"# start here\n{site.url}about.html\n\n{site.url}contact.html\n")
        out = tmp_path / "s"
        assert main(["capture", "--seeds", str(seeds), "-o", str(out), "--quiet",
                     "--scope", "page", "--user-agent", "TestBot/1.0"]) == 0
        recs = load_capture(out)
        exp = site.expected
    assert site.url + "about.html" in recs and site.url + "contact.html" in recs
    assert not set(exp["pages"]) - {site.url + "about.html", site.url + "contact.html"} \
        & set(recs)  # --scope page follows no links
    assert any(u.endswith(".css") for u in recs)  # but requisites are fetched
    text = b"".join(gzip.decompress(p.read_bytes()) for p in warc_files(out))
    assert b"User-Agent: TestBot/1.0\r\n" in text and b"--seeds" in text
