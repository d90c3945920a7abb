"""Synthetic data is differentially private through a running server: the room's budget pays for
every run, and the quality report releases no value of the real data.

The noise is drawn from OpenDP and the OS and cannot be seeded: each assertion on a random outcome
states how likely it is to fail (below 1e-8). The noisy row count and the category threshold are
tested over many draws in ``tests/unit/test_synthetic_worker.py``.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    Column,
    ContainerComputationNode,
    FormatType,
    NumericRangeRule,
    PrimitiveType,
    SyntheticDataComputeNodeDefinition,
    SyntheticNodeColumn,
    TableDataNode,
    TableDataNodeDefinition,
)
from sealroom.compute.sandbox import sandbox_available
from sealroom.errors import DefinitionError
from tests.integration.conftest import BANK, ServerProcess

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.skipif(not sandbox_available(), reason="needs bubblewrap"),
]

CITIES = ("Bern", "Genf", "Basel")
COLUMNS = [
    Column(name="city", format_type=FormatType.STRING, is_nullable=False),
    Column(
        name="amount",
        format_type=FormatType.FLOAT,
        is_nullable=False,
        in_range=NumericRangeRule(greater_than_equals=0, less_than_equals=5000),
    ),
]


def amounts(count: int) -> list[float]:
    """Distinct values ending in .5, all >= 1000.5: nothing else in a report looks like them."""
    return [1000.5 + 3 * i for i in range(count)]  # within 0..5000 up to 1333 rows


def synthetic_room(
    client: sr.Client, count: int, *, epsilon: float, budget: float, report: bool = False
) -> AnalyticsDcr:
    b = AnalyticsDcrBuilder(client=client).with_name("synthetic privacy").with_owner(BANK)
    b.with_privacy_budget(epsilon=budget)
    b.add_node_definition(TableDataNodeDefinition(name="sales", columns=COLUMNS, is_required=True))
    b.add_node_definition(
        SyntheticDataComputeNodeDefinition(
            name="synth",
            columns=[SyntheticNodeColumn(PrimitiveType.STRING, 0, is_nullable=False)],
            dependency="sales",
            epsilon=epsilon,
            output_original_data_statistics=report,
        )
    )
    b.add_participant(BANK, data_owner_of=["sales"], analyst_of=["synth"])
    dcr = client.publish_analytics_dcr(b.build())
    sales = dcr.get_node("sales")
    assert isinstance(sales, TableDataNode)
    lines = [f"{CITIES[i % 3]},{value}" for i, value in enumerate(amounts(count))]
    sales.upload_and_publish_dataset(
        io.BytesIO(("\n".join(lines) + "\n").encode()), sr.Key(), "sales.csv"
    )
    return dcr


@pytest.fixture
def client(server_factory: Callable[..., ServerProcess]) -> sr.Client:
    server = server_factory()
    return sr.create_client(BANK, server.add_user(BANK), api_url=server.url)


def synth_node(dcr: AnalyticsDcr) -> ContainerComputationNode:
    node = dcr.get_node("synth")
    assert isinstance(node, ContainerComputationNode)
    return node


def test_every_run_is_charged_and_the_third_is_refused(client: sr.Client) -> None:
    # 1000 rows at epsilon 1: the count's noise (scale 20) takes it below the 50-row minimum
    # with p ~ e^-47, so both paid runs succeed.
    dcr = synthetic_room(client, 1000, epsilon=1.0, budget=2.0)
    node = synth_node(dcr)
    for _ in range(2):
        archive = node.run_computation_and_get_results_as_zip(timeout=180)
        assert "dataset.csv" in archive.namelist()
    with pytest.raises(sr.ComputationError, match="privacy budget cannot pay for this run"):
        node.run_computation_and_get_results_as_zip(timeout=180)
    budget = dcr.retrieve_privacy_budget()
    assert budget.epsilon_budget == 2.0
    assert budget.epsilon_spent == pytest.approx(2.0)
    assert budget.epsilon_remaining == pytest.approx(0.0)
    assert budget.delta_spent == pytest.approx(2e-9)  # the worker's delta, twice
    log = dcr.retrieve_audit_log()
    assert log.count("PRIVACY_BUDGET_CHARGED") == 2


def _numbers(value: object) -> Iterator[float]:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield float(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)


def test_the_quality_report_releases_no_real_value(client: sr.Client) -> None:
    # 201 rows: the real quartiles are the 51st, 101st and 151st values exactly ((n-1) q is a
    # whole number), which a report computed from the real data would print. The synthetic
    # amounts are uniform draws inside their bins: equal to a real x.5 value with p ~ 0.
    dcr = synthetic_room(client, 201, epsilon=4.0, budget=10.0, report=True)
    archive = synth_node(dcr).run_computation_and_get_results_as_zip(timeout=180)
    report = json.loads(archive.read("quality_report.json"))
    real = set(amounts(201))
    assert not real & set(_numbers(report))
    for column in report["columns"]:
        assert "original" not in column
    amount = next(c for c in report["columns"] if c["name"] == "amount")
    synthetic = _synthetic_amounts(archive)
    assert amount["synthetic"]["count"] == len(synthetic)  # the synthetic table's own count


def _synthetic_amounts(archive: zipfile.ZipFile) -> list[float]:
    lines = archive.read("dataset.csv").decode().splitlines()
    return [float(line.rsplit(",", 1)[1]) for line in lines if line]


def test_a_synthetic_node_needs_a_privacy_budget() -> None:
    b = AnalyticsDcrBuilder().with_name("synthetic privacy").with_owner(BANK)
    b.add_node_definition(TableDataNodeDefinition(name="sales", columns=COLUMNS, is_required=True))
    b.add_node_definition(
        SyntheticDataComputeNodeDefinition(
            name="synth", columns=[], dependency="sales", epsilon=1.0
        )
    )
    with pytest.raises(DefinitionError, match="needs a privacy budget"):
        b.build()
