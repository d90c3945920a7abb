"""C2SP signed notes and checkpoints: the specification's and Go's known answers, and forgeries."""

from __future__ import annotations

import base64
from collections.abc import Callable

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
from sealroom.audit.checkpoint import MAX_NOTE_BYTES
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


GO_PUBLIC = _public(GO_VERIFIER)
GO_LINE = GO_NOTE[len(GO_TEXT) + 1 :]  # "— PeterNeumann <base64>\n"
GO_ID = key_id("PeterNeumann", GO_PUBLIC)
WITNESS = SigningKey.from_bytes(bytes([9]) * 32)
WITNESS_LINE = sign_note(GO_TEXT, "witness.example", WITNESS)[len(GO_TEXT) + 1 :]
WITNESS_ID = key_id("witness.example", WITNESS.verify_key)
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _line(name: str, raw: bytes) -> str:
    return f"\u2014 {name} {base64.b64encode(raw).decode()}\n"


def _non_canonical(line: str) -> str:
    """``line`` with the unused low bits of its last base64 digit set: the same bytes, respelled."""
    assert line.endswith("=\n")
    assert not line.endswith("==\n")  # one "=": the last digit has two spare bits
    digit = line[-3]
    return line[:-3] + _B64[_B64.index(digit) + 1] + "=\n"


def _reason(call: Callable[[], object], error: type[Exception] = VerificationError) -> str:
    """The message of the ``error`` ``call`` raises: what a user or an auditor reads."""
    with pytest.raises(error) as excinfo:
        call()
    return str(excinfo.value)


def _note_reason(note: str) -> str:
    return _reason(lambda: open_note(note, "PeterNeumann", GO_PUBLIC))


