"""Preview (airlock) nodes through the SDK: quotas charged by the core, refused past them."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    Column,
    ContainerComputationNode,
    FormatType,
    PreviewComputeNodeDefinition,
    PythonComputeNodeDefinition,
    SqlComputationNode,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from sealroom.client import AirlockQuotaInfo
from sealroom.errors import DefinitionError
from tests.integration.conftest import ANALYST, BANK, InProcessPlatform, ServerProcess

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SALES = [
    Column(name="region", format_type=FormatType.STRING, is_nullable=False),
    Column(name="amount", format_type=FormatType.INTEGER, is_nullable=False),
]


def room(owner: sr.Client, quota: int) -> AnalyticsDcr:
    """BANK owns ``sales`` and is analyst of ``totals``; ANALYST may only use the airlocks."""
    b = AnalyticsDcrBuilder(client=owner).with_name("airlock").with_owner(BANK)
    b.add_node_definition(TableDataNodeDefinition(name="sales", columns=SALES, is_required=True))
    b.add_node_definition(
        SqlComputeNodeDefinition(
            name="totals",
            query="SELECT region, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region",
        )
    )
    b.add_node_definition(
        PythonComputeNodeDefinition(
            name="report",
            script="open('/output/report.txt', 'w').write('ok')\n",
            dependencies=["sales"],
        )
    )
    b.add_node_definition(
        PreviewComputeNodeDefinition(name="peek", dependency="totals", quota_bytes=quota)
    )
    b.add_node_definition(
        PreviewComputeNodeDefinition(name="peek report", dependency="report", quota_bytes=quota)
    )
    b.add_participant(BANK, data_owner_of=["sales"], analyst_of=["totals", "report"])
    b.add_participant(ANALYST, analyst_of=["peek", "peek report"])
    dcr = owner.publish_analytics_dcr(b.build())
    sales = dcr.get_node("sales")
    assert isinstance(sales, TableDataNode)
    sales.upload_and_publish_dataset(io.BytesIO(b"north,10\nsouth,3\nnorth,5\n"), sr.Key(), "s")
    return dcr


def as_analyst(client: sr.Client, dcr: AnalyticsDcr) -> AnalyticsDcr:
    return client.retrieve_analytics_dcr(dcr.id)


def test_a_preview_reads_within_its_quota_and_is_refused_past_it(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory()
    owner = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
    analyst = sr.create_client(ANALYST, server.add_user(ANALYST), api_url=server.url)

    # Measure one result's size with a generous quota.
    generous = as_analyst(analyst, room(owner, 1 << 20))
    peek = generous.get_node("peek")
    assert isinstance(peek, SqlComputationNode)
    assert peek.run_computation_and_get_results_as_string(timeout=60) == (
        "region,total\nnorth,15\nsouth,3\n"
    )
    size = generous.retrieve_used_airlock_quotas()["peek"].used
    assert size > 0
    assert generous.retrieve_used_airlock_quotas()["peek report"] == AirlockQuotaInfo(1 << 20, 0)

    # Room for one result and a half: the second run is refused, with the figures.
    tight = as_analyst(analyst, room(owner, size + size // 2))
    peek = tight.get_node("peek")
    assert isinstance(peek, SqlComputationNode)
    peek.run_computation_and_get_results_as_string(timeout=60)
    # Fetching the same result again costs nothing: the charge is per run.
    peek.get_results_as_string(timeout=60)
    assert tight.retrieve_used_airlock_quotas()["peek"] == AirlockQuotaInfo(size + size // 2, size)
    with pytest.raises(sr.ComputationError, match="larger than the") as e:
        peek.run_computation_and_get_results_as_string(timeout=60)
    # The refusal tells one bit (larger than what was left), so it costs one byte.
    assert f"larger than the {size // 2} bytes left" in str(e.value)
    assert f"cost 1 byte); used {size + 1} of {size + size // 2} bytes" in str(e.value)
    assert tight.retrieve_used_airlock_quotas()["peek"].used == size + 1

    # The analyst of the preview is not an analyst of what it previews.
    totals = tight.get_node("totals")
    assert isinstance(totals, SqlComputationNode)
    with pytest.raises(sr.PermissionDeniedError):
        totals.run_computation()
    assert "AIRLOCK_QUOTA_CHARGED" in tight.retrieve_audit_log()


def test_a_preview_of_a_script_returns_its_zip(app_platform: InProcessPlatform) -> None:
    owner = app_platform.client(BANK)
    dcr = as_analyst(app_platform.client(ANALYST), room(owner, 1 << 20))
    peek = dcr.get_node("peek report")
    assert isinstance(peek, ContainerComputationNode)
    archive = peek.run_computation_and_get_results_as_zip(timeout=60)
    assert archive.read("report.txt") == b"ok"
    assert dcr.retrieve_used_airlock_quotas()["peek report"].used > 0


def test_a_zero_quota_refuses_every_result(app_platform: InProcessPlatform) -> None:
    dcr = as_analyst(app_platform.client(ANALYST), room(app_platform.client(BANK), 0))
    peek = dcr.get_node("peek")
    assert isinstance(peek, SqlComputationNode)
    with pytest.raises(sr.ComputationError, match="used 0 of 0 bytes"):
        peek.run_computation_and_get_results_as_string(timeout=60)


def test_nothing_may_depend_on_a_preview_and_it_previews_only_computations() -> None:
    b = AnalyticsDcrBuilder().with_name("bad").with_owner(BANK)
    b.add_node_definition(TableDataNodeDefinition(name="sales", columns=SALES, is_required=True))
    b.add_node_definition(PreviewComputeNodeDefinition(name="raw peek", dependency="sales"))
    with pytest.raises(DefinitionError, match="must depend on a SQL, Python, R or synthetic"):
        b.build()

    b = AnalyticsDcrBuilder().with_name("bad").with_owner(BANK)
    b.add_node_definition(TableDataNodeDefinition(name="sales", columns=SALES, is_required=True))
    b.add_node_definition(SqlComputeNodeDefinition(name="t", query="SELECT COUNT(*) FROM sales"))
    b.add_node_definition(PreviewComputeNodeDefinition(name="peek", dependency="t"))
    b.add_node_definition(
        SqlComputeNodeDefinition(name="around", query="SELECT * FROM peek", dependencies=["peek"])
    )
    with pytest.raises(DefinitionError, match="depends on preview node 'peek'"):
        b.build()
    with pytest.raises(DefinitionError, match="quota_bytes"):
        PreviewComputeNodeDefinition(name="p", dependency="t", quota_bytes=-1)
