"""Approvals in an audit export are checked offline: each is the approver's own signature under
the identities the room had then, and each integrated commit had the approvals it needed
(issue 16; ``sealroom.audit.export``, format v2).

A real export of an in-process core verifies and names who approved; logs whose checkpoint a
test signs itself (so that the Merkle check passes whatever the entries say) show each way an
approval or the room's history can be forged and the message that names it; a version 1 export
still verifies, with its approvals unchecked; and ``sealroom audit verify`` prints a line per
approval.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sealroom.audit import AuditAction, AuditLog, kinds
from sealroom.audit.export import (
    EXPORT_FORMAT,
    EXPORT_FORMAT_V1,
    VerifiedExport,
    build_export,
    verify_export,
)
from sealroom.cli.main import app
from sealroom.crypto import SigningKey
from sealroom.crypto.certificates import create_root_certificate, issue_participant_certificate
from sealroom.errors import VerificationError
from sealroom.model import signed_actions
from sealroom.model.commits import Commit, initial_history_pin, next_history_pin
from sealroom.model.definition import Participant, RoomDefinition, SqlNode, TableNode
from sealroom.model.identities import Identity, TrustRoot, format_fingerprint, key_fingerprint
from sealroom.model.principal import Principal
from sealroom.model.signed_actions import sign_action
from tests.participants import key_of, pinned
from tests.unit.core_harness import (  # noqa: F401  (fixtures)
    ANALYST,
    BANK,
    COLUMNS,
    INSURER,
    Setup,
    interactive_room,
    setup_fixture,
)

SIGNER = SigningKey.from_bytes(bytes(range(32)))
T0 = 1_795_000_000_000
REQUEST = "ab" * 32


def _room(**changes: object) -> RoomDefinition:
    values: dict[str, object] = {
        "name": "approvals",
        "salt": "00" * 16,
        "owner": BANK,
        "interactive": True,
        "nodes": (
            TableNode(name="sales", columns=COLUMNS),
            TableNode(name="claims", columns=COLUMNS),
        ),
        "participants": (
            Participant(email=BANK, data_owner_of=("sales",)),
            Participant(email=INSURER, data_owner_of=("claims",)),
            Participant(email=ANALYST),
        ),
        "identities": pinned(BANK, INSURER, ANALYST),
    }
    values.update(changes)
    return RoomDefinition.model_validate(values)


ROOM = _room()


def _proof(user: str, request_id: str = REQUEST, **kwargs: object) -> str:
    key = kwargs.pop("key", None) or key_of(user)
    call = signed_actions.approve_request(str(kwargs.pop("room", ROOM.room_id)), request_id)
    return sign_action(key, call, now_ms=T0, **kwargs).to_header()  # type: ignore[arg-type]


def _approved(log: AuditLog, user: str, proof: str | None, request_id: str = REQUEST) -> None:
    log.append(
        timestamp_ms=T0 + log.size,
        user=user,
        action=AuditAction.REQUEST_APPROVED,
        notes=f"approved request {request_id}",
        details=kinds.RequestApproved(request_id, "sales", proof).to_details(),
    )


def _integrated(log: AuditLog, commit: Commit, pin: str, seq: int = 1) -> str:
    after = next_history_pin(pin, commit.commit_id)
    log.append(
        timestamp_ms=T0 + log.size,
        user=ANALYST,
        action=AuditAction.COMMIT_INTEGRATED,
        notes="integrated",
        details=kinds.CommitIntegrated(
            commit.commit_id, commit.commit_id, seq, after, "both"
        ).to_details(),
    )
    return after


def _approved_by(log: AuditLog, commit: Commit, *approvers: str) -> None:
    for approver in approvers:
        _approved(log, approver, _proof(approver, commit.commit_id), commit.commit_id)


def _commit(room: RoomDefinition = ROOM, pin: str | None = None) -> Commit:
    return Commit(
        room_id=room.room_id,
        history_pin=pin or initial_history_pin(room.room_id),
        requester=ANALYST,
        nodes=(
            SqlNode(
                name="both",
                query="SELECT COUNT(*) AS n FROM sales, claims",
                dependencies=("sales", "claims"),
            ),
        ),
        analysts=({"email": ANALYST, "analyst_of": ("both",)},),  # type: ignore[arg-type]
    )


def _export(
    log: AuditLog, room: RoomDefinition = ROOM, commits: tuple[Commit, ...] = (), **overrides: str
) -> bytes:
    return build_export(
        log.room_id,
        log.events(),
        log.checkpoint(SIGNER)[1],
        SIGNER.verify_key,
        definition=overrides.get("definition", room.canonical_bytes().decode()),
        commits=[c.canonical_bytes().decode() for c in commits],
    )


def _verify(data: bytes) -> VerifiedExport:
    return verify_export(data, expected_key=SIGNER.verify_key)


def _fingerprint(email: str) -> str:
    return key_fingerprint(key_of(email).verify_key.to_bytes())


# -- a real export -----------------------------------------------------------------------------
def test_a_real_export_names_who_approved_and_verifies_their_signatures(setup: Setup) -> None:
    room_id, commit = interactive_room(setup)
    setup.as_(BANK).approve_request(room_id, commit.commit_id)
    setup.as_(INSURER).approve_request(room_id, commit.commit_id)
    setup.as_(ANALYST).integrate_request(room_id, commit.commit_id)
    # A second request, approved after the first was integrated: checked on the changed room.
    second = Commit(
        room_id=room_id,
        history_pin=next_history_pin(initial_history_pin(room_id), commit.commit_id),
        requester=ANALYST,
        nodes=(
            SqlNode(
                name="sales_n", query="SELECT COUNT(*) AS n FROM sales", dependencies=("sales",)
            ),
        ),
        analysts=({"email": ANALYST, "analyst_of": ("sales_n",)},),  # type: ignore[arg-type]
    )
    setup.as_(ANALYST).submit_request(room_id, second.model_dump(mode="json"))
    setup.as_(BANK).approve_request(room_id, second.commit_id)

    data = build_export(
        room_id,
        setup.events(room_id),
        setup.core.audit_checkpoint(Principal.of(BANK), room_id),
        setup.core.verify_key,
        definition=setup.host.rooms[room_id].definition.decode(),
        commits=[row.commit.decode() for row in setup.host.commits(room_id)],
    )
    assert json.loads(data)["format"] == EXPORT_FORMAT
    verified = verify_export(data, expected_key=setup.core.verify_key)
    assert verified.approvals is not None
    assert [(a.request_id, a.approver, a.fingerprint) for a in verified.approvals] == [
        (commit.commit_id, BANK, _fingerprint(BANK)),
        (commit.commit_id, INSURER, _fingerprint(INSURER)),
        (second.commit_id, BANK, _fingerprint(BANK)),
    ]
    assert [a.seq for a in verified.approvals] == [
        e.seq for e in verified.events if e.action is AuditAction.REQUEST_APPROVED
    ]


# -- forged approvals --------------------------------------------------------------------------
def test_an_approval_signed_by_someone_else_is_named_with_its_entry() -> None:
    log = AuditLog(ROOM.room_id)
    _approved(log, BANK, _proof(BANK))
    _approved(log, INSURER, _proof(BANK))  # the bank's signature, re-attributed to the insurer
    with pytest.raises(VerificationError) as refused:
        _verify(_export(log))
    message = str(refused.value)
    assert f"entry 1 (an approval by '{INSURER}')" in message
    assert "pins another key for you" in message


def test_an_approval_signed_for_another_request_or_room_fails() -> None:
    other_room = _room(salt="11" * 16).room_id
    for forged in (_proof(BANK, "cd" * 32), _proof(BANK, room=other_room)):
        log = AuditLog(ROOM.room_id)
        _approved(log, BANK, forged)
        with pytest.raises(VerificationError, match=r"entry 0 .*signature does not verify"):
            _verify(_export(log))


def test_an_approval_without_a_signature_or_with_a_malformed_one_fails() -> None:
    for proof, reason in ((None, "carries no signature"), ("x" * 40, "not a well-formed")):
        log = AuditLog(ROOM.room_id)
        _approved(log, BANK, _proof(BANK))
        _approved(log, BANK, proof)
        with pytest.raises(VerificationError, match=f"entry 1 .*{reason}"):
            _verify(_export(log))


def test_the_definition_must_be_the_rooms() -> None:
    """A definition pinning a forger's key would accept the forger's approvals: its hash is not
    the room id, so it is refused."""
    forger = SigningKey.generate()
    forged_room = _room(
        identities=(
            Identity(email=BANK, key=key_fingerprint(forger.verify_key.to_bytes())),
            *pinned(INSURER, ANALYST),
        )
    )
    log = AuditLog(ROOM.room_id)
    _approved(log, BANK, _proof(BANK, key=forger))
    with pytest.raises(VerificationError, match="its hash differs"):
        _verify(_export(log, forged_room))
    with pytest.raises(VerificationError, match="pins another key"):
        _verify(_export(log))


def test_a_certificate_that_expired_since_still_shows_who_approved() -> None:
    """Offline, an organisation's certificate is checked at the time of the signature."""
    ca = SigningKey.generate()
    then = dt.datetime.fromtimestamp(T0 / 1000, dt.UTC)
    year = dt.timedelta(days=365)
    root_pem = create_root_certificate(ca, "Acme CA", not_before=then - year, not_after=then + year)
    room = _room(
        trust_roots=(TrustRoot(name="acme", certificate=root_pem),),
        identities=(Identity(email=BANK, root="acme"), *pinned(INSURER, ANALYST)),
    )
    bank = SigningKey.generate()

    def certificate(email: str) -> bytes:
        return issue_participant_certificate(
            ca, root_pem, email, bank.verify_key,
            not_before=then - dt.timedelta(hours=1), not_after=then + dt.timedelta(hours=1),
        )  # fmt: skip

    log = AuditLog(room.room_id)
    _approved(log, BANK, _proof(BANK, key=bank, room=room.room_id, certificate=certificate(BANK)))
    verified = _verify(_export(log, room))
    assert verified.approvals is not None
    assert verified.approvals[0].fingerprint == key_fingerprint(bank.verify_key.to_bytes())

    log = AuditLog(room.room_id)
    proof = _proof(BANK, key=bank, room=room.room_id, certificate=certificate(INSURER))
    _approved(log, BANK, proof)
    with pytest.raises(VerificationError, match="for another e-mail address"):
        _verify(_export(log, room))


