"""The dataset cipher: a streaming AEAD (the STREAM construction, as in Tink's AES-GCM-HKDF
streaming AEAD) with a key commitment. It produces the chunks and the
:class:`~sealroom.crypto.manifest.Manifest` whose SHA-256 is the dataset id.

Format (version 2, ``AES-256-GCM-HKDF-SHA256-STREAM``)::

    D         = "sealroom/dataset-chunk/v2"
    C         = "sealroom/dataset-key-commitment/v2"
    per file:   salt           = 32 random bytes
                nonce_prefix   = 7 random bytes
                subkey         = HKDF-SHA256(ikm=key, salt=salt, info=D, L=32)
                key_commitment = HKDF-SHA256(ikm=key, salt=salt, info=C, L=32)
                header         = D || u32be(chunk_size) || salt || nonce_prefix || key_commitment
    chunk i:    last           = 0x01 for the final chunk, else 0x00
                nonce          = nonce_prefix || u32be(i) || last             (12 bytes)
                ciphertext_i   = AES-256-GCM(subkey).encrypt(nonce, plaintext_i, aad=header)

Invariants and the attacks they stop:

* Every chunk is authenticated with its index and with whether it is the last one, under a subkey
  unique to the file (fresh salt). Hence dropping the final chunk (truncation), reordering,
  duplicating, and splicing in a chunk from another file encrypted with the same key all fail
  authentication, even against a party who also rewrites the manifest.
* Every chunk authenticates the whole header: every manifest field fixed before the first chunk
  (the version and algorithm through ``D``). The encryptor streams and learns the total size only
  at the end, so the sizes it can bind up front are ``chunk_size`` here and the index and last
  flag in the nonce; the chunk sizes follow from those. A manifest rewritten with another
  ``chunk_size`` (the only freedom a one-chunk dataset's shape leaves) fails authentication, so
  no party without the key can give one ciphertext a second dataset id that opens.
* The manifest carries ``key_commitment``, and the decryptor compares it (constant time) before
  touching any chunk. AES-GCM alone is not key-committing: a ciphertext can be crafted to decrypt
  under two keys to two plaintexts. With the commitment (collision-resistant in the key, and
  derived with its own ``info`` so it reveals nothing about the subkey) a dataset id names at
  most one key, hence at most one plaintext.
* The manifest lists the SHA-256 of every ciphertext chunk, so the dataset id commits to the exact
  ciphertext: the untrusted blob store cannot substitute chunks without changing the id. Each
  chunk is checked against the manifest before it is decrypted.
* Memory: encryption holds about three chunks (current, look-ahead, ciphertext) whatever the file
  size; :func:`decrypt_to_buffer` writes into one preallocated buffer and holds at most five
  ciphertext chunks (``_HASH_LOOKAHEAD + 1``), hashed on at most two threads (``_HASH_THREADS``).
* Errors raise :class:`~sealroom.errors.DecryptionError` naming the chunk index and the dataset id,
  never data.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
import struct
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sealroom.crypto.keys import Key
from sealroom.crypto.manifest import (
    ALGORITHM,
    KEY_COMMITMENT_SIZE,
    MAX_CHUNK_SIZE,
    MAX_CHUNKS,
    MAX_MANIFEST_BYTES,
    MIN_CHUNK_SIZE,
    NONCE_PREFIX_SIZE,
    SALT_SIZE,
    TAG_SIZE,
    ChunkRef,
    Manifest,
    check_chunk_size,
)
from sealroom.errors import DecryptionError, LimitExceededError

__all__ = [
    "ALGORITHM",
    "DEFAULT_CHUNK_SIZE",
    "MAX_CHUNKS",
    "MAX_CHUNK_SIZE",
    "MAX_MANIFEST_BYTES",
    "MIN_CHUNK_SIZE",
    "TAG_SIZE",
    "ChunkRef",
    "DatasetDecryptor",
    "DatasetEncryptor",
    "EncryptedChunk",
    "Manifest",
    "decrypt_chunk",
    "decrypt_to_buffer",
    "encrypt_bytes",
]

DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
"""Plaintext bytes per chunk by default: large enough that per-chunk overhead (16-byte tag, one
manifest entry, one AEAD call) is negligible, small enough to upload one chunk per request."""

# Decryption throughput: worker threads hashing chunks, and how many chunks may be hashed ahead of
# the one being decrypted (each holds one ciphertext chunk in memory, up to 64 MiB).
_HASH_THREADS = 2
_HASH_LOOKAHEAD = 4

# Used as both the HKDF info and the start of the AEAD associated data: the subkey and the chunks
# cannot be confused with any other use of the dataset key, nor with another format version.
_CHUNK_DOMAIN = b"sealroom/dataset-chunk/v2"
# A distinct HKDF info: the commitment is published in the manifest, the subkey never is.
_KEY_COMMITMENT_DOMAIN = b"sealroom/dataset-key-commitment/v2"
_LAST = b"\x01"
_NOT_LAST = b"\x00"


@dataclass(frozen=True)
class EncryptedChunk:
    """One chunk from :class:`DatasetEncryptor`; ``sha256`` is the hex digest of ``ciphertext``."""

    index: int
    ciphertext: bytes = field(repr=False)
    sha256: str


class DatasetEncryptor:
    """Encrypts one file into chunks, in constant memory. One encryptor per file.

    ``encrypt_stream`` reads ``chunk_size`` bytes at a time with one chunk of look-ahead (to know
    which chunk is the last) and yields :class:`EncryptedChunk` objects. The :attr:`manifest` is
    available once the final chunk has been yielded. Salt and nonce prefix are drawn fresh for
    every encryptor, which is why it refuses a second file: reusing them would reuse nonces.
    """

    def __init__(self, key: Key, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self._setup(
            key,
            chunk_size,
            salt=secrets.token_bytes(SALT_SIZE),
            nonce_prefix=secrets.token_bytes(NONCE_PREFIX_SIZE),
        )

    @classmethod
    def _with_fixed_randomness(
        cls, key: Key, chunk_size: int, *, salt: bytes, nonce_prefix: bytes
    ) -> DatasetEncryptor:
        """Test hook for known-answer tests. Never use outside tests: fixed salts reuse nonces."""
        encryptor = cls.__new__(cls)
        encryptor._setup(key, chunk_size, salt=salt, nonce_prefix=nonce_prefix)
        return encryptor

    def _setup(self, key: Key, chunk_size: int, *, salt: bytes, nonce_prefix: bytes) -> None:
        if not isinstance(key, Key):
            raise TypeError(f"key must be a sealroom Key, not {type(key).__name__}")
        check_chunk_size(chunk_size)
        if len(salt) != SALT_SIZE or len(nonce_prefix) != NONCE_PREFIX_SIZE:
            raise ValueError("salt must be 32 bytes and nonce prefix 7 bytes")
        self._chunk_size = chunk_size
        self._salt = salt
        self._nonce_prefix = nonce_prefix
        self._key_commitment = _key_commitment(key, salt)
        self._header = _header(chunk_size, salt, nonce_prefix, self._key_commitment)
        self._aead = AESGCM(_derive_subkey(key, salt))
        self._started = False
        self._manifest: Manifest | None = None

    @property
    def chunk_size(self) -> int:
        return self._chunk_size

    @property
    def manifest(self) -> Manifest:
        """The manifest of the encrypted file; raises RuntimeError before the last chunk."""
        if self._manifest is None:
            raise RuntimeError("the manifest exists only once the whole stream has been encrypted")
        return self._manifest

    def encrypt_stream(self, reader: BinaryIO) -> Iterator[EncryptedChunk]:
        """Yield the encrypted chunks of everything ``reader`` returns until end of file."""
        if self._started:
            raise RuntimeError("a DatasetEncryptor encrypts exactly one file; create a new one")
        self._started = True
        return self._encrypt(reader)

    def _encrypt(self, reader: BinaryIO) -> Iterator[EncryptedChunk]:
        size = self._chunk_size
        refs: list[ChunkRef] = []
        plaintext_size = 0
        current = _read_full(reader, size)
        for index in range(MAX_CHUNKS):
            # A short chunk means end of file; a full one needs a look-ahead read to learn
            # whether it is the last (files that are a multiple of chunk_size end on a full chunk).
            following = _read_full(reader, size) if len(current) == size else b""
            last = not following
            ciphertext = self._aead.encrypt(
                _chunk_nonce(self._nonce_prefix, index, last=last), current, self._header
            )
            digest = hashlib.sha256(ciphertext).hexdigest()
            refs.append(ChunkRef(sha256=digest, size=len(ciphertext)))
            plaintext_size += len(current)
            if last:
                # Set before the final yield so the manifest is ready when the caller holds the
                # last chunk, whether or not it asks the iterator for more.
                self._manifest = Manifest(
                    salt=self._salt.hex(),
                    nonce_prefix=self._nonce_prefix.hex(),
                    chunk_size=size,
                    key_commitment=self._key_commitment.hex(),
                    chunks=tuple(refs),
                    plaintext_size=plaintext_size,
                )
            yield EncryptedChunk(index=index, ciphertext=ciphertext, sha256=digest)
            if last:
                return
            current = following
        raise LimitExceededError(
            f"dataset exceeds {MAX_CHUNKS} chunks of {size} bytes; use a larger chunk size"
        )


def encrypt_bytes(
    key: Key, data: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> tuple[Manifest, list[EncryptedChunk]]:
    """Encrypt an in-memory file (tests and small data)."""
    encryptor = DatasetEncryptor(key, chunk_size)
    chunks = list(encryptor.encrypt_stream(io.BytesIO(data)))
    return encryptor.manifest, chunks


class DatasetDecryptor:
    """Decrypts the chunks of one dataset. The subkey is derived once, here.

    Constructing one checks the key against the manifest's key commitment and raises
    :class:`~sealroom.errors.DecryptionError` if it is not the dataset's key, so a wrong key is
    refused before any chunk is read or decrypted.
    """

    def __init__(self, key: Key, manifest: Manifest) -> None:
        if not isinstance(key, Key):
            raise TypeError(f"key must be a sealroom Key, not {type(key).__name__}")
        salt = bytes.fromhex(manifest.salt)
        key_commitment = bytes.fromhex(manifest.key_commitment)
        # Stops a second key opening the same dataset id (AES-GCM is not key-committing).
        if not hmac.compare_digest(_key_commitment(key, salt), key_commitment):
            raise DecryptionError(f"the key does not match dataset {manifest.dataset_id}")
        self._manifest = manifest
        self._nonce_prefix = bytes.fromhex(manifest.nonce_prefix)
        self._header = _header(manifest.chunk_size, salt, self._nonce_prefix, key_commitment)
        self._aead = AESGCM(_derive_subkey(key, salt))

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def decrypt_chunk(self, index: int, ciphertext: bytes) -> bytes:
        """Check chunk ``index`` against the manifest, then authenticate and decrypt it."""
        out = bytearray(self._plaintext_size(index))
        self.decrypt_chunk_into(index, ciphertext, out)
        return bytes(out)

    def decrypt_chunk_into(
        self, index: int, ciphertext: bytes | bytearray | memoryview, out: bytearray | memoryview
    ) -> None:
        """Like :meth:`decrypt_chunk`, writing into ``out`` (exactly the chunk's plaintext size).

        On failure ``out`` is zeroed: the AEAD writes unauthenticated plaintext before checking
        the tag, and a caller reusing the buffer must never see it.
        """
        self._decrypt_into(index, ciphertext, hashlib.sha256(ciphertext).hexdigest(), out)

    def _decrypt_into(
        self,
        index: int,
        ciphertext: bytes | bytearray | memoryview,
        ciphertext_sha256: str,
        out: bytearray | memoryview,
    ) -> None:
        # ``ciphertext_sha256`` is computed by our own caller (possibly on a worker thread),
        # never taken from the untrusted side.
        manifest = self._manifest
        size = self._plaintext_size(index)
        if len(out) != size:
            raise ValueError(f"output buffer for chunk {index} must be {size} bytes")
        ref = manifest.chunks[index]
        # 1. Size and hash against the manifest: stops the blob store substituting, reordering or
        #    duplicating chunks (the dataset id commits to these hashes).
        if len(ciphertext) != ref.size or not hmac.compare_digest(ciphertext_sha256, ref.sha256):
            raise DecryptionError(
                f"chunk {index} of dataset {manifest.dataset_id} does not match its manifest "
                "(tampered, reordered, duplicated or from another file)"
            )
        # 2. AEAD with the index and last flag derived from the manifest, and its header as
        #    associated data: stops truncation, reordering and splicing, and a rewritten
        #    chunk_size, even by a party who rewrote the manifest. (The key was checked against
        #    the commitment when this decryptor was built.)
        last = index == len(manifest.chunks) - 1
        nonce = _chunk_nonce(self._nonce_prefix, index, last=last)
        try:
            self._aead.decrypt_into(nonce, ciphertext, self._header, out)
        except InvalidTag:
            out[:] = bytes(size)
            raise DecryptionError(
                f"chunk {index} of dataset {manifest.dataset_id} failed authentication "
                "(tampered, truncated, reordered, spliced or its manifest rewritten)"
            ) from None

    def _plaintext_size(self, index: int) -> int:
        count = len(self._manifest.chunks)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
            raise DecryptionError(
                f"chunk {index} is not part of dataset {self._manifest.dataset_id} ({count} chunks)"
            )
        return self._manifest.chunk_plaintext_size(index)


def decrypt_chunk(key: Key, manifest: Manifest, index: int, ciphertext: bytes) -> bytes:
    """Decrypt one chunk. Derives the subkey per call; use :class:`DatasetDecryptor` for many."""
    return DatasetDecryptor(key, manifest).decrypt_chunk(index, ciphertext)


def decrypt_to_buffer(
    key: Key,
    manifest: Manifest,
    chunks: Iterable[bytes],
    *,
    max_plaintext_size: int | None = None,
) -> bytearray:
    """Decrypt all chunks, in order, into one buffer of ``manifest.plaintext_size`` bytes.

    The hot path for large files: one allocation, every chunk decrypted in place, the subkey
    derived once. SHA-256 (about 1 GB/s per core) costs far more than AES-GCM here (several
    GB/s with AES-NI), so chunk hashes are computed on :data:`_HASH_THREADS` worker threads
    (``hashlib`` releases the GIL) a few chunks ahead of decryption; each chunk is still checked
    against the manifest before it is decrypted. ``chunks`` is iterated on the calling thread only.

    Raises :class:`~sealroom.errors.DecryptionError` on any bad chunk and when chunks are missing
    or extra. ``max_plaintext_size`` (bytes) refuses a dataset larger than the caller's memory
    budget *before* allocating (raises :class:`~sealroom.errors.LimitExceededError`).
    """
    _check_plaintext_limit(manifest, max_plaintext_size)
    decryptor = DatasetDecryptor(key, manifest)  # refuses a wrong key before allocating
    buffer = bytearray(manifest.plaintext_size)
    _decrypt_all_into(decryptor, chunks, memoryview(buffer))
    return buffer


def decrypt_into(
    key: Key,
    manifest: Manifest,
    chunks: Iterable[bytes],
    out: memoryview,
    *,
    max_plaintext_size: int | None = None,
) -> None:
    """Like :func:`decrypt_to_buffer`, into ``out``: writable, C-contiguous (of any item format),
    exactly ``plaintext_size`` bytes.

    Lets the caller choose the memory (the core decrypts into an uninitialised Arrow buffer,
    saving a zero-fill of the whole file). On any error ``out`` holds no unauthenticated
    plaintext: the failing chunk's region is zeroed and the exception propagates. A key that does
    not match the manifest's commitment, or an unusable ``out``, is refused before ``chunks`` is
    iterated or ``out`` written.
    """
    _check_plaintext_limit(manifest, max_plaintext_size)
    # A strided view (e.g. ``memoryview(b)[::2]``) would fail only at the first chunk, after
    # ``chunks`` was partly consumed, with the AEAD's BufferError: refuse it here, as documented.
    if out.readonly or not out.c_contiguous or out.nbytes != manifest.plaintext_size:
        raise ValueError(
            f"out must be writable, C-contiguous and hold exactly {manifest.plaintext_size} bytes"
        )
    decryptor = DatasetDecryptor(key, manifest)
    _decrypt_all_into(decryptor, chunks, out)


def _decrypt_all_into(
    decryptor: DatasetDecryptor, chunks: Iterable[bytes], out: memoryview
) -> None:
    manifest = decryptor.manifest
    view = out.cast("B")  # bytes, whatever the caller's item format (Arrow's is "b"); contiguous
    expected = len(manifest.chunks)
    offset = 0
    received = 0

    def decrypt_next(index: int, ciphertext: bytes, digest: str) -> None:
        nonlocal offset, received
        size = manifest.chunk_plaintext_size(index)
        decryptor._decrypt_into(index, ciphertext, digest, view[offset : offset + size])
        offset += size
        received = index + 1

    pool = ThreadPoolExecutor(max_workers=_HASH_THREADS, thread_name_prefix="sealroom-sha256")
    # Hashes in flight: bounds the ciphertext held to _HASH_LOOKAHEAD chunks beyond the caller's.
    pending: deque[tuple[int, bytes, Future[str]]] = deque()
    try:
        for index, ciphertext in enumerate(chunks):
            if index >= expected:
                raise DecryptionError(
                    f"chunk {index} is extra: dataset {manifest.dataset_id} has {expected} chunks"
                )
            pending.append((index, ciphertext, pool.submit(_sha256_hex, ciphertext)))
            if len(pending) > _HASH_LOOKAHEAD:
                done_index, done_ciphertext, digest = pending.popleft()
                decrypt_next(done_index, done_ciphertext, digest.result())
        while pending:
            done_index, done_ciphertext, digest = pending.popleft()
            decrypt_next(done_index, done_ciphertext, digest.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if received != expected:
        # Truncation by the storage layer: the final chunk (and its last flag) never arrived.
        raise DecryptionError(
            f"chunks {received} to {expected - 1} of dataset {manifest.dataset_id} are missing"
        )


def _check_plaintext_limit(manifest: Manifest, max_plaintext_size: int | None) -> None:
    if max_plaintext_size is not None and manifest.plaintext_size > max_plaintext_size:
        raise LimitExceededError(
            f"dataset {manifest.dataset_id} has {manifest.plaintext_size} plaintext bytes; "
            f"the limit is {max_plaintext_size} bytes"
        )


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _derive_subkey(key: Key, salt: bytes) -> bytes:
    return _hkdf(key, salt, _CHUNK_DOMAIN, 32)


def _key_commitment(key: Key, salt: bytes) -> bytes:
    return _hkdf(key, salt, _KEY_COMMITMENT_DOMAIN, KEY_COMMITMENT_SIZE)


def _hkdf(key: Key, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(key.material)


def _header(chunk_size: int, salt: bytes, nonce_prefix: bytes, key_commitment: bytes) -> bytes:
    """Every chunk's associated data: the manifest fields fixed before the first chunk.

    Fixed-length fields after a fixed domain string, so the encoding is unambiguous.
    """
    return _CHUNK_DOMAIN + struct.pack(">I", chunk_size) + salt + nonce_prefix + key_commitment


def _chunk_nonce(prefix: bytes, index: int, *, last: bool) -> bytes:
    return prefix + struct.pack(">I", index) + (_LAST if last else _NOT_LAST)


def _read_full(reader: BinaryIO, size: int) -> bytes:
    """Read exactly ``size`` bytes, or fewer only at end of file (raw streams may return less)."""
    data = reader.read(size)
    if not isinstance(data, bytes | bytearray):
        raise TypeError("the reader must be a binary file object (open it with 'rb')")
    if len(data) == size or not data:
        return bytes(data)
    parts = [bytes(data)]
    remaining = size - len(data)
    while remaining:
        more = reader.read(remaining)
        if not more:
            break
        parts.append(bytes(more))
        remaining -= len(more)
    return b"".join(parts)
