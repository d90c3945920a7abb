"""Audit log wire format (JSON) and the human-readable line format.

Wire form of one entry (hex for bytes)::

    {"event": {"room_id", "seq", "timestamp_ms", "user", "action", "notes", "details"},
     "prev_hash": hex(32 bytes), "entry_hash": hex(32 bytes), "signature": hex(64 bytes)}

:func:`entry_from_wire` parses strictly — exactly these fields, exact types, lower-case hex of the
exact length, a known action — and raises :class:`~sealroom.errors.VerificationError` otherwise:
entries reach clients through the untrusted host. Parsing does not *verify*; pass the parsed
entries to :func:`~sealroom.audit.chain.verify_entries`.

:func:`format_lines` renders the log like the seed product's audit log: one CSV line per event,
``timestamp_ms,user,notes,action``, e.g.::

    1732233600000,alice@bank.example,"published dataset 3f2a... to node customers",DATASET_PUBLISHED

``notes`` is always quoted; the other columns are quoted only when the CSV rules require it.
Events contain no control characters (see :mod:`sealroom.audit.events`), so every event is
exactly one line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sealroom.audit.chain import HASH_SIZE, SignedEntry
from sealroom.audit.events import AuditAction, AuditEvent
from sealroom.crypto import SIGNATURE_SIZE
from sealroom.errors import VerificationError

__all__ = [
    "entries_from_wire",
    "entries_to_wire",
    "entry_from_wire",
    "entry_to_wire",
    "format_lines",
]

_ENTRY_FIELDS = frozenset({"event", "prev_hash", "entry_hash", "signature"})
_EVENT_FIELDS = frozenset({"room_id", "seq", "timestamp_ms", "user", "action", "notes", "details"})
_HEX_DIGITS = frozenset("0123456789abcdef")
_ACTIONS = frozenset(action.value for action in AuditAction)


def entry_to_wire(entry: SignedEntry) -> dict[str, object]:
    return {
        "event": entry.event.to_dict(),
        "prev_hash": entry.prev_hash.hex(),
        "entry_hash": entry.entry_hash.hex(),
        "signature": entry.signature.hex(),
    }


def entries_to_wire(entries: Iterable[SignedEntry]) -> list[dict[str, object]]:
    return [entry_to_wire(entry) for entry in entries]


def entry_from_wire(obj: object) -> SignedEntry:
    """Parse one wire entry strictly (no verification)."""
    if not isinstance(obj, Mapping) or set(obj) != _ENTRY_FIELDS:
        raise VerificationError("malformed audit entry: wrong set of fields")
    raw_event = obj["event"]
    where = _position(raw_event)
    if not isinstance(raw_event, Mapping) or set(raw_event) != _EVENT_FIELDS:
        raise VerificationError(f"malformed audit entry{where}: event has the wrong set of fields")
    action = raw_event["action"]
    if not isinstance(action, str) or action not in _ACTIONS:
        raise VerificationError(f"malformed audit entry{where}: unknown action")
    details = raw_event["details"]
    if not isinstance(details, Mapping):
        raise VerificationError(f"malformed audit entry{where}: details is not an object")
    try:
        event = AuditEvent(
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
    return SignedEntry(
        event=event,
        prev_hash=_hex_field(obj, "prev_hash", HASH_SIZE, where),
        entry_hash=_hex_field(obj, "entry_hash", HASH_SIZE, where),
        signature=_hex_field(obj, "signature", SIGNATURE_SIZE, where),
    )


def entries_from_wire(objs: object) -> list[SignedEntry]:
    if not isinstance(objs, list):
        raise VerificationError("malformed audit log: not a list of entries")
    return [entry_from_wire(obj) for obj in objs]


def format_lines(entries: Iterable[SignedEntry | AuditEvent]) -> str:
    """One CSV line per event: ``timestamp_ms,user,notes,action``, each ending with ``"\\n"``.

    Readable with :func:`csv.reader`. (The csv module of Python 3.11 cannot quote one column
    only, so the two quoting rules are written out here.)
    """
    lines = []
    for item in entries:
        event = item.event if isinstance(item, SignedEntry) else item
        fields = (
            str(event.timestamp_ms),
            _quote_minimal(event.user),
            _quote(event.notes),
            event.action.value,
        )
        lines.append(",".join(fields) + "\n")
    return "".join(lines)


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


def _hex_field(obj: Mapping[str, object], name: str, size: int, where: str) -> bytes:
    value = obj[name]
    if not isinstance(value, str) or len(value) != 2 * size or not set(value) <= _HEX_DIGITS:
        raise VerificationError(
            f"malformed audit entry{where}: {name} must be {size} bytes of lower-case hex"
        )
    return bytes.fromhex(value)
