"""Synthetic-data nodes through the SDK and the real app: masking, schema, chaining, refusals."""

from __future__ import annotations

import csv
import io
import json

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    Column,
    ContainerComputationNode,
    FormatType,
    MaskType,
    NumericRangeRule,
    PrimitiveType,
    SqlComputationNode,
    SqlComputeNodeDefinition,
    SyntheticDataComputeNodeDefinition,
    SyntheticNodeColumn,
    TableDataNode,
    TableDataNodeDefinition,
)
from sealroom.compute.sandbox import sandbox_available
from tests.integration.conftest import BANK, InProcessPlatform

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.skipif(not sandbox_available(), reason="needs bubblewrap"),
]

CUSTOMERS = [
    Column(name="name", format_type=FormatType.STRING, is_nullable=False),
    Column(name="email", format_type=FormatType.STRING, is_nullable=False),
    Column(name="city", format_type=FormatType.STRING, is_nullable=False),
    Column(
        name="age",
        format_type=FormatType.INTEGER,
        is_nullable=False,
        in_range=NumericRangeRule(greater_than_equals=18, less_than_equals=90),
    ),
]
CITIES = ["Bern", "Genf", "Basel"]


def rows(count: int) -> bytes:
    lines = [
        f"Person{i} Secret,secret{i}@bank.example,{CITIES[i % 3]},{18 + i % 60}"
        for i in range(count)
    ]
    return ("\n".join(lines) + "\n").encode()


def synthetic_room(platform: InProcessPlatform, count: int, epsilon: float = 4.0) -> AnalyticsDcr:
    """At epsilon 4 the row count's noise (5% of epsilon) has discrete Laplace scale 5."""
    client = platform.client(BANK)
    b = AnalyticsDcrBuilder(client=client).with_name("synthetic").with_owner(BANK)
    b.with_privacy_budget(epsilon=100.0)
    b.add_node_definition(
        TableDataNodeDefinition(name="customers", columns=CUSTOMERS, is_required=True)
    )
    b.add_node_definition(
        SyntheticDataComputeNodeDefinition(
            name="synth",
            columns=[
                SyntheticNodeColumn(PrimitiveType.STRING, 0, MaskType.NAME, True, False, "name"),
                SyntheticNodeColumn(PrimitiveType.STRING, 1, MaskType.EMAIL, True, False, "email"),
                SyntheticNodeColumn(PrimitiveType.STRING, 2, is_nullable=False),
                # Age is left to the schema (not nullable, 18 to 90).
            ],
            dependency="customers",
            epsilon=epsilon,
            output_original_data_statistics=True,
        )
    )
    b.add_node_definition(
        SqlComputeNodeDefinition(
            name="synth_count",
            query="SELECT COUNT(*) AS n, MIN(age) AS lo, MAX(age) AS hi FROM synth",
            dependencies=["synth"],
        )
    )
    b.add_participant(BANK, data_owner_of=["customers"], analyst_of=["synth", "synth_count"])
    dcr = client.publish_analytics_dcr(b.build())
    customers = dcr.get_node("customers")
    assert isinstance(customers, TableDataNode)
    customers.upload_and_publish_dataset(io.BytesIO(rows(count)), sr.Key(), "customers.csv")
    return dcr


def test_a_synthetic_table_masks_keeps_the_schema_and_feeds_sql(
    app_platform: InProcessPlatform,
) -> None:
    dcr = synthetic_room(app_platform, 300)
    synth = dcr.get_node("synth")
    assert isinstance(synth, ContainerComputationNode)
    archive = synth.run_computation_and_get_results_as_zip(timeout=120)
    names = set(archive.namelist())
    assert {"dataset.csv", "types.json", "quality_report.json"} <= names
    table = list(csv.reader(io.StringIO(archive.read("dataset.csv").decode())))
    assert abs(len(table) - 300) < 200  # a noisy count: off by 200 with p ~ 2 e^-40
    assert all(len(row) == 4 for row in table)
    # Masked columns hold invented values: nothing of the real names or emails.
    real = rows(300).decode()
    for name, email, city, age in table:
        assert "Secret" not in name
        assert email not in real
        assert "@" in email
        assert 18 <= int(age) <= 90
        assert city in CITIES or city == "(other)"
    types = json.loads(archive.read("types.json"))
    assert [c["name"] for c in types["columns"]] == ["name", "email", "city", "age"]

    counted = dcr.get_node("synth_count")
    assert isinstance(counted, SqlComputationNode)
    result = counted.run_computation_and_get_results_as_arrow(timeout=120)
    assert abs(result.column("n")[0].as_py() - 300) < 200  # a new run: a new noisy count
    assert 18 <= result.column("lo")[0].as_py() <= result.column("hi")[0].as_py() <= 90
    assert "Secret" not in dcr.retrieve_audit_log()


def test_fewer_than_50_rows_are_refused_with_a_clear_message(
    app_platform: InProcessPlatform,
) -> None:
    # Epsilon 20: the count's noise has scale 1, so 20 rows never pass 50 (p ~ e^-30).
    dcr = synthetic_room(app_platform, 20, epsilon=20.0)
    synth = dcr.get_node("synth")
    assert isinstance(synth, ContainerComputationNode)
    with pytest.raises(sr.ComputationError, match="needs at least 50 input rows") as caught:
        synth.run_computation_and_get_results_as_zip(timeout=120)
    assert "Secret" not in str(caught.value)
