"""The SQL privacy filter through the SDK: a real ``sealroom serve``, and the legacy API."""

from __future__ import annotations

import io
from collections.abc import Callable

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
from sealroom.model import SqlNode
from tests.integration.conftest import BANK, InProcessPlatform, ServerProcess

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

PEOPLE = [
    Column(name="user_id", format_type=FormatType.INTEGER, is_nullable=False),
    Column(name="email", format_type=FormatType.STRING, is_nullable=False),
    Column(name="city", format_type=FormatType.STRING, is_nullable=False),
    Column(name="salary", format_type=FormatType.INTEGER, is_nullable=False),
]
# 10 people in Bern, 10 in Genf, the victim alone in Tiny, one person with 6 rows in Solo.
ROWS = (
    [f"{i},p{i}@x.example,{'Bern' if i % 2 else 'Genf'},{1000 + i}" for i in range(20)]
    + ["20,victim@x.example,Tiny,123456"]
    + [f"99,solo@x.example,Solo,{j}" for j in range(6)]
)
NODES = {
    "by_city": "SELECT city, COUNT(*) AS n, SUM(salary) AS total FROM people GROUP BY city "
    "ORDER BY city",
    "victim": "SELECT COUNT(*) AS n, SUM(salary) AS s FROM people WHERE email = 'victim@x.example'",
    "rows": "SELECT email, salary FROM people",
    "maximum": "SELECT city, MAX(salary) FROM people GROUP BY city",
}


def filtered_room(client: sr.Client, *, unit_column: str | None) -> AnalyticsDcr:
    b = AnalyticsDcrBuilder(client=client).with_name("filtered").with_owner(BANK)
    if unit_column is not None:
        b.with_privacy_unit_column(unit_column)
    b.add_node_definition(TableDataNodeDefinition(name="people", columns=PEOPLE, is_required=True))
    for name, query in NODES.items():
        b.add_node_definition(
            SqlComputeNodeDefinition(name=name, query=query, minimum_rows_count=5)
        )
    b.add_participant(BANK, data_owner_of=["people"], analyst_of=list(NODES))
    dcr = client.publish_analytics_dcr(b.build())
    people = dcr.get_node("people")
    assert isinstance(people, TableDataNode)
    data = ("\n".join(ROWS) + "\n").encode()
    people.upload_and_publish_dataset(io.BytesIO(data), sr.Key(), "people.csv")
    return dcr


def sql(dcr: AnalyticsDcr, name: str) -> SqlComputationNode:
    node = dcr.get_node(name)
    assert isinstance(node, SqlComputationNode)
    return node


def test_the_filter_through_a_running_server(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory()
    client = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
    dcr = filtered_room(client, unit_column="user_id")

    by_city = sql(dcr, "by_city")
    assert by_city.run_computation_and_get_results_as_string(timeout=60) == (
        "city,n,total\nBern,10,10100\nGenf,10,10090\n"
    )
    # Tiny (the victim) and Solo (one person, six rows) are suppressed: counted, not shown.
    assert by_city.get_suppressed_groups_count(timeout=60) == 2

    victim = sql(dcr, "victim")
    assert victim.run_computation_and_get_results_as_string(timeout=60) == "n,s\n"
    assert victim.get_suppressed_groups_count(timeout=60) == 1

    with pytest.raises(sr.ComputationError, match="must aggregate") as caught:
        sql(dcr, "rows").run_computation_and_get_results_as_string(timeout=60)
    assert "victim" not in str(caught.value)
    with pytest.raises(sr.ComputationError, match="MAX can reveal"):
        sql(dcr, "maximum").run_computation_and_get_results_as_string(timeout=60)
    log = dcr.retrieve_audit_log()
    assert "123456" not in log
    assert "victim@x.example" not in log


def test_without_a_unit_column_rows_are_counted(app_platform: InProcessPlatform) -> None:
    dcr = filtered_room(app_platform.client(BANK), unit_column=None)
    result = sql(dcr, "by_city").run_computation_and_get_results_as_string(timeout=60)
    assert result == "city,n,total\nBern,10,10100\nGenf,10,10090\nSolo,6,15\n"


def test_the_legacy_api_sets_the_same_filter() -> None:
    from sealroom.legacy import DataRoomBuilder
    from sealroom.sql import PrivacySettings, SqlCompute

    builder = DataRoomBuilder("legacy filtered")
    builder.add_compute_node(
        SqlCompute(
            "by_city",
            "SELECT city, COUNT(*) AS n FROM people GROUP BY city ORDER BY city",
            [("people", "people")],
            privacy_settings=PrivacySettings(min_aggregation_group_size=7),
        )
    )
    node = builder.build().nodes[0]
    assert isinstance(node, SqlNode)
    assert node.minimum_rows_count == 7
