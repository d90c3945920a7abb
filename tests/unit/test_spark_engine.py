"""The Spark engine's edges (:mod:`sealroom.compute.sql.spark`) on a local Spark Connect server.

What the TPC-H comparison does not show: errors keep data values out, parameters are bound by
Spark, DP's exact aggregates come from Spark while its noise stays in the core, an unconfigured
or unreachable server fails with ``spark_unavailable``, the time limit holds, and pyspark's own
logging of a failed query (which quotes Spark's message) is silenced.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from sealroom.compute.sql import DpSpec, PrivacyFilter, SqlLimits, run_sql
from sealroom.compute.sql.ipc import DP_EPSILON_KEY, SUPPRESSED_GROUPS_KEY
from sealroom.compute.sql.spark import SparkConnect, run_sql_on_spark
from sealroom.errors import JobFailedError, SqlExecutionError
from tests.spark import spark_connect as shared_spark

pytestmark = [
    pytest.mark.spark,
    pytest.mark.timeout(300),
    # pyspark warns (UserWarning) when its retries of an unreachable server run out.
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

SECRET = "victim-secret-value"
LIMITS = SqlLimits(timeout_seconds=120)
PEOPLE = pa.table(
    {
        "user_id": pa.array([*range(20), 20], pa.int64()),
        "city": pa.array(["Bern" if i % 2 else "Genf" for i in range(20)] + ["Tiny"]),
        "salary": pa.array([1000.0 + i for i in range(20)] + [123456.0]),
        "note": pa.array(["12"] * 20 + [SECRET]),
    }
)


@pytest.fixture(scope="module")
def spark() -> SparkConnect:
    return shared_spark()


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


def on_spark(spark: SparkConnect | None, scratch: Path, query: str, **options: object) -> pa.Table:
    return run_sql_on_spark(
        query,
        {"people": PEOPLE},
        spark=spark,
        limits=options.pop("limits", LIMITS),  # type: ignore[arg-type]
        scratch_dir=scratch,
        **options,  # type: ignore[arg-type]
    )


def test_a_failing_cast_names_spark_error_class_not_the_value(
    spark: SparkConnect,
    scratch: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(SqlExecutionError) as caught:
        on_spark(spark, scratch, "SELECT CAST(note AS INTEGER) AS n FROM people")
    assert caught.value.code == "sql_error"
    assert "CAST_INVALID_INPUT" in caught.value.message
    assert SECRET not in caught.value.message
    # pyspark logs a failed query's message (with the value) unless silenced.
    out, err = capfd.readouterr()
    assert SECRET not in out + err + caplog.text


def test_a_schema_error_is_duckdb_s_before_anything_reaches_spark(
    scratch: Path,
) -> None:
    # No server at all: the query is refused by the DuckDB-side checks first.
    with pytest.raises(SqlExecutionError) as caught:
        on_spark(SparkConnect("sc://127.0.0.1:9"), scratch, "SELECT nope FROM people")
    assert "nope" in caught.value.message


def test_parameters_are_bound_by_spark(spark: SparkConnect, scratch: Path) -> None:
    query = "SELECT COUNT(*) AS n FROM people WHERE city = $city AND salary > $low"
    values = {"city": "Bern", "low": "1010"}
    expected = run_sql(
        query, {"people": PEOPLE}, limits=LIMITS, scratch_dir=scratch, parameters=values
    )
    actual = on_spark(spark, scratch, query, parameters=values)
    assert actual.equals(expected)
    assert actual.column("n").to_pylist() == [5]
    # A value is never SQL: a quote in it is just a character.
    injected = on_spark(spark, scratch, query, parameters={"city": "x' OR '1'='1", "low": "0"})
    assert injected.column("n").to_pylist() == [0]


def test_the_filter_on_spark_counts_the_suppressed_group(
    spark: SparkConnect, scratch: Path
) -> None:
    query = (
        "SELECT city, COUNT(*) AS n, AVG(salary) AS mean FROM people GROUP BY city ORDER BY city"
    )
    privacy = PrivacyFilter(minimum_rows=5, unit_column="user_id")
    actual = on_spark(spark, scratch, query, privacy=privacy)
    assert actual.column("city").to_pylist() == ["Bern", "Genf"]
    assert (actual.schema.metadata or {})[SUPPRESSED_GROUPS_KEY] == b"1"


def test_dp_reads_exact_aggregates_from_spark_and_adds_noise_in_the_core(
    spark: SparkConnect, scratch: Path
) -> None:
    query = "SELECT COUNT(*) AS n, SUM(salary) AS total FROM people"
    spec = DpSpec(epsilon=1.0, delta=1e-6, max_rows_per_unit=1, bounds={"salary": (0.0, 2000.0)})
    result = on_spark(spark, scratch, query, dp=spec)
    assert result.column_names == ["n", "total"]
    assert (result.schema.metadata or {})[DP_EPSILON_KEY] == b"1.0"
    # Noisy, near the truth (21 rows; the clamped total is 20 * ~1010 + 2000).
    assert abs(result.column("n")[0].as_py() - 21) < 50


def test_no_server_configured(scratch: Path) -> None:
    with pytest.raises(JobFailedError) as caught:
        on_spark(None, scratch, "SELECT COUNT(*) FROM people")
    assert caught.value.code == "spark_unavailable"
    assert "SEALROOM_SPARK_CONNECT_URL" in caught.value.message


def test_an_unreachable_server(scratch: Path) -> None:
    with pytest.raises(JobFailedError) as caught:
        on_spark(SparkConnect("sc://127.0.0.1:9"), scratch, "SELECT COUNT(*) FROM people")
    assert caught.value.code == "spark_unavailable"


def test_the_time_limit_interrupts_spark(spark: SparkConnect, scratch: Path) -> None:
    # 21**9 (794 billion) rows to count: far past the limit. (21**7 once finished in under
    # 5 s: Spark's generated code counts a billion rows a second.)
    tables = ", ".join(f"people AS p{i}" for i in range(9))
    total = " + ".join(f"p{i}.user_id" for i in range(9))
    slow = f"SELECT COUNT(*) AS n FROM {tables} WHERE {total} = 77"
    with pytest.raises(SqlExecutionError) as caught:
        on_spark(spark, scratch, slow, limits=SqlLimits(timeout_seconds=5))
    assert caught.value.code == "sql_timeout"


def test_a_run_past_its_deadline_is_a_timeout_even_if_spark_finished(
    spark: SparkConnect, scratch: Path
) -> None:
    """The deadline passes between operations (nothing running to interrupt): the next
    operation is not started, and the run is a timeout, never a late result."""
    with pytest.raises(SqlExecutionError) as caught:
        on_spark(
            spark,
            scratch,
            "SELECT COUNT(*) AS n FROM people",
            limits=SqlLimits(timeout_seconds=0.05),
        )
    assert caught.value.code == "sql_timeout"


def test_the_row_limit(spark: SparkConnect, scratch: Path) -> None:
    with pytest.raises(SqlExecutionError) as caught:
        on_spark(spark, scratch, "SELECT * FROM people", limits=SqlLimits(max_result_rows=10))
    assert caught.value.code == "sql_result_too_large"
