"""Fuzzing the audit-export parser (issue 21, item 10): VerificationError, nothing else.

:func:`~sealroom.audit.export.verify_export` reads a file anyone can hand over and documents
:class:`~sealroom.errors.VerificationError` for every refusal. Byte changes mostly stop at the
canonical-form check (tests/unit/test_audit_export.py changes every byte), so here Hypothesis
changes the *content* of a genuine version 2 export — its entries, checkpoint, key, room id,
definition and commits, at random places in the JSON — and writes it back in canonical form, so
that each change reaches the parsers behind the form check (entries, checkpoint note, commits,
definition). A definition changed before the trusted key signed the log (a faulty or hostile
core) gets past the hash check to the definition's parser. Any other exception fails, and so
does a changed file that still verifies.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sealroom.audit import AuditLog, build_export, export_room_id, verify_export
from sealroom.crypto import canonical_json, sha256_hex
from sealroom.errors import VerificationError
from sealroom.model.commits import initial_history_pin
from tests.unit.fuzz_strategies import FUZZ, JSON, mutated_json
from tests.unit.test_audit_export_approvals import (
    BANK,
    INSURER,
    ROOM,
    SIGNER,
    _approved,
    _approved_by,
    _commit,
    _export,
    _integrated,
    _proof,
)


def _genuine() -> bytes:
    commit = _commit()
    log = AuditLog(ROOM.room_id)
    _approved_by(log, commit, BANK, INSURER)
    _integrated(log, commit, initial_history_pin(ROOM.room_id))
    return _export(log, commits=(commit,))


GENUINE = _genuine()
BODY = json.loads(GENUINE)
#: The texts inside the file, as JSON data, to be changed and put back as texts.
DEFINITION = json.loads(BODY["definition"])
COMMIT = json.loads(BODY["commits"][0])


def _canonical(body: Any) -> bytes:
    return canonical_json(body) + b"\n"


def _refused(data: bytes, previous: bytes | None = None) -> None:
    with contextlib.suppress(VerificationError):
        export_room_id(data)
    try:
        verify_export(data, expected_key=SIGNER.verify_key, previous=previous)
    except VerificationError:
        return
    raise AssertionError("a changed export verified")


def test_the_genuine_export_verifies() -> None:
    verified = verify_export(GENUINE, expected_key=SIGNER.verify_key, previous=GENUINE)
    assert verified.approvals is not None
    assert len(verified.approvals) == 2


@FUZZ
@given(body=JSON)
def test_arbitrary_json_is_refused(body: Any) -> None:
    _refused(_canonical(body))


@FUZZ
@given(body=mutated_json(BODY))
def test_a_changed_export_is_refused(body: Any) -> None:
    if body == BODY:  # the changes cancelled out
        return
    _refused(_canonical(body))


@FUZZ
@given(definition=mutated_json(DEFINITION), commit=mutated_json(COMMIT), which=st.integers(0, 2))
def test_a_changed_definition_or_commit_is_refused(
    definition: Any, commit: Any, which: int
) -> None:
    body = dict(BODY)
    if which != 1:
        body["definition"] = canonical_json(definition).decode()
    if which != 0:
        body["commits"] = [canonical_json(commit).decode()]
    if body == BODY:
        return
    _refused(_canonical(body))


@FUZZ
@given(definition=mutated_json(DEFINITION))
def test_a_signed_export_of_a_malformed_definition_is_refused(definition: Any) -> None:
    """The trusted key signed it, and the room id is the definition's hash, so the definition is
    parsed (a faulty or hostile core): it must still be refused as a VerificationError."""
    text = canonical_json(definition).decode()
    room_id = sha256_hex(text.encode())
    log = AuditLog(room_id)
    _approved(log, BANK, _proof(BANK, room=room_id))
    data = build_export(
        room_id, log.events(), log.checkpoint(SIGNER)[1], SIGNER.verify_key, definition=text
    )
    with contextlib.suppress(VerificationError):
        verify_export(data, expected_key=SIGNER.verify_key)


@FUZZ
@given(body=mutated_json(BODY, max_mutations=2))
def test_a_changed_previous_export_is_refused(body: Any) -> None:
    if body == BODY:
        return
    _refused(GENUINE, previous=_canonical(body))
