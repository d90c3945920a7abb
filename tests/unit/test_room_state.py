"""The signed room state: derived from the audit log, versioned by its size, never going back."""

from __future__ import annotations

import pytest

from sealroom.audit import AuditAction, AuditLog, kinds
from sealroom.crypto import SigningKey
from sealroom.errors import VerificationError
from sealroom.model.room_state import (
    RoomState,
    derive_room_state,
    sign_room_state,
    verify_room_state,
)

ROOM = "12" * 32
KEY = SigningKey.from_bytes(bytes(range(32)))
INITIAL_PIN = "a7d028d7adaa21a400c2c9f490b51278436a1b2ea139c50b27a8a394b4e8ef50"
PIN1 = "66c68c0020d4af47909c88c0936608033322362a6944a52551fe40bd9320ca9c"


def _log() -> AuditLog:
    log = AuditLog(ROOM)
    for action, details in [
        (AuditAction.ROOM_PUBLISHED, {"room_id": ROOM}),
        (AuditAction.DATASET_PUBLISHED, {"node": "a", "dataset_id": "d1"}),
        (AuditAction.DATASET_PUBLISHED, {"node": "b", "dataset_id": "d2"}),
        (AuditAction.JOB_SUBMITTED, {"node": "q", "job_id": "j"}),
        (AuditAction.DATASET_PUBLISHED, {"node": "a", "dataset_id": "d3"}),  # replaced
        (AuditAction.DATASET_REMOVED, {"node": "b"}),
        (AuditAction.ROOM_STOPPED, {}),
    ]:
        log.append(timestamp_ms=0, user="u", action=action, notes="n", details=details)
    return log


def test_state_is_derived_from_the_log() -> None:
    events = _log().events()
    assert derive_room_state(ROOM, events) == RoomState(ROOM, 7, "stopped", {"a": "d3"})
    assert derive_room_state(ROOM, events[:3]) == RoomState(
        ROOM, 3, "active", {"a": "d1", "b": "d2"}
    )
    assert derive_room_state(ROOM, []) == RoomState(ROOM, 0, "active", {})


def test_known_answer_form_and_round_trip() -> None:
    state = RoomState(ROOM, 3, "active", {"b": "d2", "a": "d1"})
    canonical, signature = sign_room_state(state, KEY)
    # Before any commit the pin is SHA-256("sealroom/history-pin/v1" || room id).
    assert canonical == (
        b'{"datasets":{"a":"d1","b":"d2"},"history_pin":"' + INITIAL_PIN.encode() + b'",'
        b'"room_id":"' + ROOM.encode() + b'","status":"active","version":3}'
    )
    assert verify_room_state(ROOM, canonical, signature, KEY.verify_key, min_version=3) == state


def test_rollback_other_room_other_key_and_tampering_are_refused() -> None:
    canonical, signature = sign_room_state(RoomState(ROOM, 3, "active", {}), KEY)
    with pytest.raises(VerificationError, match="rolled back"):
        verify_room_state(ROOM, canonical, signature, KEY.verify_key, min_version=4)
    with pytest.raises(VerificationError, match="another room"):
        verify_room_state("34" * 32, canonical, signature, KEY.verify_key)
    with pytest.raises(VerificationError, match="not signed"):
        verify_room_state(ROOM, canonical, signature, SigningKey.generate().verify_key)
    with pytest.raises(VerificationError, match="not signed"):
        verify_room_state(ROOM, canonical.replace(b"active", b"stoppd"), signature, KEY.verify_key)
    spaced = canonical.replace(b",", b", ")
    with pytest.raises(VerificationError, match="not canonical"):
        verify_room_state(
            ROOM, spaced, KEY.sign(b"sealroom/room-state/v1" + spaced), KEY.verify_key
        )


def test_integrated_commits_move_the_history_pin() -> None:
    log = _log()
    log.append(
        timestamp_ms=0,
        user="u",
        action=AuditAction.COMMIT_INTEGRATED,
        notes="n",
        details=kinds.CommitIntegrated("cd" * 32, "ab" * 32, 1, PIN1, "n").to_details(),
    )
    state = derive_room_state(ROOM, log.events())
    assert state.history_pin == PIN1
    assert derive_room_state(ROOM, log.events()[:-1]).history_pin == INITIAL_PIN
    canonical, signature = sign_room_state(state, KEY)
    assert verify_room_state(ROOM, canonical, signature, KEY.verify_key).history_pin == PIN1
    forged = canonical.replace(PIN1.encode(), b"zz" * 32)
    with pytest.raises(VerificationError, match="malformed"):
        verify_room_state(
            ROOM, forged, KEY.sign(b"sealroom/room-state/v1" + forged), KEY.verify_key
        )