# -- the room's history ------------------------------------------------------------------------
def test_approvals_after_a_commit_are_checked_on_the_changed_room() -> None:
    commit = _commit()
    log = AuditLog(ROOM.room_id)
    _approved_by(log, commit, BANK, INSURER)
    _integrated(log, commit, initial_history_pin(ROOM.room_id))
    _approved(log, INSURER, _proof(INSURER, "ef" * 32), "ef" * 32)
    verified = _verify(_export(log, commits=(commit,)))
    assert verified.approvals is not None
    assert [a.approver for a in verified.approvals] == [BANK, INSURER, INSURER]


def test_a_commit_integrated_without_the_approvals_it_needed_fails() -> None:
    """The core's rule, checked offline: one owner of every data node the commit reads."""
    commit = _commit()
    log = AuditLog(ROOM.room_id)
    _approved_by(log, commit, BANK)  # the insurer, sole owner of claims, never approved
    _approved(log, INSURER, _proof(INSURER, "ef" * 32), "ef" * 32)  # another request
    _integrated(log, commit, initial_history_pin(ROOM.room_id))
    with pytest.raises(VerificationError) as refused:
        _verify(_export(log, commits=(commit,)))
    assert str(refused.value) == (
        f"export: entry 2 integrates request {commit.commit_id[:12]} without a verified "
        f"approval by a data owner of 'claims' ({INSURER})"
    )


