"""The hardened DuckDB connection: settings applied, locked, and verified fail-closed."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from sealroom.compute.sql.connection import _verify_settings, open_hardened_connection
from sealroom.errors import ConfigurationError

MiB = 1024 * 1024


def open_test_connection(spill: Path | None) -> duckdb.DuckDBPyConnection:
    return open_hardened_connection(
        memory_limit_bytes=64 * MiB,
        threads=1,
        spill_directory=spill,
        max_spill_bytes=4 * MiB,
        max_execution_ms=10_000,
    )


def setting(connection: duckdb.DuckDBPyConnection, name: str) -> str:
    row = connection.execute("SELECT current_setting(?)", [name]).fetchone()
    assert row is not None
    return str(row[0])


def test_unhardened_connection_is_refused() -> None:
    connection = duckdb.connect(":memory:")
    try:
        with pytest.raises(ConfigurationError) as caught:
            _verify_settings(connection, threads=2, temp_directory="")
    finally:
        connection.close()
    message = str(caught.value)
    for name in ("enable_external_access", "lock_configuration", "python_enable_replacements"):
        assert name in message


def test_connection_is_locked(tmp_path: Path) -> None:
    connection = open_test_connection(tmp_path)
    try:
        for statement in (
            "SET enable_external_access = true",
            "SET lock_configuration = false",
            "SET memory_limit = '10GB'",
            "SET temp_directory = '/tmp'",
            "RESET max_temp_directory_size",
        ):
            with pytest.raises(duckdb.InvalidInputException, match="locked"):
                connection.execute(statement)
        assert setting(connection, "memory_limit") == "64.0 MiB"
        assert setting(connection, "temp_directory") == str(tmp_path)
    finally:
        connection.close()


def test_spill_cap_is_enforced(tmp_path: Path) -> None:
    # duckdb 2.0 reports a max_temp_directory_size given at start-up without enforcing it; the
    # connection sets it after start-up. This query needs ~100 MiB against 64 MiB + 4 MiB.
    connection = open_test_connection(tmp_path)
    try:
        with pytest.raises(duckdb.OutOfMemoryException, match="max_temp_directory_size"):
            connection.execute(
                "CREATE TEMPORARY TABLE big AS SELECT md5(i::VARCHAR) AS m FROM range(3000000) r(i)"
            )
    finally:
        connection.close()


def test_without_spill_directory_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DuckDB's default temp_directory is ".tmp" under the working directory: plaintext on disk.
    monkeypatch.chdir(tmp_path)
    connection = open_test_connection(None)
    try:
        assert setting(connection, "temp_directory") == ""
        with pytest.raises(duckdb.OutOfMemoryException):
            connection.execute(
                "CREATE TEMPORARY TABLE big AS SELECT md5(i::VARCHAR) AS m FROM range(3000000) r(i)"
            )
    finally:
        connection.close()
    assert list(tmp_path.iterdir()) == []


def test_each_call_gets_a_database_of_its_own_with_its_own_settings(tmp_path: Path) -> None:
    """Databases are opened ahead of time, but one is never handed out twice: what one call
    leaves behind (a table) is not in the next, and each call's limits are its own."""
    first = open_hardened_connection(
        memory_limit_bytes=64 << 20,
        threads=1,
        spill_directory=tmp_path,
        max_spill_bytes=1 << 20,
        max_execution_ms=1000,
    )
    try:
        first.execute("CREATE TEMP TABLE left_behind AS SELECT 42 AS answer")
        assert setting(first, "threads") == "1"
        assert setting(first, "temp_directory") == str(tmp_path)
    finally:
        first.close()
    second = open_hardened_connection(
        memory_limit_bytes=128 << 20,
        threads=2,
        spill_directory=None,
        max_spill_bytes=0,
        max_execution_ms=2000,
    )
    try:
        tables = second.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        assert tables == []
        assert setting(second, "threads") == "2"
        assert setting(second, "temp_directory") == ""
        assert setting(second, "max_execution_time") == "2000"
    finally:
        second.close()
