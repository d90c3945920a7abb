"""Differentially private SQL nodes through the SDK: noise, the room's budget, refusals."""

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
    NumericRangeRule,
    SqlComputationNode,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from sealroom.compute.sql import DP_EPSILON_KEY
from sealroom.errors import DefinitionError
from tests.integration.conftest import BANK, ServerProcess

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

PEOPLE = [
    Column(name="user_id", format_type=FormatType.INTEGER, is_nullable=False),
    Column(name="city", format_type=FormatType.STRING, is_nullable=False),
    Column(
        name="salary",
        format_type=FormatType.INTEGER,
        is_nullable=False,
        in_range=NumericRangeRule(greater_than_equals=0, less_than_equals=10_000),
    ),
]
# 1000 people in Bern, 999 in Genf, the victim alone in Tiny.
ROWS = [f"{i},{'Bern' if i < 1000 else 'Genf'},{i % 100}" for i in range(1999)]
ROWS.append("5000,Tiny,9999")
QUERY = "SELECT city, COUNT(*) AS n, SUM(salary) AS total FROM people GROUP BY city ORDER BY city"


def builder(client: sr.Client | None = None) -> AnalyticsDcrBuilder:
    b = AnalyticsDcrBuilder(client=client).with_name("dp").with_owner(BANK)
    b.with_privacy_unit_column("user_id").with_privacy_budget(epsilon=1.0, delta=1e-5)
    b.add_node_definition(TableDataNodeDefinition(name="people", columns=PEOPLE, is_required=True))
    return b


def dp_room(client: sr.Client) -> AnalyticsDcr:
    b = builder(client)
    b.add_node_definition(SqlComputeNodeDefinition(name="noisy", query=QUERY, dp_epsilon=0.4))
    b.add_participant(BANK, data_owner_of=["people"], analyst_of=["noisy"])
    dcr = client.publish_analytics_dcr(b.build())
    people = dcr.get_node("people")
    assert isinstance(people, TableDataNode)
    people.upload_and_publish_dataset(
        io.BytesIO(("\n".join(ROWS) + "\n").encode()), sr.Key(), "people.csv"
    )
    return dcr


def test_noisy_results_and_the_budget_through_a_running_server(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory()
    client = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
    dcr = dp_room(client)
    node = dcr.get_node("noisy")
    assert isinstance(node, SqlComputationNode)

    first = node.run_computation_and_get_results_as_arrow(timeout=60)
    assert first.column("city").to_pylist() == ["Bern", "Genf"]  # Tiny: one person, not shown
    # Laplace noise of scale ~ 1/0.13 on the counts: far less than 100 with overwhelming odds.
    counts = first.column("n").to_pylist()
    assert abs(counts[0] - 1000) < 100
    assert abs(counts[1] - 999) < 100
    assert float((first.schema.metadata or {})[DP_EPSILON_KEY]) == pytest.approx(0.4)

    second = node.run_computation_and_get_results_as_arrow(timeout=60)
    assert second.column("n").to_pylist() != counts or (
        second.column("total").to_pylist() != first.column("total").to_pylist()
    )
    budget = dcr.retrieve_privacy_budget()
    assert budget.epsilon_budget == 1.0
    assert budget.epsilon_spent == pytest.approx(0.8)
    assert budget.epsilon_remaining == pytest.approx(0.2)

    with pytest.raises(sr.ComputationError, match="privacy budget cannot pay for this run"):
        node.run_computation_and_get_results_as_arrow(timeout=60)
    assert dcr.retrieve_privacy_budget().epsilon_spent == pytest.approx(0.8)
    log = dcr.retrieve_audit_log()
    assert log.count("PRIVACY_BUDGET_CHARGED") == 2
    assert "9999" not in log


def test_a_dp_node_needs_a_budget_and_excludes_the_threshold_filter() -> None:
    b = AnalyticsDcrBuilder().with_name("dp").with_owner(BANK)
    b.add_node_definition(TableDataNodeDefinition(name="people", columns=PEOPLE, is_required=True))
    b.add_node_definition(SqlComputeNodeDefinition(name="noisy", query=QUERY, dp_epsilon=0.5))
    with pytest.raises(DefinitionError, match="needs a privacy budget"):
        b.build()

    b = builder()
    b.add_node_definition(
        SqlComputeNodeDefinition(name="noisy", query=QUERY, dp_epsilon=0.5, minimum_rows_count=5)
    )
    with pytest.raises(DefinitionError, match="not both"):
        b.build()

    b = builder()
    b.add_node_definition(
        SqlComputeNodeDefinition(
            name="noisy", query=QUERY, dp_epsilon=0.5, dp_bounds={"salary": (5, 1)}
        )
    )
    with pytest.raises(DefinitionError, match="finite low < high"):
        b.build()
