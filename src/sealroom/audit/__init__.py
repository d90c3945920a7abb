"""The per-room audit log: typed events in an RFC 9162 Merkle tree with signed checkpoints.

* :mod:`~sealroom.audit.events` — :class:`AuditAction`, :class:`AuditEvent` (ids and outcomes,
  never data values).
* :mod:`~sealroom.audit.kinds` — one dataclass per action: the details it carries, written and
  read back through the same class.
* :mod:`~sealroom.audit.merkle` — RFC 9162 hashing, :class:`MerkleTree`, inclusion and
  consistency proofs and their verifiers.
* :mod:`~sealroom.audit.checkpoint` — C2SP signed notes and checkpoints.
* :mod:`~sealroom.audit.log` — :class:`AuditLog` (the core appends), :func:`verify_log` →
  :class:`VerifiedAuditLog` (clients verify), :func:`check_extends` (no truncation, no fork).
* :mod:`~sealroom.audit.format` — JSON wire form and the one-line-per-event CSV rendering.
* :mod:`~sealroom.audit.export` — the offline export file and its verifier.

Pure: no network, no disk.
"""

from __future__ import annotations

from sealroom.audit.checkpoint import (
    Checkpoint,
    key_id,
    open_checkpoint,
    open_note,
    room_origin,
    sign_checkpoint,
    sign_note,
    verifier_key,
)
from sealroom.audit.events import (
    MAX_DETAIL_KEY_CHARS,
    MAX_DETAIL_VALUE_CHARS,
    MAX_DETAILS,
    MAX_NOTES_CHARS,
    MAX_USER_CHARS,
    AuditAction,
    AuditEvent,
    DetailValue,
)
from sealroom.audit.export import EXPORT_FORMAT, build_export, export_room_id, verify_export
from sealroom.audit.format import event_from_wire, event_to_wire, events_from_wire, format_lines
from sealroom.audit.log import (
    AuditLog,
    VerifiedAuditLog,
    check_extends,
    event_leaf_hash,
    verify_log,
)
from sealroom.audit.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MerkleTree,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "EMPTY_ROOT",
    "EXPORT_FORMAT",
    "HASH_SIZE",
    "MAX_DETAILS",
    "MAX_DETAIL_KEY_CHARS",
    "MAX_DETAIL_VALUE_CHARS",
    "MAX_NOTES_CHARS",
    "MAX_USER_CHARS",
    "AuditAction",
    "AuditEvent",
    "AuditLog",
    "Checkpoint",
    "DetailValue",
    "MerkleTree",
    "VerifiedAuditLog",
    "build_export",
    "check_extends",
    "event_from_wire",
    "event_leaf_hash",
    "event_to_wire",
    "events_from_wire",
    "export_room_id",
    "format_lines",
    "key_id",
    "leaf_hash",
    "node_hash",
    "open_checkpoint",
    "open_note",
    "room_origin",
    "sign_checkpoint",
    "sign_note",
    "verifier_key",
    "verify_consistency",
    "verify_export",
    "verify_inclusion",
    "verify_log",
]
