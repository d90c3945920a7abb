"""The core's side of the audit log: one signed hash chain per room.

The core holds the head of each room's chain in memory and appends under a per-room lock, so
entries get contiguous sequence numbers even with several workers. The host stores the entries;
when the core first touches a room after a restart it re-reads and verifies the whole chain with
its own key, so entries the host altered or dropped in the middle are detected (dropping the tail
needs the signed checkpoints of the Merkle log, a later step).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping

from sealroom.audit import (
    AuditAction,
    AuditChain,
    SignedEntry,
    entry_from_wire,
    entry_to_wire,
    verify_entries,
)
from sealroom.crypto import SigningKey
from sealroom.storage.metadata import MetadataStore

DetailValue = str | int | bool | None


class AuditLogKeeper:
    """Appends to and reads the per-room audit chains."""

    def __init__(self, store: MetadataStore, signing_key: SigningKey) -> None:
        self._store = store
        self._signing_key = signing_key
        self._chains: dict[str, AuditChain] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, room_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(room_id, threading.Lock())

    def _chain(self, room_id: str) -> AuditChain:
        chain = self._chains.get(room_id)
        if chain is None:
            verified = verify_entries(room_id, self.entries(room_id), self._signing_key.verify_key)
            if verified.size:
                chain = AuditChain(
                    room_id, head_seq=verified.size - 1, head_hash=verified.head_hash
                )
            else:
                chain = AuditChain(room_id)
            self._chains[room_id] = chain
        return chain

    def append(
        self,
        room_id: str,
        *,
        user: str,
        action: AuditAction,
        notes: str,
        details: Mapping[str, DetailValue] | None = None,
    ) -> SignedEntry:
        with self._lock(room_id):
            chain = self._chain(room_id)
            entry = chain.append(
                timestamp_ms=int(time.time() * 1000),
                user=user,
                action=action,
                notes=notes,
                details=dict(details or {}),
                signer=self._signing_key,
            )
            self._store.append_audit_entry(
                room_id, entry.event.seq, json.dumps(entry_to_wire(entry), sort_keys=True)
            )
            return entry

    def entries(self, room_id: str) -> list[SignedEntry]:
        return [entry_from_wire(json.loads(raw)) for raw in self._store.audit_entries(room_id)]
