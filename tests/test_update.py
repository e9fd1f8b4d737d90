"""Update bundles (issue 15): capture --dedup-against, bundle --base, verify of chains, merge.

On the sample site: capture and bundle; two pages and one image change (a modified copy is
served on the same ports); capture again against the first bundle, bundle as an update.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from update_support import CHANGED_IMAGE, CHANGED_PAGES, NEW_TEXT, Chain, build_chain

from mirrorkit.bundle import writer
from mirrorkit.bundle.merge import merge_bundles
from mirrorkit.capture import CaptureOptions, capture, check_seed
from mirrorkit.cli import main
from mirrorkit.errors import UsageError
from mirrorkit.formats.bases import is_original
from mirrorkit.formats.wacz import WaczReader
from mirrorkit.formats.warc import iter_records
from mirrorkit.sample_site import SampleSite
from mirrorkit.trust.signing import generate_key, load_private_key
from mirrorkit.verify.chain import ChainFailed, file_sha256, verify_chain

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    return build_chain(tmp_path_factory.mktemp("chain"))


def _entries(path: Path) -> List[Any]:
    with WaczReader(path) as reader:
        return list(reader.index)


def _verify_json(args: List[str], capsys: pytest.CaptureFixture[str]) -> Tuple[int, Dict[str, Any]]:
    capsys.readouterr()
    code = main(["verify", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


# -- capture --dedup-against ---------------------------------------------------------------------

def test_dedup_capture_writes_revisits_into_the_base(chain: Chain) -> None:
    revisits, responses = {}, {}
    info = ""
    for record in iter_records(chain.capture2):
        url = record.rec_headers.get_header("WARC-Target-URI")
        if record.rec_type == "warcinfo":
            info += record.content_stream().read().decode()
        elif record.rec_type == "revisit":
            revisits[url] = record.rec_headers
        elif record.rec_type == "response":
            responses[url] = record
    base_hash = file_sha256(chain.base)
    assert f"mirrorkit-base: file://{chain.base.name} {base_hash}" in info
    home = revisits[chain.site_url + "petition.html"]
    assert home.get_header("WARC-Refers-To-Container") == "file://" + chain.base.name
    assert home.get_header("WARC-Refers-To-Target-URI") == chain.site_url + "petition.html"
    assert home.get_header("WARC-Refers-To-Date")
    assert home.get_header("WARC-Profile").endswith("/revisit/identical-payload-digest")
    for path in (*CHANGED_PAGES, CHANGED_IMAGE):
        assert chain.site_url + path in responses, path  # changed: stored in full
        assert chain.site_url + path not in revisits
    # pages are still fetched and their links followed: the whole site is there again
    assert len(revisits) + len(responses) >= 40
    subprocess.run([str(BIN / "warcio"), "check", *map(str, chain.capture2.glob("*.warc.gz"))],
                   check=True, capture_output=True)


def test_dedup_against_a_missing_or_broken_file_is_a_usage_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wacz"
    junk.write_bytes(b"not a zip")
    for path in (tmp_path / "nope.wacz", junk):
        with pytest.raises(UsageError, match="--dedup-against"):
            capture(CaptureOptions(seeds=[check_seed("http://127.0.0.1:9/")],
                                   out_dir=tmp_path / f"out-{path.name}",
                                   dedup_against=[str(path)]))


# -- bundle --base ---------------------------------------------------------------------------------

def test_update_holds_only_new_changed_revisits(chain: Chain) -> None:
    base = {e.digest for e in _entries(chain.base) if is_original(e.mime, e.status, e.digest)}
    kinds: Dict[str, int] = {}
    for entry in _entries(chain.update):
        if entry.mime == "warc/revisit":
            kinds["revisit"] = kinds.get("revisit", 0) + 1
            continue
        # every other record is new or changed: no payload the base already has
        assert not (is_original(entry.mime, entry.status, entry.digest) and entry.digest in base), \
            entry.url
        kinds["stored"] = kinds.get("stored", 0) + 1
    stored = {e.url for e in _entries(chain.update) if e.mime != "warc/revisit"
              and str(e.status).startswith("2")}
    assert {chain.site_url + p for p in (*CHANGED_PAGES, CHANGED_IMAGE)} <= stored
    assert kinds["revisit"] > 30
    assert chain.update.stat().st_size < chain.base.stat().st_size


def test_update_datapackage_requires_its_base(chain: Chain) -> None:
    with WaczReader(chain.update) as reader:
        package = reader.datapackage
        pages = [p["url"] for p in reader.pages()]
    with WaczReader(chain.base) as reader:
        base_pages = [p["url"] for p in reader.pages()]
    assert package["relation"]["requires"] == [{
        "filename": chain.base.name, "hash": file_sha256(chain.base),
        "size": chain.base.stat().st_size}]
    assert package["mirrorkit"]["collection"] == "lantern"
    assert package["mirrorkit"]["sequence"] == 2
    assert sorted(pages) == sorted(base_pages)  # the page list of the whole new edition


def test_update_passes_wacz_validate(chain: Chain) -> None:
    result = subprocess.run([str(BIN / "wacz"), "validate", "-f", str(chain.update)],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "valid" in result.stdout + result.stderr


def test_bundle_refuses_a_capture_not_deduplicated_against_the_base(chain: Chain,
                                                                     tmp_path: Path) -> None:
    key = load_private_key(chain.key_path, None)
    from mirrorkit.bundle.update import create_update

    with pytest.raises(UsageError, match="not deduplicated against"):
        create_update([chain.capture1], tmp_path / "u.wacz", bases=[chain.base], key=key)
    with pytest.raises(UsageError, match="one signing key"):
        create_update([chain.capture2], tmp_path / "u.wacz", bases=[chain.base],
                      key=generate_key("Someone else"))
    with pytest.raises(UsageError, match="stays in its base's collection"):
        create_update([chain.capture2], tmp_path / "u.wacz", bases=[chain.base], key=key,
                      collection="other")
    assert not (tmp_path / "u.wacz").exists()
    assert main(["bundle", str(chain.capture2), "--key", str(chain.key_path), "-o",
                 str(tmp_path / "u.wacz"), "--base", str(chain.base), "--lite"]) == 2


# -- verify of chains ---------------------------------------------------------------------------

def test_verify_update_with_its_base(chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _verify_json([str(chain.update), "--base", str(chain.base),
                                 "--fingerprint", chain.fingerprint, "--deep"], capsys)
    assert code == 0, report
    assert report["chain"]["ok"] and report["chain"]["revisits"] > 30
    assert report["chain"]["requires"][0]["path"] == str(chain.base)
    # found beside the update by its file name (and checked by hash)
    code, report = _verify_json([str(chain.update)], capsys)
    assert code == 3 and report["chain"]["requires"][0]["ok"]


def test_base_given_for_a_standalone_bundle_is_a_usage_error(chain: Chain) -> None:
    assert main(["verify", str(chain.base), "--base", str(chain.update)]) == 2


def test_missing_base_is_exit_1_naming_file_and_hash(chain: Chain, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    lone = tmp_path / chain.update.name
    shutil.copyfile(chain.update, lone)
    capsys.readouterr()
    assert main(["verify", str(lone)]) == 1
    out = capsys.readouterr().out
    assert chain.base.name in out and file_sha256(chain.base) in out
    assert out.startswith("FAILED")


def test_rollback_memory_never_warns_about_a_base(chain: Chain, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(chain.update), "--base", str(chain.base)]) == 3
    code, report = _verify_json([str(chain.update), "--base", str(chain.base), "--strict"],
                                capsys)
    assert code == 3 and report["chain"]["ok"]
    assert not any(w for w in report["warnings"] if "rollback" in w)
    # the base alone, after its update was seen, is an older copy: that still warns
    code, report = _verify_json([str(chain.base), "--strict"], capsys)
    assert code == 1 and any(c["name"] == "rollback" and c["outcome"] == "fail"
                             for c in report["checks"])


def _forged_update(chain: Chain, out: Path, *, base: Path, key: Any,
                   captures: List[Path]) -> Path:
    """An update of `captures` claiming `base`, made without bundle --base's refusals."""
    requires = {"relation": {"requires": [{"filename": base.name, "hash": file_sha256(base),
                                           "size": base.stat().st_size}]}}
    return writer.create_bundle(captures, out, key=key, collection="lantern", sequence=2,
                                package_extra=requires, revisit_elsewhere=lambda _e: True)


