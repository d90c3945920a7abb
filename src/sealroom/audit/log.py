"""A room's audit log as a transparency log: one RFC 9162 Merkle tree of events per room.

Formats::

    leaf data   = canonical JSON of the event (room id, seq, timestamp, user, action, notes,
                  details — ids and hashes, never data values)
    leaf hash   = SHA-256(0x00 || leaf data)                     (see :mod:`.merkle`)
    checkpoint  = C2SP signed note "sealroom/rooms/<room id>/audit\\n<size>\\n<b64 root>\\n",
                  signed by the core's Ed25519 key                (see :mod:`.checkpoint`)

The core appends (:class:`AuditLog`) and signs checkpoints on request; clients verify a log
against a checkpoint (:func:`verify_log`) and a newer checkpoint against one they kept
(consistency): an edited, removed or reordered entry changes the root; a truncated log or a
forked history is inconsistent with a checkpoint seen before. What no checkpoint can show is a
history the client never saw — a client's first view is trusted on first use (and a participant
can compare exports with others: ``sealroom audit verify --previous``).
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sealroom.audit.checkpoint import Checkpoint, open_checkpoint, room_origin, sign_checkpoint
from sealroom.audit.events import AuditAction, AuditEvent, DetailValue
from sealroom.audit.merkle import MerkleTree, leaf_hash
from sealroom.crypto import SigningKey, VerifyKey
from sealroom.errors import VerificationError

__all__ = ["AuditLog", "VerifiedAuditLog", "check_extends", "event_leaf_hash", "verify_log"]


def event_leaf_hash(event: AuditEvent) -> bytes:
    return leaf_hash(event.to_canonical())


def _check_sequence(room_id: str, events: Sequence[AuditEvent]) -> None:
    for position, event in enumerate(events):
        # Splicing in another room's entries, or dropping/duplicating/reordering entries.
        if event.room_id != room_id:
            raise VerificationError(f"audit entry {position}: belongs to another room")
        if event.seq != position:
            raise VerificationError(
                f"audit entry {position}: has seq {event.seq}, expected {position} "
                "(entries missing, duplicated or reordered)"
            )


class AuditLog:
    """The writable log of one room, held by the trusted core.

    ``append`` assigns the next ``seq`` under a lock, so that concurrent actions get distinct,
    contiguous numbers; persisting the returned event is the caller's job. Signed checkpoints
    are cached per size (signing is the costly part of an append otherwise).
    """

    def __init__(
        self, room_id: str, events: Sequence[AuditEvent] = (), *, keep_events: bool = True
    ) -> None:
        """``keep_events=False`` keeps the tree only (a leaf hash per entry, not the entries):
        the core's logs grow with every action for as long as a server runs, and the host
        stores the entries, which the core reads back checked against :meth:`leaf`."""
        if not room_id:
            raise ValueError("room_id must not be empty")
        _check_sequence(room_id, events)
        self._room_id = room_id
        self._keep_events = keep_events
        self._events = list(events) if keep_events else []
        self._tree = MerkleTree()
        for event in events:
            self._tree.append(event_leaf_hash(event))
        self._lock = threading.Lock()
        self._checkpoint: tuple[int, str] | None = None

    @property
    def room_id(self) -> str:
        return self._room_id

    @property
    def size(self) -> int:
        return self._tree.size

    def append(
        self,
        *,
        timestamp_ms: int,
        user: str,
        action: AuditAction,
        notes: str,
        details: Mapping[str, DetailValue],
    ) -> AuditEvent:
        with self._lock:
            event = AuditEvent(
                room_id=self._room_id,
                seq=self._tree.size,
                timestamp_ms=timestamp_ms,
                user=user,
                action=action,
                notes=notes,
                details=details,
            )
            self._tree.append(event_leaf_hash(event))
            if self._keep_events:
                self._events.append(event)
            return event

    def truncate(self, size: int) -> None:
        """Undo the appends from ``size`` on (their write to the host failed)."""
        with self._lock:
            self._tree.truncate(size)
            del self._events[size:]
            if self._checkpoint is not None and self._checkpoint[0] > size:
                self._checkpoint = None

    def events(self, start: int = 0, end: int | None = None) -> list[AuditEvent]:
        if not self._keep_events:
            raise ValueError("this log keeps leaf hashes only: read its entries from the store")
        with self._lock:
            return self._events[start:end]

    def leaf(self, index: int) -> bytes:
        """The leaf hash of entry ``index`` (what an entry read back must hash to)."""
        with self._lock:
            return self._tree.leaf(index)

    def root(self, size: int | None = None) -> bytes:
        with self._lock:
            return self._tree.root(size)

    def checkpoint(self, signing_key: SigningKey) -> tuple[int, str]:
        """(size, signed note) of the log as it is now."""
        with self._lock:
            size = self._tree.size
            if self._checkpoint is None or self._checkpoint[0] != size:
                checkpoint = Checkpoint(room_origin(self._room_id), size, self._tree.root())
                self._checkpoint = (size, sign_checkpoint(checkpoint, signing_key))
            return self._checkpoint

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self._lock:
            return self._tree.inclusion_proof(index, size)

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        with self._lock:
            return self._tree.consistency_proof(first, second)


@dataclass(frozen=True)
class VerifiedAuditLog:
    """A room's log that :func:`verify_log` accepted: its events and the checkpoint they match."""

    room_id: str
    events: tuple[AuditEvent, ...]
    checkpoint: Checkpoint
    note: str

    @property
    def size(self) -> int:
        return self.checkpoint.size


