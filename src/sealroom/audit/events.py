"""Audit events: what happened in a room, by whom, when — never which data values.

An :class:`AuditEvent` is the payload of one audit-log entry. Its canonical bytes
(:meth:`AuditEvent.to_canonical`) are what the log hashes and signs, so every field and the
encoding are part of the log format.

Invariants:

* ``details`` hold identifiers and outcomes only: dataset ids, node names, job ids, row *counts*,
  ``"succeeded"``/``"failed"``. **Never a data value** (a cell, a column value, a key, an error
  message quoting user data): the audit log is readable by every participant of the room.
* Values are ``str``, ``int``, ``bool`` or ``None`` — no floats (their text form is not portable
  enough to be hashed) and no nesting. ``details`` are copied into a read-only mapping, so an event
  cannot change after it was hashed.
* ``user`` and ``notes`` contain no control characters (no newline, no tab): the line format has
  exactly one line per event, and a log line cannot be forged by embedding a newline.
* Sizes are bounded (constants below) so that one event cannot bloat the log.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeAlias

from sealroom.crypto import canonical_json

__all__ = [
    "MAX_DETAILS",
    "MAX_DETAIL_KEY_CHARS",
    "MAX_DETAIL_VALUE_CHARS",
    "MAX_NOTES_CHARS",
    "MAX_PROOF_DETAIL_CHARS",
    "MAX_USER_CHARS",
    "PROOF_DETAIL",
    "AuditAction",
    "AuditEvent",
    "DetailValue",
]

MAX_NOTES_CHARS = 2_000
"""Longest ``notes``: a sentence naming objects by id, not a document."""

MAX_USER_CHARS = 320
"""Longest ``user``: the maximum length of an e-mail address (RFC 3696 errata)."""

MAX_DETAILS = 32
"""Most ``details`` entries per event."""

MAX_DETAIL_KEY_CHARS = 64
MAX_DETAIL_VALUE_CHARS = 512
"""Longest ``details`` key and string value (ids are 64 hex characters)."""

PROOF_DETAIL = "proof"
"""The one detail that may be longer: a participant's signature with its certificate, kept so
that anybody can check offline who approved what (:mod:`sealroom.model.signed_actions`)."""
MAX_PROOF_DETAIL_CHARS = 16_384

# JSON's integer range that every consumer handles exactly (I-JSON, RFC 7493 §2.2).
_MAX_SAFE_INT = 2**53 - 1

DetailValue: TypeAlias = str | int | bool | None


class AuditAction(enum.StrEnum):
    """What was done. The value is the wire name, shown in the last column of the log lines."""

    ROOM_PUBLISHED = "ROOM_PUBLISHED"
    ROOM_STOPPED = "ROOM_STOPPED"
    DATASET_PUBLISHED = "DATASET_PUBLISHED"
    DATASET_REMOVED = "DATASET_REMOVED"
    DATASET_VALIDATED = "DATASET_VALIDATED"
    VALIDATION_REPORT_RETRIEVED = "VALIDATION_REPORT_RETRIEVED"
    #: The owner of a table shared its dataset's summary statistics with the room (or stopped).
    DATASET_STATISTICS_SHARED = "DATASET_STATISTICS_SHARED"
    #: Someone read a dataset's summary statistics (sealed to their key).
    DATASET_STATISTICS_RETRIEVED = "DATASET_STATISTICS_RETRIEVED"
    JOB_SUBMITTED = "JOB_SUBMITTED"
    JOB_COMPLETED = "JOB_COMPLETED"
    JOB_FAILED = "JOB_FAILED"
    RESULT_RETRIEVED = "RESULT_RETRIEVED"
    #: The core used the key of a published dataset for a job (the data owner sees who read it).
    DATASET_KEY_USED = "DATASET_KEY_USED"
    #: A preview node's result was charged to an analyst's airlock quota (bytes, used so far).
    AIRLOCK_QUOTA_CHARGED = "AIRLOCK_QUOTA_CHARGED"
    #: A differentially private run spent part of the room's privacy budget.
    PRIVACY_BUDGET_CHARGED = "PRIVACY_BUDGET_CHARGED"
    ACCESS_DENIED = "ACCESS_DENIED"
    #: A participant ran an ad-hoc computation over what they may read (not added to the room).
    DEVELOPMENT_JOB_SUBMITTED = "DEVELOPMENT_JOB_SUBMITTED"
    #: Interactive rooms: a request to add computations or analysts, and what became of it.
    REQUEST_SUBMITTED = "REQUEST_SUBMITTED"
    REQUEST_APPROVED = "REQUEST_APPROVED"
    REQUEST_REJECTED = "REQUEST_REJECTED"
    REQUEST_SUPERSEDED = "REQUEST_SUPERSEDED"
    #: The only affected data owner ran the requested computation before approving it.
    REQUEST_PREVIEW_SUBMITTED = "REQUEST_PREVIEW_SUBMITTED"
    #: The room's definition changed: ``details`` hold the commit id, its sequence number and
    #: the history pin after it (the room state carries the pin).
    COMMIT_INTEGRATED = "COMMIT_INTEGRATED"
    #: The host's copy of a fact (room status, budget spent, a job's parameters, …) disagreed
    #: with what the core recorded: ``details`` name the fact, never a value the host wrote.
    TAMPERING_DETECTED = "TAMPERING_DETECTED"


@dataclass(frozen=True)
class AuditEvent:
    """One thing that happened in a room. See the module docstring for what may go in it."""

    room_id: str
    seq: int
    timestamp_ms: int
    user: str
    action: AuditAction
    notes: str
    details: Mapping[str, DetailValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_text("room_id", self.room_id, max_chars=MAX_DETAIL_VALUE_CHARS, allow_empty=False)
        _check_int("seq", self.seq)
        _check_int("timestamp_ms", self.timestamp_ms)
        _check_text("user", self.user, max_chars=MAX_USER_CHARS, allow_empty=True)
        if not isinstance(self.action, AuditAction):
            raise ValueError("audit event: action must be an AuditAction")
        _check_text("notes", self.notes, max_chars=MAX_NOTES_CHARS, allow_empty=True)
        if not isinstance(self.details, Mapping):
            raise ValueError("audit event: details must be a mapping")
        if len(self.details) > MAX_DETAILS:
            raise ValueError(f"audit event: more than {MAX_DETAILS} details")
        for key, value in self.details.items():
            _check_text("details key", key, max_chars=MAX_DETAIL_KEY_CHARS, allow_empty=False)
            if isinstance(value, str):
                longest = MAX_PROOF_DETAIL_CHARS if key == PROOF_DETAIL else MAX_DETAIL_VALUE_CHARS
                _check_text(f"details[{key!r}]", value, max_chars=longest, allow_empty=True)
            elif isinstance(value, bool) or value is None:
                pass
            elif isinstance(value, int):
                if abs(value) > _MAX_SAFE_INT:
                    raise ValueError(f"audit event: details[{key!r}] is out of range")
            else:
                raise ValueError(
                    f"audit event: details[{key!r}] must be str, int, bool or None, "
                    f"not {type(value).__name__}"
                )
        # A private read-only copy: the caller's dict can change, the hashed event cannot.
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

    def to_dict(self) -> dict[str, object]:
        """The JSON form (also the wire form of the event inside an entry)."""
        return {
            "room_id": self.room_id,
            "seq": self.seq,
            "timestamp_ms": self.timestamp_ms,
            "user": self.user,
            "action": self.action.value,
            "notes": self.notes,
            "details": dict(self.details),
        }

    def to_canonical(self) -> bytes:
        """Canonical JSON of :meth:`to_dict`: the bytes the audit log hashes."""
        return canonical_json(self.to_dict())

    def __hash__(self) -> int:
        return hash(self.to_canonical())


# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _check_text(name: str, value: object, *, max_chars: int, allow_empty: bool) -> None:
    if not isinstance(value, str):
        raise ValueError(f"audit event: {name} must be a str")
    if not allow_empty and not value:
        raise ValueError(f"audit event: {name} must not be empty")
    if len(value) > max_chars:
        raise ValueError(f"audit event: {name} is longer than {max_chars} characters")
    # Control characters (C0, DEL, C1) and line/paragraph separators would break "one line per
    # event" or let a value forge a log line.
    if _CONTROL.search(value):
        raise ValueError(f"audit event: {name} contains control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"audit event: {name} is not valid Unicode text") from None


def _check_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"audit event: {name} must be an int")
    if not 0 <= value <= _MAX_SAFE_INT:
        raise ValueError(f"audit event: {name} must be between 0 and 2**53-1")
