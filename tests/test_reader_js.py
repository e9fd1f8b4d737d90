"""The reader's pure modules agree with their Python originals: SURT keys (surt.js vs
mirrorkit.formats.surt), search tokens (search.js vs serve.search), trust card text (card.js vs
mirrorkit.qr.card, fingerprints by WebCrypto). Run by Node on the ES modules themselves."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, List

import pytest

from mirrorkit.formats.surt import surt_key
from mirrorkit.qr.card import card_text
from mirrorkit.trust.signing import generate_key
from serve.search import query_tokens, tokens

SRC = Path(__file__).resolve().parents[1] / "reader" / "src"

URLS = [
    "https://www.Example.org/a?b=2&a=1", "http://example.com:80/Path/To/?Q=1#frag",
    "https://example.com:8443/", "http://www2.example.co.uk",
    "http://%E4%BE%8B%E5%AD%90.%E4%B8%AD%E5%9B%BD/%E6%96%B0", "http://1.2.3.4/x/../y",
    "http://127.0.0.1:4444/reports/?page=2", "http://127.0.0.1:4444/", "dns:example.com",
    "urn:snapshot:http://127.0.0.1:4444/news/", "http://example.com/中文 页?q=水&a=b c",
    "https://example.org/a%2Fb/./c/../d.html?x=%41&y", "http://EXAMPLE.com/A//B/",
    "https://example.org/?jsessionid=0123456789abcdef0123456789abcdef&a=1",
    "http://example.org/search?q=%E6%B8%85%E6%B0%B4&page=2&lang=zh",
]
TEXTS = ["Clean water 清水", "新闻简报：流域村民的证词（GBK 编码页面）", "Ｆｕｌｌ-width ＡＢＣ",
         "co-op x2 Straße ÉCOLE ΟΔΟΣ οδος", "한국어 日本語のテキスト",
         "mixed中文text and 𠀀𠀁 ext-B"]


def _node(script: str, data: Any) -> Any:
    if shutil.which("node") is None:
        if os.environ.get("CI"):
            pytest.fail("node is missing")
        pytest.skip("node is not installed")
    out = subprocess.run(["node", "--input-type=module", "-e", script], input=json.dumps(data),
                         capture_output=True, text=True, cwd=SRC, timeout=60, check=True)
    return json.loads(out.stdout)


def test_surt_keys_match_python() -> None:
    got = _node(
        "import { surtKey } from './surt.js';"
        "let s=''; process.stdin.on('data', d => s += d).on('end', () =>"
        " console.log(JSON.stringify(JSON.parse(s).map(surtKey))));", URLS)
    assert got == [surt_key(u) for u in URLS]


def test_search_tokens_match_python() -> None:
    got = _node(
        "import { tokens, queryTokens } from './search.js';"
        "let s=''; process.stdin.on('data', d => s += d).on('end', () =>"
        " console.log(JSON.stringify(JSON.parse(s).map(t => [[...tokens(t)].sort(),"
        " queryTokens(t)]))));", TEXTS)
    want: List[Any] = [[sorted(tokens(t)), query_tokens(t)] for t in TEXTS]
    # JS sorts by UTF-16 code units, Python by code points: compare as sets where order is moot.
    assert [[sorted(a), b] for a, b in got] == [[sorted(a), b] for a, b in want]


def test_trust_card_text_gives_the_fingerprint() -> None:
    key = generate_key("灯笼人权观察 Lantern")
    text = card_text(key.name, key.public_key_der)
    got = _node(
        "import { readCardText } from './card.js';"
        "let s=''; process.stdin.on('data', d => s += d).on('end', async () => {"
        " const [good, bad] = JSON.parse(s);"
        " console.log(JSON.stringify([await readCardText(good), await readCardText(bad)])); });",
        [text, "MIRRORKIT:KEY:1:%%%"])
    assert got == [{"name": key.name, "fingerprint": key.fingerprint}, None]


def test_search_results_match_the_server(sample_bundle: Any) -> None:
    import zipfile

    from serve.search import SearchIndex

    with zipfile.ZipFile(sample_bundle.path) as zf:
        lines = zf.read("pages/pages.jsonl").decode().splitlines()
    pages = [p for p in map(json.loads, lines) if "url" in p]
    queries = ["村民", "water", "detention 2025", "灯笼", "reports", "清洁饮用水", "nothing-here",
               "Lantern", "页面"]
    got = _node(
        "import { SearchIndex } from './search.js';"
        "let s=''; process.stdin.on('data', d => s += d).on('end', async () => {"
        " const [pages, queries] = JSON.parse(s); const idx = new SearchIndex(pages);"
        " await idx.build();"
        " console.log(JSON.stringify(queries.map(q => idx.search(q, 5).results"
        ".map(r => r.page.url)))); });", [pages, queries])
    index = SearchIndex(pages)
    assert got == [[p["url"] for p in index.search(q, limit=5)] for q in queries]
