"""Typed columns end to end: dates, timestamps, decimals and booleans through a real server.

A data owner uploads a CSV with every typed format; the analyst's SQL sees SQL types, results
arrive typed in Arrow and pandas and exact in CSV, a script reads and writes the same types,
a chain of SQL nodes runs, and a type error names the column.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    Column,
    ContainerComputationNode,
    FormatType,
    PythonComputeNodeDefinition,
    SqlComputationNode,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from tests.integration.conftest import ANALYST, BANK, start_server, stop_server

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

LEDGER = """\
2024-01-01,2024-01-01T09:30:00+01:00,2024-01-01 09:30,1234567890123.45,true,3
2024-01-01,2024-01-01T23:00:00Z,2024-01-01 23:00,0.10,false,4
2024-01-02,2024-01-02 08:00-05:00,2024-01-02T08:00:00.5,0.20,1,5
2024-02-29,2024-02-29T12:00:00.123456Z,2024-02-29,-0.05,,
"""

SCRIPT = """
import decimal
import sealroom_util
df = sealroom_util.read_tabular_data("/input/recent")
assert str(df["day"].dtype) == "datetime64[us]", df.dtypes
assert str(df["booked_at"].dtype) == "datetime64[us, UTC]", df.dtypes
assert str(df["paid"].dtype) == "boolean", df.dtypes
assert all(isinstance(v, decimal.Decimal) for v in df["amount"]), df["amount"]
df["amount"] = df["amount"].map(lambda v: v * 3)
sealroom_util.write_tabular_data(df[["day", "amount", "paid"]], "/output")
"""


def ledger_room(client: sr.Client) -> object:
    builder = AnalyticsDcrBuilder(client=client)
    builder.with_name("Typed ledger").with_owner(BANK)
    builder.add_node_definition(
        TableDataNodeDefinition(
            name="ledger",
            is_required=True,
            columns=[
                Column(name="day", format_type=FormatType.DATE_ISO8601, is_nullable=False),
                Column(name="booked_at", format_type=FormatType.TIMESTAMP_TZ, is_nullable=False),
                Column(name="local", format_type=FormatType.TIMESTAMP, is_nullable=False),
                Column(
                    name="amount",
                    format_type=FormatType.DECIMAL,
                    precision=15,
                    scale=2,
                    is_nullable=False,
                ),
                Column(name="paid", format_type=FormatType.BOOLEAN),
                Column(name="n", format_type=FormatType.INTEGER),
            ],
        )
    )
    queries = {
        "daily": "SELECT day, SUM(amount) AS total, SUM(n) AS n, COUNT(*) AS rows, "
        "bool_or(paid) AS any_paid, MIN(booked_at) AS first_at "
        "FROM ledger GROUP BY day ORDER BY day",
        "recent": "SELECT * FROM ledger WHERE day >= DATE '2024-01-02' "
        "AND booked_at < TIMESTAMPTZ '2024-03-01 00:00:00+00'",
        "recent_total": "SELECT SUM(amount) AS total, MAX(local) AS last FROM recent",
        "wrong": "SELECT * FROM ledger WHERE day < 20240102",
        "tripled_total": "SELECT SUM(amount) AS total FROM tripled",
    }
    for name, query in queries.items():
        builder.add_node_definition(SqlComputeNodeDefinition(name=name, query=query))
    builder.add_node_definition(
        PythonComputeNodeDefinition(name="tripled", script=SCRIPT, dependencies=["recent"])
    )
    builder.add_participant(BANK, data_owner_of=["ledger"])
    builder.add_participant(ANALYST, analyst_of=[*queries, "tripled"])
    return builder.build()


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnalyticsDcr]:
    root = tmp_path_factory.mktemp("typed")
    server = start_server(root)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SEALROOM_STATE_DIR", str(root / "sdk-state"))
            bank = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
            analyst = sr.create_client(ANALYST, server.add_user(ANALYST), api_url=server.url)
            dcr = bank.publish_analytics_dcr(ledger_room(bank))  # type: ignore[arg-type]
            table = dcr.get_node("ledger")
            assert isinstance(table, TableDataNode)
            table.upload_and_publish_dataset(io.BytesIO(LEDGER.encode()), sr.Key(), "ledger.csv")
            yield analyst.retrieve_analytics_dcr(dcr.id)
    finally:
        stop_server(server)


def sql_node(room: AnalyticsDcr, name: str) -> SqlComputationNode:
    node = room.get_node(name)
    assert isinstance(node, SqlComputationNode)
    return node


def test_results_are_typed_in_arrow_and_exact_in_csv(room: AnalyticsDcr) -> None:
    daily = sql_node(room, "daily")
    table = daily.run_computation_and_get_results_as_arrow(timeout=120)
    assert table.schema.types == [
        pa.date32(),
        pa.decimal128(38, 2),
        pa.int64(),  # SUM of integers: an integer, not a decimal128(38, 0)
        pa.int64(),
        pa.bool_(),
        pa.timestamp("us", tz="UTC"),
    ]
    first = table.to_pylist()[0]
    assert first["day"] == dt.date(2024, 1, 1)
    assert first["total"] == Decimal("1234567890123.55")  # no float noise
    assert first["n"] == 7
    assert first["first_at"] == dt.datetime(2024, 1, 1, 8, 30, tzinfo=dt.UTC)
    text = daily.get_results_as_string(timeout=120)
    assert text.splitlines()[:3] == [
        "day,total,n,rows,any_paid,first_at",
        "2024-01-01,1234567890123.55,7,2,true,2024-01-01 08:30:00+00",
        "2024-01-02,0.20,5,1,true,2024-01-02 13:00:00+00",
    ]


def test_pandas_gets_dates_decimals_and_integers(room: AnalyticsDcr) -> None:
    frame = sql_node(room, "daily").run_computation_and_get_results_as_dataframe(timeout=120)
    assert isinstance(frame, pd.DataFrame)
    assert frame["day"].tolist()[-1] == dt.date(2024, 2, 29)
    assert frame["total"].tolist()[-1] == Decimal("-0.05")
    assert str(frame["rows"].dtype) == "int64"
    assert str(frame["first_at"].dtype) == "datetime64[us, UTC]"


def test_a_chain_of_sql_nodes_runs(room: AnalyticsDcr) -> None:
    total = sql_node(room, "recent_total").run_computation_and_get_results_as_arrow(timeout=120)
    assert total.to_pylist() == [
        {"total": Decimal("0.15"), "last": dt.datetime(2024, 2, 29, 0, 0)},
    ]


def test_scripts_read_and_write_the_same_types(room: AnalyticsDcr) -> None:
    tripled = room.get_node("tripled")
    assert isinstance(tripled, ContainerComputationNode)
    tripled.run_computation_and_get_results_as_zip(timeout=180)
    total = sql_node(room, "tripled_total").run_computation_and_get_results_as_arrow(timeout=180)
    assert total.schema.field("total").type == pa.decimal128(38, 2)
    assert total.to_pylist() == [{"total": Decimal("0.45")}]


def test_a_type_error_names_the_column_and_its_type(room: AnalyticsDcr) -> None:
    with pytest.raises(sr.ComputationError) as caught:
        sql_node(room, "wrong").run_computation_and_get_results_as_arrow(timeout=120)
    assert "Hint: `day` is a DATE; compare it with DATE '" in str(caught.value)
