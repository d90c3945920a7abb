"""Audit wire format (strict parsing) and the CSV line format."""

from __future__ import annotations

import csv
import io
import json

import pytest

from sealroom.audit import (
    AuditAction,
    AuditEvent,
    AuditLog,
    event_from_wire,
    event_to_wire,
    events_from_wire,
    format_lines,
    verify_log,
)
from sealroom.audit.events import MAX_DETAILS, MAX_NOTES_CHARS
from sealroom.crypto import SigningKey
from sealroom.errors import VerificationError

ROOM = "f" * 64
SIGNER = SigningKey.from_bytes(bytes(range(32)))


def _entries() -> list[AuditEvent]:
    chain = AuditLog(ROOM)
    return [
        chain.append(
            timestamp_ms=1732233600000,
            user="alice@bank.example",
            action=AuditAction.DATASET_PUBLISHED,
            notes="published dataset 3f2a... to node bank_customers",
            details={"dataset_id": "3f2a", "node": "bank_customers"},
        ),
        chain.append(
            timestamp_ms=1732233601000,
            user='bob, "the analyst"@shop.example',
            action=AuditAction.JOB_FAILED,
            notes='job 7 failed: "quoted", with comma',
            details={"job_id": "7", "ok": False, "rows": None},
        ),
    ]


def test_format_lines_known_answer() -> None:
    assert format_lines(_entries()) == (
        "1732233600000,alice@bank.example,"
        '"published dataset 3f2a... to node bank_customers",DATASET_PUBLISHED\n'
        '1732233601000,"bob, ""the analyst""@shop.example",'
        '"job 7 failed: ""quoted"", with comma",JOB_FAILED\n'
    )


def test_format_lines_parses_back_with_csv() -> None:
    entries = _entries()
    rows = list(csv.reader(io.StringIO(format_lines(entries))))
    assert rows == [[str(e.timestamp_ms), e.user, e.notes, e.action.value] for e in entries]
    assert format_lines([]) == ""


def test_wire_round_trip_through_json() -> None:
    entries = _entries()
    wire = json.loads(json.dumps([event_to_wire(e) for e in entries]))
    parsed = events_from_wire(wire)
    assert parsed == entries
    verify_log(ROOM, parsed, AuditLog(ROOM, entries).checkpoint(SIGNER)[1], SIGNER.verify_key)


def test_wire_known_answer_shape() -> None:
    wire = event_to_wire(_entries()[0])
    assert wire == {
        "room_id": ROOM,
        "seq": 0,
        "timestamp_ms": 1732233600000,
        "user": "alice@bank.example",
        "action": "DATASET_PUBLISHED",
        "notes": "published dataset 3f2a... to node bank_customers",
        "details": {"dataset_id": "3f2a", "node": "bank_customers"},
    }


def _wire() -> dict[str, object]:
    result = json.loads(json.dumps(event_to_wire(_entries()[0])))
    assert isinstance(result, dict)
    return result


def _event_change(**changes: object) -> dict[str, object]:
    return {**_wire(), **changes}


MALFORMED: dict[str, object] = {
    "not_object": [1],
    "missing_notes": {k: v for k, v in _wire().items() if k != "notes"},
    "chain_wrapper": {"event": _wire(), "prev_hash": "00" * 32},
    "unknown_action": _event_change(action="DELETED_EVERYTHING"),
    "seq_str": _event_change(seq="0"),
    "seq_bool": _event_change(seq=False),
    "seq_negative": _event_change(seq=-1),
    "float_detail": _event_change(details={"x": 1.5}),
    "nested_detail": _event_change(details={"x": {"y": 1}}),
    "details_list": _event_change(details=["x"]),
    "newline_notes": _event_change(notes="a\nforged,line"),
    "event_extra": _event_change(comment="x"),
    "empty_room": _event_change(room_id=""),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_strict_parsing(name: str) -> None:
    with pytest.raises(VerificationError, match="malformed audit"):
        event_from_wire(MALFORMED[name])


def test_list_required() -> None:
    with pytest.raises(VerificationError, match="not a list"):
        events_from_wire({"entries": []})


def test_parse_error_names_seq_not_values() -> None:
    with pytest.raises(VerificationError) as excinfo:
        event_from_wire(_event_change(seq=3, notes="secret\x00value"))
    assert "entry 3" in str(excinfo.value)
    assert "secret" not in str(excinfo.value)


# ---- event validation ----------------------------------------------------------------------


def _event(**changes: object) -> AuditEvent:
    fields: dict[str, object] = {
        "room_id": ROOM,
        "seq": 0,
        "timestamp_ms": 0,
        "user": "u@example.org",
        "action": AuditAction.ACCESS_DENIED,
        "notes": "",
        "details": {},
        **changes,
    }
    return AuditEvent(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"notes": "x" * (MAX_NOTES_CHARS + 1)},
        {"details": {f"k{i}": i for i in range(MAX_DETAILS + 1)}},
        {"details": {"k": 2**60}},
        {"details": {"": 1}},
        {"user": "a\rb"},
        {"notes": "a\u2028b"},
        {"notes": "\x85"},
        {"action": "ROOM_STOPPED"},
        {"timestamp_ms": -1},
        {"notes": "\ud800"},
    ],
)
def test_event_limits(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="audit event"):
        _event(**changes)


def test_required_actions_exist() -> None:
    required = {
        "ROOM_PUBLISHED", "DATASET_PUBLISHED", "DATASET_REMOVED", "DATASET_VALIDATED",
        "JOB_SUBMITTED", "JOB_COMPLETED", "JOB_FAILED", "RESULT_RETRIEVED", "ROOM_STOPPED",
        "ACCESS_DENIED", "VALIDATION_REPORT_RETRIEVED",
    }  # fmt: skip
    assert required <= {a.value for a in AuditAction}
    assert AuditAction("JOB_FAILED") is AuditAction.JOB_FAILED
    assert AuditAction.JOB_FAILED == "JOB_FAILED"


def test_events_are_hashable_and_comparable() -> None:
    assert _event(details={"a": 1}) == _event(details={"a": 1})
    assert hash(_event(details={"a": 1})) == hash(_event(details={"a": 1}))
    assert _event(details={"a": 1}) != _event(details={"a": 2})


def test_invisible_characters_are_shown_escaped_in_audit_lines() -> None:
    """A note cannot make one audit line read as another (U+202E reverses what follows)."""
    event = _event(user="ann@x.example", notes="approved \u202erequest 42 by bob\u200b")
    line = format_lines([event])
    assert "\u202e" not in line
    assert "\u200b" not in line
    assert "\\u202erequest 42 by bob\\u200b" in line
