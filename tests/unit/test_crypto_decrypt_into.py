"""decrypt_into: decryption into memory the caller provides (the core's hot path)."""

from __future__ import annotations

import array
import dataclasses
import os
import threading
from collections.abc import Callable, Iterator

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


def test_refuses_a_strided_buffer_before_taking_a_chunk() -> None:
    key = Key()
    manifest, chunks = encrypt_bytes(key, b"abcdef" * 10, chunk_size=16)
    remaining = iter([c.ciphertext for c in chunks])
    strided = memoryview(bytearray(2 * manifest.plaintext_size))[::2]
    assert strided.nbytes == manifest.plaintext_size
    message = "out must be writable, C-contiguous and hold exactly 60 bytes"
    with pytest.raises(ValueError, match=f"^{message}$"):
        decrypt_into(key, manifest, remaining, strided)
    assert len(list(remaining)) == len(chunks)  # not one chunk taken


@pytest.mark.parametrize(
    "make_out",
    [
        lambda n: memoryview(bytearray(n)),
        lambda n: memoryview(array.array("I", bytes(n))),  # 4-byte items
        lambda n: memoryview(bytearray(n)).cast("B", (n // 8, 8)),  # two dimensions
        lambda n: memoryview(pa.allocate_buffer(n, resizable=False)),  # format "b"
    ],
)
def test_decrypts_into_any_contiguous_writable_buffer(
    make_out: Callable[[int], memoryview],
) -> None:
    key = Key()
    data = os.urandom(96)
    manifest, chunks = encrypt_bytes(key, data, chunk_size=40)
    out = make_out(96)
    assert out.nbytes == 96
    decrypt_into(key, manifest, (c.ciphertext for c in chunks), out)
    assert out.tobytes() == data


def _threads() -> set[threading.Thread]:
    return set(threading.enumerate())


@pytest.mark.parametrize("tamper", [False, True])
def test_no_hashing_thread_outlives_the_call(tamper: bool) -> None:
    # The chunk hashes run on worker threads; returning (or raising) joins them, so a server
    # decrypting many datasets does not accumulate threads still holding ciphertext.
    key = Key()
    manifest, encrypted = encrypt_bytes(key, os.urandom(64 * 1024), chunk_size=1024)
    chunks = [c.ciphertext for c in encrypted]
    if tamper:
        chunks[0] = chunks[0][:-1]
    before = _threads()
    out = bytearray(manifest.plaintext_size)
    try:
        decrypt_into(key, manifest, chunks, memoryview(out))
    except DecryptionError:
        assert tamper
    assert _threads() <= before


class _ThreadWatchingChunks:
    """Chunks that record, each time one is taken, how many threads the decryption has added."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks
        self._before = _threads()
        self.most_added = 0

    def _look(self) -> None:
        self.most_added = max(self.most_added, len(_threads() - self._before))

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self._look()
            yield chunk
        self._look()


def test_hashing_uses_at_most_the_configured_threads() -> None:
    # Chunk hashes are computed ahead on worker threads, never more than two of them however
    # many chunks are in flight (the module's documented bound): the core shares its few cores
    # with the jobs it runs. (Whether the second thread is started depends on timing.)
    key = Key()
    manifest, encrypted = encrypt_bytes(key, bytes(12 * 1024 * 1024), chunk_size=1024 * 1024)
    watched = _ThreadWatchingChunks([c.ciphertext for c in encrypted])
    out = bytearray(manifest.plaintext_size)
    decrypt_into(key, manifest, watched, memoryview(out))
    assert 1 <= watched.most_added <= 2
