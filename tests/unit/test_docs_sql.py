"""docs/sql.md's examples run as shown, over typed tables as validation produces them."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from sealroom.compute.sql import SqlLimits, run_sql
from sealroom.errors import SqlExecutionError

DOC = (Path(__file__).parents[2] / "docs" / "sql.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, re.S)


def orders() -> pa.Table:
    return pa.table(
        {
            "o_orderdate": pa.array(
                [dt.date(1993, 7, 1), dt.date(1993, 9, 30), dt.date(1993, 10, 1)], pa.date32()
            ),
            "o_orderpriority": ["1-URGENT", "1-URGENT", "2-HIGH"],
            "o_totalprice": pa.array(
                [Decimal("5320753880.34"), Decimal("0.35"), Decimal("1.00")], pa.decimal128(15, 2)
            ),
        }
    )


def test_the_typed_query_runs_and_adds_money_exactly(tmp_path: Path) -> None:
    (query,) = blocks("sql")
    result = run_sql(query, {"orders": orders()}, limits=SqlLimits(), scratch_dir=tmp_path)
    assert result.schema.field("revenue").type == pa.decimal128(38, 2)
    assert result.schema.field("order_count").type == pa.int64()
    assert result.to_pylist() == [
        {"o_orderpriority": "1-URGENT", "order_count": 2, "revenue": Decimal("5320753880.69")}
    ]


def test_the_type_error_is_the_one_shown(tmp_path: Path) -> None:
    (shown,) = blocks("text")
    with pytest.raises(SqlExecutionError) as caught:
        run_sql(
            "SELECT * FROM orders WHERE o_orderdate < 19950315",
            {"orders": orders()},
            limits=SqlLimits(),
            scratch_dir=tmp_path,
        )
    assert caught.value.message.splitlines()[0] == " ".join(shown.split())