@pytest.fixture(scope="module")
def other_key() -> Any:
    return generate_key("Impostor")


def test_tamper_wrong_base_other_hash(chain: Chain, tmp_path: Path) -> None:
    key = load_private_key(chain.key_path, None)
    shutil.copyfile(chain.update, tmp_path / chain.update.name)
    # the same capture, bundled again by the same key: same name, another file
    writer.create_bundle([chain.capture1], tmp_path / chain.base.name, key=key,
                         collection="lantern", sequence=1)
    with pytest.raises(ChainFailed, match="not the one the update needs"):
        verify_chain(tmp_path / chain.update.name)
    assert main(["verify", str(tmp_path / chain.update.name)]) == 1


def test_tamper_base_signed_by_another_key(chain: Chain, tmp_path: Path, other_key: Any,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    key = load_private_key(chain.key_path, None)
    base = writer.create_bundle([chain.capture1], tmp_path / "lantern-1.wacz", key=other_key,
                                collection="lantern", sequence=1)
    update = _forged_update(chain, tmp_path / "lantern-2.wacz", base=base, key=key,
                            captures=[chain.capture2])
    capsys.readouterr()
    assert main(["verify", str(update)]) == 1
    out = capsys.readouterr().out
    assert other_key.fingerprint in out and key.fingerprint in out


def test_tamper_revisit_the_base_lacks(chain: Chain, tmp_path: Path) -> None:
    key = load_private_key(chain.key_path, None)
    small = tmp_path / "small-capture"
    with SampleSite() as site:  # another run of the site: other URLs (ports) than the chain's
        capture(CaptureOptions(seeds=[check_seed(site.url)], out_dir=small, depth=0))
    base = writer.create_bundle([small], tmp_path / "lantern-1.wacz", key=key,
                                collection="lantern", sequence=1)
    update = _forged_update(chain, tmp_path / "lantern-2.wacz", base=base, key=key,
                            captures=[chain.capture2])
    with pytest.raises(ChainFailed, match="revisit") as info:
        verify_chain(update)
    assert info.value.report.unresolved
    assert main(["verify", str(update)]) == 1


def test_tamper_update_resigned_by_another_key(chain: Chain, tmp_path: Path, other_key: Any,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copyfile(chain.base, tmp_path / chain.base.name)
    update = _forged_update(chain, tmp_path / "lantern-2.wacz", base=tmp_path / chain.base.name,
                            key=other_key, captures=[chain.capture2])
    capsys.readouterr()
    assert main(["verify", str(update), "--fingerprint", chain.fingerprint]) == 1
    out = capsys.readouterr().out
    assert other_key.fingerprint in out and chain.fingerprint in out


# -- merge --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def merged(chain: Chain) -> Path:
    out = chain.root / "lantern-full.wacz"
    assert main(["merge", str(chain.base), str(chain.update), "--key", str(chain.key_path),
                 "-o", str(out)]) == 0
    return out


def test_merge_verifies_on_its_own(chain: Chain, merged: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str], warcs_of: Any) -> None:
    lone = tmp_path / "full.wacz"
    shutil.copyfile(merged, lone)
    code, report = _verify_json([str(lone), "--deep", "--fingerprint", chain.fingerprint],
                                capsys)
    assert code == 0, report["checks"]
    assert report["chain"]["requires"] == []
    result = subprocess.run([str(BIN / "wacz"), "validate", "-f", str(lone)],
                            capture_output=True, text=True)
    assert result.returncode == 0
    with WaczReader(lone) as reader:
        package = reader.datapackage
    assert "relation" not in package and package["mirrorkit"]["sequence"] == 2
    subprocess.run([str(BIN / "warcio"), "check", *map(str, warcs_of(lone))], check=True,
                   capture_output=True)


def test_merge_copies_records_unaltered(chain: Chain, merged: Path) -> None:
    def records(path: Path) -> Dict[str, bytes]:
        with WaczReader(path) as reader:
            return {e.fields["recordDigest"]: b"" for e in reader.index}

    update, full = records(chain.update), records(merged)
    assert set(update) <= set(full)  # every record of the update, byte for byte
    base = records(chain.base)
    assert set(full) <= set(update) | set(base)  # nothing that was not in the chain


def test_merge_replays_every_page_of_the_newest_edition(chain: Chain, merged: Path) -> None:
    from update_replay_support import content_get, through_reader

    from serve import create_app

    app = create_app([merged], {"background": False, "fingerprint": chain.fingerprint})
    try:
        with WaczReader(merged) as reader:
            pages = list(reader.pages())
        assert len(pages) >= 16
        name = merged.name[:-len(".wacz")]
        assert app.extensions["mirrorkit"].get(name).state == "trusted"
        for page in pages:
            # the reader page frames it from the bundle's content origin, which serves it
            _reader, resp = through_reader(app, name, f"/{name}/21000101000000/{page['url']}")
            assert resp.status_code == 200, page["url"]
            framed = content_get(app, name, "21000101000000", page["url"], "if_")
            assert framed.status_code == 200, page["url"]
            if page["url"] in [chain.site_url + p for p in CHANGED_PAGES]:
                assert NEW_TEXT in resp.get_data(as_text=True)
                assert NEW_TEXT in framed.get_data(as_text=True)
    finally:
        app.extensions["mirrorkit"].close()


def test_merge_refuses_a_broken_chain(chain: Chain, tmp_path: Path, other_key: Any) -> None:
    with pytest.raises(UsageError, match="one of the bundles"):
        merge_bundles([chain.base, chain.update], chain.update, key=other_key)
    with pytest.raises(UsageError, match="merge with the key"):
        merge_bundles([chain.base, chain.update], tmp_path / "x.wacz", key=other_key)
    with pytest.raises(UsageError, match="not an update"):
        merge_bundles([chain.base, chain.base], tmp_path / "x.wacz", key=other_key)


# -- pywb ---------------------------------------------------------------------------------------

_REPLAY = r"""
import json, os, sys
os.chdir(sys.argv[1])
from pywb.apps.frontendapp import FrontEndApp
from werkzeug.test import Client
client = Client(FrontEndApp())
out = {}
for url in json.loads(sys.argv[2]):
    r = client.get(f"/coll/2100id_/{url}")
    out[url] = [r.status_code, r.get_data().decode("latin-1")]
print(json.dumps(out))
"""


@pytest.fixture
def warcs_of(tmp_path: Path) -> Iterator[Any]:
    def extract(bundle: Path) -> List[Path]:
        out = []
        with WaczReader(bundle) as reader:
            for name in reader.warc_names:
                dest = tmp_path / "warcs" / f"{bundle.stem}-{name}"  # names may coincide
                dest.parent.mkdir(parents=True, exist_ok=True)
                with reader.open_member("archive/" + name) as src, open(dest, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                out.append(dest)
        return out
    yield extract


@pytest.mark.interop
def test_pywb_replays_base_and_update_as_one_collection(chain: Chain, tmp_path: Path,
                                                        warcs_of: Any) -> None:
    root = tmp_path / "pywb"
    root.mkdir()
    subprocess.run([str(BIN / "wb-manager"), "init", "coll"], cwd=root, check=True,
                   capture_output=True)
    warcs = warcs_of(chain.base) + warcs_of(chain.update)
    subprocess.run([str(BIN / "warcio"), "check", *map(str, warcs)], check=True,
                   capture_output=True)
    subprocess.run([str(BIN / "wb-manager"), "add", "coll", *map(str, warcs)], cwd=root,
                   check=True, capture_output=True)
    changed = [chain.site_url + p for p in CHANGED_PAGES]
    unchanged = [chain.site_url + p for p in ("index.html", "petition.html", "css/main.css")]
    result = subprocess.run([sys.executable, "-c", _REPLAY, str(root),
                             json.dumps(changed + unchanged)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    for url in changed:
        assert got[url][0] == 200 and NEW_TEXT in got[url][1], url
    for url in unchanged:
        assert got[url][0] == 200 and len(got[url][1]) > 100, url
    assert "Lantern" in got[unchanged[0]][1]
