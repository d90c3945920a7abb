"""Computations through the SDK and the real app: SQL on SQL, inputs, typed results, limits."""

from __future__ import annotations

import io

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
from tests.integration.conftest import BANK, InProcessPlatform

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SALES = [
    Column(name="region", format_type=FormatType.STRING, is_nullable=False),
    Column(
        name="amount",
        format_type=FormatType.FLOAT,
        is_nullable=False,
        in_range=NumericRangeRule(greater_than_equals=0),
    ),
    Column(name="day", format_type=FormatType.DATE_ISO8601, is_nullable=True),
]


def publish(platform: InProcessPlatform, *, drop_invalid_rows: bool = False) -> AnalyticsDcr:
    client = platform.client(BANK)
    b = AnalyticsDcrBuilder(client=client).with_name("computations").with_owner(BANK)
    b.add_node_definition(
        TableDataNodeDefinition(
            name="sales", columns=SALES, is_required=True, drop_invalid_rows=drop_invalid_rows
        )
    )
    b.add_node_definition(
        TableDataNodeDefinition(name="extra sales", columns=SALES, is_required=False)
    )
    b.add_node_definition(
        SqlComputeNodeDefinition(
            name="by_region",
            query="SELECT region, SUM(amount) AS total FROM (SELECT * FROM sales UNION ALL "
            'SELECT * FROM "extra sales") GROUP BY region',
        )
    )
    b.add_node_definition(
        SqlComputeNodeDefinition(
            name="top_region",
            query="SELECT region, total FROM by_region ORDER BY total DESC LIMIT 1",
            dependencies=["by_region"],
        )
    )
    b.add_participant(
        BANK, data_owner_of=["sales", "extra sales"], analyst_of=["by_region", "top_region"]
    )
    return client.publish_analytics_dcr(b.build())


def node(dcr: AnalyticsDcr, name: str) -> SqlComputationNode:
    found = dcr.get_node(name)
    assert isinstance(found, SqlComputationNode)
    return found


def table(dcr: AnalyticsDcr, name: str) -> TableDataNode:
    found = dcr.get_node(name)
    assert isinstance(found, TableDataNode)
    return found


def test_sql_depends_on_sql_and_optional_tables_default_to_empty(
    app_platform: InProcessPlatform,
) -> None:
    dcr = publish(app_platform)
    data = b"north,10.5,2026-01-02\nsouth,3,\nnorth,1.5,2026-01-03\n"
    table(dcr, "sales").upload_and_publish_dataset(io.BytesIO(data), sr.Key(), "sales.csv")
    assert node(dcr, "top_region").run_computation_and_get_results_as_string() == (
        "region,total\nnorth,12.0\n"
    )
    frame = node(dcr, "by_region").run_computation_and_get_results_as_dataframe()
    assert dict(zip(frame["region"], frame["total"], strict=True)) == {"north": 12.0, "south": 3.0}
    assert str(frame["total"].dtype) == "float64"


def test_a_required_table_without_a_dataset_stops_the_job_with_a_clear_error(
    app_platform: InProcessPlatform,
) -> None:
    dcr = publish(app_platform)
    with pytest.raises(sr.ComputationError, match="'sales' is required") as caught:
        node(dcr, "by_region").run_computation_and_get_results_as_string(timeout=60)
    assert caught.value.code == "input_missing"


def test_drop_invalid_rows_lets_sql_run_on_the_valid_rows(app_platform: InProcessPlatform) -> None:
    dcr = publish(app_platform, drop_invalid_rows=True)
    data = b"north,10,2026-01-02\nsouth,-5,2026-01-02\neast,abc,\nwest,2,2026-13-45\nnorth,1,\n"
    sales = table(dcr, "sales")
    sales.upload_and_publish_dataset(io.BytesIO(data), sr.Key(), "sales.csv")
    report = sales.get_validation_report_as_dict()["report"]
    assert report["outcome"] == "PASSED"
    assert report["dropInvalidRows"]["numInvalidRowsDropped"] == 3
    assert node(dcr, "by_region").run_computation_and_get_results_as_string() == (
        "region,total\nnorth,11.0\n"
    )


def test_sql_errors_reach_the_analyst_without_data_values(app_platform: InProcessPlatform) -> None:
    client = app_platform.client(BANK)
    b = AnalyticsDcrBuilder(client=client).with_name("errors").with_owner(BANK)
    b.add_node_definition(TableDataNodeDefinition(name="sales", columns=SALES, is_required=True))
    b.add_node_definition(
        SqlComputeNodeDefinition(name="cast", query="SELECT CAST(region AS INTEGER) FROM sales")
    )
    b.add_participant(BANK, data_owner_of=["sales"], analyst_of=["cast"])
    dcr = client.publish_analytics_dcr(b.build())
    table(dcr, "sales").upload_and_publish_dataset(
        io.BytesIO(b"secretregion42,1,\n"), sr.Key(), "sales.csv"
    )
    with pytest.raises(sr.ComputationError) as caught:
        node(dcr, "cast").run_computation_and_get_results_as_string(timeout=60)
    assert "secretregion42" not in str(caught.value)
    assert "withheld" in str(caught.value)
    assert "secretregion42" not in dcr.retrieve_audit_log()
