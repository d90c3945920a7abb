"""C2SP signed notes and checkpoints: the specification's and Go's known answers, and forgeries."""

from __future__ import annotations

import base64

import pytest

from sealroom.audit import (
    Checkpoint,
    key_id,
    open_checkpoint,
    open_note,
    room_origin,
    sign_checkpoint,
    sign_note,
    verifier_key,
)
from sealroom.crypto import SigningKey, VerifyKey
from sealroom.errors import VerificationError

# golang.org/x/mod/sumdb/note, note_test.go / example_test.go.
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
# c2sp.org/signed-note, the example of the specification.
SPEC_VERIFIER = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n\u2014 example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
ROOM = "ab" * 32


def _go_key() -> SigningKey:
    raw = base64.b64decode(GO_SIGNER.split("+", 4)[4])
    assert raw[0] == 1  # Ed25519
    return SigningKey.from_bytes(raw[1:])


def _public(verifier: str) -> VerifyKey:
    return VerifyKey.from_bytes(base64.b64decode(verifier.split("+", 2)[2])[1:])


def test_go_known_answer_signs_and_opens() -> None:
    key = _go_key()
    assert verifier_key("PeterNeumann", key.verify_key) == GO_VERIFIER
    assert key_id("PeterNeumann", key.verify_key).hex() == "c74f20a3"
    assert sign_note(GO_TEXT, "PeterNeumann", key) == GO_NOTE  # Ed25519 is deterministic
    assert open_note(GO_NOTE, "PeterNeumann", key.verify_key) == GO_TEXT


def test_specification_example_opens() -> None:
    public = _public(SPEC_VERIFIER)
    assert verifier_key("example.com/foo", public) == SPEC_VERIFIER
    assert open_note(SPEC_NOTE, "example.com/foo", public) == "This is an example message.\n"


@pytest.mark.parametrize(
    "forged",
    [
        GO_NOTE.replace("cryptography", "cryptographx"),  # text changed
        GO_NOTE.replace("x08go", "x08gp"),  # key id changed: no signature by this key
        GO_NOTE.replace("JnAM=", "JnAN="),  # non-canonical base64 of the same bytes
        GO_NOTE.replace("x08go/ZJ", "x08go/ZK"),  # signature changed
        GO_NOTE.replace("\u2014", "-"),  # malformed signature line
        GO_NOTE[:-1],  # no final newline
        GO_TEXT,  # no signature at all
    ],
)
def test_forged_notes_are_refused(forged: str) -> None:
    with pytest.raises(VerificationError):
        open_note(forged, "PeterNeumann", _go_key().verify_key)


def test_a_signature_by_another_name_or_key_does_not_count() -> None:
    with pytest.raises(VerificationError, match="no signature by Someone"):
        open_note(GO_NOTE, "Someone", _go_key().verify_key)
    with pytest.raises(VerificationError):
        open_note(GO_NOTE, "PeterNeumann", SigningKey.generate().verify_key)


def test_other_signers_lines_are_skipped() -> None:
    witness = sign_note(GO_TEXT, "witness.example", SigningKey.generate())
    both = GO_NOTE + witness.split("\n\n", 1)[1]
    assert open_note(both, "PeterNeumann", _go_key().verify_key) == GO_TEXT


def test_checkpoint_round_trip_and_format() -> None:
    key = SigningKey.generate()
    checkpoint = Checkpoint(room_origin(ROOM), 42, bytes(range(32)))
    note = sign_checkpoint(checkpoint, key)
    body = note.split("\n\n")[0] + "\n"
    assert body == (
        f"sealroom/rooms/{ROOM}/audit\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    )
    assert note.split("\n\n")[1].startswith(f"\u2014 sealroom/rooms/{ROOM}/audit ")
    assert open_checkpoint(note, room_origin(ROOM), key.verify_key) == checkpoint


def test_a_checkpoint_of_another_room_is_refused() -> None:
    key = SigningKey.generate()
    note = sign_checkpoint(Checkpoint(room_origin("cd" * 32), 1, bytes(32)), key)
    with pytest.raises(VerificationError):
        open_checkpoint(note, room_origin(ROOM), key.verify_key)


@pytest.mark.parametrize(
    "body",
    [
        f"{room_origin(ROOM)}\n042\n" + base64.b64encode(bytes(32)).decode() + "\n",  # zero pad
        f"{room_origin(ROOM)}\n-1\n" + base64.b64encode(bytes(32)).decode() + "\n",
        f"{room_origin(ROOM)}\n1\n" + base64.b64encode(bytes(31)).decode() + "\n",
        f"{room_origin(ROOM)}\n1\n" + base64.b64encode(bytes(32)).decode() + "\nextra\n",
        f"{room_origin(ROOM)}\n1\n",
    ],
)
def test_malformed_checkpoints_are_refused_even_when_signed(body: str) -> None:
    key = SigningKey.generate()
    with pytest.raises(VerificationError, match="checkpoint"):
        open_checkpoint(sign_note(body, room_origin(ROOM), key), room_origin(ROOM), key.verify_key)
