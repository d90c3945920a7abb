"""decrypt_into: decryption into memory the caller provides (the core's hot path)."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest

from sealroom.crypto import Key, decrypt_into, encrypt_bytes
from sealroom.errors import DecryptionError, LimitExceededError


def test_decrypts_into_an_uninitialised_arrow_buffer() -> None:
    key = Key()
    data = os.urandom(300_000)
    manifest, chunks = encrypt_bytes(key, data, chunk_size=64 * 1024)
    out = pa.allocate_buffer(manifest.plaintext_size)
    decrypt_into(key, manifest, (c.ciphertext for c in chunks), memoryview(out))
    assert out.to_pybytes() == data


def test_refuses_a_buffer_of_the_wrong_size_or_read_only() -> None:
    key = Key()
    manifest, chunks = encrypt_bytes(key, b"abc")
    with pytest.raises(ValueError, match="exactly 3 bytes"):
        decrypt_into(key, manifest, (c.ciphertext for c in chunks), memoryview(bytearray(4)))
    with pytest.raises(ValueError, match="writable"):
        decrypt_into(key, manifest, (c.ciphertext for c in chunks), memoryview(b"xyz"))


def test_a_tampered_chunk_leaves_no_unauthenticated_plaintext() -> None:
    key = Key()
    data = b"A" * 200_000
    manifest, chunks = encrypt_bytes(key, data, chunk_size=64 * 1024)
    ciphertexts = [c.ciphertext for c in chunks]
    out = bytearray(manifest.plaintext_size)
    # A wrong key passes the manifest hashes but fails authentication on the first chunk.
    with pytest.raises(DecryptionError):
        decrypt_into(Key(), manifest, iter(ciphertexts), memoryview(out))
    assert out == bytearray(len(out))


def test_the_memory_limit_is_checked_before_anything_is_written() -> None:
    key = Key()
    manifest, chunks = encrypt_bytes(key, b"x" * 1000)
    out = bytearray(1000)
    with pytest.raises(LimitExceededError):
        decrypt_into(
            key, manifest, (c.ciphertext for c in chunks), memoryview(out), max_plaintext_size=999
        )
