"""The offline export: verifies as written; any single changed byte fails; --previous catches
truncation and rewritten history; a pinned key must match."""

from __future__ import annotations

import dataclasses

import pytest

from sealroom.audit import AuditAction, AuditEvent, AuditLog, build_export, verify_export
from sealroom.crypto import SigningKey
from sealroom.errors import VerificationError

ROOM = "ef" * 32
SIGNER = SigningKey.from_bytes(bytes(range(32)))


def _log(n: int) -> tuple[AuditLog, list[AuditEvent]]:
    log = AuditLog(ROOM)
    events = [
        log.append(
            timestamp_ms=1_795_000_000_000 + i,
            user="alice@bank.example",
            action=AuditAction.RESULT_RETRIEVED,
            notes=f"retrieved the result of job {i} (überblick)",
            details={"job_id": f"{i:032x}", "node": "overlap"},
        )
        for i in range(n)
    ]
    return log, events


def _export(n: int) -> bytes:
    log, events = _log(n)
    return build_export(ROOM, events, log.checkpoint(SIGNER)[1], SIGNER.verify_key)


def test_export_verifies_and_is_canonical_json_with_one_newline() -> None:
    data = _export(3)
    assert data.endswith(b"}\n")
    assert data.count(b"\n") == 1  # the note's newlines are escaped inside the JSON string
    verified = verify_export(data, expected_key=SIGNER.verify_key)
    assert verified.size == 3


def test_changing_any_single_byte_fails() -> None:
    data = _export(2)
    accepted = []
    for position in range(len(data)):
        for replacement in {data[position] ^ 0x01, data[position] ^ 0x20}:
            mutated = data[:position] + bytes([replacement]) + data[position + 1 :]
            try:
                verify_export(mutated, expected_key=SIGNER.verify_key)
            except VerificationError:
                continue
            accepted.append(position)
    assert accepted == []


def test_previous_export_must_be_extended() -> None:
    log, events = _log(4)
    older = build_export(ROOM, events, log.checkpoint(SIGNER)[1], SIGNER.verify_key)
    more = [
        *events,
        log.append(
            timestamp_ms=1, user="bob@x.example", action=AuditAction.JOB_SUBMITTED, notes="n",
            details={},
        ),
    ]  # fmt: skip
    newer = build_export(ROOM, more, log.checkpoint(SIGNER)[1], SIGNER.verify_key)
    assert verify_export(newer, previous=older, expected_key=SIGNER.verify_key).size == 5
    with pytest.raises(VerificationError, match="truncated"):
        verify_export(older, previous=newer, expected_key=SIGNER.verify_key)
    rewritten = [*events[:2], dataclasses.replace(events[2], notes="nothing to see"), *more[3:]]
    forged = AuditLog(ROOM, rewritten)  # even signed by the same key
    fork = build_export(ROOM, rewritten, forged.checkpoint(SIGNER)[1], SIGNER.verify_key)
    with pytest.raises(VerificationError, match="forked"):
        verify_export(fork, previous=older, expected_key=SIGNER.verify_key)


def test_pinned_key_and_other_signers() -> None:
    data = _export(1)
    with pytest.raises(VerificationError, match="not by the expected"):
        verify_export(data, expected_key=SigningKey.generate().verify_key)
    other = SigningKey.generate()
    log, events = _log(1)
    foreign = build_export(ROOM, events, log.checkpoint(other)[1], other.verify_key)
    with pytest.raises(VerificationError, match="another core key"):
        verify_export(foreign, previous=data, expected_key=other.verify_key)


@pytest.mark.parametrize("data", [b"", b"not json", b"[]\n", b'{"format":"x"}\n', b"\xff\n"])
def test_garbage_is_refused(data: bytes) -> None:
    with pytest.raises(VerificationError):
        verify_export(data, expected_key=SIGNER.verify_key)


def test_a_forgery_made_from_scratch_needs_the_real_key_to_be_caught() -> None:
    """Consistent in itself (its own key signs its own checkpoint): only the pin refuses it."""
    forger = SigningKey.generate()
    log, events = _log(3)
    forged = build_export(ROOM, events, log.checkpoint(forger)[1], forger.verify_key)
    assert verify_export(forged, expected_key=forger.verify_key).size == 3
    with pytest.raises(VerificationError, match=f"signed by core key {forger.verify_key.hex()}"):
        verify_export(forged, expected_key=SIGNER.verify_key)
    with pytest.raises(TypeError):
        verify_export(forged)  # type: ignore[call-arg]
