"""Encryption at rest for the trusted core's own secrets on the untrusted disk.

The core keeps its identity keys, job results and validation reports on disk encrypted under keys
derived from one master key (:func:`derive_key`, one sub-key per purpose).

Blob format (version 1)::

    0x01 || nonce (12 random bytes) || AES-256-GCM(key).encrypt(nonce, plaintext, aad=0x01 || aad)

Invariants:

* The version byte is also authenticated (it prefixes the associated data), so it cannot be
  altered to make a blob parse under another format.
* ``aad`` names what the blob is (e.g. ``b"job-result:<job id>"``): a blob moved to another
  record by the host fails to open.
* Nonces are random 96-bit values; NIST SP 800-38D limits one key to 2**32 random-nonce
  encryptions, which is why every purpose gets its own derived key.
* Failures raise :class:`~sealroom.errors.DecryptionError` without detail.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sealroom.errors import DecryptionError

__all__ = ["AT_REST_KEY_SIZE", "AT_REST_OVERHEAD", "derive_key", "open_at_rest", "seal_at_rest"]

AT_REST_KEY_SIZE = 32
"""Bytes of an at-rest key and of a derived key (AES-256)."""

_VERSION = b"\x01"
_NONCE_SIZE = 12
_TAG_SIZE = 16
AT_REST_OVERHEAD = len(_VERSION) + _NONCE_SIZE + _TAG_SIZE
"""Bytes a sealed blob adds to its plaintext."""

_DERIVE_INFO_PREFIX = b"sealroom/derived-key/v1\x00"


def seal_at_rest(key: bytes, plaintext: bytes, *, aad: bytes) -> bytes:
    """Encrypt ``plaintext`` under ``key`` (32 bytes), bound to ``aad``."""
    return _seal_with_nonce(key, plaintext, aad=aad, nonce=secrets.token_bytes(_NONCE_SIZE))


def _seal_with_nonce(key: bytes, plaintext: bytes, *, aad: bytes, nonce: bytes) -> bytes:
    # Separate only so that known-answer tests can fix the nonce; callers use seal_at_rest.
    aead = AESGCM(_check_key(key))
    return _VERSION + nonce + aead.encrypt(nonce, plaintext, _VERSION + aad)


def open_at_rest(key: bytes, blob: bytes, *, aad: bytes) -> bytes:
    """Decrypt a blob made by :func:`seal_at_rest` with the same ``key`` and ``aad``."""
    aead = AESGCM(_check_key(key))
    if len(blob) < AT_REST_OVERHEAD or blob[:1] != _VERSION:
        raise DecryptionError("encrypted blob is malformed or of an unknown version")
    nonce = blob[1 : 1 + _NONCE_SIZE]
    try:
        return aead.decrypt(nonce, blob[1 + _NONCE_SIZE :], _VERSION + aad)
    except InvalidTag:
        raise DecryptionError(
            "encrypted blob failed authentication (wrong key or record)"
        ) from None


def derive_key(master: bytes, *, purpose: str) -> bytes:
    """Derive a 32-byte sub-key of ``master`` (at least 32 bytes) for one ``purpose``.

    HKDF-SHA256 with info = ``"sealroom/derived-key/v1" || 0x00 || purpose``; distinct purposes
    give independent keys.
    """
    if not isinstance(master, bytes) or len(master) < AT_REST_KEY_SIZE:
        raise ValueError(f"the master key must be at least {AT_REST_KEY_SIZE} bytes")
    if not isinstance(purpose, str) or not purpose:
        raise ValueError("purpose must be a non-empty str")
    info = _DERIVE_INFO_PREFIX + purpose.encode("utf-8")
    return HKDF(algorithm=hashes.SHA256(), length=AT_REST_KEY_SIZE, salt=None, info=info).derive(
        master
    )


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, bytes) or len(key) != AT_REST_KEY_SIZE:
        raise ValueError(f"an at-rest key is {AT_REST_KEY_SIZE} bytes")
    return key
