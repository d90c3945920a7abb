"""The core's identity: its key pairs, sealed at rest.

The core owns three secrets: an X25519 key (datasets keys and nothing else are sealed to it), an
Ed25519 key (it signs room definitions, room state, audit entries and attestation evidence) and a
storage key (it encrypts validation reports and job results before the host stores them).

They are kept in ``<data dir>/enclave/identity.sealed``, encrypted with a *sealing key*. On
confidential-computing hardware the sealing key is derived by the CPU from the enclave's identity
and never leaves it. Here there is no such hardware, so sealing is **simulated**: the sealing key
is a file kept outside the data directory (by default ``~/.local/state/sealroom/sealing.key``,
mode 0600). A copy of the data directory alone is useless without it; whoever can read both files
(root on this machine) can read every dataset. The attestation document says so.

The sealing key is the master key of everything at rest (the identity seals the dataset keys,
which are HPKE-sealed to its X25519 key, and the storage key). It comes from a
:class:`SealingKeyProvider`: :class:`FileSealingKeyProvider` here; a KMS, or a key released only
to an attested core, implements the same one-method interface.

Losing the sealing key loses every dataset at rest, so: a key file is created only for a data
directory that has no sealed identity yet (a missing key next to an existing identity is an
error that says to restore it, never a fresh key that cannot open anything), and the operator is
shown where it is and its fingerprint, :func:`sealing_key_fingerprint` — a domain-separated
SHA-256 of the key, which says whether two copies are the same key and nothing about the key.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sealroom.crypto import (
    KemPrivateKey,
    SigningKey,
    open_at_rest,
    seal_at_rest,
)
from sealroom.enclave.host import IdentityStore
from sealroom.errors import ConfigurationError, DecryptionError

SEALING_KEY_BYTES = 32
_IDENTITY_AAD = b"sealroom/enclave-identity/v1"
#: Domain separation of the fingerprint: the hash of the key alone could be the hash something
#: else computes of it (a checksum tool, a backup index), and would then say more than "same key".
SEALING_KEY_FINGERPRINT_DOMAIN = b"sealroom/sealing-key-fingerprint/v1"


def sealing_key_fingerprint(key: bytes) -> str:
    """SHA-256(domain || key) in hex: what the operator compares to check a backup copy
    (``(printf 'sealroom/sealing-key-fingerprint/v1'; cat sealing.key) | sha256sum``)."""
    return hashlib.sha256(SEALING_KEY_FINGERPRINT_DOMAIN + key).hexdigest()


@dataclass(frozen=True)
class SealingKeyInfo:
    """What the operator is told about the sealing key (public: a place and a fingerprint)."""

    #: The key file's path, or a description of where another provider keeps the key.
    location: str
    fingerprint: str
    #: True when this start created the key (the operator must back it up now).
    created: bool


@dataclass(frozen=True)
class EnclaveIdentity:
    kem_key: KemPrivateKey
    signing_key: SigningKey
    storage_key: bytes

    @classmethod
    def generate(cls) -> EnclaveIdentity:
        return cls(KemPrivateKey.generate(), SigningKey.generate(), secrets.token_bytes(32))

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "kem": self.kem_key.to_bytes().hex(),
                "signing": self.signing_key.to_bytes().hex(),
                "storage": self.storage_key.hex(),
            }
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> EnclaveIdentity:
        fields = json.loads(data)
        return cls(
            KemPrivateKey.from_bytes(bytes.fromhex(fields["kem"])),
            SigningKey.from_bytes(bytes.fromhex(fields["signing"])),
            bytes.fromhex(fields["storage"]),
        )


class SealingKeyProvider(Protocol):
    """Where the core's sealing (master) key comes from."""

    def sealing_key(self) -> bytes:
        """The 32-byte key; raises ConfigurationError saying what to fix when unavailable."""
        ...


@dataclass(frozen=True)
class FileSealingKeyProvider:
    """The simulated hardware key: a 0600 file outside the data directory, created if missing
    and ``may_create`` (False when a sealed identity already exists: only the old key opens it)."""

    path: Path
    may_create: bool = True

    def sealing_key(self) -> bytes:
        return load_sealing_key(self.path, may_create=self.may_create)


def load_sealing_key(path: Path, *, may_create: bool = True) -> bytes:
    """Read the (simulated) hardware sealing key, creating it with mode 0600 on first use."""
    if path.exists():
        key = path.read_bytes()
        if len(key) != SEALING_KEY_BYTES:
            raise ConfigurationError(f"sealing key {path} is corrupt (expected 32 bytes)")
        return key
    if not may_create:
        # A new key would seal nothing the data directory holds, and the start would fail later
        # with a key file created for nothing: say what is missing instead.
        raise ConfigurationError(
            f"the sealing key {path} does not exist, but the data directory already holds a "
            "core identity sealed with a sealing key: restore the key file from its backup (or "
            "point SEALROOM_SEALING_KEY_FILE at it); a new key could not open the data"
        )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(SEALING_KEY_BYTES)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    return key


def load_or_create_shared_identity(store: IdentityStore, sealing_key: bytes) -> EnclaveIdentity:
    """The identity every core sharing the host unseals: the one the host stores, or a new one
    if none is (the first process to start stores it; the others unseal that one)."""
    sealed = store.sealed_identity()
    if sealed is None:
        fresh = EnclaveIdentity.generate()
        sealed = store.keep_sealed_identity(
            seal_at_rest(sealing_key, fresh.to_bytes(), aad=_IDENTITY_AAD)
        )
    try:
        return EnclaveIdentity.from_bytes(open_at_rest(sealing_key, sealed, aad=_IDENTITY_AAD))
    except DecryptionError:
        raise ConfigurationError(
            "cannot unseal the core's identity stored in the shared database: the sealing key "
            "does not match (every server and worker must use the same sealing key)"
        ) from None


def load_or_create_identity(path: Path, sealing_key: bytes) -> EnclaveIdentity:
    """Unseal the identity at ``path``, or create and seal a new one if there is none."""
    if path.exists():
        try:
            return EnclaveIdentity.from_bytes(
                open_at_rest(sealing_key, path.read_bytes(), aad=_IDENTITY_AAD)
            )
        except DecryptionError:
            raise ConfigurationError(
                f"cannot unseal the core's identity at {path}: the sealing key does not match "
                "(was the data directory moved to another machine or the sealing key replaced?)"
            ) from None
    identity = EnclaveIdentity.generate()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(seal_at_rest(sealing_key, identity.to_bytes(), aad=_IDENTITY_AAD))
    os.replace(tmp, path)
    return identity
