"""The hardened DuckDB connection: settings applied, locked and verified fail-closed, and what one
call leaves behind never reaching the next call that is given the same database."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from sealroom.compute.sql import connection as sandbox
from sealroom.compute.sql.connection import SandboxSettings, _verify_settings, hardened_connection
from sealroom.errors import ConfigurationError

MiB = 1024 * 1024


def settings(scratch: Path | None, **changes: object) -> SandboxSettings:
    options: dict[str, object] = {
        "memory_limit_bytes": 64 * MiB,
        "threads": 1,
        "max_execution_ms": 10_000,
        "scratch_dir": scratch,
        "max_spill_bytes": 4 * MiB if scratch is not None else 0,
    }
    options.update(changes)
    return SandboxSettings(**options)  # type: ignore[arg-type]


def setting(connection: duckdb.DuckDBPyConnection, name: str) -> str:
    rows = connection.execute("SELECT current_setting(?)", [name]).fetchall()
    return str(rows[0][0])


def database_of(connection: duckdb.DuckDBPyConnection) -> str:
    """Which database a connection belongs to: its spill directory is the database's own."""
    return setting(connection, "temp_directory")


@pytest.fixture(autouse=True)
def empty_pool() -> Iterator[None]:
    """Each test starts without idle databases, so that 'the same database' is deterministic."""
    sandbox._POOL.close()
    sandbox._POOL._closed = False
    yield
    sandbox._POOL.close()
    sandbox._POOL._closed = False


def test_unhardened_connection_is_refused() -> None:
    connection = duckdb.connect(":memory:")
    try:
        with pytest.raises(ConfigurationError) as caught:
            _verify_settings(connection, threads=2, temp_directory="", max_execution_ms=1000)
    finally:
        connection.close()
    message = str(caught.value)
    for name in ("enable_external_access", "lock_configuration", "python_enable_replacements"):
        assert name in message


def test_connection_is_locked(tmp_path: Path) -> None:
    with hardened_connection(settings(tmp_path)) as connection:
        spill = Path(database_of(connection))
        for statement in (
            "SET enable_external_access = true",
            "SET lock_configuration = false",
            "SET memory_limit = '10GB'",
            "SET temp_directory = '/tmp'",
            "SET TimeZone = 'Europe/Paris'",
            "SET SESSION max_execution_time = 0",
            "SET error_on_division_by_zero = false",
            "RESET max_temp_directory_size",
        ):
            with pytest.raises(duckdb.InvalidInputException, match="locked"):
                connection.execute(statement)
        assert setting(connection, "memory_limit") == "64.0 MiB"
        assert setting(connection, "TimeZone") == "UTC"
        assert setting(connection, "max_execution_time") == "10000"
    # The database's own spill directory: new, private, under the scratch directory.
    assert spill.parent == tmp_path
    assert spill.stat().st_mode & 0o777 == 0o700


def test_spill_cap_is_enforced(tmp_path: Path) -> None:
    # duckdb 2.0 reports a max_temp_directory_size given at start-up without enforcing it; the
    # connection sets it after start-up. This query needs ~100 MiB against 64 MiB + 4 MiB.
    with (
        pytest.raises(duckdb.OutOfMemoryException, match="max_temp_directory_size"),
        hardened_connection(settings(tmp_path)) as connection,
    ):
        connection.execute(
            "CREATE TEMPORARY TABLE big AS SELECT md5(i::VARCHAR) AS m FROM range(3000000) r(i)"
        )
    # The failed call's database is closed, and its spill files deleted with it.
    assert list(tmp_path.iterdir()) == []


def test_without_spill_directory_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DuckDB's default temp_directory is ".tmp" under the working directory: plaintext on disk.
    monkeypatch.chdir(tmp_path)
    with hardened_connection(settings(None)) as connection:
        assert setting(connection, "temp_directory") == ""
    with (
        pytest.raises(duckdb.OutOfMemoryException),
        hardened_connection(settings(None)) as connection,
    ):
        connection.execute(
            "CREATE TEMPORARY TABLE big AS SELECT md5(i::VARCHAR) AS m FROM range(3000000) r(i)"
        )
    assert list(tmp_path.iterdir()) == []


