"""DuckDB SQL as Spark SQL (:mod:`sealroom.compute.sql.spark_sql`), and the ``engine`` field.

No Spark here: what is sent to Spark is checked as text; ``test_spark_engine.py`` runs it.
"""

from __future__ import annotations

import pytest

from sealroom.compute.sql.spark_sql import spark_parameters, to_spark_sql
from sealroom.errors import SqlExecutionError
from sealroom.model.columns import Column, FormatType
from sealroom.model.definition import RoomDefinition, SqlNode, TableNode


def test_try_is_dropped_and_everything_else_kept() -> None:
    # The privacy filter wraps row-level expressions in TRY; Spark runs them with ANSI off.
    assert to_spark_sql('SELECT TRY(a / b) AS x FROM "T"') == "SELECT a / b AS x FROM `T`"


def test_parameters_become_spark_named_markers() -> None:
    sql = to_spark_sql("SELECT a FROM t WHERE a > $low AND b = $Name")
    assert sql == "SELECT a FROM t WHERE a > :low AND b = :Name"
    # Bound by Spark under the names it sees, matched case-insensitively as DuckDB does.
    assert spark_parameters(sql, {"low": "1", "name": "x"}) == {"low": "1", "Name": "x"}


def test_a_parameter_without_a_value_is_refused() -> None:
    sql = to_spark_sql("SELECT a FROM t WHERE a > $low")
    with pytest.raises(SqlExecutionError, match="unknown parameter"):
        spark_parameters(sql, {})


def test_duckdb_null_ordering_is_kept() -> None:
    # DuckDB sorts NULLs last, Spark first (ascending): the order must be spelled out.
    assert to_spark_sql("SELECT a FROM t ORDER BY a") == "SELECT a FROM t ORDER BY a NULLS LAST"
    assert to_spark_sql("SELECT a FROM t ORDER BY a DESC") == "SELECT a FROM t ORDER BY a DESC"


def test_dates_intervals_and_integer_division() -> None:
    sql = to_spark_sql("SELECT DATE '1998-12-01' - INTERVAL '90' DAY, a // b FROM t")
    assert sql == "SELECT CAST('1998-12-01' AS DATE) - INTERVAL '90' DAY, a DIV b FROM t"


def _room(engine: str | None) -> RoomDefinition:
    extra = {} if engine is None else {"engine": engine}
    return RoomDefinition(
        name="r",
        owner="owner@x.example",
        nodes=(
            TableNode(name="t", columns=(Column(name="a", format_type=FormatType.INTEGER),)),
            SqlNode(name="q", query="SELECT COUNT(*) FROM t", dependencies=("t",), **extra),
        ),
    )


def test_the_default_engine_is_left_out_of_the_canonical_form() -> None:
    """Rooms published before the field existed keep their ids."""
    default = _room(None)
    assert b'"engine"' not in default.canonical_bytes()
    document = default.model_dump(mode="json")
    document["nodes"][1]["engine"] = "duckdb"  # spelled out: the same room
    explicit = RoomDefinition.model_validate(document)
    assert explicit.canonical_bytes() == default.canonical_bytes()
    assert explicit.room_id == default.room_id
    document["nodes"][1]["engine"] = "spark"
    assert RoomDefinition.model_validate(document).room_id != default.room_id


def test_spark_is_part_of_the_room_id() -> None:
    spark = _room("spark")
    assert b'"engine":"spark"' in spark.canonical_bytes()
    parsed = RoomDefinition.model_validate_json(spark.canonical_bytes())
    assert parsed.room_id == spark.room_id


def test_an_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="engine"):
        SqlNode(name="q", query="SELECT 1", engine="postgres")  # type: ignore[arg-type]


def test_hugeint_becomes_a_38_digit_decimal() -> None:
    assert to_spark_sql("SELECT CAST(SUM(a) AS HUGEINT) FROM t") == (
        "SELECT CAST(SUM(a) AS DECIMAL(38, 0)) FROM t"
    )
