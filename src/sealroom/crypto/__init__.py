"""Sealroom's cryptography: the only package that imports ``cryptography``.

Safe recipes for the rest of the code base; nonces, salts and suites never leave this package.

* :mod:`~sealroom.crypto.canonical` — canonical JSON and SHA-256 (ids and signed bytes).
* :mod:`~sealroom.crypto.keys` — :class:`Key`, the 256-bit dataset key the SDK user holds.
* :mod:`~sealroom.crypto.streaming` — the chunked dataset cipher (streaming AEAD).
* :mod:`~sealroom.crypto.manifest` — the dataset manifest, whose hash is the dataset id.
* :mod:`~sealroom.crypto.sealing` — HPKE sealing to the core, with domain-separated contexts.
* :mod:`~sealroom.crypto.signing` — Ed25519 signing keys and verify keys.
* :mod:`~sealroom.crypto.at_rest` — the core's own secrets on the untrusted disk.

Pure: no network and no disk I/O.
"""

from __future__ import annotations

from sealroom.crypto.at_rest import (
    AT_REST_KEY_SIZE,
    AT_REST_OVERHEAD,
    derive_key,
    open_at_rest,
    seal_at_rest,
)
from sealroom.crypto.canonical import canonical_json, sha256_hex
from sealroom.crypto.keys import KEY_SIZE, Key
from sealroom.crypto.sealing import (
    KEM_KEY_SIZE,
    SEALED_OVERHEAD,
    KemPrivateKey,
    KemPublicKey,
    dataset_key_context,
    dataset_test_key_context,
    open_sealed,
    result_context,
    seal,
)
from sealroom.crypto.signing import SIGNATURE_SIZE, SIGNING_KEY_SIZE, SigningKey, VerifyKey
from sealroom.crypto.streaming import (
    ALGORITHM,
    DEFAULT_CHUNK_SIZE,
    MAX_CHUNK_SIZE,
    MAX_CHUNKS,
    MAX_MANIFEST_BYTES,
    MIN_CHUNK_SIZE,
    TAG_SIZE,
    ChunkRef,
    DatasetDecryptor,
    DatasetEncryptor,
    EncryptedChunk,
    Manifest,
    decrypt_chunk,
    decrypt_into,
    decrypt_to_buffer,
    encrypt_bytes,
)

__all__ = [
    "ALGORITHM",
    "AT_REST_KEY_SIZE",
    "AT_REST_OVERHEAD",
    "DEFAULT_CHUNK_SIZE",
    "KEM_KEY_SIZE",
    "KEY_SIZE",
    "MAX_CHUNKS",
    "MAX_CHUNK_SIZE",
    "MAX_MANIFEST_BYTES",
    "MIN_CHUNK_SIZE",
    "SEALED_OVERHEAD",
    "SIGNATURE_SIZE",
    "SIGNING_KEY_SIZE",
    "TAG_SIZE",
    "ChunkRef",
    "DatasetDecryptor",
    "DatasetEncryptor",
    "EncryptedChunk",
    "KemPrivateKey",
    "KemPublicKey",
    "Key",
    "Manifest",
    "SigningKey",
    "VerifyKey",
    "canonical_json",
    "dataset_key_context",
    "dataset_test_key_context",
    "decrypt_chunk",
    "decrypt_into",
    "decrypt_to_buffer",
    "derive_key",
    "encrypt_bytes",
    "open_at_rest",
    "open_sealed",
    "result_context",
    "seal",
    "seal_at_rest",
    "sha256_hex",
]
