"""The audit-log export file, verifiable offline (``sealroom audit export`` / ``audit verify``).

Format (version 1): canonical JSON (sorted keys, no spaces, UTF-8) followed by one newline::

    {"checkpoint": <signed note>, "core_public_key": <hex Ed25519 key>,
     "entries": [<event>, ...], "format": "sealroom/audit-export/v1", "room_id": <room id>}

Invariants:

* :func:`verify_export` accepts a file only in exactly that canonical form, so that the bytes
  are a function of the content: changing any single byte either breaks the form (refused) or
  changes a value, which the signed checkpoint then refuses (an entry, the checkpoint, the key
  or the room id). A test changes every byte of an export.
* The key inside the file is never trusted: whoever wrote the file chose it, and a forgery made
  from scratch is signed consistently with its own key. :func:`verify_export` needs the
  ``expected_key`` from elsewhere (the fingerprint printed by ``sealroom attest``, or the key the
  SDK pinned when it last verified the room). With ``previous``, both files must be signed by
  that key and the newer must extend the older.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

from sealroom.audit.events import AuditEvent
from sealroom.audit.format import event_to_wire, events_from_wire
from sealroom.audit.log import VerifiedAuditLog, verify_log
from sealroom.crypto import VerifyKey, canonical_json
from sealroom.errors import VerificationError

__all__ = ["EXPORT_FORMAT", "MAX_EXPORT_BYTES", "build_export", "export_room_id", "verify_export"]

EXPORT_FORMAT: Final = "sealroom/audit-export/v1"
#: Largest export read (about a million entries); keeps a malicious file from exhausting memory.
MAX_EXPORT_BYTES: Final = 512 << 20
_FIELDS: Final = frozenset({"checkpoint", "core_public_key", "entries", "format", "room_id"})


def build_export(
    room_id: str, events: Sequence[AuditEvent], checkpoint_note: str, core_key: VerifyKey
) -> bytes:
    """The export file of a verified log."""
    body = {
        "checkpoint": checkpoint_note,
        "core_public_key": core_key.hex(),
        "entries": [event_to_wire(event) for event in events],
        "format": EXPORT_FORMAT,
        "room_id": room_id,
    }
    return canonical_json(body) + b"\n"


def _parse(data: bytes, what: str) -> tuple[str, list[AuditEvent], str, VerifyKey]:
    if len(data) > MAX_EXPORT_BYTES:
        raise VerificationError(f"{what}: larger than {MAX_EXPORT_BYTES} bytes")
    try:
        body = json.loads(data.decode("utf-8", errors="strict"))
        canonical = canonical_json(body) + b"\n"
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise VerificationError(f"{what}: not a Sealroom audit export (invalid JSON)") from None
    if canonical != data:
        raise VerificationError(f"{what}: not in canonical form (the file was altered)")
    if not isinstance(body, dict) or set(body) != _FIELDS or body["format"] != EXPORT_FORMAT:
        raise VerificationError(f"{what}: not a {EXPORT_FORMAT} file")
    room_id, note, key_hex = body["room_id"], body["checkpoint"], body["core_public_key"]
    if not all(isinstance(value, str) for value in (room_id, note, key_hex)):
        raise VerificationError(f"{what}: room id, checkpoint and key must be strings")
    try:
        key = VerifyKey.from_hex(key_hex)
    except ValueError:
        raise VerificationError(f"{what}: the core's public key is malformed") from None
    if key.hex() != key_hex:  # lower-case only: one spelling per key
        raise VerificationError(f"{what}: the core's public key is not lower-case hex")
    return room_id, events_from_wire(body["entries"]), note, key


def export_room_id(data: bytes) -> str:
    """The room an export says it is of, NOT verified: only to look up the key to verify with."""
    return _parse(data, "export")[0]


def verify_export(
    data: bytes, *, expected_key: VerifyKey, previous: bytes | None = None
) -> VerifiedAuditLog:
    """Verify an export file signed by ``expected_key`` (and that it extends ``previous``).

    Raises VerificationError. ``expected_key`` is required: the file's own key proves nothing.
    """
    room_id, events, note, key = _parse(data, "export")
    if key != expected_key:
        # Prevents a forgery made from scratch: signed consistently, by a key of its own.
        raise VerificationError(
            f"export: signed by core key {key.hex()}, not by the expected {expected_key.hex()}"
        )
    older = None
    if previous is not None:
        old_room, old_events, old_note, old_key = _parse(previous, "previous export")
        if old_room != room_id:
            raise VerificationError("previous export: of another room")
        if old_key != key:
            raise VerificationError("previous export: signed by another core key")
        older = verify_log(old_room, old_events, old_note, old_key).checkpoint
    return verify_log(room_id, events, note, key, previous=older)
