"""The core acts for a participant only on their own signature (issue 16), in-process.

The host authenticates a token and says who is calling; these tests are the host lying about
it — relaying no signature, another person's signature, a signature of other arguments, or a
signature it saw before — and the core refusing, auditing the refusal, and recording who signed
what it did. The same is tested against a real server in
``tests/integration/test_participant_signatures_server.py``.
"""

from __future__ import annotations

import time

import pytest

from sealroom.audit import AuditAction
from sealroom.errors import DefinitionError, ParticipantSignatureError
from sealroom.model import signed_actions
from sealroom.model.definition import RoomDefinition
from sealroom.model.identities import key_fingerprint
from sealroom.model.principal import Principal
from sealroom.model.signed_actions import ActionProof, sign_action, verify_action
from tests.participants import key_of, signed
from tests.unit.core_harness import (  # noqa: F401  (fixtures)
    ANALYST,
    BANK,
    INSURER,
    Setup,
    interactive_room,
    room_fixture,
    setup_fixture,
    static_room,
)


def run_call(room: str, setup: Setup, parameters: dict[str, str]) -> signed_actions.ActionCall:
    return signed_actions.run_computation(
        room, "by_region", parameters, setup.recipient.public_key.to_bytes()
    )


def submit(setup: Setup, room: str, principal: Principal, parameters: dict[str, str]) -> str:
    key = setup.recipient.public_key.to_bytes()
    return setup.core.submit_job(principal, room, "by_region", parameters, key).id


def denials(setup: Setup, room: str) -> list[str]:
    return [
        str(event.details["reason"])
        for event in setup.events(room)
        if event.action is AuditAction.ACCESS_DENIED
    ]


def test_a_token_without_the_participants_signature_gets_nothing(setup: Setup, room: str) -> None:
    with pytest.raises(ParticipantSignatureError, match="needs the participant's own signature"):
        submit(setup, room, Principal.of(ANALYST), {"min": "5"})
    with pytest.raises(ParticipantSignatureError):
        setup.core.stop_room(Principal.of(BANK), room)
    assert setup.host.jobs == {}
    assert setup.as_(ANALYST).room_status(room) == "active"
    assert len(denials(setup, room)) == 2


def test_the_host_cannot_act_in_another_participants_name(setup: Setup, room: str) -> None:
    """A host mapping the analyst's token to the bank's account relays the analyst's key."""
    call = signed_actions.stop_room(room)
    as_bank = Principal.of(BANK).with_proof(
        sign_action(key_of(ANALYST), call, now_ms=int(time.time() * 1000))
    )
    with pytest.raises(ParticipantSignatureError, match="pins another key for you"):
        setup.core.stop_room(as_bank, room)
    assert setup.as_(ANALYST).room_status(room) == "active"
    (reason,) = denials(setup, room)
    assert "pins another key" in reason


def test_a_signature_of_other_arguments_is_refused(setup: Setup, room: str) -> None:
    principal = signed(ANALYST, run_call(room, setup, {"min": "50"}))
    with pytest.raises(ParticipantSignatureError, match="does not verify"):
        submit(setup, room, principal, {"min": "0"})  # the host rewrote the parameter
    assert setup.host.jobs == {}


def test_a_replayed_signature_is_refused_even_after_a_restart(setup: Setup, room: str) -> None:
    principal = signed(ANALYST, run_call(room, setup, {"min": "5"}))
    submit(setup, room, principal, {"min": "5"})
    with pytest.raises(ParticipantSignatureError, match="used before"):
        submit(setup, room, principal, {"min": "5"})
    setup.restart()  # the nonce is in the room's log, which the new core reads back
    with pytest.raises(ParticipantSignatureError, match="used before"):
        submit(setup, room, principal, {"min": "5"})
    assert len(setup.host.jobs) == 1


def test_a_nonce_is_claimed_even_when_the_action_then_fails(setup: Setup, room: str) -> None:
    principal = signed(ANALYST, run_call(room, setup, {"min": "5", "max": "9"}))
    with pytest.raises(Exception, match="max"):  # an undeclared parameter: refused after
        submit(setup, room, principal, {"min": "5", "max": "9"})
    with pytest.raises(ParticipantSignatureError, match="used before"):
        submit(setup, room, principal, {"min": "5", "max": "9"})


def test_entries_name_the_signers_key_and_nonce(setup: Setup, room: str) -> None:
    job = setup.submit(room, "by_region", {"min": "5"})
    (entry,) = [e for e in setup.events(room) if e.action is AuditAction.JOB_SUBMITTED]
    assert entry.details["job_id"] == job
    assert entry.details["signer"] == key_fingerprint(key_of(ANALYST).verify_key.to_bytes())
    nonce = entry.details["nonce"]
    assert isinstance(nonce, str)
    assert len(nonce) == 32
    published = next(e for e in setup.events(room) if e.action is AuditAction.DATASET_PUBLISHED)
    assert published.details["signer"] == key_fingerprint(key_of(BANK).verify_key.to_bytes())


def test_a_room_is_published_only_by_its_owners_signature_and_with_everybodys_identity(
    setup: Setup,
) -> None:
    definition = static_room()
    data = definition.model_dump(mode="json")
    call = signed_actions.publish_room(definition.room_id)
    with pytest.raises(ParticipantSignatureError):
        setup.core.publish_room(Principal.of(BANK), data)
    with pytest.raises(ParticipantSignatureError, match="pins another key"):
        setup.core.publish_room(signed(BANK, call, key_of(ANALYST)), data)
    incomplete = definition.model_copy(update={"identities": definition.identities[:1]})
    with pytest.raises(DefinitionError, match=f"does not say how it recognises {ANALYST}"):
        setup.as_(BANK).publish_room(incomplete.model_dump(mode="json"))
    assert setup.as_(BANK).publish_room(data) == definition.room_id


def test_an_approval_is_the_owners_signature_verifiable_offline(setup: Setup) -> None:
    room_id, commit = interactive_room(setup)
    setup.as_(BANK).approve_request(room_id, commit.commit_id)
    (entry,) = [e for e in setup.events(room_id) if e.action is AuditAction.REQUEST_APPROVED]
    assert entry.user == BANK
    proof = ActionProof.from_header(str(entry.details["proof"]))
    definition = RoomDefinition.model_validate_json(setup.host.rooms[room_id].definition)
    # Anybody with the log and the definition checks it, at any later time.
    verify_action(
        definition,
        entry.user,
        signed_actions.approve_request(room_id, commit.commit_id),
        proof,
        now_ms=0,
        check_time=False,
    )
    assert proof.fingerprint == entry.details["signer"]
    # Re-attributed to the insurer, the approval no longer verifies.
    with pytest.raises(ParticipantSignatureError):
        verify_action(
            definition,
            INSURER,
            signed_actions.approve_request(room_id, commit.commit_id),
            proof,
            now_ms=0,
            check_time=False,
        )
