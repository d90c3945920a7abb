"""docs/configuration.md names every setting of the server, and only settings that exist.

Each field of :class:`sealroom.server.settings.Settings` is the variable ``SEALROOM_<NAME>``;
the page's tables list them (plus the clients' own variables). A setting added without a row,
or a row left behind by a setting removed, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sealroom.server.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
#: Variables the clients read (the SDK and CLI), and the log format (a flag of the commands).
CLIENT_VARIABLES = {
    "SEALROOM_API_URL",
    "SEALROOM_EMAIL",
    "SEALROOM_API_TOKEN",
    "SEALROOM_CA_BUNDLE",
    "SEALROOM_LOG_FORMAT",
    "SEALROOM_TLS_CERT",
    "SEALROOM_TLS_KEY",
}


def _documented() -> set[str]:
    rows = [line for line in DOC.read_text().splitlines() if line.startswith("| `SEALROOM_")]
    return {re.match(r"\| `(SEALROOM_[A-Z0-9_]+)`", row).group(1) for row in rows}  # type: ignore[union-attr]


def test_every_setting_has_a_row() -> None:
    settings = {f"SEALROOM_{name.upper()}" for name in Settings.model_fields}
    assert settings - _documented() == set()


def test_every_row_is_a_setting_or_a_client_variable() -> None:
    settings = {f"SEALROOM_{name.upper()}" for name in Settings.model_fields}
    assert _documented() - settings - CLIENT_VARIABLES == set()


def test_each_variable_is_read_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    """The names are the ones pydantic reads: a value set through each is the setting's."""
    monkeypatch.setenv("SEALROOM_JOB_LEASE_SECONDS", "7")
    monkeypatch.setenv("SEALROOM_S3_PREFIX", "prod")
    monkeypatch.setenv("SEALROOM_GC_INTERVAL_HOURS", "0")
    settings = Settings()
    assert (settings.job_lease_seconds, settings.s3_prefix, settings.gc_interval_hours) == (
        7.0,
        "prod",
        0.0,
    )
