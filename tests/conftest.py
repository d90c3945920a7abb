"""Settings shared by every test."""

from __future__ import annotations

from pathlib import Path

import pytest

#: The session's PostgreSQL cluster and a database per test (``postgres_url``).
pytest_plugins = ("tests.postgres",)


@pytest.fixture(autouse=True)
def _private_sdk_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own SDK state directory (saved audit checkpoints), never the user's:
    the same room definition in two tests has the same id but another server's key."""
    monkeypatch.setenv("SEALROOM_STATE_DIR", str(tmp_path / "sdk-state"))
