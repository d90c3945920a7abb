"""Permission primitives: what a principal may do in a room.

The analytics builder's roles (owner, data owner, analyst, participant) and the legacy builder's
explicit grants both compile to these primitives; the policy (:mod:`sealroom.model.policy`) only
ever looks at primitives, so there is one place where access is decided.

Invariants:

* A primitive either names a node (``leaf_crud``, ``execute_compute``,
  ``retrieve_compute_result``) or is room-wide (everything else); :class:`Permission` refuses the
  wrong shape.
* Nothing is granted implicitly except the basic read permissions listed in
  :data:`BASIC_PERMISSION_KINDS`, and only when the room definition says so.
"""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, model_validator


class PermissionKind(enum.StrEnum):
    LEAF_CRUD = "leaf_crud"
    EXECUTE_COMPUTE = "execute_compute"
    RETRIEVE_COMPUTE_RESULT = "retrieve_compute_result"
    RETRIEVE_DATA_ROOM = "retrieve_data_room"
    RETRIEVE_AUDIT_LOG = "retrieve_audit_log"
    RETRIEVE_DATA_ROOM_STATUS = "retrieve_data_room_status"
    UPDATE_DATA_ROOM_STATUS = "update_data_room_status"
    RETRIEVE_PUBLISHED_DATASETS = "retrieve_published_datasets"
    #: Run ad-hoc computations over what one may already read (rooms that enable development).
    EXECUTE_DEVELOPMENT_COMPUTE = "execute_development_compute"
    #: Approve or reject a request (only as the data owner of a node it affects).
    GENERATE_MERGE_SIGNATURE = "generate_merge_signature"
    #: Submit a request to change an interactive room, and integrate an approved one.
    MERGE_CONFIGURATION_COMMIT = "merge_configuration_commit"


NODE_PERMISSION_KINDS = frozenset(
    {
        PermissionKind.LEAF_CRUD,
        PermissionKind.EXECUTE_COMPUTE,
        PermissionKind.RETRIEVE_COMPUTE_RESULT,
    }
)

#: What every participant gets when ``basic_permissions`` is on (the seed's default): read the
#: definition, its status, its audit log and the list of published datasets (metadata only);
#: run development computations, and take part in requests — each still gated by the room's
#: settings (development, interactivity) and, for approvals, by owning an affected data node.
BASIC_PERMISSION_KINDS = (
    PermissionKind.RETRIEVE_DATA_ROOM,
    PermissionKind.RETRIEVE_DATA_ROOM_STATUS,
    PermissionKind.RETRIEVE_AUDIT_LOG,
    PermissionKind.RETRIEVE_PUBLISHED_DATASETS,
    PermissionKind.EXECUTE_DEVELOPMENT_COMPUTE,
    PermissionKind.GENERATE_MERGE_SIGNATURE,
    PermissionKind.MERGE_CONFIGURATION_COMMIT,
)


class Permission(BaseModel):
    """One granted primitive, optionally scoped to a node (by node name)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: PermissionKind
    node: str | None = None

    @model_validator(mode="after")
    def _check_scope(self) -> Permission:
        needs_node = self.kind in NODE_PERMISSION_KINDS
        if needs_node and not self.node:
            raise ValueError(f"permission {self.kind.value} needs a node")
        if not needs_node and self.node is not None:
            raise ValueError(f"permission {self.kind.value} is room-wide and takes no node")
        return self

    def __str__(self) -> str:
        return f"{self.kind.value}({self.node})" if self.node else self.kind.value


class Permissions:
    """Seed SDK spelling: ``Permissions.execute_compute(node_id)`` and friends."""

    @staticmethod
    def leaf_crud(node_id: str) -> Permission:
        return Permission(kind=PermissionKind.LEAF_CRUD, node=node_id)

    @staticmethod
    def execute_compute(node_id: str) -> Permission:
        return Permission(kind=PermissionKind.EXECUTE_COMPUTE, node=node_id)

    @staticmethod
    def retrieve_compute_result(node_id: str) -> Permission:
        return Permission(kind=PermissionKind.RETRIEVE_COMPUTE_RESULT, node=node_id)

    @staticmethod
    def retrieve_data_room() -> Permission:
        return Permission(kind=PermissionKind.RETRIEVE_DATA_ROOM)

    @staticmethod
    def retrieve_audit_log() -> Permission:
        return Permission(kind=PermissionKind.RETRIEVE_AUDIT_LOG)

    @staticmethod
    def retrieve_data_room_status() -> Permission:
        return Permission(kind=PermissionKind.RETRIEVE_DATA_ROOM_STATUS)

    @staticmethod
    def update_data_room_status() -> Permission:
        return Permission(kind=PermissionKind.UPDATE_DATA_ROOM_STATUS)

    @staticmethod
    def retrieve_published_datasets() -> Permission:
        return Permission(kind=PermissionKind.RETRIEVE_PUBLISHED_DATASETS)

    @staticmethod
    def execute_development_compute() -> Permission:
        return Permission(kind=PermissionKind.EXECUTE_DEVELOPMENT_COMPUTE)

    @staticmethod
    def generate_merge_signature() -> Permission:
        return Permission(kind=PermissionKind.GENERATE_MERGE_SIGNATURE)

    @staticmethod
    def merge_configuration_commit() -> Permission:
        return Permission(kind=PermissionKind.MERGE_CONFIGURATION_COMMIT)
