"""People come and go in an interactive room: requests that add data owners and withdraw roles,
through the SDK against the real app — who approves, what changes, what the core refuses."""

from __future__ import annotations

import io

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    RequestStatus,
    SqlComputationNode,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from sealroom.errors import DefinitionError, NotFoundError, PermissionDeniedError, SealroomError
from tests.integration.conftest import ANALYST, BANK, INSURER, InProcessPlatform

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::sealroom.errors.SimulatedAttestationWarning"),
]

#: A colleague of the bank's, new to the room.
COLLEAGUE = "dave@bank.example"
CUSTOMERS = b"1,north\n2,north\n3,south\n"


def _table(name: str) -> TableDataNodeDefinition:
    return TableDataNodeDefinition(
        name=name,
        columns=[
            Column(name="id", format_type=FormatType.INTEGER, is_nullable=False),
            Column(name="region", format_type=FormatType.STRING, is_nullable=False),
        ],
        is_required=True,
    )


def _room(platform: InProcessPlatform) -> dict[str, AnalyticsDcr]:
    """BANK owns customers and reads bank_regions; INSURER owns policies; ANALYST reads
    overlap (customers x policies)."""
    builder = (
        AnalyticsDcrBuilder(client=platform.client(BANK))
        .with_name("people")
        .with_owner(BANK)
        .with_interactivity(True)
        .add_node_definition(_table("customers"))
        .add_node_definition(_table("policies"))
        .add_node_definition(
            SqlComputeNodeDefinition(
                "bank_regions", "SELECT region, COUNT(*) AS n FROM customers GROUP BY region"
            )
        )
        .add_node_definition(
            SqlComputeNodeDefinition(
                "overlap", "SELECT COUNT(*) AS n FROM customers JOIN policies USING (id)"
            )
        )
    )
    builder.add_participant(BANK, data_owner_of=["customers"], analyst_of=["bank_regions"])
    builder.add_participant(INSURER, data_owner_of=["policies"])
    builder.add_participant(ANALYST, analyst_of=["overlap"])
    bank = platform.client(BANK).publish_analytics_dcr(builder.build())
    return {BANK: bank} | {
        email: platform.client(email).retrieve_analytics_dcr(bank.id)
        for email in (INSURER, ANALYST)
    }


def _upload(dcr: AnalyticsDcr, node: str, csv: bytes) -> None:
    data = dcr.get_node(node)
    assert isinstance(data, TableDataNode)
    data.upload_and_publish_dataset(io.BytesIO(csv), sr.Key(), node)


def _regions(dcr: AnalyticsDcr) -> str:
    node = dcr.get_node("bank_regions")
    assert isinstance(node, SqlComputationNode)
    return node.run_computation_and_get_results_as_string()


def test_a_colleague_is_added_as_data_owner_and_analyst_then_withdrawn(
    app_platform: InProcessPlatform,
) -> None:
    dcrs = _room(app_platform)
    bank = dcrs[BANK]
    request = (
        bank.build_request()
        .add_participant(COLLEAGUE, analyst_of=["bank_regions"], data_owner_of=["customers"])
        .with_note("Dave joins our team")
        .submit()
    )
    assert request.scope.analysts == {COLLEAGUE: ("bank_regions",)}
    assert request.scope.data_owners == {COLLEAGUE: ("customers",)}
    # Only the bank, the node's owner, approves; the insurer owns nothing it affects.
    assert [(g.node, g.approvers) for g in request.approver_groups] == [("customers", (BANK,))]
    with pytest.raises(PermissionDeniedError, match="owns no data node"):
        dcrs[INSURER].get_submitted_requests()[0].approve()
    request.approve().integrate()
    assert request.refresh().status is RequestStatus.INTEGRATED

    colleague = app_platform.client(COLLEAGUE).retrieve_analytics_dcr(bank.id)
    _upload(colleague, "customers", CUSTOMERS)
    assert "north" in _regions(colleague)
    # ... and as a data owner of customers, they approve what reads it from now on.
    grant = dcrs[ANALYST].build_request().add_participant(ANALYST, analyst_of=["bank_regions"])
    asked = grant.submit()
    assert set(asked.approver_groups[0].approvers) == {BANK, COLLEAGUE}
    asked.reject("not now")

    withdrawn = (
        bank.build_request()
        .withdraw(COLLEAGUE, analyst_of=["bank_regions"], data_owner_of=["customers"])
        .with_note("Dave left")
        .submit()
    )
    assert withdrawn.scope.withdrawn == {COLLEAGUE: ("customers", "bank_regions")}
    # The colleague is not asked: the owner who stays approves.
    assert [(g.node, g.approvers) for g in withdrawn.approver_groups] == [("customers", (BANK,))]
    withdrawn.approve().integrate()

    with pytest.raises(SealroomError):
        _regions(app_platform.client(COLLEAGUE).retrieve_analytics_dcr(bank.id))
    assert "north" in _regions(bank.refresh())
    log = bank.retrieve_audit_log()
    assert f"data owner {COLLEAGUE} of customers" in log
    assert f"withdrawing {COLLEAGUE} from customers, bank_regions" in log


def test_withdrawing_an_analyst_needs_the_owners_of_what_they_read(
    app_platform: InProcessPlatform,
) -> None:
    dcrs = _room(app_platform)
    request = dcrs[INSURER].build_request().withdraw(ANALYST, analyst_of=["overlap"]).submit()
    assert sorted(g.node for g in request.approver_groups) == ["customers", "policies"]
    request.approve()
    assert request.refresh().status is RequestStatus.PENDING
    dcrs[BANK].get_submitted_requests()[0].approve()
    request.refresh().integrate()
    assert not dcrs[BANK].refresh().definition.is_participant(ANALYST)
    # Left with no role, they have left the room: it is not theirs to see any more.
    with pytest.raises(NotFoundError):
        dcrs[ANALYST].refresh()


def test_what_the_core_refuses(app_platform: InProcessPlatform) -> None:
    dcrs = _room(app_platform)
    with pytest.raises(DefinitionError, match="keep none of its owners"):
        dcrs[BANK].build_request().withdraw(BANK, data_owner_of=["customers"]).submit()
    with pytest.raises(DefinitionError, match="a computation, not a data node"):
        dcrs[BANK].build_request().add_participant(COLLEAGUE, data_owner_of=["overlap"]).submit()
    # A new owner who would approve for the node alone: refused.
    with pytest.raises(DefinitionError, match="keep none of its owners"):
        (
            dcrs[BANK]
            .build_request()
            .add_participant(COLLEAGUE, data_owner_of=["customers"])
            .withdraw(BANK, data_owner_of=["customers"], analyst_of=["bank_regions"])
            .submit()
        )
    assert dcrs[BANK].get_submitted_requests() == []
