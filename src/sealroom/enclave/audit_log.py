"""The core's side of the audit logs: one Merkle-tree log per room, persisted by the host.

The core holds each room's tree in memory and appends under the log's lock, so entries get
contiguous sequence numbers even with several workers. The host stores the events and the latest
signed checkpoint. When the core first touches a room after a restart it rebuilds the tree from
the stored events and checks them against the last checkpoint it signed: entries the host edited,
removed or reordered are detected. A host that rolls back events *and* checkpoint together to an
earlier state is not detectable by the core alone (that needs a monotonic counter in hardware);
clients that saw a later checkpoint detect it (truncation).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping

from sealroom.audit import (
    AuditAction,
    AuditEvent,
    AuditLog,
    check_extends,
    event_from_wire,
    open_checkpoint,
    room_origin,
)
from sealroom.crypto import SigningKey
from sealroom.errors import VerificationError
from sealroom.storage.metadata import MetadataStore

DetailValue = str | int | bool | None


class AuditLogKeeper:
    """Appends to, reads and checkpoints the per-room audit logs."""

    def __init__(self, store: MetadataStore, signing_key: SigningKey) -> None:
        self._store = store
        self._signing_key = signing_key
        self._logs: dict[str, AuditLog] = {}
        self._guard = threading.Lock()

    def log(self, room_id: str) -> AuditLog:
        """The room's log, loaded and checked against the last stored checkpoint once."""
        with self._guard:
            log = self._logs.get(room_id)
            if log is None:
                log = self._load(room_id)
                self._logs[room_id] = log
            return log

    def _load(self, room_id: str) -> AuditLog:
        events = [_stored_event(raw) for raw in self._store.audit_entries(room_id)]
        log = AuditLog(room_id, events)
        stored = self._store.audit_checkpoint(room_id)
        if stored is not None:
            checkpoint = open_checkpoint(stored, room_origin(room_id), self._signing_key.verify_key)
            if checkpoint.size > log.size:
                raise VerificationError(
                    f"audit log of room {room_id}: the host lost entries the core checkpointed"
                )
            check_extends(checkpoint, room_origin(room_id), log)
        return log

    def append(
        self,
        room_id: str,
        *,
        user: str,
        action: AuditAction,
        notes: str,
        details: Mapping[str, DetailValue] | None = None,
    ) -> AuditEvent:
        log = self.log(room_id)
        event = log.append(
            timestamp_ms=int(time.time() * 1000),
            user=user,
            action=action,
            notes=notes,
            details=dict(details or {}),
        )
        # The canonical JSON of the event: the wire form, and the exact bytes of its leaf.
        self._store.append_audit_entry(room_id, event.seq, event.to_canonical().decode())
        return event

    def checkpoint(self, room_id: str) -> tuple[int, str]:
        """(size, signed checkpoint) of the log as it is now; the host keeps the latest."""
        size, note = self.log(room_id).checkpoint(self._signing_key)
        self._store.save_audit_checkpoint(room_id, size, note)
        return size, note


def _stored_event(raw: str) -> AuditEvent:
    obj = json.loads(raw)
    # Rows written before the Merkle log wrapped the event with its chain fields.
    if isinstance(obj, dict) and "event" in obj and "prev_hash" in obj:
        obj = obj["event"]
    return event_from_wire(obj)
