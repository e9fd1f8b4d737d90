"""Shared fixtures: an isolated config dir for every test, the interop corpus, the sample site."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mirrorkit.sample_site import SampleSite

REPO = Path(__file__).resolve().parents[1]
INTEROP = REPO.parent / "shared" / "interop"


def pytest_configure(config: pytest.Config) -> None:
    # Session- and module-scoped fixtures run before any per-test monkeypatch: without this they
    # would write sequence numbers and rollback memory into the user's real config dir.
    home = tempfile.mkdtemp(prefix="mirrorkit-session-home-")
    config._mirrorkit_home = home  # type: ignore[attr-defined]
    os.environ["MIRRORKIT_HOME"] = home


def pytest_unconfigure(config: pytest.Config) -> None:
    home = getattr(config, "_mirrorkit_home", None)
    if home:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(autouse=True)
def mirrorkit_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test gets its own config dir, so the user's trust store is never touched."""
    home = tmp_path_factory.mktemp("mirrorkit-home")
    monkeypatch.setenv("MIRRORKIT_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def interop() -> Path:
    """The folder of WARC and WACZ files written by other tools (read-only)."""
    if not INTEROP.is_dir():
        # CI always has shared/ beside the clone: there a missing corpus is a failure, not a
        # reason to pass without the interop tests.
        if os.environ.get("CI"):
            pytest.fail(f"interop corpus not found at {INTEROP}")
        pytest.skip(f"interop corpus not found at {INTEROP}")
    return INTEROP


@pytest.fixture(scope="session")
def sample_site() -> Iterator[SampleSite]:
    """The built-in sample site, served on 127.0.0.1 for the whole test session."""
    with SampleSite() as site:
        yield site


@pytest.fixture(scope="session")
def sample_bundle(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A signed WACZ of the sample site (serve_support.SampleBundle); its live site is stopped."""
    from serve_support import build_sample_bundle

    return build_sample_bundle(tmp_path_factory.mktemp("sample-bundle"))
