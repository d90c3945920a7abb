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
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, replace

from sealroom.audit import (
    AuditEvent,
    AuditLog,
    DetailValue,
    check_extends,
    event_from_wire,
    event_leaf_hash,
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
        #: How deep the lock's holder is in nested sections (only the holder touches it).
        self.depth = 0
        #: Nonces claimed by this process (an action may fail before its entry is written).
        self.claimed: OrderedDict[str, int] = OrderedDict()


class AuditLogKeeper:
    """Appends to, reads and checkpoints the per-room audit logs, and keeps their facts.

    ``shared``: other cores (processes that share this host's database) append to the same
    logs. Then each section that reads facts or appends holds the room's lock across processes
    (``room_lock``) and first catches up with the entries others appended, which must be
    covered by a checkpoint this core's key signed (every append then checkpoints, in the
    transaction of its entries); an entry no checkpoint covers is refused as one the host
    slipped in.
    """

    def __init__(self, store: AuditStore, signing_key: SigningKey, *, shared: bool = False) -> None:
        self._store = store
        self._signing_key = signing_key
        self._shared = shared
        self._rooms: dict[str, _Room] = {}
        self._guard = threading.Lock()

    def _room(self, room_id: str) -> _Room:
        """The room's log and facts, loaded and checked against the last stored checkpoint once
        (shared: under the host's room lock, so that no entry and checkpoint are being written
        between the two reads)."""
        with self._guard:
            room = self._rooms.get(room_id)
        if room is not None:
            return room
        with self._store.room_lock(room_id) if self._shared else nullcontext():
            loaded = self._load(room_id)
        with self._guard:
            return self._rooms.setdefault(room_id, loaded)

    def log(self, room_id: str) -> AuditLog:
        """The room's log (shared: caught up with what other cores appended)."""
        with self._held(room_id) as room:
            return room.log

    @contextmanager
    def locked(self, room_id: str) -> Iterator[RoomFacts]:
        """The room's facts, with its lock held: nothing is appended to the room meanwhile
        except by the holder, so a check of a fact and the entry that changes it are atomic."""
        with self._held(room_id) as room:
            yield room.facts

    @contextmanager
    def _held(self, room_id: str) -> Iterator[_Room]:
        """The room with its lock held; shared, the outermost section also holds the host's
        lock of the room and catches up first."""
        room = self._room(room_id)
        with room.lock, ExitStack() as stack:
            if self._shared and room.depth == 0:
                stack.enter_context(self._store.room_lock(room_id))
                self._catch_up(room_id, room)
            room.depth += 1
            try:
                yield room
            finally:
                room.depth -= 1

    def _load(self, room_id: str) -> _Room:
        events = [_stored_event(raw) for raw in self._store.audit_entries(room_id)]
        log = AuditLog(room_id, events, keep_events=False)
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

    def _catch_up(self, room_id: str, room: _Room) -> None:
        """Fold in the entries other cores appended since this one last looked (the caller
        holds the host's room lock, so none is being appended meanwhile)."""
        before = room.log.size
        added = [_stored_event(raw) for raw in self._store.audit_entries(room_id, before)]
        if not added:
            return
        try:
            for event in added:
                appended = room.log.append(
                    timestamp_ms=event.timestamp_ms,
                    user=event.user,
                    action=event.action,
                    notes=event.notes,
                    details=event.details,
                )
                if appended != event:
                    raise VerificationError(
                        f"audit log of room {room_id}: entry {event.seq} is out of order"
                    )
            stored = self._store.audit_checkpoint(room_id)
            if stored is None:
                raise VerificationError(
                    f"audit log of room {room_id}: {len(added)} entries no checkpoint covers"
                )
            checkpoint = open_checkpoint(stored, room_origin(room_id), self._signing_key.verify_key)
            if checkpoint.size != room.log.size:
                raise VerificationError(
                    f"audit log of room {room_id}: the host holds {room.log.size} entries but "
                    f"the core checkpointed {checkpoint.size}"
                )
            check_extends(checkpoint, room_origin(room_id), room.log)
        except Exception:
            room.log.truncate(before)
            raise
        for event in added:
            room.facts.fold(event)

    def claim_nonce(self, room_id: str, nonce: str, now_ms: int) -> None:
        """Use a signature's nonce once in the room, or :class:`ParticipantSignatureError`."""
        with self._held(room_id) as room:
            if nonce in room.facts.recent_nonces or nonce in room.claimed:
                raise _replayed()
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
        Without it the store's ``append_audit_rows`` writes them. The last row carries the
        signed checkpoint when one is due (an entry that changes a fact; every entry when
        shared). If the write raises, the tree is as before: nothing is appended.

        A signed action whose nonce the log already holds is refused: another core sharing the
        host accepted the same signed request first.
        """
        with self._held(room_id) as room:
            for entry in entries:
                if entry.proof is not None and entry.proof.nonce in room.facts.recent_nonces:
                    raise _replayed()
            before = room.log.size
            timestamp_ms = int(time.time() * 1000)
            appended = [
                room.log.append(
                    timestamp_ms=timestamp_ms,
                    user=entry.user,
                    action=entry.event.ACTION,
                    notes=entry.notes,
                    details=entry.details(),
                )
                for entry in entries
            ]
            rows = [AuditRow(room_id, e.seq, e.to_canonical().decode()) for e in appended]
            if self._shared or any(e.action in FACT_ACTIONS for e in appended):
                rows[-1] = replace(rows[-1], checkpoint=room.log.checkpoint(self._signing_key)[1])
            try:
                if write is not None:
                    write(rows)
                else:
                    self._store.append_audit_rows(rows)
            except BaseException:
                room.log.truncate(before)
                raise
            for event in appended:
                room.facts.fold(event)
        return appended

    def events(self, room_id: str, start: int, end: int) -> list[AuditEvent]:
        """Entries ``start`` to ``end`` (exclusive) of a size the log has reached, read from the
        host and each checked against the leaf the core appended (the core keeps leaf hashes
        only): an entry the host altered or lost since is refused."""
        log = self.log(room_id)
        if not 0 <= start <= end <= log.size:
            raise ValueError(f"entries {start}..{end} of a log of {log.size}")
        read = [_stored_event(raw) for raw in self._store.audit_entries(room_id, start)]
        events = read[: end - start]
        if len(events) != end - start or any(
            event.seq != start + offset or event_leaf_hash(event) != log.leaf(start + offset)
            for offset, event in enumerate(events)
        ):
            raise VerificationError(
                f"audit log of room {room_id}: the host altered or lost entries the core appended"
            )
        return events

    def checkpoint(self, room_id: str) -> tuple[int, str]:
        """(size, signed checkpoint) of the log as it is now; the host keeps the latest."""
        with self._held(room_id) as room:
            size, note = room.log.checkpoint(self._signing_key)
            self._store.save_audit_checkpoint(room_id, size, note)
        return size, note


def _replayed() -> ParticipantSignatureError:
    return ParticipantSignatureError(
        "this signed request was used before, and a signature is accepted once: "
        "sign the action again (the SDK does this for every request)"
    )


def _stored_event(raw: str) -> AuditEvent:
    obj = json.loads(raw)
    # Rows written before the Merkle log wrapped the event with its chain fields.
    if isinstance(obj, dict) and "event" in obj and "prev_hash" in obj:
        obj = obj["event"]
    return event_from_wire(obj)
