"""The access policy: default deny, role x action x node, stopped rooms, invisibility."""

from __future__ import annotations

import pytest

from sealroom.model import (
    Action,
    Column,
    FormatType,
    Participant,
    Permission,
    PermissionKind,
    Permissions,
    RoomDefinition,
    SqlNode,
    TableNode,
)
from sealroom.model import decide as decide_for
from sealroom.model.definition import RawNode
from sealroom.model.policy import Decision
from sealroom.model.principal import Principal

OWNER = "owner@room.example"
BANK = "bank@bank.example"
INSURER = "ins@insurer.example"
ANALYST = "analyst@analytics.example"
ANALYST2 = "second@analytics.example"
VIEWER = "viewer@room.example"
OUTSIDER = "mallory@elsewhere.example"


def decide(
    definition: RoomDefinition,
    email: str,
    action: Action,
    *,
    node: str | None = None,
    stopped: bool = False,
) -> Decision:
    """The decision for the principal named ``email``."""
    return decide_for(definition, Principal.of(email), action, node=node, stopped=stopped)


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


# -- What each decision says: the reason reaches the user (403/409 body) and the audit log ------


def test_an_outsider_is_refused_and_told_nothing_but_that() -> None:
    decision = decide(room(), OUTSIDER, Action.RETRIEVE_DEFINITION)
    assert decision.allowed is False
    assert decision.visible is False
    assert decision.reason == f"{OUTSIDER} is not a participant of the room"


@pytest.mark.parametrize("action", NODE_ACTIONS)
def test_a_node_scoped_action_without_a_node_is_denied(action: Action) -> None:
    # BANK and ANALYST2 between them hold every node-scoped primitive, on some node.
    for principal in (BANK, ANALYST2):
        decision = decide(room(), principal, action)
        assert decision.allowed is False
        assert decision.reason == f"{action.value} needs a node"
        assert decision.visible
        assert not decision.conflict


def test_the_reasons_name_the_missing_node_and_the_wrong_kind() -> None:
    missing = decide(room(), BANK, Action.PUBLISH_DATASET, node="nope")
    assert missing.allowed is False
    assert missing.reason == "the room has no node 'nope'"
    wrong_kind = decide(room(), ANALYST, Action.RUN_COMPUTATION, node="a")
    assert wrong_kind.allowed is False
    assert wrong_kind.reason == "run_computation does not apply to table node 'a'"
    raw_report = decide(room(), BANK, Action.RETRIEVE_VALIDATION_REPORT, node="notes")
    assert raw_report.allowed is False
    assert raw_report.reason == "retrieve_validation_report does not apply to raw node 'notes'"


def test_a_denial_names_the_missing_primitive_and_its_node() -> None:
    on_node = decide(room(), INSURER, Action.PUBLISH_DATASET, node="a")
    assert on_node.allowed is False
    assert on_node.reason == f"{INSURER} lacks permission leaf_crud on node 'a'"
    assert not on_node.conflict
    room_wide = decide(room(), VIEWER, Action.STOP_ROOM)
    assert room_wide.allowed is False
    assert room_wide.reason == f"{VIEWER} lacks permission update_data_room_status"


def test_an_allowance_names_the_primitive_and_its_node() -> None:
    on_node = decide(room(), ANALYST, Action.RETRIEVE_RESULT, node="q1")
    assert on_node.allowed is True
    assert on_node.reason == f"{ANALYST} holds retrieve_compute_result on 'q1'"
    room_wide = decide(room(), OWNER, Action.STOP_ROOM)
    assert room_wide.allowed is True
    assert room_wide.reason == f"{OWNER} holds update_data_room_status"


# -- Which primitive grants which action ----------------------------------------------------

#: The one primitive that grants each action (the seed's permission model), and the node it
#: targets in :func:`_granted_room`.
GRANTING: dict[Action, tuple[PermissionKind, str | None]] = {
    Action.RETRIEVE_DEFINITION: (PermissionKind.RETRIEVE_DATA_ROOM, None),
    Action.RETRIEVE_STATUS: (PermissionKind.RETRIEVE_DATA_ROOM_STATUS, None),
    Action.RETRIEVE_AUDIT_LOG: (PermissionKind.RETRIEVE_AUDIT_LOG, None),
    Action.LIST_PUBLISHED_DATASETS: (PermissionKind.RETRIEVE_PUBLISHED_DATASETS, None),
    Action.STOP_ROOM: (PermissionKind.UPDATE_DATA_ROOM_STATUS, None),
    Action.PUBLISH_DATASET: (PermissionKind.LEAF_CRUD, "t"),
    Action.REMOVE_DATASET: (PermissionKind.LEAF_CRUD, "t"),
    Action.RETRIEVE_VALIDATION_REPORT: (PermissionKind.LEAF_CRUD, "t"),
    Action.RUN_COMPUTATION: (PermissionKind.EXECUTE_COMPUTE, "q"),
    Action.RETRIEVE_RESULT: (PermissionKind.RETRIEVE_COMPUTE_RESULT, "q"),
    Action.RUN_DEVELOPMENT: (PermissionKind.EXECUTE_DEVELOPMENT_COMPUTE, None),
    Action.SUBMIT_REQUEST: (PermissionKind.MERGE_CONFIGURATION_COMMIT, None),
    Action.LIST_REQUESTS: (PermissionKind.RETRIEVE_DATA_ROOM, None),
    Action.REVIEW_REQUEST: (PermissionKind.GENERATE_MERGE_SIGNATURE, None),
    Action.INTEGRATE_REQUEST: (PermissionKind.MERGE_CONFIGURATION_COMMIT, None),
    Action.RETRIEVE_DATASET_STATISTICS: (PermissionKind.RETRIEVE_DATA_ROOM, None),
    Action.SHARE_DATASET_STATISTICS: (PermissionKind.LEAF_CRUD, "t"),
}
_NODE_OF_KIND = {
    PermissionKind.LEAF_CRUD: "t",
    PermissionKind.EXECUTE_COMPUTE: "q",
    PermissionKind.RETRIEVE_COMPUTE_RESULT: "q",
}


