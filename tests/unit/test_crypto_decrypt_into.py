"""decrypt_into: decryption into memory the caller provides (the core's hot path)."""

from __future__ import annotations

import dataclasses
import os

import pyarrow as pa
import pytest

from sealroom.crypto import ChunkRef, Key, decrypt_into, encrypt_bytes, sha256_hex
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
    # Flip a bit of the last chunk's tag only, and rewrite the manifest to match: the chunk passes
    # the manifest hashes, its AES-CTR part decrypts to the real plaintext, and the tag fails.
    tampered = bytearray(ciphertexts[-1])
    tampered[-1] ^= 0x01
    ciphertexts[-1] = bytes(tampered)
    refs = (*manifest.chunks[:-1], ChunkRef(sha256=sha256_hex(tampered), size=len(tampered)))
    forged = dataclasses.replace(manifest, chunks=refs)
    out = bytearray(manifest.plaintext_size)
    with pytest.raises(DecryptionError, match=r"chunk 3 .* failed authentication"):
        decrypt_into(key, forged, iter(ciphertexts), memoryview(out))
    last = 3 * 64 * 1024
    assert out[last:] == bytearray(len(out) - last)


def test_a_wrong_key_is_refused_before_anything_is_read_or_written() -> None:
    key = Key()
    manifest, chunks = encrypt_bytes(key, b"A" * 200_000, chunk_size=64 * 1024)
    remaining = iter([c.ciphertext for c in chunks])
    out = bytearray(b"\xff" * manifest.plaintext_size)
    with pytest.raises(DecryptionError, match="the key does not match dataset"):
        decrypt_into(Key(), manifest, remaining, memoryview(out))
    assert len(list(remaining)) == len(chunks)  # not one chunk taken
    assert out == b"\xff" * manifest.plaintext_size


def test_the_memory_limit_is_checked_before_anything_is_written() -> None:
    key = Key()
    manifest, chunks = encrypt_bytes(key, b"x" * 1000)
    out = bytearray(1000)
    with pytest.raises(LimitExceededError):
        decrypt_into(
            key, manifest, (c.ciphertext for c in chunks), memoryview(out), max_plaintext_size=999
        )