def verify_log(
    room_id: str,
    events: Sequence[AuditEvent],
    note: str,
    verify_key: VerifyKey,
    *,
    previous: Checkpoint | None = None,
) -> VerifiedAuditLog:
    """Verify a complete log of ``room_id`` (from entry 0) against its signed checkpoint.

    ``previous``: a checkpoint of this room the caller verified before; the log must extend it.
    Raises :class:`~sealroom.errors.VerificationError` naming the check that failed.
    """
    # 1. The checkpoint is signed by the core, for this room's log (not another room's).
    checkpoint = open_checkpoint(note, room_origin(room_id), verify_key)
    # 2. The entries are this room's, numbered from 0 without gaps, as many as checkpointed.
    _check_sequence(room_id, events)
    if len(events) != checkpoint.size:
        raise VerificationError(
            f"audit log has {len(events)} entries, its checkpoint commits to {checkpoint.size}"
        )
    # 3. They hash to the signed root: any edited, added, removed or reordered entry fails.
    tree = MerkleTree()
    for event in events:
        tree.append(event_leaf_hash(event))
    if not hmac.compare_digest(tree.root(), checkpoint.root_hash):
        raise VerificationError("audit log does not match its signed checkpoint (entry edited)")
    # 4. It extends what the caller saw before: no truncation, no fork.
    if previous is not None:
        check_extends(previous, checkpoint.origin, tree)
    return VerifiedAuditLog(room_id, tuple(events), checkpoint, note)


class _Tree(Protocol):
    """What :func:`check_extends` needs of a log whose entries are at hand."""

    @property
    def size(self) -> int: ...

    def root(self, size: int | None = None) -> bytes: ...


def check_extends(previous: Checkpoint, origin: str, tree: _Tree) -> None:
    """The log ``tree`` of ``origin`` extends the one ``previous`` committed to.

    With every entry at hand no consistency proof is needed: the root of the first
    ``previous.size`` entries must be the root ``previous`` signed.
    """
    if previous.origin != origin:
        raise VerificationError("checkpoints of different logs")
    if previous.size > tree.size:
        raise VerificationError(
            f"audit log truncated: it has {tree.size} entries, {previous.size} were seen before"
        )
    if not hmac.compare_digest(tree.root(previous.size), previous.root_hash):
        raise VerificationError(
            "audit log forked: not an extension of the history seen before (the first "
            f"{previous.size} entries differ)"
        )
