"""The 22 TPC-H queries through a real ``sealroom serve``, each equal to DuckDB on the same data.

A retailer and a supplier provision TPC-H at scale factor 0.01 (:mod:`tests.tpch`) through the
SDK — encrypted, uploaded, published and validated in the core — and an analyst runs every query.
Each result must equal what a plain DuckDB returns for the same query over the same CSV files
loaded into tables of the same types: the same column names and Arrow types (with one documented
difference: a 128-bit integer, what DuckDB's SUM of integers returns, comes back from Sealroom as
a 64-bit integer, see docs/sql.md), and exactly the same values (decimals as decimals, doubles
bit for bit), in the same order where the query has an ``ORDER BY`` and as the same multiset of
rows where it has none.

The same queries also run through the privacy filter (``minimum_rows_count``), and
:data:`THROUGH_THE_FILTER` pins what happens to each: released unchanged, every group
suppressed, or refused with a stable reason. Nothing is expected from memory: every expected
value and count comes from DuckDB, in this run.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pytest
import sqlglot

import sealroom as sr
from sealroom.analytics import AnalyticsDcr, AnalyticsDcrBuilder, SqlComputationNode
from tests import tpch
from tests.integration.conftest import start_server, stop_server

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

SCALE_FACTOR = 0.01
#: The privacy filter's k on the ``*_filtered`` nodes.
MINIMUM_ROWS_COUNT = 5
RESULT_TIMEOUT_SECONDS = 120


class Through(enum.Enum):
    """What the privacy filter does to a query (at this scale factor and k)."""

    #: Every group has at least k rows of every input: the result is DuckDB's.
    UNCHANGED = "unchanged"
    #: Some input has fewer than k rows behind every group (a customer behind an order, the one
    #: region a query picks): the result is empty and every group is counted as suppressed.
    ALL_SUPPRESSED = "all suppressed"


@dataclass(frozen=True)
class Refused:
    """The filter refuses the query before it runs: the error's code and a stable phrase."""

    code: str
    reason: str


_SUBQUERY = Refused("sql_privacy_filter", "subqueries in WHERE, SELECT, HAVING or ON are refused")
_EXISTS = Refused("sql_privacy_filter", "EXISTS is not among the SQL the privacy filter allows")
_CONDITION = Refused("sql_privacy_filter", "conditions inside an aggregate (CASE, IF,")

THROUGH_THE_FILTER: dict[str, Through | Refused] = {
    "q01": Through.UNCHANGED,
    "q02": Refused("sql_privacy_filter", "MIN can reveal one person's value"),
    "q03": Through.ALL_SUPPRESSED,  # one customer and one order behind each order's revenue
    "q04": _EXISTS,
    "q05": Through.ALL_SUPPRESSED,  # one region row (ASIA) behind every nation
    "q06": Through.UNCHANGED,
    "q07": Through.ALL_SUPPRESSED,  # one nation row behind each side of every pair
    "q08": _CONDITION,  # SUM(CASE WHEN nation = 'BRAZIL' ...)
    "q09": Through.ALL_SUPPRESSED,  # one nation row behind every group
    "q10": Through.ALL_SUPPRESSED,  # one customer behind every group
    "q11": _SUBQUERY,  # in HAVING
    "q12": _CONDITION,  # SUM(CASE WHEN o_orderpriority ...)
    "q13": Refused(
        "sql_privacy_filter", "aggregation is allowed only in the outermost query"
    ),  # COUNT per customer, then customers per count
    "q14": _CONDITION,  # SUM(CASE WHEN p_type LIKE 'PROMO%' ...)
    "q15": Refused("sql_privacy_filter", "MAX can reveal one person's value"),
    "q16": _SUBQUERY,  # NOT IN (SELECT ...)
    "q17": _SUBQUERY,  # correlated, in WHERE
    "q18": _SUBQUERY,  # IN (SELECT ... HAVING ...)
    "q19": Through.ALL_SUPPRESSED,  # one line item matches at scale factor 0.01
    "q20": _SUBQUERY,  # nested IN (SELECT ...)
    "q21": _EXISTS,
    "q22": _EXISTS,
}


