"""The 22 TPC-H queries on Spark (``engine="spark"``) return what the DuckDB engine returns.

TPC-H at scale factor 0.01 (:mod:`tests.tpch`) is validated exactly as the core validates a
published dataset (:func:`sealroom.validation.validate_table`), and every query runs through both
engines over those very Arrow tables: :func:`sealroom.compute.sql.run_sql` (DuckDB) and
:func:`sealroom.compute.sql.spark.run_sql_on_spark` (a local Spark Connect server,
:mod:`tests.spark`). The results must have the same column names and types (the Spark engine
casts to DuckDB's), the same rows in the same order where the query orders them (as a multiset
otherwise), with decimals, integers, dates and strings equal and doubles equal within 1e-9
relative or 1e-6 absolute: Spark sums doubles in another order, and computes ``AVG`` of a
``DECIMAL(p, s)`` as a ``DECIMAL`` rounded to ``s + 4`` places (DuckDB: a double; Q1's averages)
and divides decimals at its own precision (Q14) before the engine casts to DuckDB's double
(docs/spark.md).

Through the privacy filter (k = 5), each query is refused with the same message, or releases the
same rows with the same count of suppressed groups. The server test
(``test_spark_server.py``) runs a filtered room end to end; these run the engines directly, so
that the 44 runs take minutes, not a server per query.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from sealroom.compute.sql import PrivacyFilter, SqlLimits, referenced_tables, run_sql
from sealroom.compute.sql.spark import SparkConnect, run_sql_on_spark
from sealroom.errors import SqlExecutionError
from sealroom.model.columns import TableSchema
from sealroom.validation import validate_table
from tests import tpch
from tests.spark import spark_connect as shared_spark

pytestmark = [pytest.mark.spark, pytest.mark.timeout(600)]

SCALE_FACTOR = 0.01
MINIMUM_ROWS_COUNT = 5
RELATIVE_TOLERANCE = 1e-9
#: Half a unit of Spark's 6th decimal place (AVG of DECIMAL(15, 2) is DECIMAL(19, 6)), rounded up.
ABSOLUTE_TOLERANCE = 1e-6
LIMITS = SqlLimits(timeout_seconds=300)


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pa.Table]:
    csvs = tpch.generate(SCALE_FACTOR, tmp_path_factory.mktemp("tpch-spark"))
    validated = {}
    for name, columns in tpch.TABLES.items():
        result = validate_table(csvs[name].read_bytes(), TableSchema(columns=columns))
        assert result.table is not None
        validated[name] = result.table
    return validated


@pytest.fixture(scope="module")
def spark_connect() -> SparkConnect:
    return shared_spark()


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


def rows(table: pa.Table) -> list[tuple[object, ...]]:
    return list(zip(*(column.to_pylist() for column in table.columns), strict=True))


def same_value(left: object, right: object) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return math.isclose(left, right, rel_tol=RELATIVE_TOLERANCE, abs_tol=ABSOLUTE_TOLERANCE)
    return type(left) is type(right) and left == right


def assert_same_rows(actual: pa.Table, expected: pa.Table, *, ordered: bool) -> None:
    assert actual.schema == expected.schema
    got, want = rows(actual), rows(expected)
    if not ordered:
        got, want = sorted(got, key=repr), sorted(want, key=repr)
    assert len(got) == len(want)
    for got_row, want_row in zip(got, want, strict=True):
        assert all(same_value(a, b) for a, b in zip(got_row, want_row, strict=True)), (
            got_row,
            want_row,
        )


def both(
    name: str,
    tables: dict[str, pa.Table],
    spark: SparkConnect,
    scratch: Path,
    privacy: PrivacyFilter | None,
) -> tuple[pa.Table | SqlExecutionError, pa.Table | SqlExecutionError]:
    query = tpch.query(name)
    inputs = {table: tables[table] for table in referenced_tables(query)}
    outcomes: list[pa.Table | SqlExecutionError] = []
    for engine in (run_sql, run_sql_on_spark):
        extra = {"spark": spark} if engine is run_sql_on_spark else {}
        try:
            outcomes.append(
                engine(query, inputs, limits=LIMITS, scratch_dir=scratch, privacy=privacy, **extra)
            )
        except SqlExecutionError as error:
            outcomes.append(error)
    return outcomes[0], outcomes[1]


@pytest.mark.parametrize("name", tpch.QUERY_NAMES)
def test_spark_returns_what_duckdb_returns(
    name: str, tables: dict[str, pa.Table], spark_connect: SparkConnect, scratch: Path
) -> None:
    expected, actual = both(name, tables, spark_connect, scratch, None)
    assert isinstance(expected, pa.Table)
    assert isinstance(actual, pa.Table), actual
    assert expected.num_rows > 0, "the query selects nothing at this scale factor: not a test"
    assert_same_rows(actual, expected, ordered=tpch.has_order_by(tpch.query(name)))


@pytest.mark.parametrize("name", tpch.QUERY_NAMES)
def test_spark_through_the_privacy_filter(
    name: str, tables: dict[str, pa.Table], spark_connect: SparkConnect, scratch: Path
) -> None:
    expected, actual = both(
        name, tables, spark_connect, scratch, PrivacyFilter(minimum_rows=MINIMUM_ROWS_COUNT)
    )
    if isinstance(expected, SqlExecutionError):
        assert isinstance(actual, SqlExecutionError)
        assert (actual.code, actual.message) == (expected.code, expected.message)
        return
    assert isinstance(actual, pa.Table), actual
    assert actual.schema.metadata == expected.schema.metadata  # the suppressed count
    assert_same_rows(actual, expected, ordered=True)


def test_decimals_come_back_as_decimals(
    tables: dict[str, pa.Table], spark_connect: SparkConnect, scratch: Path
) -> None:
    """Not a vacuous float comparison: Q1's sums are exact decimals on both engines."""
    _, actual = both("q01", tables, spark_connect, scratch, None)
    assert isinstance(actual, pa.Table)
    assert isinstance(actual.column("sum_qty")[0].as_py(), Decimal)
