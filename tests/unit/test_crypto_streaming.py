"""The chunked dataset format: known answers, and every stream attack failing."""

from __future__ import annotations

import dataclasses
import io
import json
import os
from collections.abc import Callable, Iterator
from functools import partial

import pytest

from sealroom.crypto import (
    DEFAULT_CHUNK_SIZE,
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
    ChunkRef,
    DatasetDecryptor,
    DatasetEncryptor,
    Key,
    Manifest,
    decrypt_chunk,
    decrypt_to_buffer,
    encrypt_bytes,
    sha256_hex,
    streaming,
)
from sealroom.errors import DecryptionError, LimitExceededError

# ---- known answers -------------------------------------------------------------------------
# Format version 2. Computed independently (HKDF by hand with hmac/hashlib, AES-GCM called
# directly, json.dumps; test_crypto_dataset_ids.py redoes it in the test) from: key = 00..1f,
# salt = 40..5f, nonce prefix = a0..a6, chunk size 16, this 39-byte plaintext. Any change to
# these bytes is a format change: it needs a new version, not new constants.
KAT_KEY = Key(material=bytes(range(32)))
KAT_SALT = bytes(range(0x40, 0x60))
KAT_PREFIX = bytes.fromhex("a0a1a2a3a4a5a6")
KAT_PLAINTEXT = b"sealroom known-answer test: 40 bytes!!!"
KAT_KEY_COMMITMENT = "680e157ca7e6b081150a22456c69a55b4bc3d0feb2efb0e7de08ac01798814e5"
KAT_CHUNKS = [
    "57a95f08ad1bd876ef19163d16bdfbd8908485cb0312d3ef453a8ae013b3262a",
    "da776e1f7dacc0450399a083b648658f8054dfdbddc5cbe2fa02d9a476e56dc7",
    "328048733858c70f53951959ef4a7c66faacfe3a4c5a8e",
]
KAT_MANIFEST = (
    b'{"algorithm":"AES-256-GCM-HKDF-SHA256-STREAM","chunk_size":16,"chunks":['
    b'{"sha256":"eb9f956fd42916649946af344abb90d98bc1af44de078b671b3b98e149fe52a7","size":32},'
    b'{"sha256":"cbc99bdaf9180475c92d67fb6ef2048c0e57c5354621513aeaa702034c565ecc","size":32},'
    b'{"sha256":"b61599daec35f0a4b98e9258c60f0324914f8aecef858d82c62115ece44d24b9","size":23}],'
    b'"key_commitment":"680e157ca7e6b081150a22456c69a55b4bc3d0feb2efb0e7de08ac01798814e5",'
    b'"nonce_prefix":"a0a1a2a3a4a5a6","plaintext_size":39,'
    b'"salt":"404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f","version":2}'
)
KAT_DATASET_ID = "0d40d9b42d6e7182229c187495a3f3f705bf48addfe9fb60856d39ab898baedb"
KAT_EMPTY_CHUNK = "8c19d83c9b03d1dc6c4b9c4ea416d9f4"
KAT_EMPTY_DATASET_ID = "0a6fdee94cbe8d011b74a924060936877daae323ee36a3f2cbaec56ee8b24636"


def _kat_encrypt(plaintext: bytes) -> tuple[Manifest, list[bytes]]:
    encryptor = DatasetEncryptor._with_fixed_randomness(
        KAT_KEY, 16, salt=KAT_SALT, nonce_prefix=KAT_PREFIX
    )
    chunks = [c.ciphertext for c in encryptor.encrypt_stream(io.BytesIO(plaintext))]
    return encryptor.manifest, chunks


def test_known_answer_chunks_and_manifest() -> None:
    manifest, chunks = _kat_encrypt(KAT_PLAINTEXT)
    assert [c.hex() for c in chunks] == KAT_CHUNKS
    assert manifest.key_commitment == KAT_KEY_COMMITMENT
    assert manifest.to_bytes() == KAT_MANIFEST
    assert manifest.dataset_id == KAT_DATASET_ID == sha256_hex(KAT_MANIFEST)
    assert Manifest.from_bytes(KAT_MANIFEST) == manifest
    assert decrypt_to_buffer(KAT_KEY, manifest, [bytes.fromhex(c) for c in KAT_CHUNKS]) == (
        KAT_PLAINTEXT
    )


