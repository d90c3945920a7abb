"""The SQL sandbox: results, intermediates, limits, safe errors, and an attacker's suite."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from sealroom.compute.sql import SqlLimits, run_sql
from sealroom.errors import SqlExecutionError
from tests.unit.sql_scratch import no_spill_files

EMAIL = "alice.secret@example.com"

FAST = SqlLimits(timeout_seconds=10.0)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    directory = tmp_path / "scratch"
    directory.mkdir()
    return directory


@pytest.fixture
def customers() -> pa.Table:
    return pa.table(
        {
            "email": [EMAIL, "bob@example.org", "carol@example.net"],
            "age": pa.array([31, 42, 27], pa.int64()),
            "spend": [10.0, 12.0, 7.0],
        }
    )


@pytest.fixture
def orders() -> pa.Table:
    return pa.table(
        {
            "email": [EMAIL, EMAIL, "carol@example.net"],
            "amount": pa.array([5, 7, 11], pa.int64()),
        }
    )


def run(query: str, tables: dict[str, pa.Table], scratch: Path, **kwargs: object) -> pa.Table:
    limits = kwargs.pop("limits", FAST)
    assert isinstance(limits, SqlLimits)
    result = run_sql(query, tables, limits=limits, scratch_dir=scratch, **kwargs)  # type: ignore[arg-type]
    assert no_spill_files(scratch)
    return result


def refused(
    query: str, tables: dict[str, pa.Table], scratch: Path, **kwargs: object
) -> SqlExecutionError:
    limits = kwargs.pop("limits", FAST)
    assert isinstance(limits, SqlLimits)
    with pytest.raises(SqlExecutionError) as caught:
        run_sql(query, tables, limits=limits, scratch_dir=scratch, **kwargs)  # type: ignore[arg-type]
    assert no_spill_files(scratch)
    return caught.value


def test_public_surface() -> None:
    import sealroom.compute.sql as package

    assert sorted(package.__all__) == [
        "DP_DELTA_KEY",
        "DP_EPSILON_KEY",
        "DpResult",
        "DpSpec",
        "PrivacyFilter",
        "SUPPRESSED_GROUPS_KEY",
        "SqlLimits",
        "check_parameter_values",
        "check_query_dependencies",
        "check_query_parameters",
        "fold_identifier",
        "query_parameters",
        "referenced_tables",
        "run_sql",
        "table_from_ipc",
        "table_to_csv",
        "table_to_ipc",
    ]


# --- results ---------------------------------------------------------------------------------


def test_returns_typed_arrow_result(customers: pa.Table, scratch: Path) -> None:
    result = run("SELECT email, age, spend FROM t ORDER BY age", {"t": customers}, scratch)
    assert result.schema.field("age").type == pa.int64()
    assert result.schema.field("spend").type == pa.float64()
    assert result.column("age").to_pylist() == [27, 31, 42]


def test_table_name_with_spaces_and_dashes(
    customers: pa.Table, orders: pa.Table, scratch: Path
) -> None:
    tables = {"bank customers": customers, "insurer-orders": orders}
    result = run(
        'SELECT count(*) AS n FROM "bank customers" JOIN "insurer-orders" USING (email)',
        tables,
        scratch,
    )
    assert result.to_pylist() == [{"n": 3}]


def test_table_names_are_case_insensitive(customers: pa.Table, scratch: Path) -> None:
    result = run(
        'SELECT count(*) AS n FROM "Bank Customers"', {"bank customers": customers}, scratch
    )
    assert result.to_pylist() == [{"n": 3}]


def test_join_of_two_tables(customers: pa.Table, orders: pa.Table, scratch: Path) -> None:
    result = run(
        "SELECT c.age, sum(o.amount) AS total FROM customers c JOIN orders o "
        "ON c.email = o.email GROUP BY c.age ORDER BY c.age",
        {"customers": customers, "orders": orders},
        scratch,
    )
    assert result.to_pylist() == [{"age": 27, "total": 11}, {"age": 31, "total": 12}]


def test_sql_depending_on_sql(customers: pa.Table, orders: pa.Table, scratch: Path) -> None:
    intermediate = [
        ("joined rows", "SELECT c.age, o.amount FROM customers c JOIN orders o USING (email)"),
        ("by-age", 'SELECT age, sum(amount) AS total FROM "joined rows" GROUP BY age'),
    ]
    result = run(
        'SELECT max(total) AS top FROM "by-age"',
        {"customers": customers, "orders": orders},
        scratch,
        intermediate=intermediate,
    )
    assert result.to_pylist() == [{"top": 12}]


def test_empty_result_keeps_schema(customers: pa.Table, scratch: Path) -> None:
    result = run("SELECT email, age FROM t WHERE age > 100", {"t": customers}, scratch)
    assert result.num_rows == 0
    assert result.column_names == ["email", "age"]


def test_concurrent_calls_share_a_scratch_directory(customers: pa.Table, scratch: Path) -> None:
    results: list[int] = []

    def one() -> None:
        table = run_sql(
            "SELECT count(*) AS n FROM t", {"t": customers}, limits=FAST, scratch_dir=scratch
        )
        results.append(table.to_pylist()[0]["n"])

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [3, 3, 3, 3]
    assert no_spill_files(scratch)


def test_clashing_names_are_a_caller_error(customers: pa.Table, scratch: Path) -> None:
    with pytest.raises(ValueError, match="clash"):
        run_sql("SELECT 1", {"t": customers, "T": customers}, limits=FAST, scratch_dir=scratch)
    with pytest.raises(ValueError, match="clash"):
        run_sql(
            "SELECT 1",
            {"t": customers},
            intermediate=[("t", "SELECT 1")],
            limits=FAST,
            scratch_dir=scratch,
        )


@pytest.mark.parametrize(
    "field",
    ["memory_limit_bytes", "threads", "max_result_rows", "max_result_bytes", "max_spill_bytes"],
)
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SqlLimits(**{field: 0})


@pytest.mark.parametrize("seconds", [0.0, -1.0, float("inf"), float("nan")])
def test_timeout_must_be_positive_and_finite(seconds: float) -> None:
    with pytest.raises(ValueError, match="timeout_seconds"):
        SqlLimits(timeout_seconds=seconds)


# --- the sandbox as configured ---------------------------------------------------------------


def test_sandbox_settings_are_locked_in(scratch: Path) -> None:
    result = run(
        "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', "
        "'lock_configuration', 'python_enable_replacements', 'autoload_known_extensions', "
        "'autoinstall_known_extensions', 'allow_community_extensions', 'allowed_paths', "
        "'allow_persistent_secrets', 'threads', 'max_execution_time', 'TimeZone')",
        {},
        scratch,
        limits=SqlLimits(threads=1, timeout_seconds=7.5),
    )
    settings = {row["name"]: row["value"] for row in result.to_pylist()}
    assert settings == {
        "enable_external_access": "false",
        "lock_configuration": "true",
        "python_enable_replacements": "false",
        "autoload_known_extensions": "false",
        "autoinstall_known_extensions": "false",
        "allow_community_extensions": "false",
        "allowed_paths": "[]",
        "allow_persistent_secrets": "false",
        "threads": "1",
        "max_execution_time": "7500",
        "TimeZone": "UTC",
    }


def test_spill_directory_is_private_to_the_database_and_empty_after_the_call(
    scratch: Path,
) -> None:
    result = run("SELECT current_setting('temp_directory') AS d", {}, scratch)
    spill = Path(result.to_pylist()[0]["d"])
    assert spill.parent == scratch
    assert spill.stat().st_mode & 0o777 == 0o700
    assert list(spill.iterdir()) == []


# --- attacker's suite: everything fails safely, with no side effect ---------------------------


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_csv_auto('/etc/hostname')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_blob('/proc/self/environ')",
        "SELECT * FROM glob('/*')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM read_parquet('https://example.com/x.parquet')",
    ],
)
def test_no_file_or_network_access(query: str, scratch: Path) -> None:
    error = refused(query, {}, scratch)
    assert error.code == "sql_error"
    assert "root:" not in error.message


def test_no_secrets_are_visible(scratch: Path) -> None:
    # Persistent secrets are off, so the secret directory is never even read.
    assert run("SELECT * FROM duckdb_secrets()", {}, scratch).num_rows == 0


@pytest.mark.parametrize(
    "statement",
    [
        "SET memory_limit = '100GB'",
        "SET lock_configuration = false",
        "SET enable_external_access = true",
        "SET python_enable_replacements = true",
        "RESET memory_limit",
        "PRAGMA memory_limit = '100GB'",
        "PRAGMA enable_profiling",
        "SET VARIABLE x = 1",
        "ATTACH ':memory:' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "CREATE TABLE x AS SELECT 1",
        "DROP TABLE t",
        "INSERT INTO t VALUES ('x', 1, 1.0)",
        "CALL pragma_version()",
        "EXPLAIN SELECT 1",
        "CHECKPOINT",
        "DETACH memory",
    ],
)
def test_non_queries_are_refused_before_they_run(
    statement: str, customers: pa.Table, scratch: Path
) -> None:
    error = refused(statement, {"t": customers}, scratch)
    assert error.code == "sql_error"
    assert "not allowed" in error.message


def test_copy_to_a_file_is_refused(scratch: Path, tmp_path: Path) -> None:
    target = tmp_path / "stolen.csv"
    error = refused(f"COPY (SELECT 1) TO '{target}'", {}, scratch)
    assert "COPY statements are not allowed" in error.message
    assert not target.exists()


def test_export_database_is_refused(scratch: Path, tmp_path: Path) -> None:
    target = tmp_path / "export"
    refused(f"EXPORT DATABASE '{target}'", {}, scratch)
    assert not target.exists()


def test_writing_statement_in_an_intermediate_is_refused(scratch: Path, tmp_path: Path) -> None:
    target = tmp_path / "stolen.csv"
    error = refused(
        "SELECT * FROM ok",
        {},
        scratch,
        intermediate=[("ok", "SELECT 1"), ("evil", f"COPY (SELECT 1) TO '{target}'")],
    )
    assert error.message.startswith("SQL node 'evil': ")
    assert not target.exists()


def test_two_statements_are_refused(scratch: Path, tmp_path: Path) -> None:
    target = tmp_path / "stolen.csv"
    error = refused(f"SELECT 1; COPY (SELECT 1) TO '{target}'", {}, scratch)
    assert "one statement" in error.message
    assert not target.exists()


def test_intermediate_cannot_smuggle_a_second_statement(scratch: Path, tmp_path: Path) -> None:
    target = tmp_path / "stolen.csv"
    refused(
        "SELECT * FROM v",
        {},
        scratch,
        intermediate=[("v", f"SELECT 1; COPY (SELECT 1) TO '{target}'")],
    )
    assert not target.exists()


def test_pivot_over_data_values_is_refused(customers: pa.Table, scratch: Path) -> None:
    error = refused("PIVOT t ON email USING sum(age)", {"t": customers}, scratch)
    assert "PIVOT must list its values" in error.message
    assert EMAIL not in error.message


def test_python_variables_are_not_reachable(scratch: Path) -> None:
    secret_frame_table = pa.table({"secret": [EMAIL]})
    assert secret_frame_table.num_rows == 1
    error = refused("SELECT * FROM secret_frame_table", {}, scratch)
    assert "Catalog Error" in error.message
    assert EMAIL not in error.message


def test_locals_of_the_engine_are_not_reachable(customers: pa.Table, scratch: Path) -> None:
    # The engine holds each input in a local named "table" while registering it. With DuckDB's
    # defaults (external access on, python_enable_replacements on) this query reads it through a
    # replacement scan of the calling frame; either setting alone stops it (checked by mutation).
    error = refused('SELECT * FROM "table"', {"t": customers}, scratch)
    assert "Catalog Error" in error.message


def test_environment_is_not_reachable(scratch: Path) -> None:
    error = refused("SELECT getenv('HOME')", {}, scratch)
    assert error.code == "sql_error"


def test_query_cannot_see_tables_it_was_not_given(customers: pa.Table, scratch: Path) -> None:
    error = refused("SELECT * FROM other", {"t": customers}, scratch)
    assert "Catalog Error" in error.message


# --- limits --------------------------------------------------------------------------------


def test_timeout_interrupts_a_query_that_runs_forever(scratch: Path) -> None:
    started = time.monotonic()
    error = refused(
        "SELECT count(*) FROM range(10000000000000)",
        {},
        scratch,
        limits=SqlLimits(timeout_seconds=1.0),
    )
    elapsed = time.monotonic() - started
    assert error.code == "sql_timeout"
    assert elapsed < 2.5


def test_timeout_covers_intermediates(scratch: Path) -> None:
    started = time.monotonic()
    error = refused(
        "SELECT * FROM slow",
        {},
        scratch,
        intermediate=[("slow", "SELECT count(*) AS n FROM range(10000000000000)")],
        limits=SqlLimits(timeout_seconds=0.3),
    )
    assert error.code == "sql_timeout"
    assert time.monotonic() - started < 2.0


def test_memory_limit_stops_a_query_without_crashing(scratch: Path) -> None:
    limits = SqlLimits(memory_limit_bytes=32 * 1024 * 1024, max_spill_bytes=8 * 1024 * 1024)
    error = refused(
        "SELECT count(DISTINCT m) AS n FROM (SELECT md5(i::VARCHAR) AS m FROM range(1500000) r(i))",
        {},
        scratch,
        limits=limits,
    )
    assert error.code == "sql_memory_limit"


def test_query_larger_than_memory_spills_within_its_limit(scratch: Path) -> None:
    limits = SqlLimits(memory_limit_bytes=32 * 1024 * 1024, max_spill_bytes=512 * 1024 * 1024)
    result = run(
        "SELECT count(DISTINCT m) AS n FROM (SELECT md5(i::VARCHAR) AS m FROM range(1500000) r(i))",
        {},
        scratch,
        limits=limits,
    )
    assert result.to_pylist() == [{"n": 1_500_000}]


def test_result_row_limit(scratch: Path) -> None:
    limits = SqlLimits(max_result_rows=100)
    assert run("SELECT * FROM range(100)", {}, scratch, limits=limits).num_rows == 100
    error = refused("SELECT * FROM range(101)", {}, scratch, limits=limits)
    assert error.code == "sql_result_too_large"
    assert "max_result_rows" in error.message


def test_result_row_limit_stops_fetching_early(scratch: Path) -> None:
    started = time.monotonic()
    error = refused(
        "SELECT * FROM range(10000000000000)", {}, scratch, limits=SqlLimits(max_result_rows=10)
    )
    assert error.code == "sql_result_too_large"
    assert time.monotonic() - started < 2.0


def test_result_byte_limit(scratch: Path) -> None:
    limits = SqlLimits(max_result_bytes=1024 * 1024)
    error = refused("SELECT repeat('x', 1000) AS s FROM range(5000)", {}, scratch, limits=limits)
    assert error.code == "sql_result_too_large"
    assert "max_result_bytes" in error.message


# --- safe messages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "SELECT CAST(email AS INTEGER) FROM t",
        "SELECT error(email) FROM t",
        "SELECT strptime(email, '%Y-%m-%d') FROM t",
        "SELECT (SELECT email FROM t) AS e",
        "SELECT CAST(email AS DATE) FROM t WHERE age > 0",
        "SELECT email::UUID FROM t",
        "SELECT json_extract(email, '$.x') FROM t",
    ],
)
def test_errors_at_run_time_do_not_leak_values(
    query: str, customers: pa.Table, scratch: Path
) -> None:
    error = refused(query, {"t": customers}, scratch)
    assert error.code == "sql_error"
    assert "details withheld" in error.message
    for fragment in ("alice", "secret@", "example.com", "bob", "carol"):
        assert fragment not in error.message
        assert fragment not in str(error)
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_errors_in_intermediates_do_not_leak_values(customers: pa.Table, scratch: Path) -> None:
    error = refused(
        "SELECT * FROM converted",
        {"t": customers},
        scratch,
        intermediate=[("converted", "SELECT CAST(email AS INTEGER) AS n FROM t")],
    )
    assert "details withheld" in error.message
    assert "alice" not in error.message


def test_schema_errors_are_shown(customers: pa.Table, scratch: Path) -> None:
    error = refused("SELECT nope FROM t", {"t": customers}, scratch)
    assert error.code == "sql_error"
    assert "Binder Error" in error.message
    assert '"nope"' in error.message


def test_syntax_errors_are_shown(scratch: Path) -> None:
    error = refused("SELEC 1", {}, scratch)
    assert "Parser Error" in error.message


def test_schema_errors_of_intermediates_name_the_node(customers: pa.Table, scratch: Path) -> None:
    error = refused(
        "SELECT * FROM step",
        {"t": customers},
        scratch,
        intermediate=[("step", "SELECT missing_column FROM t")],
    )
    assert error.message.startswith("SQL node 'step': Binder Error")
