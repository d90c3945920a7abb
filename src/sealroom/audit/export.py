"""The audit-log export file, verifiable offline (``sealroom audit export`` / ``audit verify``).

Format (version 2): canonical JSON (sorted keys, no spaces, UTF-8) followed by one newline::

    {"checkpoint": <signed note>, "commits": [<integrated commit: canonical JSON text>, ...],
     "core_public_key": <hex Ed25519 key>,
     "definition": <the room's published definition: its canonical JSON text, as the core
                    signed it>,
     "entries": [<event>, ...], "format": "sealroom/audit-export/v2", "room_id": <room id>}

``commits`` are the commits the log's ``COMMIT_INTEGRATED`` entries name, in their order (an
empty list for a room that never changed). Version 1 (``sealroom/audit-export/v1``) has neither
``definition`` nor ``commits``; it is still verified, but its approvals cannot be checked
(:attr:`VerifiedExport.approvals` is None).

Invariants:

* :func:`verify_export` accepts a file only in exactly that canonical form, so that the bytes
  are a function of the content: changing any single byte either breaks the form (refused) or
  changes a value, which the signed checkpoint then refuses (an entry, the checkpoint, the key
  or the room id) — or the definition, whose hash must be the room id, or a commit, whose hash
  an entry names. A test changes every byte of an export.
* The key inside the file is never trusted: whoever wrote the file chose it, and a forgery made
  from scratch is signed consistently with its own key. :func:`verify_export` needs the
  ``expected_key`` from elsewhere (the fingerprint printed by ``sealroom attest``, or the key the
  SDK pinned when it last verified the room). With ``previous``, both files must be signed by
  that key and the newer must extend the older.
* An approval (``REQUEST_APPROVED``) is believed only with the approver's own signature
  (ARCHITECTURE §8): in a version 2 file, every approval's proof must verify for the entry's
  user under the identities the room had when the approval was logged — the published
  definition with the commits integrated before it (a request may change how the room
  recognises a participant, after a key was lost) — so neither the host nor the core can
  attribute an approval to a data owner who did not sign it. And each commit must have been
  approved, so verified, by a data owner of every node it needed (the core's rule,
  :func:`~sealroom.model.commits.approver_groups`): a core cannot rebind an identity, and then
  sign approvals with a key of its own, without the signatures of the owners it needed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from pydantic import ValidationError

from sealroom.audit import kinds
from sealroom.audit.events import AuditAction, AuditEvent
from sealroom.audit.format import event_to_wire, events_from_wire
from sealroom.audit.log import VerifiedAuditLog, verify_log
from sealroom.crypto import VerifyKey, canonical_json, sha256_hex
from sealroom.errors import DefinitionError, ParticipantSignatureError, VerificationError
from sealroom.model.commits import (
    apply_commit,
    approver_groups,
    initial_history_pin,
    next_history_pin,
    parse_commit,
)
from sealroom.model.definition import RoomDefinition
from sealroom.model.principal import normalise_email
from sealroom.model.signed_actions import ActionProof, approve_request, verify_action

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_FORMAT_V1",
    "MAX_EXPORT_BYTES",
    "VerifiedApproval",
    "VerifiedExport",
    "build_export",
    "export_room_id",
    "verify_export",
]

EXPORT_FORMAT: Final = "sealroom/audit-export/v2"
#: The format before exports carried the room's definition (approvals not checkable offline).
EXPORT_FORMAT_V1: Final = "sealroom/audit-export/v1"
#: Largest export read (about a million entries); keeps a malicious file from exhausting memory.
MAX_EXPORT_BYTES: Final = 512 << 20
_FIELDS_V1: Final = frozenset({"checkpoint", "core_public_key", "entries", "format", "room_id"})
_FIELDS: Final = {
    EXPORT_FORMAT_V1: _FIELDS_V1,
    EXPORT_FORMAT: _FIELDS_V1 | {"definition", "commits"},
}


@dataclass(frozen=True)
class VerifiedApproval:
    """An approval whose signature :func:`verify_export` checked: ``approver`` signed the
    approval of ``request_id`` with the key of ``fingerprint``, which the room recognised."""

    seq: int
    request_id: str
    approver: str
    fingerprint: str


@dataclass(frozen=True)
class VerifiedExport(VerifiedAuditLog):
    """An export :func:`verify_export` accepted: the verified log and its checked approvals."""

    #: Every approval in the log, its signature verified; None when the file has no definition
    #: to check them against (format v1): then nothing is known of who approved.
    approvals: tuple[VerifiedApproval, ...] | None


@dataclass(frozen=True)
class _Export:
    room_id: str
    events: list[AuditEvent]
    note: str
    key: VerifyKey
    #: The published definition and the integrated commits (canonical JSON texts); None in v1.
    definition: str | None
    commits: tuple[str, ...]


def build_export(
    room_id: str,
    events: Sequence[AuditEvent],
    checkpoint_note: str,
    core_key: VerifyKey,
    *,
    definition: str | None = None,
    commits: Sequence[str] = (),
) -> bytes:
    """The export file of a verified log.

    With the room's published ``definition`` and its integrated ``commits`` (canonical JSON
    texts, in order), a version 2 file whose approvals can be checked; commits past the log's
    last ``COMMIT_INTEGRATED`` entry (integrated after the log was read) are left out, and
    fewer commits than the log integrates is a :class:`VerificationError` (the history was cut).
    Without a definition, a version 1 file.
    """
    body: dict[str, object] = {
        "checkpoint": checkpoint_note,
        "core_public_key": core_key.hex(),
        "entries": [event_to_wire(event) for event in events],
        "format": EXPORT_FORMAT_V1,
        "room_id": room_id,
    }
    if definition is not None:
        integrated = sum(1 for e in events if e.action is AuditAction.COMMIT_INTEGRATED)
        if len(commits) < integrated:
            raise VerificationError(
                f"room {room_id}: the log integrates {integrated} commit(s), but only "
                f"{len(commits)} were served (the room's history was cut)"
            )
        body.update(format=EXPORT_FORMAT, definition=definition, commits=list(commits[:integrated]))
    return canonical_json(body) + b"\n"


def _parse(data: bytes, what: str) -> _Export:
    if len(data) > MAX_EXPORT_BYTES:
        raise VerificationError(f"{what}: larger than {MAX_EXPORT_BYTES} bytes")
    try:
        body = json.loads(data.decode("utf-8", errors="strict"))
        canonical = canonical_json(body) + b"\n"
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise VerificationError(f"{what}: not a Sealroom audit export (invalid JSON)") from None
    if canonical != data:
        raise VerificationError(f"{what}: not in canonical form (the file was altered)")
    version = body.get("format") if isinstance(body, dict) else None
    fields = _FIELDS.get(version) if isinstance(version, str) else None
    if fields is None or set(body) != fields:
        raise VerificationError(f"{what}: not a {EXPORT_FORMAT} (or v1) file")
    room_id, note, key_hex = body["room_id"], body["checkpoint"], body["core_public_key"]
    if not all(isinstance(value, str) for value in (room_id, note, key_hex)):
        raise VerificationError(f"{what}: room id, checkpoint and key must be strings")
    definition, commits = body.get("definition"), body.get("commits", [])
    if version == EXPORT_FORMAT and not (
        isinstance(definition, str)
        and isinstance(commits, list)
        and all(isinstance(commit, str) for commit in commits)
    ):
        raise VerificationError(f"{what}: the definition and commits must be JSON texts")
    try:
        key = VerifyKey.from_hex(key_hex)
    except ValueError:
        raise VerificationError(f"{what}: the core's public key is malformed") from None
    if key.hex() != key_hex:  # lower-case only: one spelling per key
        raise VerificationError(f"{what}: the core's public key is not lower-case hex")
    events = events_from_wire(body["entries"])
    return _Export(room_id, events, note, key, definition, tuple(commits))


def export_room_id(data: bytes) -> str:
    """The room an export says it is of, NOT verified: only to look up the key to verify with."""
    return _parse(data, "export").room_id


def verify_export(
    data: bytes, *, expected_key: VerifyKey, previous: bytes | None = None
) -> VerifiedExport:
    """Verify an export file signed by ``expected_key`` (and that it extends ``previous``), and
    the approvals in it when it carries the room's definition (format v2).

    Raises VerificationError. ``expected_key`` is required: the file's own key proves nothing.
    """
    export = _parse(data, "export")
    # 1. Signed by the core the caller trusts: prevents a forgery made from scratch, signed
    #    consistently by a key of its own.
    if export.key != expected_key:
        raise VerificationError(
            f"export: signed by core key {export.key.hex()}, not by the expected "
            f"{expected_key.hex()}"
        )
    # 2. The older export (if any) is of the same room and core; the newer must extend it.
    older = None
    if previous is not None:
        old = _parse(previous, "previous export")
        if old.room_id != export.room_id:
            raise VerificationError("previous export: of another room")
        if old.key != export.key:
            raise VerificationError("previous export: signed by another core key")
        older = verify_log(old.room_id, old.events, old.note, old.key).checkpoint
    # 3. Every entry against the signed Merkle root (RFC 9162), and no truncation or fork.
    log = verify_log(export.room_id, export.events, export.note, export.key, previous=older)
    # 4. Every approval is its approver's own signature (module docstring).
    approvals = None
    if export.definition is not None:
        approvals = tuple(_verified_approvals(log, export.definition, export.commits))
    return VerifiedExport(log.room_id, log.events, log.checkpoint, log.note, approvals)


def _verified_approvals(
    log: VerifiedAuditLog, definition_text: str, commits: Sequence[str]
) -> Iterator[VerifiedApproval]:
    """Each approval of ``log``, checked under the room's identities as they were then."""
    # a. The room id is the hash of the definition: a definition with other identities (one
    #    that would accept a forger's key) is another room, which the signed checkpoint does
    #    not name.
    if sha256_hex(definition_text.encode("utf-8")) != log.room_id:
        raise VerificationError(
            f"export: the definition in the file is not room {log.room_id}'s (its hash differs)"
        )
    try:
        current = RoomDefinition.model_validate(json.loads(definition_text))
    except (ValueError, ValidationError):  # ValidationError is a ValueError; named for readers
        raise VerificationError(
            f"export: the definition of room {log.room_id} does not parse"
        ) from None
    pending = iter(commits)
    pin = initial_history_pin(log.room_id)
    approvers: dict[str, set[str]] = {}  # request id -> who approved it (verified)
    for event in log.events:
        if event.action is AuditAction.COMMIT_INTEGRATED:
            # b. The room changes only by the commits the signed log names, in its order, each
            #    approved by the data owners it needed — so not even the core can change how
            #    the room recognises someone without their signatures.
            current, pin = _integrated(current, pin, event, next(pending, None), approvers)
        elif event.action is AuditAction.REQUEST_APPROVED:
            # c. The approver signed this approval with a key the room recognised for them.
            approval = _verified_approval(current, event)
            approvers.setdefault(approval.request_id, set()).add(normalise_email(approval.approver))
            yield approval
    if next(pending, None) is not None:
        raise VerificationError("export: the file carries commits the log never integrated")