# Each malformed or forged note, and the reason it is refused with (c2sp.org/signed-note, and Go's
# note.Open, which refuses a malformed line wherever it is).
MALFORMED = "signed note: malformed signature line"
NO_BLOCK = "signed note: malformed (no text and signature block)"
FORGED_NOTES: dict[str, tuple[str, str]] = {
    # --- the note as a whole
    "lone_surrogate": (GO_NOTE.replace("answer", "\ud800"), "signed note: not valid UTF-8"),
    "nul": (GO_NOTE.replace(" the answer", "\x00the answer"), "signed note: control character"),
    "tab": (GO_NOTE.replace(" the answer", "\tthe answer"), "signed note: control character"),
    "vertical_tab": (GO_NOTE.replace(" the", "\x0bthe"), "signed note: control character"),
    "unit_separator": (GO_NOTE.replace(" the", "\x1fthe"), "signed note: control character"),
    "crlf": (GO_NOTE.replace("\n", "\r\n"), "signed note: control character"),
    "no_blank_line": (GO_TEXT, NO_BLOCK),
    "no_final_newline": (GO_NOTE[:-1], NO_BLOCK),
    "no_text": ("\n" + GO_LINE, NO_BLOCK),
    "empty_first_line": ("\n\n" + GO_LINE, NO_BLOCK),
    "empty_signature_block": (GO_TEXT + "\n", NO_BLOCK),
    # --- signature lines, ours or anyone's, before or after ours
    "hyphen": (GO_NOTE.replace("\u2014", "-"), MALFORMED),
    "en_dash": (GO_NOTE.replace("\u2014", "\u2013"), MALFORMED),
    "dash_without_space": (GO_NOTE.replace("\u2014 ", "\u2014"), MALFORMED),
    "no_space_before_signature": (GO_NOTE.replace("PeterNeumann ", "PeterNeumann"), MALFORMED),
    "plus_in_signer": (GO_NOTE.replace("PeterNeumann", "Peter+Neumann"), MALFORMED),
    "blank_line_before_signatures": (GO_TEXT + "\n\n" + GO_LINE, MALFORMED),
    "blank_line_in_text": ("a\n\n" + GO_NOTE, MALFORMED),  # allowed by c2sp, not by Sealroom
    "junk_after_our_signature": (GO_NOTE + "junk\n", MALFORMED),
    "blank_line_after_our_signature": (GO_NOTE + "\n", MALFORMED),
    "malformed_witness_after_ours": (GO_NOTE + WITNESS_LINE.replace(" ", "", 1), MALFORMED),
    "malformed_line_before_ours": (GO_TEXT + "\n- x\n" + GO_LINE, MALFORMED),
    "not_base64": (GO_NOTE.replace("x08go", "x08g!"), "signed note: signature is not base64"),
    "url_safe_base64": (GO_NOTE.replace("/", "_"), "signed note: signature is not base64"),
    "unpadded": (GO_NOTE.replace("JnAM=", "JnAM"), "signed note: signature is not base64"),
    "space_in_signature": (
        GO_NOTE.replace("PeterNeumann ", "PeterNeumann  "),
        "signed note: signature is not base64",
    ),
    "non_canonical_base64": (
        GO_NOTE.replace("JnAM=", "JnAN="),  # same bytes, another spelling
        "signed note: signature is not in canonical base64",
    ),
    "witness_non_canonical": (
        GO_NOTE + _non_canonical(WITNESS_LINE),
        "signed note: signature is not in canonical base64",
    ),
    "empty_signature": (
        GO_TEXT + "\n\u2014 PeterNeumann \n",
        "signed note: signature line without a signature",
    ),
    "key_id_only": (
        GO_TEXT + "\n" + _line("PeterNeumann", GO_ID),
        "signed note: signature line without a signature",
    ),
    "witness_key_id_only": (
        GO_NOTE + _line("witness.example", b"\x01\x02\x03\x04"),
        "signed note: signature line without a signature",
    ),
    # --- our signature line, well formed but wrong
    "one_byte_signature": (
        GO_TEXT + "\n" + _line("PeterNeumann", GO_ID + b"\x00"),
        "signed note: Ed25519 signature of the wrong length",
    ),
    "short_signature": (
        GO_TEXT + "\n" + _line("PeterNeumann", GO_ID + bytes(63)),
        "signed note: Ed25519 signature of the wrong length",
    ),
    "long_signature": (
        GO_TEXT + "\n" + _line("PeterNeumann", GO_ID + bytes(65)),
        "signed note: Ed25519 signature of the wrong length",
    ),
    "text_changed": (
        GO_NOTE.replace("cryptography", "cryptographx"),
        "signed note: invalid signature by PeterNeumann",
    ),
    "signature_changed": (
        GO_NOTE.replace("x08go/ZJ", "x08go/ZK"),
        "signed note: invalid signature by PeterNeumann",
    ),
    "bad_signature_before_good": (
        GO_TEXT + "\n" + _line("PeterNeumann", GO_ID + bytes(64)) + GO_LINE,
        "signed note: invalid signature by PeterNeumann",  # the first line by our key decides
    ),
    "key_id_changed": (
        GO_NOTE.replace("x08go", "x08gp"),
        "signed note: no signature by PeterNeumann with the expected key",
    ),
    "only_a_witness": (
        GO_TEXT + "\n" + WITNESS_LINE,
        "signed note: no signature by PeterNeumann with the expected key",
    ),
    "our_key_id_another_name": (
        GO_NOTE.replace("PeterNeumann", "PeterNeumanm"),
        "signed note: no signature by PeterNeumann with the expected key",
    ),
}


@pytest.mark.parametrize("case", sorted(FORGED_NOTES))
def test_malformed_and_forged_notes_are_refused_with_their_reason(case: str) -> None:
    note, reason = FORGED_NOTES[case]
    assert _note_reason(note) == reason


def test_a_signature_by_another_name_or_key_does_not_count() -> None:
    assert (
        _reason(lambda: open_note(GO_NOTE, "Someone", GO_PUBLIC))
        == "signed note: no signature by Someone with the expected key"
    )
    other = SigningKey.generate().verify_key
    assert (
        _reason(lambda: open_note(GO_NOTE, "PeterNeumann", other))
        == "signed note: no signature by PeterNeumann with the expected key"
    )


