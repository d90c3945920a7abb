"""Sealing: public-key encryption to the trusted core (HPKE, RFC 9180, base mode).

Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM. Dataset keys are sealed by data
owners to the core's attested KEM public key; job results are sealed by the core to an analyst's
ephemeral key.

Wire format of a sealed message (version 1)::

    0x01 || enc (32 bytes, the ephemeral X25519 public key) || AES-256-GCM ciphertext || tag (16)

The leading byte names the suite, so that a later version (for example the post-quantum hybrid
ML-KEM-768 + X25519) can be introduced without ambiguity.

Invariants:

* Every sealed message is bound to a *context*: canonical JSON naming its purpose and the objects
  it belongs to, passed as the HPKE ``info`` (the library's single-shot API has no AAD, and
  ``info`` enters the key schedule, so a different context derives a different key). Build
  contexts only with the functions here (:func:`dataset_key_context`,
  :func:`dataset_test_key_context`, :func:`result_context`), which give each purpose its
  own domain: a dataset key sealed for room A, node X, dataset D does not open as anything
  else, and a key published to a room does not open in a test run.
* :func:`open_sealed` raises :class:`~sealroom.errors.DecryptionError` on every failure (wrong
  key, wrong context, truncated or tampered), with no detail that could act as an oracle.
"""

from __future__ import annotations

from typing import ClassVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import x25519

from sealroom.crypto.canonical import canonical_json
from sealroom.errors import DecryptionError

__all__ = [
    "KEM_KEY_SIZE",
    "SEALED_OVERHEAD",
    "KemPrivateKey",
    "KemPublicKey",
    "dataset_key_context",
    "dataset_test_key_context",
    "open_sealed",
    "result_context",
    "seal",
]

KEM_KEY_SIZE = 32
"""Bytes of a raw X25519 private or public key."""

_VERSION_X25519_SHA256_AES256GCM = b"\x01"
_ENC_SIZE = 32
_TAG_SIZE = 16
SEALED_OVERHEAD = 1 + _ENC_SIZE + _TAG_SIZE
"""Bytes a sealed message adds to its plaintext."""

_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
# Any private key finds low-order public keys; a fixed one keeps parsing deterministic.
_LOW_ORDER_PROBE = x25519.X25519PrivateKey.from_private_bytes(bytes(range(1, KEM_KEY_SIZE + 1)))


class KemPublicKey:
    """An X25519 public key that messages can be sealed to."""

    __slots__ = ("_key", "_raw")

    def __init__(self, key: x25519.X25519PublicKey) -> None:
        self._key = key
        self._raw = key.public_bytes_raw()

    @classmethod
    def from_bytes(cls, raw: bytes) -> KemPublicKey:
        """Parse a raw key; refuse a low-order point (all zeros, one, …: RFC 7748 §6.1).

        Every secret shared with such a point is all zeros, so nothing sealed to it would be
        secret; the library refuses it only at the exchange, deep inside :func:`seal`, where
        it surfaced as a server error.
        """
        if not isinstance(raw, bytes) or len(raw) != KEM_KEY_SIZE:
            raise ValueError(f"an X25519 public key is {KEM_KEY_SIZE} bytes")
        key = x25519.X25519PublicKey.from_public_bytes(raw)
        try:
            # A clamped scalar is a multiple of the cofactor: the product is the neutral
            # element, which the library refuses, exactly when the point has low order.
            _LOW_ORDER_PROBE.exchange(key)
        except ValueError:
            raise ValueError("an X25519 public key must not be a low-order point") from None
        return cls(key)

    @classmethod
    def from_hex(cls, text: str) -> KemPublicKey:
        try:
            raw = bytes.fromhex(text)
        except (ValueError, TypeError) as exc:
            raise ValueError("an X25519 public key must be hex") from exc
        return cls.from_bytes(raw)

    def to_bytes(self) -> bytes:
        return self._raw

    def hex(self) -> str:
        return self._raw.hex()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KemPublicKey):
            return NotImplemented
        return self._raw == other._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"KemPublicKey({self.hex()})"


