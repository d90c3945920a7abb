"""The pure room model: definitions, columns, permissions and the access policy (no I/O)."""

from __future__ import annotations

from sealroom.model.columns import (
    Column,
    FormatType,
    HashingAlgorithm,
    NumericRangeRule,
    PrimitiveType,
    TableSchema,
)
from sealroom.model.definition import (
    Participant,
    PreviewNode,
    RawNode,
    RoomDefinition,
    RoomPrivacy,
    SqlNode,
    SyntheticColumn,
    SyntheticNode,
    TableNode,
    check_definition,
    effective_permissions,
    parse_definition,
)
from sealroom.model.permissions import Permission, PermissionKind, Permissions
from sealroom.model.policy import Action, Decision, decide

__all__ = [
    "Action",
    "Column",
    "Decision",
    "FormatType",
    "HashingAlgorithm",
    "NumericRangeRule",
    "Participant",
    "Permission",
    "PermissionKind",
    "Permissions",
    "PreviewNode",
    "PrimitiveType",
    "RawNode",
    "RoomDefinition",
    "RoomPrivacy",
    "SqlNode",
    "SyntheticColumn",
    "SyntheticNode",
    "TableNode",
    "TableSchema",
    "check_definition",
    "decide",
    "effective_permissions",
    "parse_definition",
]
