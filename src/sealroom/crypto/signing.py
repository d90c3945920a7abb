"""Ed25519 signatures: audit entries, attestation evidence, signed state.

Invariant for callers: **sign domain-separated messages only.** One signing key (the core's) signs
several kinds of objects, so every message must start with a fixed, versioned purpose string
(``b"sealroom/audit-signature/v1"``, ``b"sealroom/simulated-evidence/v1"``, ...) followed by a
fixed-layout or canonical encoding. Then a signature made for one purpose can never be presented as
a signature for another. This module signs bytes and does not add the prefix itself, so that the
exact signed layout is visible at each call site.

:meth:`VerifyKey.verify` returns ``None`` or raises :class:`~sealroom.errors.VerificationError`;
it never returns a bool that could be ignored.
"""

from __future__ import annotations

from typing import ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from sealroom.errors import VerificationError

__all__ = ["SIGNATURE_SIZE", "SIGNING_KEY_SIZE", "SigningKey", "VerifyKey"]

SIGNING_KEY_SIZE = 32
"""Bytes of a raw Ed25519 private seed or public key."""

SIGNATURE_SIZE = 64
"""Bytes of an Ed25519 signature."""


class VerifyKey:
    """An Ed25519 public key."""

    __slots__ = ("_key", "_raw")

    def __init__(self, key: ed25519.Ed25519PublicKey) -> None:
        self._key = key
        self._raw = key.public_bytes_raw()

    @classmethod
    def from_bytes(cls, raw: bytes) -> VerifyKey:
        if not isinstance(raw, bytes) or len(raw) != SIGNING_KEY_SIZE:
            raise ValueError(f"an Ed25519 public key is {SIGNING_KEY_SIZE} bytes")
        return cls(ed25519.Ed25519PublicKey.from_public_bytes(raw))

    @classmethod
    def from_hex(cls, text: str) -> VerifyKey:
        try:
            raw = bytes.fromhex(text)
        except (ValueError, TypeError) as exc:
            raise ValueError("an Ed25519 public key must be hex") from exc
        return cls.from_bytes(raw)

    def to_bytes(self) -> bytes:
        return self._raw

    def hex(self) -> str:
        return self._raw.hex()

    def verify(self, message: bytes, signature: bytes) -> None:
        """Return if ``signature`` is valid for ``message``, else raise VerificationError."""
        if not isinstance(signature, bytes) or len(signature) != SIGNATURE_SIZE:
            raise VerificationError("invalid signature")
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            raise VerificationError("invalid signature") from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VerifyKey):
            return NotImplemented
        return self._raw == other._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"VerifyKey({self.hex()})"


class SigningKey:
    """An Ed25519 private key."""

    __slots__ = ("_key",)
    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def __init__(self, key: ed25519.Ed25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_bytes(cls, raw: bytes) -> SigningKey:
        if not isinstance(raw, bytes) or len(raw) != SIGNING_KEY_SIZE:
            raise ValueError(f"an Ed25519 private key is {SIGNING_KEY_SIZE} bytes")
        return cls(ed25519.Ed25519PrivateKey.from_private_bytes(raw))

    def to_bytes(self) -> bytes:
        """The raw 32-byte seed (store it only encrypted, see ``at_rest``)."""
        return self._key.private_bytes_raw()

    def sign(self, message: bytes) -> bytes:
        """Sign ``message``, which must begin with a purpose prefix (module docstring)."""
        return self._key.sign(message)

    def to_pem(self) -> str:
        """PKCS#8 PEM, unencrypted: what ``sealroom keys export`` writes (protect the file)."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")

    @classmethod
    def from_pem(cls, pem: str) -> SigningKey:
        """An Ed25519 key from unencrypted PKCS#8 PEM; ValueError for anything else."""
        try:
            key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
        except (ValueError, TypeError, UnicodeEncodeError):
            raise ValueError("not an unencrypted PEM private key") from None
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise ValueError("not an Ed25519 private key")
        return cls(key)

    def private_key(self) -> ed25519.Ed25519PrivateKey:
        """The ``cryptography`` key, for the crypto package's own recipes (certificates)."""
        return self._key

    @property
    def verify_key(self) -> VerifyKey:
        return VerifyKey(self._key.public_key())

    def __repr__(self) -> str:
        return f"SigningKey(<secret>, public={self.verify_key.hex()})"
