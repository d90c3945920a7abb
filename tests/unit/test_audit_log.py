"""A room's audit log as a Merkle log: known answers, appends, and every kind of tampering —
edited, dropped, reordered, duplicated or foreign entries, truncation and forks — detected."""

from __future__ import annotations

import dataclasses
import hashlib
import threading

import pytest

from sealroom.audit import (
    AuditAction,
    AuditEvent,
    AuditLog,
    Checkpoint,
    event_leaf_hash,
    open_checkpoint,
    room_origin,
    sign_checkpoint,
    verify_log,
)
from sealroom.crypto import SigningKey
from sealroom.errors import VerificationError

ROOM = "ab" * 32
SIGNER = SigningKey.from_bytes(bytes(range(32)))
VERIFY_KEY = SIGNER.verify_key

KAT_EVENT = (
    b'{"action":"ROOM_PUBLISHED","details":{"interactive":false,"name":"demo","nodes":2,'
    b'"x":null},"notes":"published room","room_id":"' + ROOM.encode() + b'","seq":0,'
    b'"timestamp_ms":1732233600000,"user":"alice@bank.example"}'
)


def _append(log: AuditLog, n: int) -> list[AuditEvent]:
    actions = list(AuditAction)
    return [
        log.append(
            timestamp_ms=1_732_233_600_000 + i,
            user=f"user{i}@example.org",
            action=actions[i % len(actions)],
            notes=f"event number {i}",
            details={"job_id": f"job-{i}", "rows": i, "ok": i % 2 == 0, "node": None},
        )
        for i in range(n)
    ]


def test_leaf_known_answer() -> None:
    event = AuditEvent(
        room_id=ROOM,
        seq=0,
        timestamp_ms=1_732_233_600_000,
        user="alice@bank.example",
        action=AuditAction.ROOM_PUBLISHED,
        notes="published room",
        details={"name": "demo", "nodes": 2, "interactive": False, "x": None},
    )
    assert event.to_canonical() == KAT_EVENT
    assert event_leaf_hash(event) == hashlib.sha256(b"\x00" + KAT_EVENT).digest()
    log = AuditLog(ROOM, [event])
    assert log.root() == event_leaf_hash(event)  # a one-leaf tree's root is the leaf


def test_append_checkpoint_and_verify() -> None:
    log = AuditLog(ROOM)
    events = _append(log, 7)
    size, note = log.checkpoint(SIGNER)
    assert size == 7
    assert open_checkpoint(note, room_origin(ROOM), VERIFY_KEY).root_hash == log.root()
    verified = verify_log(ROOM, events, note, VERIFY_KEY)
    assert verified.events == tuple(events)
    assert log.checkpoint(SIGNER)[1] is note  # cached until the log grows
    _append(log, 1)
    assert log.checkpoint(SIGNER)[0] == 8


def test_empty_log_verifies() -> None:
    log = AuditLog(ROOM)
    _, note = log.checkpoint(SIGNER)
    assert verify_log(ROOM, [], note, VERIFY_KEY).size == 0


def test_concurrent_appends_get_distinct_contiguous_seqs() -> None:
    log = AuditLog(ROOM)
    threads = [threading.Thread(target=_append, args=(log, 50)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    events = log.events()
    assert [e.seq for e in events] == list(range(200))
    verify_log(ROOM, events, log.checkpoint(SIGNER)[1], VERIFY_KEY)


def test_a_log_rebuilt_from_storage_has_the_same_root() -> None:
    log = AuditLog(ROOM)
    events = _append(log, 13)
    assert AuditLog(ROOM, events).root() == log.root()
    with pytest.raises(VerificationError):
        AuditLog(ROOM, events[1:])


# ---- tampering -----------------------------------------------------------------------------

N = 5


@pytest.fixture(scope="module")
def signed() -> tuple[list[AuditEvent], str]:
    log = AuditLog(ROOM)
    events = _append(log, N)
    return events, log.checkpoint(SIGNER)[1]


EVENT_CHANGES: dict[str, dict[str, object]] = {
    "timestamp_ms": {"timestamp_ms": 1},
    "user": {"user": "mallory@example.org"},
    "action": {"action": AuditAction.ACCESS_DENIED},
    "notes": {"notes": "nothing happened"},
    "details_value": {"details": {"job_id": "job-x", "rows": 0, "ok": True, "node": None}},
    "details_added": {"details": {"extra": "x"}},
}


@pytest.mark.parametrize("index", range(N))
@pytest.mark.parametrize("change", sorted(EVENT_CHANGES))
def test_any_field_of_any_entry_edited(
    signed: tuple[list[AuditEvent], str], index: int, change: str
) -> None:
    events, note = signed
    edited = list(events)
    edited[index] = dataclasses.replace(events[index], **EVENT_CHANGES[change])  # type: ignore[arg-type]
    with pytest.raises(VerificationError, match="entry edited"):
        verify_log(ROOM, edited, note, VERIFY_KEY)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e[:2] + e[3:], "seq"),  # dropped from the middle
        (lambda e: [e[1], e[0], *e[2:]], "seq"),  # reordered
        (lambda e: [*e, e[-1]], "seq"),  # duplicated
        (lambda e: e[:-1], "entries, its checkpoint commits to"),  # tail cut, old checkpoint
        (lambda e: [dataclasses.replace(e[0], room_id="cd" * 32), *e[1:]], "another room"),
    ],
)
def test_structural_tampering(signed: tuple[list[AuditEvent], str], mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    events, note = signed
    with pytest.raises(VerificationError, match=message):
        verify_log(ROOM, mutate(list(events)), note, VERIFY_KEY)


def test_checkpoint_by_another_key_or_for_another_room(
    signed: tuple[list[AuditEvent], str],
) -> None:
    events, _ = signed
    other = SigningKey.generate()
    log = AuditLog(ROOM, events)
    with pytest.raises(VerificationError, match="signature"):
        verify_log(ROOM, events, log.checkpoint(other)[1], VERIFY_KEY)
    foreign = sign_checkpoint(Checkpoint(room_origin("cd" * 32), N, log.root()), SIGNER)
    with pytest.raises(VerificationError):
        verify_log(ROOM, events, foreign, VERIFY_KEY)


def test_truncation_and_fork_against_a_previous_checkpoint() -> None:
    log = AuditLog(ROOM)
    events = _append(log, 6)
    _, note6 = log.checkpoint(SIGNER)
    seen = verify_log(ROOM, events, note6, VERIFY_KEY).checkpoint
    # Growth is fine.
    more = events + _append(log, 3)
    assert verify_log(ROOM, more, log.checkpoint(SIGNER)[1], VERIFY_KEY, previous=seen).size == 9
    # Truncation: a validly signed, shorter log (the core signed it earlier) is refused.
    short = AuditLog(ROOM, events[:4])
    with pytest.raises(VerificationError, match="truncated"):
        verify_log(ROOM, events[:4], short.checkpoint(SIGNER)[1], VERIFY_KEY, previous=seen)
    # Fork: another history of the same or greater size, even one the key signed, is refused.
    forked_events = [*events[:3], dataclasses.replace(events[3], notes="rewritten"), *events[4:]]
    forked = AuditLog(ROOM, forked_events)
    with pytest.raises(VerificationError, match="forked"):
        verify_log(ROOM, forked_events, forked.checkpoint(SIGNER)[1], VERIFY_KEY, previous=seen)
