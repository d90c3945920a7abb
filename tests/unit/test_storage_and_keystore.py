"""Metadata migrations and the core's sealed identity."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from sealroom.enclave.keystore import load_or_create_identity, load_sealing_key
from sealroom.errors import ConfigurationError
from sealroom.storage.database import migrate, open_engine, sqlite_url
from sealroom.storage.schema import metadata


def test_migrations_build_exactly_the_declared_schema(tmp_path: Path) -> None:
    engine = open_engine(sqlite_url(tmp_path / "m.sqlite3"))
    migrate(engine)
    migrate(engine)  # idempotent: a restarted server migrates again
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    engine.dispose()
    assert diff == [], f"schema.py and the migrations disagree: {diff}"
    assert mode == "wal"


def test_identity_survives_restarts_and_is_sealed(tmp_path: Path) -> None:
    sealing = load_sealing_key(tmp_path / "state" / "sealing.key")
    assert (tmp_path / "state" / "sealing.key").stat().st_mode & 0o777 == 0o600
    path = tmp_path / "data" / "enclave" / "identity.sealed"
    first = load_or_create_identity(path, sealing)
    second = load_or_create_identity(path, load_sealing_key(tmp_path / "state" / "sealing.key"))
    assert first.kem_key.public_key.to_bytes() == second.kem_key.public_key.to_bytes()
    assert first.signing_key.verify_key.to_bytes() == second.signing_key.verify_key.to_bytes()
    sealed = path.read_bytes()
    for secret in (first.kem_key.to_bytes(), first.signing_key.to_bytes(), first.storage_key):
        assert secret not in sealed
        assert secret.hex().encode() not in sealed


def test_another_sealing_key_cannot_unseal_the_identity(tmp_path: Path) -> None:
    path = tmp_path / "identity.sealed"
    load_or_create_identity(path, load_sealing_key(tmp_path / "a.key"))
    with pytest.raises(ConfigurationError, match="sealing key does not match"):
        load_or_create_identity(path, load_sealing_key(tmp_path / "b.key"))


def test_a_corrupt_sealing_key_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "sealing.key"
    key_file.write_bytes(b"short")
    with pytest.raises(ConfigurationError, match="corrupt"):
        load_sealing_key(key_file)