def _integrated(
    definition: RoomDefinition,
    pin: str,
    event: AuditEvent,
    text: str | None,
    approvers: Mapping[str, set[str]],
) -> tuple[RoomDefinition, str]:
    """The definition after the commit ``event`` integrates, which must be ``text`` and must
    have the approvals it needed among ``approvers`` (verified, by request id)."""
    where = f"export: entry {event.seq}"
    integrated = kinds.kind_of(event)
    if not isinstance(integrated, kinds.CommitIntegrated):
        raise VerificationError(f"{where}: malformed commit entry")
    if text is None:
        raise VerificationError(
            f"{where} integrates commit {integrated.commit_id[:12]}, which the file does not carry"
        )
    altered = VerificationError(
        f"{where}: the file's commit is not the one the log integrates "
        f"({integrated.commit_id[:12]})"
    )
    try:
        commit = parse_commit(json.loads(text))
    except (ValueError, DefinitionError):
        raise altered from None
    if (
        commit.canonical_bytes() != text.encode("utf-8")
        or commit.commit_id != integrated.commit_id
        or commit.room_id != event.room_id
        or commit.history_pin != pin
        or next_history_pin(pin, commit.commit_id) != integrated.history_pin
    ):
        raise altered
    try:
        applied = apply_commit(definition, commit)
    except DefinitionError as exc:
        raise VerificationError(f"{where}: the commit does not apply to the room: {exc}") from None
    # The core's rule (enclave/request_views.py): one data owner of each group approved.
    approved = approvers.get(integrated.request_id, set())
    for group in approver_groups(applied, commit):
        if not any(normalise_email(email) in approved for email in group.approvers):
            raise VerificationError(
                f"{where} integrates request {integrated.request_id[:12]} without a verified "
                f"approval by a data owner of {group.node!r} ({', '.join(group.approvers)})"
            )
    return applied, integrated.history_pin


def _verified_approval(definition: RoomDefinition, event: AuditEvent) -> VerifiedApproval:
    where = f"export: entry {event.seq} (an approval by {event.user!r})"
    approval = kinds.kind_of(event)
    if not isinstance(approval, kinds.RequestApproved):
        raise VerificationError(f"{where}: malformed approval")
    if approval.proof is None:
        raise VerificationError(
            f"{where}: carries no signature of the approver, so nothing shows they approved "
            f"request {approval.request_id}"
        )
    try:
        proof = ActionProof.from_header(approval.proof)
        # Offline: the core checked the time when it acted; a certificate is checked at the
        # time of the signature, so one that expired since still shows who approved.
        verify_action(
            definition,
            event.user,
            approve_request(event.room_id, approval.request_id),
            proof,
            now_ms=0,
            check_time=False,
        )
    except ParticipantSignatureError as exc:
        raise VerificationError(
            f"{where}: the approver's signature of request {approval.request_id} does not "
            f"verify: {exc}"
        ) from None
    return VerifiedApproval(event.seq, approval.request_id, event.user, proof.fingerprint)
