"""USB kits carry an update with the earlier bundles it needs (issue 15)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from update_support import Chain, build_chain

from mirrorkit.errors import KitError
from mirrorkit.kit.build import build_kit


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    return build_chain(tmp_path_factory.mktemp("kit-chain"))


def test_kit_ships_an_update_with_its_base(chain: Chain, tmp_path: Path) -> None:
    kit = build_kit([chain.update], tmp_path / "kit", fingerprints=[chain.fingerprint])
    assert [b.file for b in kit.bundles] == [chain.base.name, chain.update.name]
    assert kit.bundles[1].needs == [chain.base.name] and kit.bundles[1].trusted
    assert (tmp_path / "kit" / chain.base.name).read_bytes() == chain.base.read_bytes()
    readme = (tmp_path / "kit" / "README.txt").read_text("utf-8-sig")
    assert "needs the earlier file" in readme and "需要较早的文件" in readme
    assert chain.base.name in (tmp_path / "kit" / "SHA256SUMS").read_text()


def test_kit_refuses_an_update_without_its_base(chain: Chain, tmp_path: Path) -> None:
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copyfile(chain.update, lone / chain.update.name)
    with pytest.raises(KitError, match=chain.base.name):
        build_kit([lone / chain.update.name], tmp_path / "kit")
    # a file of the base's name that is another file is no base either
    shutil.copyfile(chain.update, lone / chain.base.name)
    with pytest.raises(KitError, match="needs"):
        build_kit([lone / chain.update.name], tmp_path / "kit")
    assert not (tmp_path / "kit").exists()


@pytest.mark.slow
def test_qr_decode_verifies_an_update_with_its_base_when_at_hand(
        chain: Chain, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mirrorkit.cli import main
    from mirrorkit.verify.chain import file_sha256

    frames = tmp_path / "frames"
    assert main(["qr", "encode", str(chain.update), "-o", str(frames), "--quiet"]) == 0
    got = tmp_path / "got"
    got.mkdir()
    capsys.readouterr()
    # no base at hand: exit 1, the message names the base it needs, the file is kept
    assert main(["qr", "decode", str(frames), "-o", str(got / chain.update.name)]) == 1
    err = capsys.readouterr().err
    assert chain.base.name in err and file_sha256(chain.base) in err
    assert (got / chain.update.name).read_bytes() == chain.update.read_bytes()
    # with the base beside it: verified as a chain (valid, signer not in this trust store)
    (got / chain.update.name).unlink()
    shutil.copyfile(chain.base, got / chain.base.name)
    assert main(["qr", "decode", str(frames), "-o", str(got / chain.update.name)]) == 3