@pytest.mark.parametrize("witness_first", [True, False])
def test_other_signers_lines_are_skipped_wherever_they_are(witness_first: bool) -> None:
    lines = [WITNESS_LINE, GO_LINE] if witness_first else [GO_LINE, WITNESS_LINE]
    both = GO_TEXT + "\n" + "".join(lines)
    assert open_note(both, "PeterNeumann", GO_PUBLIC) == GO_TEXT
    assert open_note(both, "witness.example", WITNESS.verify_key) == GO_TEXT


def test_other_signers_signatures_are_not_ours_to_check() -> None:
    # Well formed but not verifying, or not even Ed25519-sized: only the expected key's counts.
    short = _line("witness.example", b"\x01\x02\x03\x04\x05")
    zeros = _line("witness.example", WITNESS_ID + bytes(64))
    for extra in (short, zeros):
        assert open_note(GO_TEXT + "\n" + extra + GO_LINE, "PeterNeumann", GO_PUBLIC) == GO_TEXT


def _note_of(size: int, key: SigningKey) -> str:
    """A validly signed note of exactly ``size`` UTF-8 bytes, its text mostly two-byte letters."""
    overhead = len(sign_note("x\n", "PeterNeumann", key).encode()) - len(b"x\n")
    text_bytes = size - overhead - 1  # without the text's final newline
    text = "\u00e9" * (text_bytes // 2) + "x" * (text_bytes % 2) + "\n"
    note = sign_note(text, "PeterNeumann", key)
    assert len(note.encode()) == size
    return note


def test_the_size_limit_counts_utf8_bytes_and_is_inclusive() -> None:
    key = _go_key()
    at_limit = _note_of(MAX_NOTE_BYTES, key)
    assert open_note(at_limit, "PeterNeumann", key.verify_key).endswith("\u00e9\n")
    over = _note_of(MAX_NOTE_BYTES + 1, key)
    assert len(over) < MAX_NOTE_BYTES  # in characters it would pass
    assert _reason(lambda: open_note(over, "PeterNeumann", key.verify_key)) == (
        "signed note: too long"
    )


@pytest.mark.parametrize("name", ["", "two words", "tab\tname", "a+b", "+", "nbsp\u00a0name"])
def test_sign_note_refuses_a_key_name_the_format_cannot_carry(name: str) -> None:
    refusal = _reason(lambda: sign_note(GO_TEXT, name, _go_key()), ValueError)
    assert refusal == "a key name is non-empty and holds no space or '+'"


@pytest.mark.parametrize(
    "text", ["", "\n", "no final newline", "\nleading blank line\n", "two\n\nparagraphs\n"]
)
def test_sign_note_refuses_a_text_that_is_not_non_empty_lines(text: str) -> None:
    refusal = _reason(lambda: sign_note(text, "PeterNeumann", _go_key()), ValueError)
    assert refusal == "a note's text is non-empty lines, each ending with a newline"


@pytest.mark.parametrize("text", ["tab\there\n", "crlf\r\n", "nul\x00\n", "esc\x1b\n"])
def test_sign_note_refuses_control_characters(text: str) -> None:
    # open_note would refuse the note: what sign_note emits always opens.
    refusal = _reason(lambda: sign_note(text, "PeterNeumann", _go_key()), ValueError)
    assert refusal == "a note's text holds no control character other than newline"


@pytest.mark.parametrize("text", ["x\n", "one\ntwo\n", "caf\u00e9 \u2014 \x7f\n", "  spaced  \n"])
def test_what_sign_note_emits_opens(text: str) -> None:
    key = _go_key()
    assert open_note(sign_note(text, "PeterNeumann", key), "PeterNeumann", key.verify_key) == text


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
    other_room = Checkpoint(room_origin("cd" * 32), 1, bytes(32))
    note = sign_checkpoint(other_room, key)
    # Signed under the other room's origin as key name: not a signature by this room's log.
    assert _reason(lambda: open_checkpoint(note, room_origin(ROOM), key.verify_key)) == (
        f"signed note: no signature by {room_origin(ROOM)} with the expected key"
    )
    # Signed under this room's name but about another log: the body says so.
    relabelled = sign_note(other_room.text(), room_origin(ROOM), key)
    assert _reason(lambda: open_checkpoint(relabelled, room_origin(ROOM), key.verify_key)) == (
        "checkpoint: of another log (origin differs)"
    )


ROOT = base64.b64encode(bytes(range(32))).decode()
LINES = "checkpoint: expected origin, size and root lines"
SIZE = "checkpoint: malformed tree size"
NOT_BASE64 = "checkpoint: root hash is not base64"
NOT_CANONICAL = "checkpoint: root hash is not 32 bytes in canonical base64"


def _body(size: str = "1", root: str = ROOT, origin: str = room_origin(ROOM)) -> str:
    return f"{origin}\n{size}\n{root}\n"


def _signed_reason(body: str) -> str:
    key = SigningKey.generate()
    note = sign_note(body, room_origin(ROOM), key)
    return _reason(lambda: open_checkpoint(note, room_origin(ROOM), key.verify_key))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_body() + "extension\n", LINES),  # extension lines: not used by Sealroom
        (f"{room_origin(ROOM)}\n1\n", LINES),
        (_body(origin="two words"), "checkpoint: malformed origin"),
        (_body(origin="a+b"), "checkpoint: malformed origin"),
        (_body(size="042"), SIZE),  # no leading zeros: one spelling per size
        (_body(size="00"), SIZE),
        (_body(size="-1"), SIZE),
        (_body(size="+1"), SIZE),
        (_body(size="1.0"), SIZE),
        (_body(size="\u0661"), SIZE),  # ARABIC-INDIC DIGIT ONE: a digit to int(), not here
        (_body(size=str(2**63)), SIZE),  # sizes are below 2^63, as Go's tlog parser requires
        (_body(size=str(2**64)), SIZE),
        (_body(size="9" * 20), SIZE),
        (_body(size="1" + "0" * 20), SIZE),
        (_body(root=ROOT.replace("=", "")), NOT_BASE64),  # unpadded
        (_body(root=base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode()), NOT_BASE64),
        (_body(root=ROOT[:20] + " " + ROOT[20:]), NOT_BASE64),
        (_body(root=base64.b64encode(bytes(31)).decode()), NOT_CANONICAL),
        (_body(root=base64.b64encode(bytes(33)).decode()), NOT_CANONICAL),
        (_body(root=_non_canonical(f"{ROOT}\n")[:-1]), NOT_CANONICAL),  # same 32 bytes
    ],
)
def test_malformed_checkpoints_are_refused_even_when_signed(body: str, reason: str) -> None:
    assert _signed_reason(body) == reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("\n1\n" + ROOT + "\n", "checkpoint: malformed origin"),  # sign_note cannot make it
        (_body()[:-1], LINES),  # no final newline
        (_body() + "x", LINES),
        (_body() + "\n", LINES),
        (_body(root=""), NOT_CANONICAL),  # an empty line: no note text can hold it
    ],
)
def test_checkpoint_text_must_be_exactly_three_lines(text: str, reason: str) -> None:
    assert _reason(lambda: Checkpoint.parse(text)) == reason


@pytest.mark.parametrize("size", [0, 1, 10, 2**32, 2**63 - 1])
def test_tree_sizes_up_to_2_to_the_63_minus_1_open(size: int) -> None:
    key = SigningKey.generate()
    checkpoint = Checkpoint(room_origin(ROOM), size, bytes(range(32)))
    note = sign_checkpoint(checkpoint, key)
    assert f"\n{size}\n" in note
    assert open_checkpoint(note, room_origin(ROOM), key.verify_key) == checkpoint