def test_after_a_lost_key_is_replaced_the_new_key_approves_and_the_old_one_no_longer_does() -> None:
    """A request may change how the room recognises a data owner (after a key was lost): the
    owner's later approvals are checked against the new key — not the published definition's."""
    new_key = SigningKey.generate()
    rebind = Commit(
        room_id=ROOM.room_id,
        history_pin=initial_history_pin(ROOM.room_id),
        requester=ANALYST,
        identities=(Identity(email=INSURER, key=key_fingerprint(new_key.verify_key.to_bytes())),),
    )
    later = "ef" * 32
    for key, accepted in ((new_key, True), (key_of(INSURER), False)):
        log = AuditLog(ROOM.room_id)
        _approved(log, INSURER, _proof(INSURER, "cd" * 32), "cd" * 32)  # the old key, before
        # The insurer's claims have no other owner: the room's owner approves for them.
        _approved_by(log, rebind, BANK)
        _integrated(log, rebind, initial_history_pin(ROOM.room_id))
        _approved(log, INSURER, _proof(INSURER, later, key=key), later)
        data = _export(log, commits=(rebind,))
        if accepted:
            verified = _verify(data)
            assert verified.approvals is not None
            assert [a.fingerprint for a in verified.approvals] == [
                _fingerprint(INSURER),
                _fingerprint(BANK),
                key_fingerprint(new_key.verify_key.to_bytes()),
            ]
        else:
            with pytest.raises(VerificationError, match=r"entry 3 .*pins another key"):
                _verify(data)


