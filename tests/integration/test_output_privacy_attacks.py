"""Output privacy against an analyst and a room author, through a real ``sealroom serve``.

200 people, one (the victim) alone in "tinytown", k = 5. Each node is an attack that gave up the
victim's value or the whole table before; each must now be refused with a message that names no
data value, or run without telling it. The unit suite (``tests/unit/test_privacy_filter_attacks``)
covers every sibling; this file proves the same decisions hold through the SDK, the HTTP API and
the core's job runner, and that a room author cannot route around them with upstream nodes.
"""

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
from sealroom.errors import DefinitionError
from sealroom.model import RoomDefinition, SqlNode, check_definition
from tests.integration.conftest import BANK, ServerProcess

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SALARY = 987654
PEOPLE = [
    Column(name="id", format_type=FormatType.INTEGER, is_nullable=False),
    Column(name="email", format_type=FormatType.STRING, is_nullable=False),
    Column(name="city", format_type=FormatType.STRING, is_nullable=False),
    Column(name="salary", format_type=FormatType.INTEGER, is_nullable=False),
]
ROWS = [
    f"{i},p{i}@x.example,{['bern', 'genf', 'basel', 'chur'][i % 4]},{1000 + i}" for i in range(199)
]
ROWS.append(f"199,victim@x.example,tinytown,{SALARY}")

REFUSED = {
    "json_dump": "SELECT COUNT(*) AS n, json_group_array(email) AS everyone FROM people",
    "scalar_list": "SELECT city, COUNT(*), (SELECT LIST(p.email)) FROM people p GROUP BY city",
    "union_by_name": "SELECT city, COUNT(*) AS n FROM people GROUP BY city UNION ALL BY NAME "
    "SELECT email AS city, salary AS n FROM people",
    "rollup": "SELECT city, SUM(salary) AS s FROM people GROUP BY ROLLUP (city)",
    "filter_sum": "SELECT COUNT(*) AS n, SUM(salary) FILTER (WHERE city = 'tinytown') AS s "
    "FROM people",
    "case_sum": "SELECT COUNT(*) AS n, SUM(CASE WHEN city = 'tinytown' THEN salary END) AS s "
    "FROM people",
    "parameter_in_cte": "WITH x AS (SELECT city FROM people WHERE id = $who) "
    "SELECT city, COUNT(*) AS n FROM x GROUP BY city",
    "collated_key": "SELECT city COLLATE NOCASE AS c, COUNT(*) AS n FROM people GROUP BY 1",
}
TOTAL_AND_PARTS = (
    "WITH x AS (SELECT a.salary AS salary, CASE WHEN b.id < 5 THEN 'all' "
    "WHEN a.city <> 'tinytown' THEN 'allbut' END AS g FROM people a JOIN people b "
    "ON b.id < 10 WHERE b.id < 5 OR a.city <> 'tinytown') "
    "SELECT g, SUM(salary) AS s FROM x GROUP BY g ORDER BY g"
)
STEERED = "SELECT city, COUNT(*) AS n FROM people WHERE salary > $x GROUP BY city ORDER BY city"
OVERFLOW_ON = (
    "SELECT city, COUNT(*) AS n FROM people GROUP BY city "
    "HAVING CAST(SUM(salary) = {t} AS INTEGER) * 9223372036854775807 * 2 > 0 OR TRUE "
    "ORDER BY city"
)


def attack_room(client: sr.Client) -> AnalyticsDcr:
    b = AnalyticsDcrBuilder(client=client).with_name("attacks").with_owner(BANK)
    b.add_node_definition(TableDataNodeDefinition(name="people", columns=PEOPLE, is_required=True))
    nodes = {
        **REFUSED,
        "total_and_parts": TOTAL_AND_PARTS,
        "overflow_victim": OVERFLOW_ON.format(t=SALARY),
        "overflow_other": OVERFLOW_ON.format(t=SALARY + 1),
    }
    for name, query in nodes.items():
        parameters = ["who"] if "$who" in query else []
        b.add_node_definition(
            SqlComputeNodeDefinition(name, query, minimum_rows_count=5, parameters=parameters)
        )
    b.add_node_definition(
        SqlComputeNodeDefinition("steered", STEERED, minimum_rows_count=5, parameters=["x"])
    )
    b.add_participant(BANK, data_owner_of=["people"], analyst_of=[*nodes, "steered"])
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