def test_known_answer_empty_file() -> None:
    manifest, chunks = _kat_encrypt(b"")
    assert [c.hex() for c in chunks] == [KAT_EMPTY_CHUNK]
    assert manifest.dataset_id == KAT_EMPTY_DATASET_ID
    assert manifest.key_commitment == KAT_KEY_COMMITMENT  # depends on key and salt only
    assert manifest.plaintext_size == 0
    assert len(manifest.chunks) == 1
    assert decrypt_to_buffer(KAT_KEY, manifest, chunks) == bytearray()


# ---- round trips and shapes ----------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 32, 33, 100])
def test_round_trip_sizes(size: int) -> None:
    key = Key()
    data = os.urandom(size)
    manifest, chunks = encrypt_bytes(key, data, chunk_size=16)
    # Chunk count: ceil(size / 16), and 1 for an empty file; never an empty trailing chunk.
    assert len(chunks) == max(1, -(-size // 16))
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert all(c.sha256 == sha256_hex(c.ciphertext) for c in chunks)
    assert manifest.plaintext_size == size
    assert decrypt_to_buffer(key, manifest, [c.ciphertext for c in chunks]) == data
    decryptor = DatasetDecryptor(key, manifest)
    assert b"".join(decryptor.decrypt_chunk(c.index, c.ciphertext) for c in chunks) == data
    assert Manifest.from_bytes(manifest.to_bytes()) == manifest


def test_default_chunk_size() -> None:
    assert DEFAULT_CHUNK_SIZE == 8 * 1024 * 1024
    assert MAX_CHUNK_SIZE == 64 * 1024 * 1024
    assert DatasetEncryptor(Key()).chunk_size == DEFAULT_CHUNK_SIZE


class _TrickleReader(io.RawIOBase):
    """A raw stream returning at most 3 bytes per read, like a pipe or socket."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(size, 3) if size >= 0 else 3)


def test_short_reads_are_filled() -> None:
    key = Key()
    data = os.urandom(50)
    encryptor = DatasetEncryptor(key, chunk_size=16)
    chunks = list(encryptor.encrypt_stream(_TrickleReader(data)))  # type: ignore[arg-type]
    assert [len(c.ciphertext) for c in chunks] == [32, 32, 32, 18]
    assert decrypt_to_buffer(key, encryptor.manifest, [c.ciphertext for c in chunks]) == data


class _CountingReader(io.RawIOBase):
    """Yields ``total`` bytes and records the largest amount held back by the consumer."""

    def __init__(self, total: int) -> None:
        self.remaining = total
        self.requested: list[int] = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.requested.append(size)
        n = min(size, self.remaining)
        self.remaining -= n
        return b"\x00" * n


def test_stream_reads_lazily_one_chunk_ahead() -> None:
    reader = _CountingReader(10 * 16)
    iterator = DatasetEncryptor(Key(), chunk_size=16).encrypt_stream(reader)  # type: ignore[arg-type]
    assert reader.requested == []  # nothing read before iteration
    next(iterator)
    # The first chunk plus one chunk of look-ahead: memory stays constant in the file size.
    assert reader.remaining == 10 * 16 - 2 * 16
    list(iterator)
    assert reader.remaining == 0


def test_manifest_only_after_last_chunk_and_single_use() -> None:
    encryptor = DatasetEncryptor(Key(), chunk_size=16)
    iterator = encryptor.encrypt_stream(io.BytesIO(b"x" * 40))
    next(iterator)
    with pytest.raises(RuntimeError, match="manifest"):
        _ = encryptor.manifest
    list(iterator)
    assert encryptor.manifest.plaintext_size == 40
    with pytest.raises(RuntimeError, match="exactly one file"):
        encryptor.encrypt_stream(io.BytesIO(b""))


def test_text_reader_rejected() -> None:
    with pytest.raises(TypeError, match="binary"):
        list(DatasetEncryptor(Key(), 16).encrypt_stream(io.StringIO("abc")))  # type: ignore[arg-type]


def test_files_never_share_salt_or_prefix() -> None:
    key = Key()
    a, _ = encrypt_bytes(key, b"same", 16)
    b, _ = encrypt_bytes(key, b"same", 16)
    assert a.salt != b.salt
    assert a.nonce_prefix != b.nonce_prefix
    assert a.dataset_id != b.dataset_id


@pytest.mark.parametrize("chunk_size", [0, -1, MAX_CHUNK_SIZE + 1])
def test_bad_chunk_size(chunk_size: int) -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        DatasetEncryptor(Key(), chunk_size)


# ---- attacks -------------------------------------------------------------------------------

KEY = Key(material=bytes([7]) * 32)
PLAINTEXT = bytes(range(256)) * 2  # 512 bytes = 8 chunks of 64 (the last one full)


@pytest.fixture(scope="module")
def dataset() -> tuple[Manifest, list[bytes]]:
    manifest, chunks = encrypt_bytes(KEY, PLAINTEXT, chunk_size=64)
    assert len(chunks) == 8
    return manifest, [c.ciphertext for c in chunks]


def _with_refs(manifest: Manifest, chunks: list[bytes]) -> Manifest:
    """A manifest rewritten to match tampered chunks: what a party controlling it could do."""
    total = sum(len(c) - 16 for c in chunks)
    refs = tuple(ChunkRef(sha256=sha256_hex(c), size=len(c)) for c in chunks)
    return dataclasses.replace(manifest, chunks=refs, plaintext_size=total)


def _attacks(chunks: list[bytes], other: list[bytes]) -> dict[str, tuple[list[bytes], int]]:
    """name -> (tampered chunk list, index the error must name)."""
    flipped = bytearray(chunks[3])
    flipped[5] ^= 0x01
    return {
        "truncate_last": (chunks[:-1], 7),
        "reorder": ([chunks[0], chunks[2], chunks[1], *chunks[3:]], 1),
        "duplicate": ([chunks[0], chunks[0], *chunks[2:]], 1),
        "splice": ([*chunks[:4], other[4], *chunks[5:]], 4),
        "bit_flip": ([*chunks[:3], bytes(flipped), *chunks[4:]], 3),
    }


@pytest.mark.parametrize("attack", ["truncate_last", "reorder", "duplicate", "splice", "bit_flip"])
def test_attacks_fail_against_the_manifest(
    dataset: tuple[Manifest, list[bytes]], attack: str
) -> None:
    manifest, chunks = dataset
    _, other = encrypt_bytes(KEY, PLAINTEXT, chunk_size=64)  # same key, another file
    tampered, index = _attacks(chunks, [c.ciphertext for c in other])[attack]
    with pytest.raises(DecryptionError, match=rf"chunks? {index}\b") as excinfo:
        decrypt_to_buffer(KEY, manifest, tampered)
    assert manifest.dataset_id in str(excinfo.value)


@pytest.mark.parametrize("attack", ["truncate_last", "reorder", "duplicate", "splice", "bit_flip"])
def test_attacks_fail_even_with_a_rewritten_manifest(
    dataset: tuple[Manifest, list[bytes]], attack: str
) -> None:
    # The AEAD layer alone (index + last flag in the nonce, per-file subkey) must catch them.
    manifest, chunks = dataset
    _, other = encrypt_bytes(KEY, PLAINTEXT, chunk_size=64)
    tampered, _ = _attacks(chunks, [c.ciphertext for c in other])[attack]
    forged = _with_refs(manifest, tampered)
    with pytest.raises(DecryptionError, match="failed authentication"):
        decrypt_to_buffer(KEY, forged, tampered)


def test_wrong_key(dataset: tuple[Manifest, list[bytes]]) -> None:
    manifest, chunks = dataset
    with pytest.raises(
        DecryptionError, match=f"the key does not match dataset {manifest.dataset_id}"
    ):
        decrypt_to_buffer(Key(), manifest, chunks)


def test_missing_and_extra_chunks(dataset: tuple[Manifest, list[bytes]]) -> None:
    manifest, chunks = dataset
    with pytest.raises(DecryptionError, match=r"chunks 5 to 7 .* missing"):
        decrypt_to_buffer(KEY, manifest, chunks[:5])
    with pytest.raises(DecryptionError, match="chunk 8 is extra"):
        decrypt_to_buffer(KEY, manifest, [*chunks, chunks[0]])
    with pytest.raises(DecryptionError, match="missing"):
        decrypt_to_buffer(KEY, manifest, [])


def test_errors_carry_no_data(dataset: tuple[Manifest, list[bytes]]) -> None:
    manifest, chunks = dataset
    with pytest.raises(DecryptionError) as excinfo:
        decrypt_to_buffer(Key(), manifest, chunks)
    message = str(excinfo.value)
    assert KEY.material.hex() not in message
    assert PLAINTEXT[:8].hex() not in message


def test_decrypt_single_chunk(dataset: tuple[Manifest, list[bytes]]) -> None:
    manifest, chunks = dataset
    assert decrypt_chunk(KEY, manifest, 3, chunks[3]) == PLAINTEXT[192:256]
    with pytest.raises(DecryptionError, match=r"chunk 3 .* does not match"):
        decrypt_chunk(KEY, manifest, 3, chunks[2])
    with pytest.raises(DecryptionError, match="chunk 8 is not part"):
        decrypt_chunk(KEY, manifest, 8, chunks[0])
    with pytest.raises(DecryptionError, match="chunk -1 is not part"):
        decrypt_chunk(KEY, manifest, -1, chunks[0])


def test_failed_chunk_leaves_no_unauthenticated_plaintext(
    dataset: tuple[Manifest, list[bytes]],
) -> None:
    manifest, chunks = dataset
    flipped = bytearray(chunks[2])
    flipped[-1] ^= 0x01  # tag only: the AES-CTR part would decrypt to the real plaintext
    forged = _with_refs(manifest, [*chunks[:2], bytes(flipped), *chunks[3:]])
    out = bytearray(b"\xff" * 64)
    with pytest.raises(DecryptionError):
        DatasetDecryptor(KEY, forged).decrypt_chunk_into(2, bytes(flipped), out)
    assert out == bytes(64)


def test_output_buffer_size_checked(dataset: tuple[Manifest, list[bytes]]) -> None:
    manifest, chunks = dataset
    with pytest.raises(ValueError, match="64 bytes"):
        DatasetDecryptor(KEY, manifest).decrypt_chunk_into(0, chunks[0], bytearray(63))


def test_memory_limit_checked_before_allocating(dataset: tuple[Manifest, list[bytes]]) -> None:
    manifest, chunks = dataset
    with pytest.raises(LimitExceededError, match="512 plaintext bytes"):
        decrypt_to_buffer(KEY, manifest, chunks, max_plaintext_size=511)
    assert decrypt_to_buffer(KEY, manifest, chunks, max_plaintext_size=512) == PLAINTEXT


# ---- manifest parsing (the manifest comes from the untrusted host) --------------------------


def _kat_dict() -> dict[str, object]:
    obj = json.loads(KAT_MANIFEST)
    assert isinstance(obj, dict)
    return obj


def _encode(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _mutations() -> dict[str, object]:
    def changed(**fields: object) -> dict[str, object]:
        return {**_kat_dict(), **fields}

    chunks = _kat_dict()["chunks"]
    assert isinstance(chunks, list)
    without_salt = _kat_dict()
    del without_salt["salt"]
    return {
        "version_next": changed(version=3),
        "version_retired": changed(version=1),
        "version_bool": changed(version=True),
        "algorithm": changed(algorithm="AES-128-GCM"),
        "salt_short": changed(salt="4041"),
        "salt_upper": changed(salt="40" * 31 + "4F"),
        "prefix": changed(nonce_prefix="a0a1"),
        "chunk_size_zero": changed(chunk_size=0),
        "chunk_size_huge": changed(chunk_size=MAX_CHUNK_SIZE + 1),
        "chunk_size_str": changed(chunk_size="16"),
        "key_commitment_short": changed(key_commitment="68"),
        "key_commitment_upper": changed(key_commitment=KAT_KEY_COMMITMENT.upper()),
        "key_commitment_missing": {k: v for k, v in _kat_dict().items() if k != "key_commitment"},
        "no_chunks": changed(chunks=[], plaintext_size=0),
        "chunks_not_list": changed(chunks={"0": chunks[0]}),
        "middle_chunk_short": changed(
            chunks=[chunks[0], {**chunks[1], "size": 31}, chunks[2]], plaintext_size=38
        ),
        "last_chunk_too_big": changed(
            chunks=[chunks[0], chunks[1], {**chunks[2], "size": 33}], plaintext_size=49
        ),
        "empty_trailing_chunk": changed(
            chunks=[chunks[0], chunks[1], {**chunks[2], "size": 16}], plaintext_size=32
        ),
        "plaintext_size": changed(plaintext_size=40),
        "chunk_extra_field": changed(chunks=[{**chunks[0], "x": 1}, chunks[1], chunks[2]]),
        "chunk_bad_hash": changed(chunks=[{**chunks[0], "sha256": "00"}, chunks[1], chunks[2]]),
        "extra_field": changed(comment="hi"),
        "missing_field": without_salt,
        "not_object": [1, 2],
    }


@pytest.mark.parametrize("name", sorted(_mutations()))
def test_manifest_rejects_inconsistent(name: str) -> None:
    with pytest.raises(DecryptionError, match="invalid dataset manifest"):
        Manifest.from_bytes(_encode(_mutations()[name]))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xfe",
        b"{",
        b"NaN",
        KAT_MANIFEST.replace(b'"chunk_size":16', b'"chunk_size":16.0'),
        KAT_MANIFEST.replace(b'"version":2', b'"version":2,"version":2'),  # duplicate key
        KAT_MANIFEST.replace(b'"version":2', b'"version":2' + b"0" * 5000),  # giant int
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_manifest_rejects_malformed_json(data: bytes) -> None:
    with pytest.raises(DecryptionError, match="invalid dataset manifest"):
        Manifest.from_bytes(data)


def test_manifest_must_be_canonical() -> None:
    # Same content, different bytes: accepting it would give one dataset two ids.
    pretty = json.dumps(_kat_dict(), indent=1).encode()
    with pytest.raises(DecryptionError, match="canonical"):
        Manifest.from_bytes(pretty)


def test_manifest_construction_is_checked() -> None:
    manifest = Manifest.from_bytes(KAT_MANIFEST)
    with pytest.raises(DecryptionError, match="plaintext_size"):
        dataclasses.replace(manifest, plaintext_size=1)


# ---- limits, boundaries and refusals, each with the message a user reads ---------------------


def _message(call: Callable[[], object], error: type[Exception]) -> str:
    with pytest.raises(error) as excinfo:
        call()
    return str(excinfo.value)


@pytest.mark.parametrize("chunk_size", [MIN_CHUNK_SIZE, 2, MAX_CHUNK_SIZE])
def test_chunk_sizes_at_the_limits_are_accepted(chunk_size: int) -> None:
    key = Key()
    manifest, chunks = encrypt_bytes(key, b"abc", chunk_size=chunk_size)
    assert manifest.chunk_size == chunk_size
    assert len(chunks) == -(-3 // chunk_size)
    assert decrypt_to_buffer(key, manifest, [c.ciphertext for c in chunks]) == b"abc"


@pytest.mark.parametrize("chunk_size", [True, 16.0, "16"])
def test_a_chunk_size_that_is_not_an_int_is_refused(chunk_size: object) -> None:
    call = partial(DatasetEncryptor, Key(), chunk_size)  # type: ignore[arg-type]
    assert _message(call, TypeError) == "chunk_size must be an int"


def test_only_a_sealroom_key_is_accepted(dataset: tuple[Manifest, list[bytes]]) -> None:
    # Raw bytes would skip the key's type (and its secrecy in reprs and logs).
    raw = KEY.material
    encryptor = partial(DatasetEncryptor, raw)  # type: ignore[arg-type]
    decryptor = partial(DatasetDecryptor, raw, dataset[0])  # type: ignore[arg-type]
    for call in (encryptor, decryptor):
        assert _message(call, TypeError) == "key must be a sealroom Key, not bytes"


@pytest.mark.parametrize(("salt", "prefix"), [(31, 7), (33, 7), (32, 6), (32, 8), (0, 0)])
def test_fixed_randomness_of_the_wrong_length_is_refused(salt: int, prefix: int) -> None:
    def call() -> object:
        return DatasetEncryptor._with_fixed_randomness(
            KAT_KEY, 16, salt=bytes(salt), nonce_prefix=bytes(prefix)
        )

    assert _message(call, ValueError) == "salt must be 32 bytes and nonce prefix 7 bytes"


def test_an_encryptor_refuses_a_second_file_even_before_the_first_is_read() -> None:
    # Its salt and nonce prefix are drawn once: a second file would reuse nonces.
    encryptor = DatasetEncryptor(Key(), chunk_size=16)
    encryptor.encrypt_stream(io.BytesIO(b"first"))  # not even iterated
    call = partial(encryptor.encrypt_stream, io.BytesIO(b"second"))
    assert _message(call, RuntimeError) == (
        "a DatasetEncryptor encrypts exactly one file; create a new one"
    )


def test_a_text_reader_is_refused_with_advice() -> None:
    stream = DatasetEncryptor(Key(), 16).encrypt_stream(io.StringIO("abc"))  # type: ignore[arg-type]
    assert _message(partial(next, stream), TypeError) == (
        "the reader must be a binary file object (open it with 'rb')"
    )


class _ScriptedReader(io.RawIOBase):
    """Returns the scripted results in turn (like a terminal or a growing file, which can report
    end of file and later have more) and counts reads made after it reported end of file."""

    def __init__(self, *results: bytes) -> None:
        self._results = list(results)
        self.reads_after_eof = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._eof:
            self.reads_after_eof += 1
        result = self._results.pop(0) if self._results else b""
        if len(result) > size >= 0:
            raise AssertionError("read more than asked")
        self._eof = self._eof or not result
        return result


@pytest.mark.parametrize(
    ("results", "plaintext"),
    [
        ((b"", b"late"), b""),  # end of file at once: one empty chunk
        ((b"abc", b"", b"late"), b"abc"),  # a short chunk ends the file
        ((b"ab", b"c", b"", b"late"), b"abc"),
        ((b"abcd", b"", b"late"), b"abcd"),  # a full chunk, then end of file
        ((b"abcd", b"ef", b"", b"late"), b"abcdef"),
    ],
)
def test_the_file_ends_at_the_first_end_of_file(
    results: tuple[bytes, ...], plaintext: bytes
) -> None:
    key = Key()
    reader = _ScriptedReader(*results)
    encryptor = DatasetEncryptor(key, chunk_size=4)
    chunks = [c.ciphertext for c in encryptor.encrypt_stream(reader)]  # type: ignore[arg-type]
    assert reader.reads_after_eof == 0
    assert encryptor.manifest.plaintext_size == len(plaintext)
    assert decrypt_to_buffer(key, encryptor.manifest, chunks) == plaintext


@pytest.mark.parametrize("size", [1, 2, 3])
def test_a_file_of_max_chunks_is_encrypted(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    # The real limit is 1,000,000 chunks: reaching it takes ~9 s and 250 MB even at 1-byte chunks,
    # so the limit is lowered for the test; the loop and the refusal are the module's own.
    monkeypatch.setattr(streaming, "MAX_CHUNKS", 3)
    key = Key()
    data = bytes(range(size + 6))  # 3 chunks of 3 bytes, the last one 1 to 3 bytes long
    encryptor = DatasetEncryptor(key, chunk_size=3)
    chunks = [c.ciphertext for c in encryptor.encrypt_stream(io.BytesIO(data))]
    assert len(chunks) == 3
    assert decrypt_to_buffer(key, encryptor.manifest, chunks) == data


@pytest.mark.parametrize("extra", [1, 3, 100])
def test_a_file_beyond_max_chunks_is_refused(monkeypatch: pytest.MonkeyPatch, extra: int) -> None:
    monkeypatch.setattr(streaming, "MAX_CHUNKS", 3)
    encryptor = DatasetEncryptor(Key(), chunk_size=3)
    stream = encryptor.encrypt_stream(io.BytesIO(bytes(9 + extra)))
    yielded: list[object] = []
    with pytest.raises(LimitExceededError) as excinfo:
        yielded.extend(stream)
    assert str(excinfo.value) == "dataset exceeds 3 chunks of 3 bytes; use a larger chunk size"
    assert len(yielded) == 3  # the chunks within the limit, none of them marked last
    with pytest.raises(RuntimeError, match="manifest"):
        _ = encryptor.manifest


def test_chunk_errors_name_the_chunk_the_dataset_and_the_attacks(
    dataset: tuple[Manifest, list[bytes]],
) -> None:
    manifest, chunks = dataset
    decryptor = DatasetDecryptor(KEY, manifest)
    assert _message(partial(decryptor.decrypt_chunk, 2, chunks[3]), DecryptionError) == (
        f"chunk 2 of dataset {manifest.dataset_id} does not match its manifest "
        "(tampered, reordered, duplicated or from another file)"
    )
    swapped = [chunks[0], chunks[2], chunks[1], *chunks[3:]]
    forged = _with_refs(manifest, swapped)
    assert _message(partial(decrypt_to_buffer, KEY, forged, swapped), DecryptionError) == (
        f"chunk 1 of dataset {forged.dataset_id} failed authentication "
        "(tampered, truncated, reordered, spliced or its manifest rewritten)"
    )


@pytest.mark.parametrize("index", [True, False, "1", 1.0, None, -1, 8, 2**64])
def test_a_chunk_index_must_be_an_int_within_the_dataset(
    dataset: tuple[Manifest, list[bytes]], index: object
) -> None:
    manifest, chunks = dataset
    decryptor = DatasetDecryptor(KEY, manifest)
    call = partial(decryptor.decrypt_chunk, index, chunks[1])  # type: ignore[arg-type]
    assert _message(call, DecryptionError) == (
        f"chunk {index} is not part of dataset {manifest.dataset_id} (8 chunks)"
    )


@pytest.mark.parametrize("count", [1, 2])
def test_no_chunks_at_all_is_truncation(count: int) -> None:
    manifest, _ = encrypt_bytes(KEY, bytes(10 * count), chunk_size=10)
    assert len(manifest.chunks) == count
    assert _message(partial(decrypt_to_buffer, KEY, manifest, []), DecryptionError) == (
        f"chunks 0 to {count - 1} of dataset {manifest.dataset_id} are missing"
    )


def test_missing_and_extra_chunk_messages(dataset: tuple[Manifest, list[bytes]]) -> None:
    manifest, chunks = dataset
    assert _message(partial(decrypt_to_buffer, KEY, manifest, chunks[:7]), DecryptionError) == (
        f"chunks 7 to 7 of dataset {manifest.dataset_id} are missing"
    )
    extra = [*chunks, chunks[7]]
    assert _message(partial(decrypt_to_buffer, KEY, manifest, extra), DecryptionError) == (
        f"chunk 8 is extra: dataset {manifest.dataset_id} has 8 chunks"
    )


class _PulledChunks:
    """An endless chunk source (chunk 0 tampered) that counts how many chunks were taken."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks
        self.taken = 0

    def __iter__(self) -> Iterator[bytes]:
        while True:
            self.taken += 1
            yield self._chunks[0][:-1] if self.taken == 1 else self._chunks[1]


def test_a_bad_chunk_is_refused_within_the_hash_lookahead(
    dataset: tuple[Manifest, list[bytes]],
) -> None:
    # Decryption holds at most five ciphertext chunks (the module's memory bound: up to 320 MiB
    # at the largest chunk size), and uses that lookahead for hashing: chunk 0 is checked once
    # the hashes of the next four are under way.
    manifest, chunks = dataset
    source = _PulledChunks(chunks)
    with pytest.raises(DecryptionError, match=r"chunk 0 .* does not match its manifest"):
        decrypt_to_buffer(KEY, manifest, source)
    assert source.taken == 5
