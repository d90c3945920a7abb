"""The one place where access is decided.

Every action the trusted core performs on a room is first put to :func:`decide`, which returns a
:class:`Decision` with a human-readable reason. Default deny: an action is allowed only when a
primitive in :func:`~sealroom.model.definition.effective_permissions` grants it.

Invariants:

* A principal who is not a participant learns nothing: the decision is ``visible=False`` and the
  core answers "not found", exactly as for a room that does not exist.
* A stopped room refuses every action that changes data or runs code; reading the definition,
  status, audit log and published-dataset list stays possible.
* Node-scoped actions on a node that does not exist (or of the wrong kind) are denied, with the
  reason saying so.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sealroom.model.definition import (
    ComputeNode,
    Node,
    RawNode,
    RoomDefinition,
    TableNode,
    effective_permissions,
)
from sealroom.model.permissions import PermissionKind
from sealroom.model.principal import Principal


class Action(enum.StrEnum):
    """What a principal asks the core to do in a room."""

    RETRIEVE_DEFINITION = "retrieve_definition"
    RETRIEVE_STATUS = "retrieve_status"
    RETRIEVE_AUDIT_LOG = "retrieve_audit_log"
    LIST_PUBLISHED_DATASETS = "list_published_datasets"
    STOP_ROOM = "stop_room"
    PUBLISH_DATASET = "publish_dataset"
    REMOVE_DATASET = "remove_dataset"
    RETRIEVE_VALIDATION_REPORT = "retrieve_validation_report"
    RUN_COMPUTATION = "run_computation"
    RETRIEVE_RESULT = "retrieve_result"
    RUN_DEVELOPMENT = "run_development"
    SUBMIT_REQUEST = "submit_request"
    LIST_REQUESTS = "list_requests"
    REVIEW_REQUEST = "review_request"
    INTEGRATE_REQUEST = "integrate_request"
    RETRIEVE_DATASET_STATISTICS = "retrieve_dataset_statistics"
    SHARE_DATASET_STATISTICS = "share_dataset_statistics"


#: The primitive that grants each action, and whether it targets a data or compute node.
_REQUIRED: dict[Action, tuple[PermissionKind, str | None]] = {
    Action.RETRIEVE_DEFINITION: (PermissionKind.RETRIEVE_DATA_ROOM, None),
    Action.RETRIEVE_STATUS: (PermissionKind.RETRIEVE_DATA_ROOM_STATUS, None),
    Action.RETRIEVE_AUDIT_LOG: (PermissionKind.RETRIEVE_AUDIT_LOG, None),
    Action.LIST_PUBLISHED_DATASETS: (PermissionKind.RETRIEVE_PUBLISHED_DATASETS, None),
    Action.STOP_ROOM: (PermissionKind.UPDATE_DATA_ROOM_STATUS, None),
    Action.PUBLISH_DATASET: (PermissionKind.LEAF_CRUD, "data"),
    Action.REMOVE_DATASET: (PermissionKind.LEAF_CRUD, "data"),
    Action.RETRIEVE_VALIDATION_REPORT: (PermissionKind.LEAF_CRUD, "table"),
    Action.RUN_COMPUTATION: (PermissionKind.EXECUTE_COMPUTE, "compute"),
    Action.RETRIEVE_RESULT: (PermissionKind.RETRIEVE_COMPUTE_RESULT, "compute"),
    Action.RUN_DEVELOPMENT: (PermissionKind.EXECUTE_DEVELOPMENT_COMPUTE, None),
    Action.SUBMIT_REQUEST: (PermissionKind.MERGE_CONFIGURATION_COMMIT, None),
    Action.LIST_REQUESTS: (PermissionKind.RETRIEVE_DATA_ROOM, None),
    Action.REVIEW_REQUEST: (PermissionKind.GENERATE_MERGE_SIGNATURE, None),
    Action.INTEGRATE_REQUEST: (PermissionKind.MERGE_CONFIGURATION_COMMIT, None),
    # Any participant may ask; the core answers the table's owner, and the others only once the
    # owner shared the statistics (enclave.statistics, which also checks the node's kind: a
    # room-wide permission names no node).
    Action.RETRIEVE_DATASET_STATISTICS: (PermissionKind.RETRIEVE_DATA_ROOM, None),
    Action.SHARE_DATASET_STATISTICS: (PermissionKind.LEAF_CRUD, "table"),
}

#: Actions only an interactive room allows: a static room never changes.
_INTERACTIVE_ONLY = frozenset(
    {Action.SUBMIT_REQUEST, Action.REVIEW_REQUEST, Action.INTEGRATE_REQUEST}
)

#: Actions a stopped room still allows.
_ALLOWED_WHEN_STOPPED = frozenset(
    {
        Action.RETRIEVE_DEFINITION,
        Action.RETRIEVE_STATUS,
        Action.RETRIEVE_AUDIT_LOG,
        Action.LIST_PUBLISHED_DATASETS,
        Action.RETRIEVE_VALIDATION_REPORT,
        Action.RETRIEVE_DATASET_STATISTICS,
        Action.RETRIEVE_RESULT,
        Action.LIST_REQUESTS,
    }
)


@dataclass(frozen=True)
class Decision:
    """The outcome of one access decision.

    ``visible`` is False when the principal may not even learn that the room exists.
    ``conflict`` is True when the permission exists but the room's state (or settings) forbids
    the action; ``code`` then says which.
    """

    allowed: bool
    reason: str
    visible: bool = True
    conflict: bool = False
    code: str = "room_stopped"


def decide(
    definition: RoomDefinition,
    principal: Principal,
    action: Action,
    *,
    node: str | None = None,
    stopped: bool = False,
) -> Decision:
    """Decide whether ``principal`` may perform ``action`` (on ``node``) in this room.

    It takes a :class:`Principal`, never a bare address, so that every decision is about a
    checked, normalised e-mail address.
    """
    if not definition.is_participant(principal.email):
        return Decision(False, f"{principal} is not a participant of the room", visible=False)

    kind, node_kind = _REQUIRED[action]
    if node_kind is not None:
        if node is None:
            return Decision(False, f"{action.value} needs a node")
        target = definition.node(node)
        if target is None:
            return Decision(False, f"the room has no node {node!r}")
        if not _node_matches(target, node_kind):
            return Decision(False, f"{action.value} does not apply to {target.kind} node {node!r}")

    granted = any(
        p.kind is kind and (node_kind is None or p.node == node)
        for p in effective_permissions(definition, principal.email)
    )
    if not granted:
        scope = f" on node {node!r}" if node_kind is not None else ""
        return Decision(False, f"{principal} lacks permission {kind.value}{scope}")
    if stopped and action not in _ALLOWED_WHEN_STOPPED:
        return Decision(False, "the room is stopped", conflict=True)
    if action in _INTERACTIVE_ONLY and not definition.interactive:
        return Decision(
            False,
            "the room is static: its definition can never change (only rooms published with "
            "interactivity accept requests)",
            conflict=True,
            code="room_static",
        )
    if action is Action.RUN_DEVELOPMENT and not definition.enable_development:
        return Decision(
            False,
            "the room does not enable development computations",
            conflict=True,
            code="development_disabled",
        )
    scope = f" on {node!r}" if node_kind is not None else ""
    return Decision(True, f"{principal} holds {kind.value}{scope}")


def _node_matches(node: Node, node_kind: str) -> bool:
    if node_kind == "data":
        return isinstance(node, TableNode | RawNode)
    if node_kind == "table":
        return isinstance(node, TableNode)
    return isinstance(node, ComputeNode)