def test_the_attacks_fail_through_a_running_server(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory()
    client = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
    dcr = attack_room(client)

    for name in REFUSED:
        parameters = {"who": "199"} if name == "parameter_in_cte" else None
        node = sql(dcr, name)
        node.run_computation(parameters=parameters)
        with pytest.raises(sr.ComputationError) as caught:
            node.get_results_as_string(timeout=60)
        message = str(caught.value)
        assert "privacy filter" in message, (name, message)
        assert str(SALARY) not in message
        assert "victim" not in message

    # A join that puts every row in a total and in "all but tinytown": both hidden, counted.
    total = sql(dcr, "total_and_parts")
    assert total.run_computation_and_get_results_as_string(timeout=60) == "g,s\n"
    assert total.get_suppressed_groups_count(timeout=60) == 2

    # A WHERE parameter steering the suppressed count: the count is withheld for every value.
    steered = sql(dcr, "steered")
    for threshold in ("0", "500000", "2000000"):
        steered.run_computation(parameters={"x": threshold})
        assert steered.get_suppressed_groups_count(timeout=60) is None
    assert "tinytown" not in steered.get_results_as_string(timeout=60)

    # An error that happened only on the victim's (suppressed) group: both runs now succeed
    # and are equal.
    outcomes = [
        sql(dcr, name).run_computation_and_get_results_as_string(timeout=60)
        for name in ("overflow_victim", "overflow_other")
    ]
    assert outcomes[0] == outcomes[1]
    assert outcomes[0].startswith("city,n\nbasel,50\n")

    log = dcr.retrieve_audit_log()
    assert str(SALARY) not in log
    assert "victim@x.example" not in log


def _with_upstream(client: sr.Client, protected: SqlNode) -> RoomDefinition:
    """A room whose protected node reads a SQL node copying each row once per person of its city."""
    b = AnalyticsDcrBuilder(client=client).with_name("fan-out").with_owner(BANK)
    b.with_privacy_budget(epsilon=10)
    b.add_node_definition(TableDataNodeDefinition(name="people", columns=PEOPLE, is_required=True))
    b.add_node_definition(
        SqlComputeNodeDefinition(
            "copies", "SELECT p.* FROM people p JOIN people q ON p.city = q.city"
        )
    )
    b.add_participant(BANK, data_owner_of=["people"], analyst_of=["copies"])
    built = b.build().definition
    participants = tuple(
        p.model_copy(update={"analyst_of": (*p.analyst_of, protected.name)})
        for p in built.participants
    )
    return built.model_copy(
        update={"nodes": (*built.nodes, protected), "participants": participants}
    )


@pytest.mark.parametrize(
    "protected",
    [
        SqlNode(
            name="dp_by_city",
            query="SELECT city, COUNT(*) AS n FROM copies GROUP BY city",
            dependencies=("copies",),
            dp_epsilon=1.0,
        ),
        SqlNode(
            name="k_by_city",
            query="SELECT city, SUM(salary) AS s FROM copies GROUP BY city",
            dependencies=("copies",),
            minimum_rows_count=5,
        ),
    ],
)
def test_a_protected_node_over_a_computation_is_refused_by_the_core(
    protected: SqlNode, server_factory: Callable[..., ServerProcess]
) -> None:
    """The room author's route around k and DP: read rows an upstream node copied."""
    server = server_factory()
    client = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
    definition = _with_upstream(client, protected)
    with pytest.raises(sr.SealroomError, match="may read only table data nodes"):
        client.session().publish_data_room(definition)
    # The SDK's own check says the same before anything is sent.
    with pytest.raises(DefinitionError, match="may read only table data nodes"):
        check_definition(definition)
