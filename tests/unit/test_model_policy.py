"""The access policy: default deny, role x action x node, stopped rooms, invisibility."""

from __future__ import annotations

import pytest

from sealroom.model import (
    Action,
    Column,
    FormatType,
    Participant,
    Permissions,
    RoomDefinition,
    SqlNode,
    TableNode,
    decide,
)
from sealroom.model.definition import RawNode

OWNER = "owner@room.example"
BANK = "bank@bank.example"
INSURER = "ins@insurer.example"
ANALYST = "analyst@analytics.example"
ANALYST2 = "second@analytics.example"
VIEWER = "viewer@room.example"
OUTSIDER = "mallory@elsewhere.example"

COLUMNS = (Column(name="email", format_type=FormatType.EMAIL, is_nullable=False),)


def room(*, basic_permissions: bool = True) -> RoomDefinition:
    return RoomDefinition(
        name="matrix",
        owner=OWNER,
        basic_permissions=basic_permissions,
        nodes=(
            TableNode(name="a", columns=COLUMNS),
            TableNode(name="b", columns=COLUMNS),
            RawNode(name="notes"),
            SqlNode(
                name="q1",
                query="SELECT COUNT(*) FROM a JOIN b USING (email)",
                dependencies=("a", "b"),
            ),
            SqlNode(name="q2", query="SELECT COUNT(*) FROM a", dependencies=("a",)),
        ),
        participants=(
            Participant(email=BANK, data_owner_of=("a", "notes")),
            Participant(email=INSURER, data_owner_of=("b",)),
            Participant(email=ANALYST, analyst_of=("q1",)),
            Participant(email=ANALYST2, analyst_of=("q1", "q2")),
            Participant(email=VIEWER),
        ),
    )


DATA_ACTIONS = (Action.PUBLISH_DATASET, Action.REMOVE_DATASET)
COMPUTE_ACTIONS = (Action.RUN_COMPUTATION, Action.RETRIEVE_RESULT)

# (principal, action, node) -> allowed. Everything not listed is denied.
ALLOWED = {
    *((BANK, action, "a") for action in (*DATA_ACTIONS, Action.RETRIEVE_VALIDATION_REPORT)),
    *((BANK, action, "notes") for action in DATA_ACTIONS),
    *((INSURER, action, "b") for action in (*DATA_ACTIONS, Action.RETRIEVE_VALIDATION_REPORT)),
    *((ANALYST, action, "q1") for action in COMPUTE_ACTIONS),
    *((ANALYST2, action, node) for action in COMPUTE_ACTIONS for node in ("q1", "q2")),
}
PRINCIPALS = (OWNER, BANK, INSURER, ANALYST, ANALYST2, VIEWER)
NODE_ACTIONS = (*DATA_ACTIONS, Action.RETRIEVE_VALIDATION_REPORT, *COMPUTE_ACTIONS)
NODES = ("a", "b", "notes", "q1", "q2")


@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("action", NODE_ACTIONS)
@pytest.mark.parametrize("node", NODES)
def test_node_action_matrix(principal: str, action: Action, node: str) -> None:
    decision = decide(room(), principal, action, node=node)
    assert decision.allowed == ((principal, action, node) in ALLOWED), decision.reason
    assert decision.visible
    assert decision.reason


@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize(
    "action",
    [
        Action.RETRIEVE_DEFINITION,
        Action.RETRIEVE_STATUS,
        Action.RETRIEVE_AUDIT_LOG,
        Action.LIST_PUBLISHED_DATASETS,
    ],
)
def test_every_participant_reads_definition_status_log_and_dataset_list(
    principal: str, action: Action
) -> None:
    assert decide(room(), principal, action).allowed


@pytest.mark.parametrize("principal", [BANK, INSURER, ANALYST, VIEWER])
def test_only_the_owner_stops_the_room(principal: str) -> None:
    assert decide(room(), OWNER, Action.STOP_ROOM).allowed
    assert not decide(room(), principal, Action.STOP_ROOM).allowed


@pytest.mark.parametrize("action", list(Action))
def test_outsiders_cannot_even_see_the_room(action: Action) -> None:
    decision = decide(room(), OUTSIDER, action, node="q1")
    assert not decision.allowed
    assert not decision.visible


def test_without_basic_permissions_participants_see_only_what_they_are_granted() -> None:
    definition = room(basic_permissions=False)
    assert not decide(definition, VIEWER, Action.RETRIEVE_DEFINITION).allowed
    assert decide(definition, VIEWER, Action.RETRIEVE_DEFINITION).visible
    # The owner always keeps the manager's reading rights.
    assert decide(definition, OWNER, Action.RETRIEVE_AUDIT_LOG).allowed


@pytest.mark.parametrize(
    ("principal", "action", "node"),
    [
        (BANK, Action.PUBLISH_DATASET, "a"),
        (BANK, Action.REMOVE_DATASET, "a"),
        (ANALYST, Action.RUN_COMPUTATION, "q1"),
        (OWNER, Action.STOP_ROOM, None),
    ],
)
def test_a_stopped_room_refuses_changes(principal: str, action: Action, node: str | None) -> None:
    decision = decide(room(), principal, action, node=node, stopped=True)
    assert not decision.allowed
    assert decision.conflict


@pytest.mark.parametrize(
    ("principal", "action", "node"),
    [
        (VIEWER, Action.RETRIEVE_DEFINITION, None),
        (VIEWER, Action.RETRIEVE_AUDIT_LOG, None),
        (ANALYST, Action.RETRIEVE_RESULT, "q1"),
        (BANK, Action.RETRIEVE_VALIDATION_REPORT, "a"),
    ],
)
def test_a_stopped_room_stays_readable(principal: str, action: Action, node: str | None) -> None:
    assert decide(room(), principal, action, node=node, stopped=True).allowed


def test_actions_on_missing_or_wrong_kind_nodes_are_denied_with_a_reason() -> None:
    missing = decide(room(), BANK, Action.PUBLISH_DATASET, node="nope")
    assert not missing.allowed
    assert "nope" in missing.reason
    wrong_kind = decide(room(), ANALYST, Action.RUN_COMPUTATION, node="a")
    assert not wrong_kind.allowed
    assert "table" in wrong_kind.reason


def test_explicit_legacy_grants_compile_to_the_same_primitives() -> None:
    definition = RoomDefinition(
        name="legacy",
        owner=OWNER,
        nodes=(
            TableNode(name="t", columns=COLUMNS),
            SqlNode(name="q", query="SELECT 1 FROM t", dependencies=("t",)),
        ),
        participants=(
            Participant(
                email=ANALYST,
                permissions=(Permissions.execute_compute("q"),),
            ),
        ),
    )
    assert decide(definition, ANALYST, Action.RUN_COMPUTATION, node="q").allowed
    # Running a node does not imply fetching its result.
    assert not decide(definition, ANALYST, Action.RETRIEVE_RESULT, node="q").allowed