def _granted_room(
    *permissions: Permission,
    interactive: bool = True,
    enable_development: bool = True,
) -> RoomDefinition:
    """A room without basic rights, where ANALYST holds exactly ``permissions``."""
    return RoomDefinition(
        name="grants",
        owner=OWNER,
        basic_permissions=False,
        interactive=interactive,
        enable_development=enable_development,
        nodes=(
            TableNode(name="t", columns=COLUMNS),
            SqlNode(name="q", query="SELECT COUNT(*) FROM t", dependencies=("t",)),
        ),
        participants=(Participant(email=ANALYST, permissions=permissions),),
    )


def test_every_action_has_a_granting_primitive() -> None:
    assert set(GRANTING) == set(Action)


@pytest.mark.parametrize("kind", list(PermissionKind))
@pytest.mark.parametrize("action", list(Action))
def test_exactly_one_primitive_grants_each_action(action: Action, kind: PermissionKind) -> None:
    required, node = GRANTING[action]
    definition = _granted_room(Permission(kind=kind, node=_NODE_OF_KIND.get(kind)))
    decision = decide(definition, ANALYST, action, node=node)
    assert decision.allowed is (kind is required), decision.reason
    if kind is not required:
        scope = f" on node {node!r}" if node is not None else ""
        assert decision.reason == f"{ANALYST} lacks permission {required.value}{scope}"


def test_reviewing_a_request_needs_the_merge_signature_not_read_access() -> None:
    reader = _granted_room(Permissions.retrieve_data_room())
    assert decide(reader, ANALYST, Action.LIST_REQUESTS).allowed
    review = decide(reader, ANALYST, Action.REVIEW_REQUEST)
    assert review.allowed is False
    assert review.reason == f"{ANALYST} lacks permission generate_merge_signature"


# -- The room's state and settings: a conflict (409) with a stable code, after the permission ------

#: Everything ANALYST may do in :func:`_granted_room` when all of these are granted.
EVERY_GRANT = (
    *(Permission(kind=kind) for kind in PermissionKind if kind not in _NODE_OF_KIND),
    *(Permission(kind=kind, node=node) for kind, node in _NODE_OF_KIND.items()),
)
READABLE_WHEN_STOPPED = {
    Action.RETRIEVE_DEFINITION,
    Action.RETRIEVE_STATUS,
    Action.RETRIEVE_AUDIT_LOG,
    Action.LIST_PUBLISHED_DATASETS,
    Action.RETRIEVE_VALIDATION_REPORT,
    Action.RETRIEVE_DATASET_STATISTICS,
    Action.RETRIEVE_RESULT,
    Action.LIST_REQUESTS,
}
INTERACTIVE_ONLY = {Action.SUBMIT_REQUEST, Action.REVIEW_REQUEST, Action.INTEGRATE_REQUEST}


@pytest.mark.parametrize("action", list(Action))
def test_a_principal_holding_everything_may_do_everything_in_a_live_interactive_room(
    action: Action,
) -> None:
    _, node = GRANTING[action]
    decision = decide(_granted_room(*EVERY_GRANT), ANALYST, action, node=node)
    assert decision.allowed is True, decision.reason


@pytest.mark.parametrize("action", list(Action))
def test_a_stopped_room_allows_only_reading(action: Action) -> None:
    _, node = GRANTING[action]
    decision = decide(_granted_room(*EVERY_GRANT), ANALYST, action, node=node, stopped=True)
    if action in READABLE_WHEN_STOPPED:
        assert decision.allowed is True, decision.reason
    else:
        assert decision.allowed is False
        assert decision.reason == "the room is stopped"
        assert decision.conflict is True
        assert decision.code == "room_stopped"


@pytest.mark.parametrize("action", list(Action))
def test_a_static_room_accepts_no_requests(action: Action) -> None:
    _, node = GRANTING[action]
    static = _granted_room(*EVERY_GRANT, interactive=False)
    decision = decide(static, ANALYST, action, node=node)
    if action not in INTERACTIVE_ONLY:
        assert decision.allowed is True, decision.reason
    else:
        assert decision.allowed is False
        assert decision.reason == (
            "the room is static: its definition can never change (only rooms published with "
            "interactivity accept requests)"
        )
        assert decision.conflict is True
        assert decision.code == "room_static"


@pytest.mark.parametrize("action", list(Action))
def test_development_runs_only_where_the_room_enables_them(action: Action) -> None:
    _, node = GRANTING[action]
    closed = _granted_room(*EVERY_GRANT, enable_development=False)
    decision = decide(closed, ANALYST, action, node=node)
    if action is not Action.RUN_DEVELOPMENT:
        assert decision.allowed is True, decision.reason
    else:
        assert decision.allowed is False
        assert decision.reason == "the room does not enable development computations"
        assert decision.conflict is True
        assert decision.code == "development_disabled"


def test_a_missing_permission_is_a_denial_not_a_conflict_even_in_a_stopped_static_room() -> None:
    # 403 with the permission's name, not 409: the room's state is no excuse to hide the cause.
    definition = _granted_room(interactive=False, enable_development=False)
    for action in (Action.INTEGRATE_REQUEST, Action.RUN_DEVELOPMENT):
        decision = decide(definition, ANALYST, action, stopped=True)
        assert decision.allowed is False
        assert decision.conflict is False
        assert "lacks permission" in decision.reason
