"""A script charged ``dp_epsilon``: the core spends it from the room's budget before every run,
refuses a run past the budget, audits the charge, and tells the script exactly what it charged
(``/input/privacy.json``) — the media engine's noise relies on that figure."""

from __future__ import annotations

import io
import json

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    PythonComputeNodeDefinition,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from sealroom.errors import DefinitionError, SealroomError
from tests.integration.conftest import BANK, InProcessPlatform

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SCRIPT = """
import json, os
charged = json.load(open("/input/privacy.json"))
rows = open("/input/sales/dataset.csv").read().splitlines()
json.dump({"charged": charged, "rows": len(rows)}, open("/output/out.json", "w"))
"""


def builder(client: sr.Client, budget: float | None) -> AnalyticsDcrBuilder:
    b = AnalyticsDcrBuilder(client=client).with_name("dp script").with_owner(BANK)
    if budget is not None:
        b.with_privacy_budget(budget)
    b.add_node_definition(
        TableDataNodeDefinition(
            name="sales",
            columns=[Column(name="region", format_type=FormatType.STRING, is_nullable=False)],
            is_required=True,
        )
    )
    return b


def test_each_run_is_charged_and_the_script_sees_the_charge(
    app_platform: InProcessPlatform,
) -> None:
    client = app_platform.client(BANK)
    b = builder(client, budget=1.0)
    b.add_node_definition(
        PythonComputeNodeDefinition(
            name="noisy", script=SCRIPT, dependencies=["sales"], dp_epsilon=0.4
        )
    )
    b.add_participant(BANK, data_owner_of=["sales"], analyst_of=["noisy"])
    dcr = client.publish_analytics_dcr(b.build())
    sales = dcr.get_node("sales")
    assert isinstance(sales, TableDataNode)
    sales.upload_and_publish_dataset(io.BytesIO(b"north\nsouth\n"), sr.Key(), "s")
    node = dcr.get_node("noisy")
    for spent in (0.4, 0.8):
        result = json.loads(node.run_computation_and_get_results_as_zip().read("out.json"))
        assert result == {"charged": {"epsilon": 0.4, "delta": 0.0}, "rows": 2}
        assert dcr.retrieve_privacy_budget().epsilon_spent == pytest.approx(spent)
    with pytest.raises(SealroomError, match="privacy budget"):
        node.run_computation_and_get_results_as_zip()
    assert dcr.retrieve_privacy_budget().epsilon_spent == pytest.approx(0.8)
    assert dcr.retrieve_audit_log().count("spent epsilon 0.4") == 2


def test_a_charged_script_needs_a_budget_and_reads_only_tables(
    app_platform: InProcessPlatform,
) -> None:
    client = app_platform.client(BANK)
    without = builder(client, budget=None)
    without.add_node_definition(
        PythonComputeNodeDefinition(name="n", script=SCRIPT, dependencies=["sales"], dp_epsilon=1)
    )
    without.add_participant(BANK, data_owner_of=["sales"], analyst_of=["n"])
    with pytest.raises(DefinitionError, match="privacy budget"):
        without.build()
    # A computation in between could copy one person's rows: refused.
    through = builder(client, budget=2.0)
    through.add_node_definition(
        SqlComputeNodeDefinition(name="copy", query="SELECT * FROM sales", dependencies=["sales"])
    )
    through.add_node_definition(
        PythonComputeNodeDefinition(name="n", script=SCRIPT, dependencies=["copy"], dp_epsilon=1)
    )
    through.add_participant(BANK, data_owner_of=["sales"], analyst_of=["n"])
    with pytest.raises(DefinitionError, match="only table data nodes"):
        through.build()


def test_an_uncharged_script_keeps_the_canonical_form_of_older_rooms() -> None:
    """``dp_epsilon`` unset is left out of the canonical bytes, so a room published before the
    field existed keeps its id."""
    from sealroom.model.definition import PythonNode

    plain = PythonNode(name="n", script="print(1)")
    assert "dp_epsilon" not in plain.model_dump(mode="json")
    charged = PythonNode(name="n", script="print(1)", dp_epsilon=0.5)
    assert charged.model_dump(mode="json")["dp_epsilon"] == 0.5
    assert PythonNode.model_validate(charged.model_dump(mode="json")) == charged