def test_the_next_call_on_the_same_database_finds_nothing_of_the_last(tmp_path: Path) -> None:
    """An attacker's call leaves everything it can behind; the next call, given the very same
    database, sees none of it."""
    secret = pa.table({"salary": [123_456]})
    with hardened_connection(settings(tmp_path)) as first:
        first_database = database_of(first)
        first.register("payroll", secret)
        first.execute("CREATE TEMP VIEW seen AS SELECT * FROM payroll")
        first.execute("CREATE TEMP TABLE kept AS SELECT * FROM payroll")
        first.execute("PREPARE again AS SELECT * FROM payroll")
        first.execute("SET VARIABLE leaked = 123456")
        first.execute("SELECT setseed(0.25)").fetchall()
        seeded = first.execute("SELECT random()").fetchall()
    with hardened_connection(settings(tmp_path)) as second:
        assert database_of(second) == first_database  # reused: the point of the test
        catalog = second.execute(
            "SELECT table_name FROM duckdb_tables() UNION ALL "
            "SELECT view_name FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
        assert catalog == []
        for query in ("SELECT * FROM payroll", "SELECT * FROM seen", "SELECT * FROM kept"):
            with pytest.raises(duckdb.CatalogException):
                second.execute(query)
        with pytest.raises(duckdb.BinderException, match="does not exist"):
            second.execute("EXECUTE again")
        assert second.execute("SELECT getvariable('leaked')").fetchall() == [(None,)]
        assert second.execute("SELECT random()").fetchall() != seeded
    # Nothing in DuckDB holds the registered table once its call is over.
    gone = weakref.ref(secret)
    del secret
    gc.collect()
    assert gone() is None


def test_a_failed_call_does_not_hand_its_database_on(tmp_path: Path) -> None:
    databases: list[str] = []

    def failing_call() -> None:
        with hardened_connection(settings(tmp_path)) as first:
            databases.append(database_of(first))
            first.execute("SELECT no_such_column")

    with pytest.raises(duckdb.BinderException):
        failing_call()
    failed_database = databases[0]
    assert not Path(failed_database).exists()
    with hardened_connection(settings(tmp_path)) as second:
        assert database_of(second) != failed_database


def test_a_database_with_spill_files_left_is_closed_and_its_files_deleted(tmp_path: Path) -> None:
    with hardened_connection(settings(tmp_path)) as first:
        spill = Path(database_of(first))
        (spill / "left-behind.tmp").write_bytes(b"plaintext rows")
    assert not spill.exists()
    with hardened_connection(settings(tmp_path)) as second:
        assert database_of(second) != str(spill)


def test_databases_are_shared_only_by_equal_settings(tmp_path: Path) -> None:
    with hardened_connection(settings(tmp_path)) as plain:
        plain_database = database_of(plain)
        assert setting(plain, "error_on_division_by_zero") == "True"
    filtered = settings(tmp_path, division_by_zero_is_null=True)
    with hardened_connection(filtered) as connection:
        assert database_of(connection) != plain_database
        assert setting(connection, "error_on_division_by_zero") == "False"
        assert connection.execute("SELECT 1 // 0").fetchall() == [(None,)]
    with hardened_connection(settings(tmp_path, threads=2)) as connection:
        assert database_of(connection) != plain_database
        assert setting(connection, "threads") == "2"


def test_concurrent_calls_never_share_a_database(tmp_path: Path) -> None:
    both_inside = threading.Barrier(2, timeout=30)
    seen: list[str] = []

    def call() -> None:
        with hardened_connection(settings(tmp_path)) as connection:
            seen.append(database_of(connection))
            both_inside.wait()

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 2


def test_idle_databases_are_bounded_and_closed_least_recently_used_first(tmp_path: Path) -> None:
    directories = []
    for threads in range(1, sandbox._KEEP_IDLE + 3):
        with hardened_connection(settings(tmp_path, threads=threads)) as connection:
            directories.append(Path(database_of(connection)))
    kept = [directory for directory in directories if directory.exists()]
    assert kept == directories[-sandbox._KEEP_IDLE :]
    sandbox._POOL.close()
    assert list(tmp_path.iterdir()) == []


def test_settings_must_be_non_negative_integers(tmp_path: Path) -> None:
    for wrong in ({"threads": -1}, {"memory_limit_bytes": 1.5}, {"max_execution_ms": True}):
        with pytest.raises(ValueError, match="non-negative integer"):
            settings(tmp_path, **wrong)
