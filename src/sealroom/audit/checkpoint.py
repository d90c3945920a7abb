"""Signed checkpoints of a room's audit log, in the C2SP signed-note and checkpoint formats.

Signed note (c2sp.org/signed-note), Ed25519 only::

    note       = text "\\n" signature-line+          (text ends with "\\n")
    sig line   = "— " key-name " " base64(key-id(4 bytes) || Ed25519 signature(text))) "\\n"
    key-id     = SHA-256(key-name || "\\n" || 0x01 || public key)[:4]
    verifier   = key-name "+" hex(key-id) "+" base64(0x01 || public key)

Checkpoint (c2sp.org/tlog-checkpoint): the note's text is ``origin "\\n" size "\\n"
base64(root) "\\n"``. The origin of a room's log is ``sealroom/rooms/<room id>/audit`` and the key
name is the origin, so a checkpoint of one room never verifies as another room's.

Known answers: the signed-note example of the C2SP specification and the ``PeterNeumann`` note of
Go's golang.org/x/mod/sumdb/note tests (``tests/unit/test_audit_checkpoint.py``).

Invariants: parsing is strict (one text, lines as specified, decimal size without leading zeros,
32-byte root, at most :data:`MAX_NOTE_BYTES`); :func:`open_checkpoint` raises
:class:`~sealroom.errors.VerificationError` naming the failed check unless the note carries a valid
signature by the expected key for the expected origin. Every signature line is parsed, including
other signers' and those after ours: a malformed line anywhere refuses the note (as Go's
``note.Open`` does), so a verified note has one spelling.

Profile: the specification lets a note's text contain blank lines (the signature block starts
after the last one). Sealroom's texts (checkpoints) never do, so :func:`sign_note` refuses them
and :func:`open_note` splits at the first blank line: what follows must be signature lines only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Final

from sealroom.crypto import SigningKey, VerifyKey
from sealroom.errors import VerificationError

__all__ = [
    "MAX_NOTE_BYTES",
    "Checkpoint",
    "key_id",
    "open_checkpoint",
    "open_note",
    "room_origin",
    "sign_checkpoint",
    "sign_note",
    "verifier_key",
]

#: Longest note accepted: a checkpoint is ~150 bytes; a few signatures fit easily.
MAX_NOTE_BYTES: Final = 8192
_ED25519: Final = b"\x01"
_SIGNATURE_PREFIX: Final = "\u2014 "  # em dash and a space
_NAME: Final = re.compile(r"^[^\s+]+$")
# c2sp.org/signed-note: no ASCII control character other than newline, anywhere in a note.
_CONTROL: Final = re.compile(r"[\x00-\x09\x0b-\x1f]")
_SIZE: Final = re.compile(r"^(0|[1-9][0-9]{0,19})$")
_ROOT_SIZE: Final = 32


def key_id(name: str, public_key: VerifyKey) -> bytes:
    """The 4-byte id of an Ed25519 key of ``name`` (c2sp.org/signed-note)."""
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + public_key.to_bytes()).digest()[:4]


def verifier_key(name: str, public_key: VerifyKey) -> str:
    """The verifier-key string ``name+hex(id)+base64(0x01||key)`` others use to pin the key."""
    raw = base64.b64encode(_ED25519 + public_key.to_bytes()).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{raw}"


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ValueError("a key name is non-empty and holds no space or '+'")


def sign_note(text: str, name: str, signing_key: SigningKey) -> str:
    """``text`` (ending with a newline) with one signature line by ``signing_key`` as ``name``."""
    _check_name(name)
    if not text.endswith("\n") or "\n\n" in text or text.startswith("\n"):
        raise ValueError("a note's text is non-empty lines, each ending with a newline")
    if _CONTROL.search(text):  # open_note would refuse the note
        raise ValueError("a note's text holds no control character other than newline")
    signature = signing_key.sign(text.encode())
    blob = base64.b64encode(key_id(name, signing_key.verify_key) + signature).decode()
    return f"{text}\n{_SIGNATURE_PREFIX}{name} {blob}\n"


def open_note(note: str, name: str, public_key: VerifyKey) -> str:
    """The text of ``note`` once a signature by ``public_key`` as ``name`` verifies."""
    # 1. Bounded work, and only what the specification allows: UTF-8 (a Python string with a lone
    #    surrogate, e.g. from JSON "\ud800", is not) with no control character but newline.
    try:
        size = len(note.encode())
    except UnicodeEncodeError:
        raise VerificationError("signed note: not valid UTF-8") from None
    if size > MAX_NOTE_BYTES:
        raise VerificationError("signed note: too long")
    if _CONTROL.search(note):
        raise VerificationError("signed note: control character")
    # 2. Text, blank line, signature block (see the profile in the module docstring).
    text, separator, signatures = note.partition("\n\n")
    if not separator or not text or not signatures.endswith("\n"):
        raise VerificationError("signed note: malformed (no text and signature block)")
    text += "\n"
    # 3. Every line parsed before any is trusted: junk after a valid signature is refused too.
    lines = [_signature_line(line) for line in signatures[:-1].split("\n")]
    # 4. The first line by our name and key id decides; other signers' lines (e.g. witnesses')
    #    are not ours to check, and a key id alone is never authentication.
    wanted_id = key_id(name, public_key)
    for signer, raw in lines:
        if signer != name or raw[:4] != wanted_id:
            continue
        if len(raw) != 4 + 64:
            raise VerificationError("signed note: Ed25519 signature of the wrong length")
        try:
            public_key.verify(text.encode(), raw[4:])
        except VerificationError:
            raise VerificationError(f"signed note: invalid signature by {name}") from None
        return text
    raise VerificationError(f"signed note: no signature by {name} with the expected key")


def _signature_line(line: str) -> tuple[str, bytes]:
    """The signer and the decoded ``key id || signature`` of a signature line, strictly parsed."""
    if not line.startswith(_SIGNATURE_PREFIX):
        raise VerificationError("signed note: malformed signature line")
    signer, space, blob = line[len(_SIGNATURE_PREFIX) :].partition(" ")
    if not space or not _NAME.match(signer):
        raise VerificationError("signed note: malformed signature line")
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError("signed note: signature is not base64") from None
    if base64.b64encode(raw).decode() != blob:  # no second spelling of the same bytes
        raise VerificationError("signed note: signature is not in canonical base64")
    if len(raw) <= 4:  # a key id and at least one byte of signature (as Go's note.Open)
        raise VerificationError("signed note: signature line without a signature")
    return signer, raw


def room_origin(room_id: str) -> str:
    """The checkpoint origin (and key name) of ``room_id``'s audit log."""
    return f"sealroom/rooms/{room_id}/audit"


