"""What a participant signs, and what the core accepts as their signature (issue 16)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from sealroom.crypto import SigningKey
from sealroom.crypto.certificates import (
    create_root_certificate,
    issue_participant_certificate,
    root_fingerprint,
    verify_participant_certificate,
)
from sealroom.errors import DefinitionError, ParticipantSignatureError, VerificationError
from sealroom.model import signed_actions
from sealroom.model.columns import Column, FormatType
from sealroom.model.definition import Participant, RoomDefinition, TableNode
from sealroom.model.identities import Identity, TrustRoot, check_identities, key_fingerprint
from sealroom.model.signed_actions import (
    MAX_CLOCK_SKEW_MS,
    ActionProof,
    sign_action,
    verify_action,
)

ALICE = "alice@bank.example"
BOB = "bob@insurer.example"
NOW_MS = 1_800_000_000_000
NOW = dt.datetime.fromtimestamp(NOW_MS / 1000, dt.UTC)
ALICE_KEY = SigningKey.from_bytes(bytes(range(32)))
BOB_KEY = SigningKey.from_bytes(bytes(range(1, 33)))
CA_KEY = SigningKey.from_bytes(bytes(range(2, 34)))
ROOT = create_root_certificate(
    CA_KEY, "Bank CA", not_before=NOW - dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=365)
)
CALL = signed_actions.run_computation("ab" * 32, "q", {"min": "5"}, b"\x01" * 32)


def _fingerprint(key: SigningKey) -> str:
    return key_fingerprint(key.verify_key.to_bytes())


def room(*identities: Identity, roots: tuple[TrustRoot, ...] = ()) -> RoomDefinition:
    return RoomDefinition(
        name="r",
        owner=ALICE,
        nodes=(TableNode(name="t", columns=(Column(name="a", format_type=FormatType.STRING),)),),
        participants=(Participant(email=BOB, data_owner_of=("t",)),),
        trust_roots=roots,
        identities=identities,
    )


PINNED = room(
    Identity(email=ALICE, key=_fingerprint(ALICE_KEY)),
    Identity(email=BOB, key=_fingerprint(BOB_KEY)),
)
CERTIFIED = room(
    Identity(email=ALICE, root="bank"),
    Identity(email=BOB, key=_fingerprint(BOB_KEY)),
    roots=(TrustRoot(name="bank", certificate=ROOT),),
)


def certificate(email: str = ALICE, key: SigningKey = ALICE_KEY, days: int = 90) -> bytes:
    """A certificate valid for ``days`` from now (negative: it expired that long ago)."""
    end = NOW + dt.timedelta(days=days)
    return issue_participant_certificate(
        CA_KEY,
        ROOT,
        email,
        key.verify_key,
        not_before=min(NOW, end) - dt.timedelta(days=1),
        not_after=end,
    )


def refusal(definition: RoomDefinition, email: str, proof: ActionProof | None) -> str:
    with pytest.raises(ParticipantSignatureError) as refused:
        verify_action(definition, email, CALL, proof, now_ms=NOW_MS)
    return str(refused.value)


# -- pinned keys -----------------------------------------------------------------------------
def test_a_signature_of_the_pinned_key_over_the_call_is_accepted() -> None:
    proof = sign_action(ALICE_KEY, CALL, now_ms=NOW_MS)
    assert verify_action(PINNED, "Alice@Bank.example", CALL, proof, now_ms=NOW_MS) == proof
    assert proof.fingerprint == _fingerprint(ALICE_KEY)


def test_another_persons_key_is_refused_without_naming_anybody_else() -> None:
    # A host that maps Bob's token to Alice's account relays Bob's signature as Alice's.
    message = refusal(PINNED, ALICE, sign_action(BOB_KEY, CALL, now_ms=NOW_MS))
    assert "pins another key for you" in message
    assert BOB not in message


def test_a_signature_covers_every_argument_and_the_room() -> None:
    proof = sign_action(ALICE_KEY, CALL, now_ms=NOW_MS)
    altered = [
        signed_actions.run_computation("ab" * 32, "q", {"min": "0"}, b"\x01" * 32),
        signed_actions.run_computation("ab" * 32, "other", {"min": "5"}, b"\x01" * 32),
        signed_actions.run_computation("ab" * 32, "q", {"min": "5"}, b"\x02" * 32),
        signed_actions.run_computation("cd" * 32, "q", {"min": "5"}, b"\x01" * 32),
        signed_actions.retrieve_result("ab" * 32, "q", b"\x01" * 32, None),
    ]
    for call in altered:
        with pytest.raises(ParticipantSignatureError, match="does not verify"):
            verify_action(PINNED, ALICE, call, proof, now_ms=NOW_MS)


def test_an_old_or_future_signature_is_refused_unless_reading_a_log_later() -> None:
    for skew in (MAX_CLOCK_SKEW_MS + 1, -MAX_CLOCK_SKEW_MS - 1):
        proof = sign_action(ALICE_KEY, CALL, now_ms=NOW_MS - skew)
        assert "more than 5 minutes" in refusal(PINNED, ALICE, proof)
        verify_action(PINNED, ALICE, CALL, proof, now_ms=NOW_MS, check_time=False)
    verify_action(
        PINNED,
        ALICE,
        CALL,
        sign_action(ALICE_KEY, CALL, now_ms=NOW_MS - MAX_CLOCK_SKEW_MS),
        now_ms=NOW_MS,
    )


def test_no_signature_and_no_identity_are_refused_with_what_to_do() -> None:
    assert "Sealroom-Proof" in refusal(PINNED, ALICE, None)
    unbound = room(Identity(email=ALICE, key=_fingerprint(ALICE_KEY)))
    assert "does not say how it recognises you" in refusal(
        unbound, BOB, sign_action(BOB_KEY, CALL, now_ms=NOW_MS)
    )


def test_a_tampered_signature_is_refused() -> None:
    proof = sign_action(ALICE_KEY, CALL, now_ms=NOW_MS)
    flipped = bytes([proof.signature[0] ^ 1]) + proof.signature[1:]
    forged = ActionProof(proof.public_key, proof.nonce, proof.issued_at_ms, flipped)
    assert "does not verify" in refusal(PINNED, ALICE, forged)
    renonced = ActionProof(proof.public_key, "00" * 16, proof.issued_at_ms, proof.signature)
    assert "does not verify" in refusal(PINNED, ALICE, renonced)


# -- certificates ----------------------------------------------------------------------------
def test_a_key_certified_by_the_rooms_root_for_the_address_is_accepted() -> None:
    proof = sign_action(ALICE_KEY, CALL, now_ms=NOW_MS, certificate=certificate())
    assert verify_action(CERTIFIED, ALICE, CALL, proof, now_ms=NOW_MS) == proof
    # Any key the root certifies: a new laptop's key needs no change of the room.
    new_key = SigningKey.from_bytes(bytes(range(3, 35)))
    renewed = sign_action(new_key, CALL, now_ms=NOW_MS, certificate=certificate(key=new_key))
    verify_action(CERTIFIED, ALICE, CALL, renewed, now_ms=NOW_MS)


@pytest.mark.parametrize(
    ("proof", "expected"),
    [
        pytest.param(
            sign_action(ALICE_KEY, CALL, now_ms=NOW_MS), "send your certificate", id="none"
        ),
        pytest.param(
            sign_action(ALICE_KEY, CALL, now_ms=NOW_MS, certificate=certificate(email=BOB)),
            "for another e-mail address",
            id="other-email",
        ),
        pytest.param(
            sign_action(ALICE_KEY, CALL, now_ms=NOW_MS, certificate=certificate(key=BOB_KEY)),
            "certifies another key",
            id="other-key",
        ),
        pytest.param(
            sign_action(ALICE_KEY, CALL, now_ms=NOW_MS, certificate=certificate(days=-1)),
            "not valid now",
            id="expired",
        ),
        pytest.param(
            sign_action(ALICE_KEY, CALL, now_ms=NOW_MS, certificate=b"\x30\x03\x02\x01\x00"),
            "not a DER X.509 certificate",
            id="garbage",
        ),
    ],
)
def test_a_certificate_that_does_not_certify_this_key_for_this_address_is_refused(
    proof: ActionProof, expected: str
) -> None:
    message = refusal(CERTIFIED, ALICE, proof)
    assert expected in message
    assert "trust root 'bank'" in message or expected == "send your certificate"


def test_a_certificate_from_another_ca_is_refused() -> None:
    other_ca = SigningKey.from_bytes(bytes(range(4, 36)))
    other_root = create_root_certificate(
        other_ca,
        "Bank CA",
        not_before=NOW - dt.timedelta(days=1),
        not_after=NOW + dt.timedelta(days=9),
    )
    forged = issue_participant_certificate(
        other_ca,
        other_root,
        ALICE,
        ALICE_KEY.verify_key,
        not_before=NOW - dt.timedelta(minutes=5),
        not_after=NOW + dt.timedelta(days=1),
    )
    proof = sign_action(ALICE_KEY, CALL, now_ms=NOW_MS, certificate=forged)
    assert "not issued by the room's trust root" in refusal(CERTIFIED, ALICE, proof)
    assert root_fingerprint(other_root) != root_fingerprint(ROOT)


def test_a_participant_certificate_is_not_a_root_and_a_root_must_be_a_ca() -> None:
    der = certificate()
    with pytest.raises(VerificationError):
        verify_participant_certificate(ROOT, der, ALICE, BOB_KEY.verify_key, NOW)
    pem = (
        "-----BEGIN CERTIFICATE-----\n"
        + base64.encodebytes(der).decode()
        + "-----END CERTIFICATE-----\n"
    )
    with pytest.raises(ValueError, match="CA certificate"):
        root_fingerprint(pem)
    with pytest.raises(DefinitionError, match="trust root 'x': a trust root must be a CA"):
        check_identities([TrustRoot(name="x", certificate=pem)], [])


# -- the header ------------------------------------------------------------------------------
def test_the_header_round_trips_with_and_without_a_certificate() -> None:
    for cert in (None, certificate()):
        proof = sign_action(ALICE_KEY, CALL, now_ms=NOW_MS, certificate=cert)
        assert ActionProof.from_header(proof.to_header()) == proof


@pytest.mark.parametrize(
    "header",
    [
        "",
        "not base64 at all!",
        "é",
        "A" * 20_000,
        base64.urlsafe_b64encode(b"[]").decode(),
        base64.urlsafe_b64encode(json.dumps({"public_key": "00"}).encode()).decode(),
    ],
)
def test_a_malformed_header_is_refused_as_a_bad_signature(header: str) -> None:
    with pytest.raises(ParticipantSignatureError, match="not a well-formed"):
        ActionProof.from_header(header)


def test_each_field_of_the_header_is_checked() -> None:
    good = json.loads(
        base64.urlsafe_b64decode(sign_action(ALICE_KEY, CALL, now_ms=NOW_MS).to_header() + "==")
    )
    changes = [
        {"public_key": "zz" * 32},
        {"nonce": "00"},
        {"signature": "00" * 63},
        {"issued_at_ms": True},
        {"issued_at_ms": -1},
        {"certificate": "%%%"},
        {"extra": 1},
    ]
    for change in changes:
        body = base64.urlsafe_b64encode(json.dumps({**good, **change}).encode()).decode()
        with pytest.raises(ParticipantSignatureError):
            ActionProof.from_header(body)
