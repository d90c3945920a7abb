"""Settings shared by every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

#: The session's PostgreSQL cluster and a database per test (``postgres_url``).
pytest_plugins = ("tests.postgres",)


@pytest.fixture(scope="session", autouse=True)
def _private_sdk_state_for_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Module- and session-scoped fixtures too keep SDK state (pinned core keys, checkpoints)
    in a directory of the test session, never the user's: servers of other runs on this
    machine (benches, an earlier session) pinned keys for URLs whose ports are reused here."""
    patch = pytest.MonkeyPatch()
    patch.setenv("SEALROOM_STATE_DIR", str(tmp_path_factory.mktemp("sdk-state")))
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def _private_sdk_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own SDK state directory (saved audit checkpoints), never the user's:
    the same room definition in two tests has the same id but another server's key."""
    monkeypatch.setenv("SEALROOM_STATE_DIR", str(tmp_path / "sdk-state"))
