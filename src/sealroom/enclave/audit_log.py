"""The core's side of the audit logs: one Merkle-tree log per room, persisted by the host.

The core holds each room's tree in memory and appends under the room's lock, so entries get
contiguous sequence numbers even with several workers. The host stores the events and the latest
signed checkpoint. When the core first touches a room after a restart it rebuilds the tree from
the stored events and checks them against the last checkpoint it signed: entries the host edited,
removed or reordered are detected. A host that rolls back events *and* checkpoint together to an
earlier state is not detectable by the core alone (that needs a monotonic counter in hardware);
clients that saw a later checkpoint detect it (truncation).

The keeper also keeps each room's verified facts (:mod:`.verified_state`), folded from the log
when it is loaded and from every entry appended after, and signs a checkpoint after every entry
that changes a fact: a host cannot then drop or edit such an entry without the next core that
loads the log noticing, short of rolling everything back.

An entry of an action a participant signed carries the signer's key fingerprint and the
signature's nonce (``signer``, ``nonce``); :meth:`AuditLogKeeper.claim_nonce` refuses a nonce the
room's log or this process has seen within the nonce memory, so a host cannot replay a signed
request. (A host that drops the last entries, which are not all checkpointed, and restarts the
core could replay an action whose entry it dropped within those minutes; the entries of actions
that change a fact are checkpointed, so that leaves fetching a result again, sealed to the
signer's own key.)
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sealroom.audit import (
    AuditEvent,
    AuditLog,
    DetailValue,
    check_extends,
    event_from_wire,
    open_checkpoint,
    room_origin,
)
from sealroom.audit.kinds import EventKind
from sealroom.crypto import SigningKey
from sealroom.enclave.host import AuditStore
from sealroom.enclave.verified_state import FACT_ACTIONS, NONCE_MEMORY_MS, RoomFacts
from sealroom.errors import ParticipantSignatureError, VerificationError
from sealroom.model.records import AuditRow
from sealroom.model.signed_actions import ActionProof


@dataclass(frozen=True)
class Entry:
    """One entry to append: ``event`` as ``user`` did it, with ``notes``, and the verified
    ``proof`` when a participant signed the action (its key fingerprint and nonce are kept)."""

    user: str
    notes: str
    event: EventKind
    proof: ActionProof | None = None

    def details(self) -> dict[str, DetailValue]:
        details = self.event.to_details()
        if self.proof is not None:
            details |= {"signer": self.proof.fingerprint, "nonce": self.proof.nonce}
        return details


class _Room:
    def __init__(self, log: AuditLog, facts: RoomFacts) -> None:
        self.log = log
        self.facts = facts
        # Re-entrant: a check-then-append holds it around its own appends.
        self.lock = threading.RLock()
        #: Nonces claimed by this process (an action may fail before its entry is written).
        self.claimed: OrderedDict[str, int] = OrderedDict()


class AuditLogKeeper:
    """Appends to, reads and checkpoints the per-room audit logs, and keeps their facts."""

    def __init__(self, store: AuditStore, signing_key: SigningKey) -> None:
        self._store = store
        self._signing_key = signing_key
        self._rooms: dict[str, _Room] = {}
        self._guard = threading.Lock()

    def _room(self, room_id: str) -> _Room:
        """The room's log and facts, loaded and checked against the last stored checkpoint once."""
        with self._guard:
            room = self._rooms.get(room_id)
            if room is None:
                room = self._load(room_id)
                self._rooms[room_id] = room
            return room

    def log(self, room_id: str) -> AuditLog:
        return self._room(room_id).log

    @contextmanager
    def locked(self, room_id: str) -> Iterator[RoomFacts]:
        """The room's facts, with its lock held: nothing is appended to the room meanwhile
        except by the holder, so a check of a fact and the entry that changes it are atomic."""
        room = self._room(room_id)
        with room.lock:
            yield room.facts

    def _load(self, room_id: str) -> _Room:
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
        facts = RoomFacts(room_id)
        for event in events:
            facts.fold(event)
        return _Room(log, facts)

    def claim_nonce(self, room_id: str, nonce: str, now_ms: int) -> None:
        """Use a signature's nonce once in the room, or :class:`ParticipantSignatureError`."""
        room = self._room(room_id)
        with room.lock:
            if nonce in room.facts.recent_nonces or nonce in room.claimed:
                raise ParticipantSignatureError(
                    "this signed request was used before, and a signature is accepted once: "
                    "sign the action again (the SDK does this for every request)"
                )
            room.claimed[nonce] = now_ms
            while room.claimed:
                oldest, claimed_at = next(iter(room.claimed.items()))
                if claimed_at >= now_ms - NONCE_MEMORY_MS:
                    break
                del room.claimed[oldest]

    def append(
        self,
        room_id: str,
        *,
        user: str,
        notes: str,
        event: EventKind,
        proof: ActionProof | None = None,
        write: Callable[[Sequence[AuditRow]], None] | None = None,
    ) -> AuditEvent:
        """Append ``event`` (its kind names the action) as ``user`` did it, with ``notes``; with
        the signer's key fingerprint and nonce when ``proof`` (verified) signed the action.
        ``write`` as for :meth:`append_all`."""
        return self.append_all(room_id, [Entry(user, notes, event, proof)], write=write)[0]

    def append_all(
        self,
        room_id: str,
        entries: Sequence[Entry],
        *,
        write: Callable[[Sequence[AuditRow]], None] | None = None,
    ) -> list[AuditEvent]:
        """Append ``entries``, in order, with consecutive sequence numbers.

        ``write``, when given, stores the entries: a host method that writes them in the same
        transaction as its rows of the action they record, so that a crash cannot keep the rows
        and lose the entries (the next core would take the rows for ones the host slipped in).
        Without it the store's ``append_audit_entry`` writes each. The host writes before the
        core's tree grows: if ``write`` raises, nothing is appended."""
        room = self._room(room_id)
        with room.lock:
            timestamp_ms = int(time.time() * 1000)
            pending = [
                AuditEvent(
                    room_id=room_id,
                    seq=room.log.size + offset,
                    timestamp_ms=timestamp_ms,
                    user=entry.user,
                    action=entry.event.ACTION,
                    notes=entry.notes,
                    details=entry.details(),
                )
                for offset, entry in enumerate(entries)
            ]
            rows = [
                AuditRow(room_id, event.seq, event.to_canonical().decode()) for event in pending
            ]
            if write is not None:
                write(rows)
            else:
                for row in rows:
                    self._store.append_audit_entry(row.room_id, row.seq, row.entry)
            for event in pending:
                appended = room.log.append(
                    timestamp_ms=timestamp_ms,
                    user=event.user,
                    action=event.action,
                    notes=event.notes,
                    details=event.details,
                )
                if appended != event:
                    raise AssertionError("the audit entry written differs from the one appended")
                room.facts.fold(appended)
            if any(event.action in FACT_ACTIONS for event in pending):
                self.checkpoint(room_id)
        return pending

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