@dataclass(frozen=True)
class Checkpoint:
    """A commitment to the first ``size`` entries of a log: their Merkle root."""

    origin: str
    size: int
    root_hash: bytes

    def text(self) -> str:
        """The checkpoint body: origin, size and base64 root, one per line."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root_hash).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        # Exactly three lines (extension lines are not used by Sealroom and refused).
        if len(lines) != 4 or lines[3] != "":
            raise VerificationError("checkpoint: expected origin, size and root lines")
        origin, size, root = lines[:3]
        if not origin or not _NAME.match(origin):
            raise VerificationError("checkpoint: malformed origin")
        if not _SIZE.match(size) or int(size) >= 2**63:
            raise VerificationError("checkpoint: malformed tree size")
        try:
            root_hash = base64.b64decode(root, validate=True)
        except (binascii.Error, ValueError):
            raise VerificationError("checkpoint: root hash is not base64") from None
        if len(root_hash) != _ROOT_SIZE or base64.b64encode(root_hash).decode() != root:
            raise VerificationError("checkpoint: root hash is not 32 bytes in canonical base64")
        return cls(origin, int(size), root_hash)


def sign_checkpoint(checkpoint: Checkpoint, signing_key: SigningKey) -> str:
    """The signed note of ``checkpoint``; the key name is its origin."""
    return sign_note(checkpoint.text(), checkpoint.origin, signing_key)


def open_checkpoint(note: str, origin: str, public_key: VerifyKey) -> Checkpoint:
    """Verify a signed checkpoint of the log ``origin`` by ``public_key`` and parse it."""
    checkpoint = Checkpoint.parse(open_note(note, origin, public_key))
    if checkpoint.origin != origin:
        raise VerificationError("checkpoint: of another log (origin differs)")
    return checkpoint
