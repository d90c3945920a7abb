"""The audit hash chain: known answers, and every kind of tampering detected."""

from __future__ import annotations

import dataclasses
import itertools
import threading

import pytest

from sealroom.audit import (
    AuditAction,
    AuditChain,
    AuditEvent,
    SignedEntry,
    VerifiedAuditLog,
    compute_entry_hash,
    genesis_hash,
    signature_message,
    verify_entries,
)
from sealroom.crypto import SigningKey
from sealroom.errors import VerificationError

ROOM = "rrrrrrrr"
SIGNER = SigningKey.from_bytes(bytes(range(32)))
VERIFY_KEY = SIGNER.verify_key

# ---- known answers (computed by hand from the formats in sealroom.audit.chain) --------------
KAT_GENESIS = "dde689cd40f54bfa897ed09c9326b53566971069ca77df425473dc16bbd76b1e"
KAT_EVENT = (
    b'{"action":"ROOM_PUBLISHED","details":{"interactive":false,"name":"demo","nodes":2,'
    b'"x":null},"notes":"published room","room_id":"rrrrrrrr","seq":0,'
    b'"timestamp_ms":1732233600000,"user":"alice@bank.example"}'
)
KAT_ENTRY_HASH = "85edb3b0cd1fa12834a3fa19ec664aae52915d6f3903007dcb1d8020e68f1f52"
KAT_SIGNATURE = (
    "7c58f64b31c0cc22097f2e157efe616b25304ce5b1a7ea3476d526c0f7d2fcb2"
    "7b8c6762a314d238dc99c6dde2dd55b9e497bd8526380db207057983f4fdc205"
)


def _append(chain: AuditChain, n: int, signer: SigningKey = SIGNER) -> list[SignedEntry]:
    actions = list(AuditAction)
    return [
        chain.append(
            timestamp_ms=1_732_233_600_000 + i,
            user=f"user{i}@example.org",
            action=actions[i % len(actions)],
            notes=f"event number {i}",
            details={"job_id": f"job-{i}", "rows": i, "ok": i % 2 == 0, "node": None},
            signer=signer,
        )
        for i in range(n)
    ]


def test_known_answers() -> None:
    assert genesis_hash(ROOM).hex() == KAT_GENESIS
    entry = AuditChain(ROOM).append(
        timestamp_ms=1732233600000,
        user="alice@bank.example",
        action=AuditAction.ROOM_PUBLISHED,
        notes="published room",
        details={"name": "demo", "nodes": 2, "interactive": False, "x": None},
        signer=SIGNER,
    )
    assert entry.event.to_canonical() == KAT_EVENT
    assert entry.prev_hash.hex() == KAT_GENESIS
    assert entry.entry_hash.hex() == KAT_ENTRY_HASH
    assert entry.signature.hex() == KAT_SIGNATURE  # Ed25519 is deterministic
    assert signature_message(ROOM, 0, entry.entry_hash) == (
        b"sealroom/audit-signature/v1" + b"rrrrrrrr" + bytes(8) + bytes.fromhex(KAT_ENTRY_HASH)
    )


def test_append_links_and_verifies() -> None:
    chain = AuditChain(ROOM)
    entries = _append(chain, 5)
    assert [e.seq for e in entries] == [0, 1, 2, 3, 4]
    assert entries[0].prev_hash == genesis_hash(ROOM)
    for previous, entry in itertools.pairwise(entries):
        assert entry.prev_hash == previous.entry_hash
        assert entry.entry_hash == compute_entry_hash(previous.entry_hash, entry.event)
    log = verify_entries(ROOM, entries, VERIFY_KEY)
    assert isinstance(log, VerifiedAuditLog)
    assert log.size == 5 == chain.size
    assert log.head_seq == 4 == chain.head_seq
    assert log.head_hash == entries[-1].entry_hash == chain.head_hash
    assert log.entries == tuple(entries)
    assert log.events[2].notes == "event number 2"


def test_empty_log() -> None:
    log = verify_entries(ROOM, [], VERIFY_KEY)
    assert log.size == 0
    assert log.head_seq == -1
    assert log.head_hash == genesis_hash(ROOM)


def test_resume_continues_the_chain() -> None:
    first = _append(AuditChain(ROOM), 3)
    chain = AuditChain.resume(verify_entries(ROOM, first, VERIFY_KEY))
    more = _append(chain, 2)
    assert [e.seq for e in more] == [3, 4]
    verify_entries(ROOM, [*first, *more], VERIFY_KEY)