@dataclass(frozen=True)
class Provisioned:
    room: AnalyticsDcr  # as the analyst sees it
    baseline: duckdb.DuckDBPyConnection


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provisioned]:
    root = tmp_path_factory.mktemp("tpch")
    csvs = tpch.generate(SCALE_FACTOR, root / "csv")
    parties = tpch.Parties()
    server = start_server(root)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SEALROOM_STATE_DIR", str(root / "sdk-state"))
            clients = {
                email: sr.create_client(email, server.add_user(email), api_url=server.url)
                for email in (parties.retailer, parties.supplier, parties.analyst)
            }
            retailer = clients[parties.retailer]
            definition = tpch.room_definition(
                AnalyticsDcrBuilder(client=retailer),
                parties,
                minimum_rows_count=MINIMUM_ROWS_COUNT,
            )
            room_id = retailer.publish_analytics_dcr(definition).id
            tpch.provision(clients, room_id, csvs, parties)
            with tpch.duckdb_baseline(csvs) as baseline:
                yield Provisioned(
                    clients[parties.analyst].retrieve_analytics_dcr(room_id), baseline
                )
    finally:
        stop_server(server)


def run(room: AnalyticsDcr, node_name: str) -> pa.Table:
    node = room.get_node(node_name)
    assert isinstance(node, SqlComputationNode)
    return node.run_computation_and_get_results_as_arrow(timeout=RESULT_TIMEOUT_SECONDS)


def suppressed_groups(room: AnalyticsDcr, node_name: str) -> int | None:
    node = room.get_node(node_name)
    assert isinstance(node, SqlComputationNode)
    return node.get_suppressed_groups_count(timeout=RESULT_TIMEOUT_SECONDS)


def rows(table: pa.Table) -> list[tuple[object, ...]]:
    """The rows as tuples of Python values (``Decimal``, ``date``, ``float`` …); by position, as
    result column names may repeat."""
    return list(zip(*(column.to_pylist() for column in table.columns), strict=True))


def columns(table: pa.Table) -> list[tuple[str, pa.DataType]]:
    return [(field.name, field.type) for field in table.schema]


def expected_columns(
    relation: duckdb.DuckDBPyRelation, table: pa.Table
) -> list[tuple[str, pa.DataType]]:
    """DuckDB's result columns as Sealroom returns them: HUGEINT sums narrowed to int64."""
    return [
        (field.name, pa.int64() if str(kind) in ("HUGEINT", "UHUGEINT") else field.type)
        for field, kind in zip(table.schema, relation.types, strict=True)
    ]


def without_limit(query: str) -> str:
    """``query`` without its outermost ``LIMIT``: every group it ranks, not only the first few."""
    parsed = sqlglot.parse_one(query, dialect="duckdb")
    parsed.set("limit", None)
    return parsed.sql(dialect="duckdb")


@pytest.mark.parametrize("name", tpch.QUERY_NAMES)
def test_the_query_returns_what_duckdb_returns(provisioned: Provisioned, name: str) -> None:
    query = tpch.query(name)
    actual = run(provisioned.room, name)
    relation = provisioned.baseline.sql(query)
    expected = relation.to_arrow_table()

    assert expected.num_rows > 0, "the query selects nothing at this scale factor: not a test"
    if tpch.has_order_by(query):
        assert rows(actual) == rows(expected)
    else:
        assert sorted(rows(actual), key=repr) == sorted(rows(expected), key=repr)
    # Python compares 1 == Decimal(1): the values above are equal only once the types are too.
    assert columns(actual) == expected_columns(relation, expected)


@pytest.mark.parametrize("name", tpch.QUERY_NAMES)
def test_the_query_through_the_privacy_filter(provisioned: Provisioned, name: str) -> None:
    query, node_name = tpch.query(name), tpch.filtered_node(name)
    outcome = THROUGH_THE_FILTER[name]
    if isinstance(outcome, Refused):
        with pytest.raises(sr.ComputationError) as caught:
            run(provisioned.room, node_name)
        assert caught.value.code == outcome.code
        assert outcome.reason in str(caught.value)
        return

    actual = run(provisioned.room, node_name)
    relation = provisioned.baseline.sql(query)
    expected = relation.to_arrow_table()
    assert columns(actual) == expected_columns(relation, expected)
    if outcome is Through.UNCHANGED:
        assert suppressed_groups(provisioned.room, node_name) == 0
        assert rows(actual) == rows(expected)  # both ordered: these queries have ORDER BY or 1 row
    else:
        every_group = provisioned.baseline.sql(without_limit(query)).fetchall()
        assert rows(actual) == []
        assert suppressed_groups(provisioned.room, node_name) == len(every_group) > 0


def test_every_query_has_a_pinned_outcome_through_the_filter() -> None:
    assert sorted(THROUGH_THE_FILTER) == list(tpch.QUERY_NAMES)