class KemPrivateKey:
    """An X25519 private key: opens what was sealed to its public key."""

    __slots__ = ("_key",)
    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def __init__(self, key: x25519.X25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> KemPrivateKey:
        return cls(x25519.X25519PrivateKey.generate())

    @classmethod
    def from_bytes(cls, raw: bytes) -> KemPrivateKey:
        if not isinstance(raw, bytes) or len(raw) != KEM_KEY_SIZE:
            raise ValueError(f"an X25519 private key is {KEM_KEY_SIZE} bytes")
        return cls(x25519.X25519PrivateKey.from_private_bytes(raw))

    def to_bytes(self) -> bytes:
        """The raw 32 private bytes (store them only encrypted, see ``at_rest``)."""
        return self._key.private_bytes_raw()

    @property
    def public_key(self) -> KemPublicKey:
        return KemPublicKey(self._key.public_key())

    def __repr__(self) -> str:
        return f"KemPrivateKey(<secret>, public={self.public_key.hex()})"


def seal(public_key: KemPublicKey, plaintext: bytes, *, context: bytes) -> bytes:
    """Encrypt ``plaintext`` to ``public_key``, bound to ``context`` (from a ``*_context``)."""
    if not isinstance(public_key, KemPublicKey):
        raise TypeError(f"public_key must be a KemPublicKey, not {type(public_key).__name__}")
    return _VERSION_X25519_SHA256_AES256GCM + _SUITE.encrypt(
        plaintext, public_key._key, info=context
    )


def open_sealed(private_key: KemPrivateKey, sealed: bytes, *, context: bytes) -> bytes:
    """Open a message sealed to ``private_key`` under exactly ``context``.

    Raises :class:`~sealroom.errors.DecryptionError` for any failure, deliberately without saying
    which (wrong key, other context, tampered or truncated message).
    """
    if not isinstance(private_key, KemPrivateKey):
        raise TypeError(f"private_key must be a KemPrivateKey, not {type(private_key).__name__}")
    failure = DecryptionError("sealed message could not be opened (wrong key, context or tampered)")
    if len(sealed) < SEALED_OVERHEAD or sealed[:1] != _VERSION_X25519_SHA256_AES256GCM:
        raise failure
    try:
        return _SUITE.decrypt(sealed[1:], private_key._key, info=context)
    except (InvalidTag, ValueError):
        # ValueError: a malformed encapsulated key (e.g. a low-order X25519 point).
        raise failure from None


def dataset_key_context(room_id: str, node_id: str, dataset_id: str) -> bytes:
    """Context for a dataset key *published* to one data node of one room.

    Binding all three stops the host replaying a sealed key into another room, onto another node,
    or next to another dataset. Its purpose differs from :func:`dataset_test_key_context`, so a
    published key never opens in a test run, nor a test key as a publication.
    """
    return _context(
        "sealroom/dataset-key/v1", room_id=room_id, node_id=node_id, dataset_id=dataset_id
    )


def dataset_test_key_context(draft_id: str, node_id: str, dataset_id: str, test_run: str) -> bytes:
    """Context for a dataset key lent to *one test run* of a draft (never to a room).

    ``test_run`` is a fresh random id the SDK draws for the run; the core refuses an id it has
    seen, so a host that kept the sealed key cannot replay it into another run.
    """
    return _context(
        "sealroom/test-dataset-key/v1",
        draft_id=draft_id,
        node_id=node_id,
        dataset_id=dataset_id,
        test_run=test_run,
    )


def result_context(room_id: str, job_id: str, result_format: str) -> bytes:
    """Context for a job's result sealed to the analyst's key named at submission."""
    return _context(
        "sealroom/job-result/v2", room_id=room_id, job_id=job_id, result_format=result_format
    )


def statistics_context(room_id: str, node_id: str, dataset_id: str) -> bytes:
    """Context for a dataset's summary statistics sealed to a participant's key."""
    return _context(
        "sealroom/dataset-statistics/v1", room_id=room_id, node_id=node_id, dataset_id=dataset_id
    )


def _context(purpose: str, **fields: str) -> bytes:
    for name, value in fields.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"sealing context field {name!r} must be a non-empty str")
    # Canonical JSON: unambiguous (no concatenation collisions), and "purpose" separates domains.
    return canonical_json({"purpose": purpose, **fields})