def test_verified_log_cannot_be_built_directly() -> None:
    with pytest.raises(TypeError, match="verify_entries"):
        VerifiedAuditLog(object(), ROOM, (), genesis_hash(ROOM))


def test_concurrent_appends_get_distinct_contiguous_seqs() -> None:
    chain = AuditChain(ROOM)
    results: list[SignedEntry] = []
    lock = threading.Lock()

    def worker() -> None:
        for entry in _append(chain, 20):
            with lock:
                results.append(entry)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.sort(key=lambda e: e.seq)
    assert [e.seq for e in results] == list(range(80))
    verify_entries(ROOM, results, VERIFY_KEY)


# ---- tampering -----------------------------------------------------------------------------

N = 4


@pytest.fixture(scope="module")
def entries() -> list[SignedEntry]:
    return _append(AuditChain(ROOM), N)


EVENT_CHANGES: dict[str, dict[str, object]] = {
    "room_id": {"room_id": "another-room"},
    "seq": {"seq": 99},
    "timestamp_ms": {"timestamp_ms": 1},
    "user": {"user": "mallory@example.org"},
    "action": {"action": AuditAction.ACCESS_DENIED},  # used by none of the N entries
    "notes": {"notes": "nothing happened"},
    "details_value": {"details": {"job_id": "job-x", "rows": 0, "ok": True, "node": None}},
    "details_added": {"details": {"extra": "x"}},
}


@pytest.mark.parametrize("index", range(N))
@pytest.mark.parametrize("change", sorted(EVENT_CHANGES))
def test_any_event_field_of_any_entry(entries: list[SignedEntry], index: int, change: str) -> None:
    event = dataclasses.replace(entries[index].event, **EVENT_CHANGES[change])  # type: ignore[arg-type]
    if change == "details_added":
        event = dataclasses.replace(event, details={**entries[index].event.details, "extra": "x"})
    tampered = list(entries)
    tampered[index] = dataclasses.replace(entries[index], event=event)
    with pytest.raises(VerificationError, match=rf"audit entry {index}:"):
        verify_entries(ROOM, tampered, VERIFY_KEY)


@pytest.mark.parametrize("index", range(N))
@pytest.mark.parametrize("field", ["prev_hash", "entry_hash", "signature"])
def test_any_hash_or_signature_of_any_entry(
    entries: list[SignedEntry], index: int, field: str
) -> None:
    value = bytearray(getattr(entries[index], field))
    value[0] ^= 0x01
    tampered = list(entries)
    tampered[index] = dataclasses.replace(entries[index], **{field: bytes(value)})  # type: ignore[arg-type]
    with pytest.raises(VerificationError, match=rf"audit entry {index}:"):
        verify_entries(ROOM, tampered, VERIFY_KEY)


def test_recomputed_hashes_without_the_key_fail(entries: list[SignedEntry]) -> None:
    # The host rewrites an event and recomputes every hash consistently; it cannot sign.
    event = dataclasses.replace(entries[1].event, notes="rewritten")
    forged = list(entries[:1])
    prev = entries[0].entry_hash
    for entry in [dataclasses.replace(entries[1], event=event), *entries[2:]]:
        entry_hash = compute_entry_hash(prev, entry.event)
        forged.append(dataclasses.replace(entry, prev_hash=prev, entry_hash=entry_hash))
        prev = entry_hash
    with pytest.raises(VerificationError, match="audit entry 1: invalid signature"):
        verify_entries(ROOM, forged, VERIFY_KEY)


def test_resigned_by_another_key_fails(entries: list[SignedEntry]) -> None:
    other = _append(AuditChain(ROOM), N, signer=SigningKey.generate())
    with pytest.raises(VerificationError, match="audit entry 0: invalid signature"):
        verify_entries(ROOM, other, VERIFY_KEY)


def test_drop_middle_entry(entries: list[SignedEntry]) -> None:
    with pytest.raises(VerificationError, match="audit entry 2: has seq 3"):
        verify_entries(ROOM, [entries[0], entries[1], entries[3]], VERIFY_KEY)


def test_reorder(entries: list[SignedEntry]) -> None:
    with pytest.raises(VerificationError, match="audit entry 1:"):
        verify_entries(ROOM, [entries[0], entries[2], entries[1], entries[3]], VERIFY_KEY)


