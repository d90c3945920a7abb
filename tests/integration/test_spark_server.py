"""SQL nodes on Spark through a real ``sealroom serve`` and the SDK.

One room holds the same queries twice, as ``<name>`` on DuckDB and ``<name>_spark`` with
``engine="spark"``: the privacy filter with a privacy unit column (groups suppressed and counted),
a query with a parameter, and a chain (a plain SQL node read by another). Every Spark result must
be byte for byte the CSV the DuckDB node returns, and its suppressed count the same. The server
runs with ``SEALROOM_SPARK_CONNECT_URL`` pointing at the local Spark Connect server of
:mod:`tests.spark`; a second server without it fails a Spark node with ``spark_unavailable``,
and no data value reaches that error, the audit log or the server's log.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    SqlComputationNode,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from tests.integration.conftest import BANK, ServerProcess, start_server, stop_server
from tests.spark import shared_server

pytestmark = [
    pytest.mark.integration,
    pytest.mark.spark,
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

PEOPLE = [
    Column(name="user_id", format_type=FormatType.INTEGER, is_nullable=False),
    Column(name="email", format_type=FormatType.STRING, is_nullable=False),
    Column(name="city", format_type=FormatType.STRING, is_nullable=False),
    Column(name="salary", format_type=FormatType.DECIMAL, precision=12, scale=2),
]
# 10 people in Bern, 10 in Genf, the victim alone in Tiny, one person with 6 rows in Solo.
ROWS = (
    [f"{i},p{i}@x.example,{'Bern' if i % 2 else 'Genf'},{1000 + i}.25" for i in range(20)]
    + ["20,victim@x.example,Tiny,123456.78"]
    + [f"99,solo@x.example,Solo,{j}" for j in range(6)]
)
FILTERED = "SELECT city, COUNT(*) AS n, SUM(salary) AS total, AVG(salary) AS mean FROM people "
FILTERED += "GROUP BY city ORDER BY city"
PARAMETERISED = "SELECT COUNT(*) AS n FROM people WHERE city = $city"
UPSTREAM = "SELECT city, salary * 2 AS doubled FROM people WHERE salary < 100000"
CHAINED = "SELECT city, SUM(doubled) AS total FROM upstream GROUP BY city ORDER BY city"
RESULT_TIMEOUT = 180


def nodes(engine: str) -> list[SqlComputeNodeDefinition]:
    suffix = "_spark" if engine == "spark" else ""
    return [
        SqlComputeNodeDefinition(
            name=f"by_city{suffix}", query=FILTERED, minimum_rows_count=5, engine=engine
        ),
        SqlComputeNodeDefinition(
            name=f"in_city{suffix}", query=PARAMETERISED, parameters=["city"], engine=engine
        ),
        SqlComputeNodeDefinition(
            name=f"chained{suffix}",
            query=CHAINED.replace("upstream", f"upstream{suffix}"),
            engine=engine,
        ),
        SqlComputeNodeDefinition(name=f"upstream{suffix}", query=UPSTREAM, engine=engine),
    ]


def publish_room(server: ServerProcess) -> AnalyticsDcr:
    client = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
    builder = AnalyticsDcrBuilder(client=client).with_name("spark").with_owner(BANK)
    builder.with_privacy_unit_column("user_id")
    builder.add_node_definition(
        TableDataNodeDefinition(name="people", columns=PEOPLE, is_required=True)
    )
    computations = [*nodes("duckdb"), *nodes("spark")]
    for node in computations:
        builder.add_node_definition(node)
    builder.add_participant(
        BANK, data_owner_of=["people"], analyst_of=[node.name for node in computations]
    )
    dcr = client.publish_analytics_dcr(builder.build())
    people = dcr.get_node("people")
    assert isinstance(people, TableDataNode)
    data = ("\n".join(ROWS) + "\n").encode()
    people.upload_and_publish_dataset(io.BytesIO(data), sr.Key(), "people.csv")
    return dcr


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AnalyticsDcr, ServerProcess]]:
    root = tmp_path_factory.mktemp("spark-serve")
    server = start_server(root, {"SEALROOM_SPARK_CONNECT_URL": shared_server().url})
    try:
        yield publish_room(server), server
    finally:
        stop_server(server)


def sql(dcr: AnalyticsDcr, name: str) -> SqlComputationNode:
    node = dcr.get_node(name)
    assert isinstance(node, SqlComputationNode)
    return node


def run(dcr: AnalyticsDcr, name: str, **parameters: str) -> str:
    node = sql(dcr, name)
    node.run_computation(parameters=parameters or None)
    return node.get_results_as_string(timeout=RESULT_TIMEOUT)


def test_the_room_records_the_engine(room: tuple[AnalyticsDcr, ServerProcess]) -> None:
    dcr, _ = room
    engines = {node.name: node.engine for node in dcr.definition.nodes if node.kind == "sql"}
    assert engines["by_city_spark"] == "spark"
    assert engines["by_city"] == "duckdb"


def test_the_privacy_filter_on_spark_releases_what_duckdb_releases(
    room: tuple[AnalyticsDcr, ServerProcess],
) -> None:
    dcr, server = room
    expected, actual = run(dcr, "by_city"), run(dcr, "by_city_spark")
    assert actual == expected
    assert actual == "city,n,total,mean\nBern,10,10102.50,1010.25\nGenf,10,10092.50,1009.25\n"
    assert "Tiny" not in actual
    assert "Solo" not in actual
    # Tiny (the victim) and Solo (one person, six rows) are suppressed on both: counted.
    assert sql(dcr, "by_city_spark").get_suppressed_groups_count(timeout=RESULT_TIMEOUT) == 2
    assert "123456" not in server.log_path.read_text()


def test_parameters_on_spark(room: tuple[AnalyticsDcr, ServerProcess]) -> None:
    dcr, _ = room
    for city, count in (("Bern", 10), ("Solo", 6), ("nowhere", 0)):
        expected = run(dcr, "in_city", city=city)
        actual = run(dcr, "in_city_spark", city=city)
        assert actual == expected == f"n\n{count}\n"


def test_a_chain_on_spark(room: tuple[AnalyticsDcr, ServerProcess]) -> None:
    dcr, _ = room
    expected, actual = run(dcr, "chained"), run(dcr, "chained_spark")
    assert actual == expected
    assert "Tiny" not in actual  # the upstream node's WHERE ran


def test_a_server_without_spark_refuses_the_spark_node(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    root = tmp_path_factory.mktemp("no-spark")
    server = start_server(root)
    try:
        dcr = publish_room(server)
        # The DuckDB twin runs; the Spark node fails, saying what to configure.
        assert run(dcr, "in_city", city="Bern") == "n\n10\n"
        with pytest.raises(sr.ComputationError) as caught:
            run(dcr, "in_city_spark", city="Bern")
        assert caught.value.code == "spark_unavailable"
        assert "SEALROOM_SPARK_CONNECT_URL" in str(caught.value)
    finally:
        stop_server(server)
