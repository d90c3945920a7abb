"""The per-room audit log: typed events, a signed hash chain, its verifier and formats.

* :mod:`~sealroom.audit.events` — :class:`AuditAction`, :class:`AuditEvent` (ids and outcomes,
  never data values).
* :mod:`~sealroom.audit.chain` — :class:`AuditChain` (the core appends and signs),
  :func:`verify_entries` → :class:`VerifiedAuditLog` (clients verify).
* :mod:`~sealroom.audit.format` — JSON wire form and the one-line-per-event CSV rendering.

Pure: no network, no disk. The hash chain is a stepping stone to an RFC 9162 Merkle log with
signed checkpoints; callers depend only on the names exported here.
"""

from __future__ import annotations

from sealroom.audit.chain import (
    HASH_SIZE,
    AuditChain,
    SignedEntry,
    VerifiedAuditLog,
    compute_entry_hash,
    genesis_hash,
    signature_message,
    verify_entries,
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
from sealroom.audit.format import (
    entries_from_wire,
    entries_to_wire,
    entry_from_wire,
    entry_to_wire,
    format_lines,
)

__all__ = [
    "HASH_SIZE",
    "MAX_DETAILS",
    "MAX_DETAIL_KEY_CHARS",
    "MAX_DETAIL_VALUE_CHARS",
    "MAX_NOTES_CHARS",
    "MAX_USER_CHARS",
    "AuditAction",
    "AuditChain",
    "AuditEvent",
    "DetailValue",
    "SignedEntry",
    "VerifiedAuditLog",
    "compute_entry_hash",
    "entries_from_wire",
    "entries_to_wire",
    "entry_from_wire",
    "entry_to_wire",
    "format_lines",
    "genesis_hash",
    "signature_message",
    "verify_entries",
]
