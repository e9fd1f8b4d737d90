"""The trust store, the rollback memory and the `mirrorkit trust` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mirrorkit.cli import main
from mirrorkit.cli._trustarg import resolve_trust_argument
from mirrorkit.errors import TrustStoreError, UsageError
from mirrorkit.trust.signing import generate_key, write_public_key
from mirrorkit.trust.store import SeenStore, TrustStore, config_dir

FP = "831E 071A 7976 1FEF CBCD C141 2090 0D0F 97A6 F6AE A277 983E 568E ED9B 9B5A 66ED"


def test_config_dir_follows_mirrorkit_home(mirrorkit_home: Path) -> None:
    assert config_dir() == mirrorkit_home
    assert TrustStore().path == mirrorkit_home / "trust.json"
    assert SeenStore().path == mirrorkit_home / "seen.json"


def test_add_list_remove(mirrorkit_home: Path) -> None:
    store = TrustStore()
    assert store.list() == []
    entry = store.add(FP.lower().replace(" ", ""), "ArchiveWeb sample", "test")
    assert entry.fingerprint == FP
    assert [e.fingerprint for e in store.list()] == [FP]
    assert store.get(FP).name == "ArchiveWeb sample"
    store.add(FP, "Renamed")  # adding again replaces the name
    assert [e.name for e in store.list()] == ["Renamed"]
    data = json.loads((mirrorkit_home / "trust.json").read_text())
    assert data["format"] == "mirrorkit-trust-1"
    # Atomic writes leave no temp files behind.
    assert sorted(p.name for p in mirrorkit_home.iterdir()) == ["trust.json"]
    store.remove(FP)
    assert store.list() == []
    with pytest.raises(UsageError, match="not in the trust store"):
        store.remove(FP)


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"format": "other"}',
                                     b'{"format": "mirrorkit-trust-1", "keys": []}'])
def test_damaged_store_is_a_clear_error(mirrorkit_home: Path, content: bytes,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    (mirrorkit_home / "trust.json").write_bytes(content)
    with pytest.raises(TrustStoreError, match="damaged"):
        TrustStore().list()
    assert main(["trust", "list"]) == 1
    err = capsys.readouterr().err
    assert "damaged" in err and "Traceback" not in err


def test_resolve_argument_accepts_pub_files(tmp_path: Path) -> None:
    key = generate_key("Lantern Reports")
    pub = write_public_key(key, tmp_path / "lantern.pub")
    assert resolve_trust_argument(str(pub), None) == (key.fingerprint, "Lantern Reports",
                                                      "file lantern.pub")
    assert resolve_trust_argument(str(pub), "Other")[1] == "Other"
    with pytest.raises(UsageError, match="--name"):
        resolve_trust_argument(FP, None)
    with pytest.raises(UsageError, match="not a key fingerprint"):
        resolve_trust_argument("no-such-file.pub", "x")


def test_rollback_memory(mirrorkit_home: Path) -> None:
    seen = SeenStore()
    assert seen.highest(FP, "reports") is None
    seen.remember(FP, "reports", 3)
    seen.remember(FP, "reports", 2)  # lower: ignored
    assert seen.highest(FP, "reports") == 3
    assert seen.highest(FP, "other") is None
    (mirrorkit_home / "seen.json").write_text("garbage")
    with pytest.raises(TrustStoreError):
        seen.highest(FP, "reports")


def test_trust_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trust", "add", FP, "--name", "Sample"]) == 0
    capsys.readouterr()
    assert main(["trust", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["fingerprint"] == FP and listed[0]["name"] == "Sample"
    assert main(["trust", "add", "not-a-fingerprint", "--name", "x"]) == 2
    assert main(["trust", "add", FP]) == 2  # a bare fingerprint needs a name
    key = generate_key("From File")
    pub = write_public_key(key, tmp_path / "k.pub")
    assert main(["trust", "add", str(pub)]) == 0
    assert main(["trust", "list"]) == 0
    out = capsys.readouterr().out
    assert "From File" in out and key.fingerprint in out
    assert main(["trust", "remove", FP]) == 0
    assert main(["trust", "remove", FP]) == 2
    bad = tmp_path / "bad.pub"
    bad.write_text('{"format": "mirrorkit-public-key-1", "name": "x", "publicKey": "AAAA"}')
    assert main(["trust", "add", str(bad)]) == 1
    assert "Traceback" not in capsys.readouterr().err
