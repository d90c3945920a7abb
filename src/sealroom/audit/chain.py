"""The audit log of a room: a hash chain of signed entries, and its verifier.

Byte formats (version 1; ``||`` is concatenation, ``u64be`` an unsigned big-endian 64-bit int)::

    genesis(room_id)  = SHA-256("sealroom/audit-genesis/v1" || utf8(room_id))
    entry_hash        = SHA-256("sealroom/audit-entry/v1" || prev_hash || canonical(event))
    signed message    = "sealroom/audit-signature/v1" || utf8(room_id) || u64be(seq) || entry_hash
    signature         = Ed25519(core signing key, signed message)

Entry ``seq`` links to entry ``seq - 1`` by ``prev_hash``; entry 0 links to ``genesis(room_id)``.
Every field is fixed-length except the room id, which is the only variable part of its message, so
no two different inputs share an encoding.

What verification proves, and what it does not:

* :func:`verify_entries` proves that the entries are *a* history written by the holder of the
  signing key, for this room, complete from entry 0 and unaltered (checklist in the function).
* It cannot tell, on its own, that entries were cut off **at the end**: a truncated log is a valid
  shorter log. Detecting that needs a head the client already trusts — pass ``expected_head``
  (a signed checkpoint of the current head) or ``extends`` (a head seen earlier, which the log must
  still contain). The Merkle-tree issue adds signed checkpoints and consistency proofs; the chain
  is kept behind :class:`AuditChain` / :func:`verify_entries` / :class:`VerifiedAuditLog` so the
  tree can replace it without changing callers.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sealroom.audit.events import AuditAction, AuditEvent, DetailValue
from sealroom.crypto import SigningKey, VerifyKey
from sealroom.errors import VerificationError

__all__ = [
    "HASH_SIZE",
    "AuditChain",
    "SignedEntry",
    "VerifiedAuditLog",
    "compute_entry_hash",
    "genesis_hash",
    "signature_message",
    "verify_entries",
]

HASH_SIZE = 32
"""Bytes of ``prev_hash`` and ``entry_hash`` (SHA-256)."""

_GENESIS_DOMAIN = b"sealroom/audit-genesis/v1"
_ENTRY_DOMAIN = b"sealroom/audit-entry/v1"
_SIGNATURE_DOMAIN = b"sealroom/audit-signature/v1"


def genesis_hash(room_id: str) -> bytes:
    """The ``prev_hash`` of entry 0 of ``room_id``'s log: ties the log to the room."""
    return hashlib.sha256(_GENESIS_DOMAIN + room_id.encode("utf-8")).digest()


def compute_entry_hash(prev_hash: bytes, event: AuditEvent) -> bytes:
    """The hash of an entry: commits to the previous entry and to every field of the event."""
    if len(prev_hash) != HASH_SIZE:
        raise ValueError(f"prev_hash must be {HASH_SIZE} bytes")
    return hashlib.sha256(_ENTRY_DOMAIN + prev_hash + event.to_canonical()).digest()


def signature_message(room_id: str, seq: int, entry_hash: bytes) -> bytes:
    """The exact bytes the core signs for entry ``seq`` of ``room_id``."""
    return _SIGNATURE_DOMAIN + room_id.encode("utf-8") + struct.pack(">Q", seq) + entry_hash


@dataclass(frozen=True)
class SignedEntry:
    """One audit-log entry: the event, its link to the previous entry, its hash and signature."""

    event: AuditEvent
    prev_hash: bytes = field(repr=False)
    entry_hash: bytes
    signature: bytes = field(repr=False)

    @property
    def seq(self) -> int:
        return self.event.seq

    @property
    def room_id(self) -> str:
        return self.event.room_id


class AuditChain:
    """The writable head of one room's log, held by the trusted core.

    ``append`` assigns the next ``seq``, links, hashes and signs. It holds a lock so that
    concurrent actions in one room get distinct, contiguous sequence numbers; persisting the
    returned entry (and not appending again if that fails) is the caller's job.
    """

    def __init__(self, room_id: str, head_seq: int = -1, head_hash: bytes | None = None) -> None:
        if not isinstance(room_id, str) or not room_id:
            raise ValueError("room_id must be a non-empty str")
        if isinstance(head_seq, bool) or not isinstance(head_seq, int) or head_seq < -1:
            raise ValueError("head_seq must be an int >= -1")
        if head_hash is None:
            if head_seq != -1:
                raise ValueError("head_hash is required when the log is not empty")
            head_hash = genesis_hash(room_id)
        elif len(head_hash) != HASH_SIZE:
            raise ValueError(f"head_hash must be {HASH_SIZE} bytes")
        self._room_id = room_id
        self._head_seq = head_seq
        self._head_hash = bytes(head_hash)
        self._lock = threading.Lock()

    @classmethod
    def resume(cls, log: VerifiedAuditLog) -> AuditChain:
        """Continue a log that was loaded from (untrusted) storage and verified."""
        return cls(log.room_id, log.head_seq, log.head_hash)

    @property
    def room_id(self) -> str:
        return self._room_id

    @property
    def head_seq(self) -> int:
        return self._head_seq

    @property
    def head_hash(self) -> bytes:
        return self._head_hash

    @property
    def size(self) -> int:
        return self._head_seq + 1

    def append(
        self,
        *,
        timestamp_ms: int,
        user: str,
        action: AuditAction,
        notes: str,
        details: Mapping[str, DetailValue],
        signer: SigningKey,
    ) -> SignedEntry:
        """Record one event and return the signed entry."""
        with self._lock:
            event = AuditEvent(
                room_id=self._room_id,
                seq=self._head_seq + 1,
                timestamp_ms=timestamp_ms,
                user=user,
                action=action,
                notes=notes,
                details=details,
            )
            entry_hash = compute_entry_hash(self._head_hash, event)
            signature = signer.sign(signature_message(self._room_id, event.seq, entry_hash))
            entry = SignedEntry(
                event=event, prev_hash=self._head_hash, entry_hash=entry_hash, signature=signature
            )
            self._head_seq = event.seq
            self._head_hash = entry_hash
            return entry