def test_duplicate(entries: list[SignedEntry]) -> None:
    with pytest.raises(VerificationError, match="audit entry 2:"):
        verify_entries(ROOM, [entries[0], entries[1], entries[1], entries[3]], VERIFY_KEY)


def test_drop_first_entry(entries: list[SignedEntry]) -> None:
    with pytest.raises(VerificationError, match="audit entry 0: has seq 1"):
        verify_entries(ROOM, entries[1:], VERIFY_KEY)


def test_entries_of_another_room(entries: list[SignedEntry]) -> None:
    with pytest.raises(VerificationError, match="audit entry 0: belongs to another room"):
        verify_entries("another-room", entries, VERIFY_KEY)
    # The same key signing another room's log: entries cannot be spliced across rooms.
    other = _append(AuditChain("another-room"), N)
    with pytest.raises(VerificationError, match="audit entry 2:"):
        verify_entries(ROOM, [*entries[:2], *other[2:]], VERIFY_KEY)


def test_truncated_tail_needs_a_trusted_head(entries: list[SignedEntry]) -> None:
    # Documented limitation: a prefix is a valid log on its own ...
    assert verify_entries(ROOM, entries[:2], VERIFY_KEY).size == 2
    # ... and is caught only against a head the client already trusts.
    head = (N - 1, entries[-1].entry_hash)
    assert verify_entries(ROOM, entries, VERIFY_KEY, expected_head=head).size == N
    with pytest.raises(VerificationError, match="truncated"):
        verify_entries(ROOM, entries[:2], VERIFY_KEY, expected_head=head)
    with pytest.raises(VerificationError, match="truncated"):
        verify_entries(ROOM, entries[:2], VERIFY_KEY, extends=head)


def test_expected_head_must_match_exactly(entries: list[SignedEntry]) -> None:
    with pytest.raises(VerificationError, match="expected head at seq 1"):
        verify_entries(ROOM, entries, VERIFY_KEY, expected_head=(1, entries[1].entry_hash))
    with pytest.raises(VerificationError):
        verify_entries(ROOM, entries, VERIFY_KEY, expected_head=(N - 1, bytes(32)))


def test_extends_accepts_growth_and_detects_forks(entries: list[SignedEntry]) -> None:
    seen = (1, entries[1].entry_hash)
    assert verify_entries(ROOM, entries, VERIFY_KEY, extends=seen).size == N
    assert verify_entries(ROOM, entries, VERIFY_KEY, extends=(-1, genesis_hash(ROOM))).size == N
    # Same room and key, different history (the host kept two versions of the log).
    fork_chain = AuditChain(ROOM)
    fork = [*_append(fork_chain, 1)]
    fork.append(
        fork_chain.append(
            timestamp_ms=1,
            user="mallory@example.org",
            action=AuditAction.DATASET_REMOVED,
            notes="another history",
            details={},
            signer=SIGNER,
        )
    )
    fork.extend(_append(fork_chain, 2))
    with pytest.raises(VerificationError, match="forked"):
        verify_entries(ROOM, fork, VERIFY_KEY, extends=seen)


def test_chain_rejects_bad_heads() -> None:
    with pytest.raises(ValueError, match="room_id"):
        AuditChain("")
    with pytest.raises(ValueError, match="head_hash is required"):
        AuditChain(ROOM, head_seq=3)
    with pytest.raises(ValueError, match="head_seq"):
        AuditChain(ROOM, head_seq=-2)
    with pytest.raises(ValueError, match="32 bytes"):
        AuditChain(ROOM, head_seq=0, head_hash=b"short")


def test_failed_append_does_not_advance(entries: list[SignedEntry]) -> None:
    chain = AuditChain(ROOM)
    with pytest.raises(ValueError, match="control characters"):
        chain.append(
            timestamp_ms=1,
            user="a",
            action=AuditAction.JOB_FAILED,
            notes="line\nbreak",
            details={},
            signer=SIGNER,
        )
    assert chain.head_seq == -1
    assert chain.head_hash == genesis_hash(ROOM)


def test_event_is_immutable_after_hashing() -> None:
    details = {"job_id": "j"}
    event = AuditEvent(
        room_id=ROOM,
        seq=0,
        timestamp_ms=0,
        user="u",
        action=AuditAction.JOB_SUBMITTED,
        notes="",
        details=details,
    )
    before = event.to_canonical()
    details["job_id"] = "changed"
    assert event.to_canonical() == before
    with pytest.raises(TypeError):
        event.details["job_id"] = "x"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.notes = "x"  # type: ignore[misc]
