"""pywb replays what `mirrorkit capture` wrote (the acceptance's interop test).

pywb monkey-patches the process with gevent when imported, so it runs in a child process: it
builds a collection with wb-manager and answers replay requests through its WSGI app.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mirrorkit.cli import main
from mirrorkit.sample_site import SampleSite

BIN = Path(sys.executable).parent

_REPLAY = r"""
import json, os, sys
os.chdir(sys.argv[1])
from pywb.apps.frontendapp import FrontEndApp
from werkzeug.test import Client
client = Client(FrontEndApp())
out = {}
for url in json.loads(sys.argv[2]):
    for mode in ("id_", "mp_"):
        r = client.get(f"/coll/2100{mode}/{url}")
        out[mode + url] = [r.status_code, r.headers.get("Content-Type"),
                           r.headers.get("Location"), r.get_data().decode("latin-1")]
print(json.dumps(out))
"""


@pytest.mark.interop
def test_pywb_replays_the_capture(tmp_path: Path) -> None:
    out = tmp_path / "cap"
    with SampleSite() as site:
        assert main(["capture", site.url, "-o", str(out), "--quiet"]) == 0
        bodies = {p: site.body(p) for p in ("", "css/main.css", "news/gbk.html",
                                            "img/logo.png", "reports/?page=2")}
        base, redirects = site.url, site.expected["redirects"]
    root = tmp_path / "pywb"
    root.mkdir()
    subprocess.run([str(BIN / "wb-manager"), "init", "coll"], cwd=root, check=True,
                   capture_output=True)
    subprocess.run([str(BIN / "wb-manager"), "add", "coll", *map(str, out.glob("*.warc.gz"))],
                   cwd=root, check=True, capture_output=True)
    urls = [base + p for p in bodies] + [base + "index.html", *redirects]
    result = subprocess.run([sys.executable, "-c", _REPLAY, str(root), json.dumps(urls)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    for path, body in bodies.items():
        status, _ctype, _loc, data = got["id_" + base + path]
        assert status == 200, path
        assert data.encode("latin-1") == body, path  # gzip'd and chunked ones decoded by pywb
    assert got["id_" + base + "news/gbk.html"][1] == "text/html; charset=GBK"
    # the revisit record (index.html has the same payload as /) replays the original's body
    assert got["id_" + base + "index.html"][3].encode("latin-1") == bodies[""]
    # rewritten page mode: links point back into the archive
    status, _ctype, _loc, page = got["mp_" + base]
    assert status == 200 and "Lantern Rights Watch" in page
    assert "/coll/2100mp_/" in page or "/coll/2100/" in page
    for source, target in redirects.items():
        status, _ctype, location, _data = got["id_" + source]
        assert status in (301, 302) and location and location.endswith(
            target.split("://", 1)[1])
