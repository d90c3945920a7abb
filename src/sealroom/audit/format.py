"""Audit log wire format (JSON) and the human-readable line format.

Wire form of one entry: the event itself::

    {"room_id", "seq", "timestamp_ms", "user", "action", "notes", "details"}

:func:`event_from_wire` parses strictly — exactly these fields, exact types, a known action — and
raises :class:`~sealroom.errors.VerificationError` otherwise: entries reach clients through the
untrusted host. Parsing does not *verify*; pass the parsed events to
:func:`~sealroom.audit.log.verify_log` with the log's signed checkpoint.

:func:`format_lines` renders the log like the seed product's audit log: one CSV line per event,
``timestamp_ms,user,notes,action``, e.g.::

    1732233600000,alice@bank.example,"published dataset 3f2a... to node customers",DATASET_PUBLISHED

``notes`` is always quoted; the other columns are quoted only when the CSV rules require it.
Events contain no control characters (see :mod:`sealroom.audit.events`), so every event is
exactly one line.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

from sealroom.audit.events import AuditAction, AuditEvent
from sealroom.errors import VerificationError

__all__ = ["event_from_wire", "event_to_wire", "events_from_wire", "format_lines"]

_EVENT_FIELDS = frozenset({"room_id", "seq", "timestamp_ms", "user", "action", "notes", "details"})
_ACTIONS = frozenset(action.value for action in AuditAction)


def event_to_wire(event: AuditEvent) -> dict[str, object]:
    return event.to_dict()


def event_from_wire(raw_event: object) -> AuditEvent:
    """Parse one wire entry strictly (no verification)."""
    where = _position(raw_event)
    if not isinstance(raw_event, Mapping) or set(raw_event) != _EVENT_FIELDS:
        raise VerificationError(f"malformed audit entry{where}: wrong set of fields")
    action = raw_event["action"]
    if not isinstance(action, str) or action not in _ACTIONS:
        raise VerificationError(f"malformed audit entry{where}: unknown action")
    details = raw_event["details"]
    if not isinstance(details, Mapping):
        raise VerificationError(f"malformed audit entry{where}: details is not an object")
    try:
        return AuditEvent(
            room_id=raw_event["room_id"],
            seq=raw_event["seq"],
            timestamp_ms=raw_event["timestamp_ms"],
            user=raw_event["user"],
            action=AuditAction(action),
            notes=raw_event["notes"],
            details=details,
        )
    except ValueError as exc:
        # AuditEvent's messages name the field, never its value.
        raise VerificationError(f"malformed audit entry{where}: {exc}") from None


def events_from_wire(objs: object) -> list[AuditEvent]:
    if not isinstance(objs, list):
        raise VerificationError("malformed audit log: not a list of entries")
    return [event_from_wire(obj) for obj in objs]


def format_lines(events: Iterable[AuditEvent]) -> str:
    """One CSV line per event: ``timestamp_ms,user,notes,action``, each ending with ``"\\n"``.

    Readable with :func:`csv.reader`. (The csv module of Python 3.11 cannot quote one column
    only, so the two quoting rules are written out here.) Invisible characters that change how
    a line reads (a right-to-left override, zero-width characters, line separators) are shown
    as ``\\uXXXX``: a note written by a participant cannot make one line look like another.
    """
    lines = []
    for event in events:
        fields = (
            str(event.timestamp_ms),
            _quote_minimal(_visible(event.user)),
            _quote(_visible(event.notes)),
            event.action.value,
        )
        lines.append(",".join(fields) + "\n")
    return "".join(lines)


def _visible(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) in _INVISIBLE else c for c in text)


#: Format, private-use, surrogate and unassigned characters, and line/paragraph separators.
_INVISIBLE = frozenset({"Cf", "Co", "Cs", "Cn", "Zl", "Zp"})


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _quote_minimal(text: str) -> str:
    # csv.QUOTE_MINIMAL: quote only when the field holds a delimiter, quote or line break.
    return _quote(text) if any(c in text for c in ',"\r\n') else text


def _position(raw_event: object) -> str:
    if isinstance(raw_event, Mapping):
        seq = raw_event.get("seq")
        if isinstance(seq, int) and not isinstance(seq, bool):
            return f" {seq}"
    return ""