_VERIFIER_TOKEN = object()


class VerifiedAuditLog:
    """A room's audit log that passed :func:`verify_entries`. Only the verifier builds one."""

    __slots__ = ("_entries", "_head_hash", "_room_id")

    def __init__(
        self, token: object, room_id: str, entries: tuple[SignedEntry, ...], head_hash: bytes
    ) -> None:
        if token is not _VERIFIER_TOKEN:
            raise TypeError("VerifiedAuditLog is built only by verify_entries()")
        self._room_id = room_id
        self._entries = entries
        self._head_hash = head_hash

    @property
    def room_id(self) -> str:
        return self._room_id

    @property
    def entries(self) -> tuple[SignedEntry, ...]:
        return self._entries

    @property
    def events(self) -> tuple[AuditEvent, ...]:
        return tuple(entry.event for entry in self._entries)

    @property
    def head_hash(self) -> bytes:
        """Hash of the last entry (the genesis hash for an empty log)."""
        return self._head_hash

    @property
    def head_seq(self) -> int:
        """``seq`` of the last entry, -1 for an empty log."""
        return len(self._entries) - 1

    @property
    def size(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"VerifiedAuditLog(room_id={self._room_id!r}, size={self.size})"


def verify_entries(
    room_id: str,
    entries: Sequence[SignedEntry],
    verify_key: VerifyKey,
    *,
    expected_head: tuple[int, bytes] | None = None,
    extends: tuple[int, bytes] | None = None,
) -> VerifiedAuditLog:
    """Verify a complete audit log of ``room_id`` (from entry 0) signed by ``verify_key``.

    ``expected_head=(seq, hash)``: the log must end exactly there (a head from a signed
    checkpoint). ``extends=(seq, hash)``: the log must contain that entry, i.e. be an extension of
    a history seen earlier. Raises :class:`~sealroom.errors.VerificationError` naming the ``seq``.
    """
    prev_hash = genesis_hash(room_id)
    for position, entry in enumerate(entries):
        event = entry.event
        # 1. Room id: stops splicing in entries of another room's log (same key, other room).
        if event.room_id != room_id:
            raise VerificationError(f"audit entry {position}: belongs to another room")
        # 2. Contiguous seq from 0: stops dropping, duplicating or reordering entries.
        if event.seq != position:
            raise VerificationError(
                f"audit entry {position}: has seq {event.seq}, expected {position} "
                "(entries missing, duplicated or reordered)"
            )
        # 3. Link to the previous entry (the genesis hash for entry 0): stops splicing histories.
        if not hmac.compare_digest(entry.prev_hash, prev_hash):
            raise VerificationError(f"audit entry {position}: does not link to the previous entry")
        # 4. Recompute the hash: stops changing any field of the event after it was written.
        entry_hash = compute_entry_hash(prev_hash, event)
        if not hmac.compare_digest(entry.entry_hash, entry_hash):
            raise VerificationError(f"audit entry {position}: hash does not match its content")
        # 5. Signature by the core over (room, seq, hash): stops the untrusted host forging or
        #    rewriting history, since it does not hold the core's signing key.
        try:
            verify_key.verify(signature_message(room_id, position, entry_hash), entry.signature)
        except VerificationError:
            raise VerificationError(f"audit entry {position}: invalid signature") from None
        prev_hash = entry_hash
    head_seq = len(entries) - 1
    # 6. Optional trusted heads: stop truncation of the tail and forks (see module docstring).
    if expected_head is not None:
        seq, head = expected_head
        if seq != head_seq or not hmac.compare_digest(head, prev_hash):
            raise VerificationError(
                f"audit log ends at seq {head_seq}, expected head at seq {seq} "
                "(truncated, extended or forked)"
            )
    if extends is not None:
        seq, head = extends
        if seq < -1:
            raise ValueError("extends: seq must be >= -1")
        if seq > head_seq:
            raise VerificationError(
                f"audit log ends at seq {head_seq}, before the known entry {seq} (truncated)"
            )
        known = entries[seq].entry_hash if seq >= 0 else genesis_hash(room_id)
        if not hmac.compare_digest(known, head):
            raise VerificationError(f"audit entry {seq}: differs from the known head (forked)")
    return VerifiedAuditLog(_VERIFIER_TOKEN, room_id, tuple(entries), prev_hash)