def test_the_commits_must_be_those_the_log_integrates() -> None:
    commit = _commit()
    log = AuditLog(ROOM.room_id)
    _approved_by(log, commit, BANK, INSURER)
    _integrated(log, commit, initial_history_pin(ROOM.room_id))
    data = _export(log, commits=(commit,))
    assert _verify(data).size == 3

    body = json.loads(data)
    missing = {**body, "commits": []}
    with pytest.raises(VerificationError, match=r"entry 2 integrates commit .* does not carry"):
        _verify(_canonical(missing))
    other = _commit(pin="00" * 32).canonical_bytes().decode()
    with pytest.raises(VerificationError, match="entry 2: the file's commit is not the one"):
        _verify(_canonical({**body, "commits": [other]}))
    extra = {**body, "commits": [*body["commits"], other]}
    with pytest.raises(VerificationError, match="commits the log never integrated"):
        _verify(_canonical(extra))
    # Building an export from a history with fewer commits than the log integrates fails.
    with pytest.raises(VerificationError, match="history was cut"):
        _export(log)
    # Commits integrated after the log was read are left out.
    later = AuditLog(ROOM.room_id)
    assert json.loads(_export(later, commits=(commit,)))["commits"] == []


def _canonical(body: dict[str, object]) -> bytes:
    from sealroom.crypto import canonical_json

    return canonical_json(body) + b"\n"


# -- formats -----------------------------------------------------------------------------------
def test_a_version_1_export_still_verifies_with_its_approvals_unchecked() -> None:
    log = AuditLog(ROOM.room_id)
    _approved(log, INSURER, _proof(BANK))  # forged, and not checkable without the definition
    data = build_export(log.room_id, log.events(), log.checkpoint(SIGNER)[1], SIGNER.verify_key)
    assert json.loads(data)["format"] == EXPORT_FORMAT_V1
    verified = _verify(data)
    assert verified.approvals is None
    assert verified.size == 1


def test_changing_any_single_byte_of_a_version_2_export_fails() -> None:
    commit = _commit()
    log = AuditLog(ROOM.room_id)
    _approved_by(log, commit, BANK, INSURER)
    _integrated(log, commit, initial_history_pin(ROOM.room_id))
    data = _export(log, commits=(commit,))
    assert _verify(data).size == 3
    accepted = []
    for position in range(len(data)):
        mutated = data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]
        try:
            _verify(mutated)
        except VerificationError:
            continue
        accepted.append(position)
    assert accepted == []


@pytest.mark.parametrize(
    "change",
    [
        {"definition": None},
        {"commits": "[]"},
        {"commits": [1]},
    ],
)
def test_a_version_2_export_needs_its_definition_and_commits_as_texts(
    change: dict[str, object],
) -> None:
    body = json.loads(_export(AuditLog(ROOM.room_id)))
    with pytest.raises(VerificationError, match="must be JSON texts"):
        _verify(_canonical({**body, **change}))
    without = {k: v for k, v in body.items() if k not in change}
    with pytest.raises(VerificationError, match="not a sealroom/audit-export/v2"):
        _verify(_canonical(without))


# -- the command -------------------------------------------------------------------------------
def test_audit_verify_prints_one_line_per_approval(tmp_path: Path) -> None:
    log = AuditLog(ROOM.room_id)
    _approved(log, BANK, _proof(BANK))
    _approved(log, INSURER, _proof(INSURER))
    export = tmp_path / "audit.json"
    export.write_bytes(_export(log))
    runner = CliRunner()
    result = runner.invoke(app, ["audit", "verify", str(export), "--key", SIGNER.verify_key.hex()])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"verified: room {ROOM.room_id}, 2 entries")
    bank = format_fingerprint(_fingerprint(BANK)[:16])
    assert lines[2:] == [
        f"request {REQUEST[:12]} approved by {BANK} (key {bank} …): signature verified",
        f"request {REQUEST[:12]} approved by {INSURER} "
        f"(key {format_fingerprint(_fingerprint(INSURER)[:16])} …): signature verified",
    ]

    forged = AuditLog(ROOM.room_id)
    _approved(forged, INSURER, _proof(BANK))
    export.write_bytes(_export(forged))
    refused = runner.invoke(app, ["audit", "verify", str(export), "--key", SIGNER.verify_key.hex()])
    assert refused.exit_code == 1
    assert "NOT VERIFIED" in refused.stderr
    assert "entry 0" in " ".join(refused.stderr.split())

    old = AuditLog(ROOM.room_id)
    _approved(old, BANK, _proof(BANK))
    export.write_bytes(
        build_export(old.room_id, old.events(), old.checkpoint(SIGNER)[1], SIGNER.verify_key)
    )
    v1 = runner.invoke(app, ["audit", "verify", str(export), "--key", SIGNER.verify_key.hex()])
    assert v1.exit_code == 0
    assert "approvals: NOT CHECKED" in v1.stdout

    empty = AuditLog(ROOM.room_id)
    export.write_bytes(_export(empty))
    none = runner.invoke(app, ["audit", "verify", str(export), "--key", SIGNER.verify_key.hex()])
    assert none.exit_code == 0
    assert none.stdout.splitlines()[-1] == "approvals: none in this log"
