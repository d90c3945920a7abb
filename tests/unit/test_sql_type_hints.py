"""A type error names the column and its type in the room, and how to write the comparison.

Run through :func:`run_sql` on a real DuckDB, over typed tables as validation produces them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from sealroom.compute.sql import SqlLimits, run_sql
from sealroom.errors import SqlExecutionError

SECRET_NAME = "Zebulon Quartermaine"


@pytest.fixture
def orders() -> pa.Table:
    return pa.table(
        {
            "o_orderdate": pa.array([dt.date(1995, 1, 1)], pa.date32()),
            "o_totalprice": pa.array([Decimal("1234.50")], pa.decimal128(15, 2)),
            "o_shipped": pa.array([True]),
            "o_clerk": pa.array([SECRET_NAME]),
            "o_at": pa.array(
                [dt.datetime(1995, 1, 1, tzinfo=dt.UTC)], pa.timestamp("us", tz="UTC")
            ),
        }
    )


def error_of(query: str, orders: pa.Table, tmp_path: Path) -> str:
    with pytest.raises(SqlExecutionError) as caught:
        run_sql(query, {"orders": orders}, limits=SqlLimits(), scratch_dir=tmp_path)
    assert SECRET_NAME not in caught.value.message
    return caught.value.message


@pytest.mark.parametrize(
    ("condition", "hint"),
    [
        ("o_orderdate < 19950315", "`o_orderdate` is a DATE; compare it with DATE '"),
        ("o_orderdate = 1", "`o_orderdate` is a DATE; compare it with DATE '"),
        (
            "o_at < 5",
            "`o_at` is a TIMESTAMP WITH TIME ZONE; compare it with TIMESTAMPTZ '",
        ),
        ("o_totalprice > 'cheap'", "`o_totalprice` is a DECIMAL(15,2); compare it with a number"),
    ],
)
def test_a_comparison_with_the_wrong_kind_of_literal_names_the_column_and_its_type(
    condition: str, hint: str, orders: pa.Table, tmp_path: Path
) -> None:
    message = error_of(f"SELECT * FROM orders WHERE {condition}", orders, tmp_path)
    assert f"Hint: {hint}" in message


def test_a_function_over_the_wrong_type_names_the_column(orders: pa.Table, tmp_path: Path) -> None:
    message = error_of("SELECT SUM(o_orderdate) FROM orders", orders, tmp_path)
    assert message.splitlines()[0].endswith("Hint: `o_orderdate` is a DATE.")
    message = error_of("SELECT EXTRACT(year FROM o_clerk) FROM orders", orders, tmp_path)
    assert "Hint: `o_clerk` is a VARCHAR." in message


def test_a_date_compared_with_a_date_string_or_literal_just_works(
    orders: pa.Table, tmp_path: Path
) -> None:
    for condition in ("o_orderdate < DATE '1995-03-15'", "o_orderdate < '1995-03-15'"):
        result = run_sql(
            f"SELECT COUNT(*) AS n FROM orders WHERE {condition}",
            {"orders": orders},
            limits=SqlLimits(),
            scratch_dir=tmp_path,
        )
        assert result.to_pylist() == [{"n": 1}]


def test_an_error_about_data_gets_no_hint(orders: pa.Table, tmp_path: Path) -> None:
    message = error_of("SELECT CAST(o_clerk AS INTEGER) FROM orders", orders, tmp_path)
    assert message == (
        "the query failed with ConversionException (details withheld: may contain data values)"
    )


def test_an_intermediate_view_gets_hints_with_its_name(orders: pa.Table, tmp_path: Path) -> None:
    with pytest.raises(SqlExecutionError) as caught:
        run_sql(
            "SELECT * FROM recent",
            {"orders": orders},
            intermediate=[("recent", "SELECT * FROM orders WHERE o_orderdate > 19950101")],
            limits=SqlLimits(),
            scratch_dir=tmp_path,
        )
    message = caught.value.message
    assert message.startswith("SQL node 'recent': Binder Error: Cannot compare values of type DATE")
    assert "Hint: `o_orderdate` is a DATE; compare it with DATE '" in message
