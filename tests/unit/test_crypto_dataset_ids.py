"""A dataset id names one dataset (issue 13, item 6): the attacker's tests.

Format version 1 had two holes, each giving a dataset id more than one meaning:

* ``chunk_size`` was not authenticated, and a one-chunk dataset's shape does not constrain it, so
  anyone could rewrite it: one ciphertext, several valid manifests, several ids.
* AES-GCM is not key-committing, so a data owner could craft a chunk that decrypts under two keys
  to two plaintexts: one id, two datasets.

Version 2 authenticates the manifest header in every chunk and commits to the key in the manifest.
The format is recomputed here from its description in :mod:`sealroom.crypto.streaming`, with
HKDF written out and AES-GCM called directly, so the documentation and the code cannot drift.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import io
import json
import struct
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealroom.crypto import (
    MAX_CHUNK_SIZE,
    ChunkRef,
    DatasetDecryptor,
    DatasetEncryptor,
    Key,
    Manifest,
    decrypt_chunk,
    decrypt_into,
    decrypt_to_buffer,
    encrypt_bytes,
)
from sealroom.errors import DecryptionError

CHUNK_DOMAIN = b"sealroom/dataset-chunk/v2"
COMMITMENT_DOMAIN = b"sealroom/dataset-key-commitment/v2"


def _hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869, written out."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def _header(chunk_size: int, salt: bytes, prefix: bytes, commitment: bytes) -> bytes:
    return CHUNK_DOMAIN + struct.pack(">I", chunk_size) + salt + prefix + commitment


def _nonce(prefix: bytes, index: int, *, last: bool) -> bytes:
    return prefix + struct.pack(">I", index) + (b"\x01" if last else b"\x00")


# ---- the documented format, recomputed -----------------------------------------------------


@pytest.mark.parametrize("plaintext", [b"", b"x", b"sixteen bytes!!!", bytes(range(100))])
def test_the_code_follows_the_documented_format(plaintext: bytes) -> None:
    key, salt, prefix, chunk_size = bytes(range(32)), bytes(range(0x40, 0x60)), b"\xa0" * 7, 16
    subkey = _hkdf_sha256(key, salt, CHUNK_DOMAIN, 32)
    commitment = _hkdf_sha256(key, salt, COMMITMENT_DOMAIN, 32)
    header = _header(chunk_size, salt, prefix, commitment)
    parts = [plaintext[i : i + chunk_size] for i in range(0, len(plaintext), chunk_size)] or [b""]
    expected = [
        AESGCM(subkey).encrypt(_nonce(prefix, i, last=i == len(parts) - 1), part, header)
        for i, part in enumerate(parts)
    ]
    manifest = {
        "version": 2,
        "algorithm": "AES-256-GCM-HKDF-SHA256-STREAM",
        "salt": salt.hex(),
        "nonce_prefix": prefix.hex(),
        "chunk_size": chunk_size,
        "key_commitment": commitment.hex(),
        "chunks": [{"sha256": hashlib.sha256(c).hexdigest(), "size": len(c)} for c in expected],
        "plaintext_size": len(plaintext),
    }
    expected_manifest = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()

    encryptor = DatasetEncryptor._with_fixed_randomness(
        Key(material=key), chunk_size, salt=salt, nonce_prefix=prefix
    )
    chunks = [c.ciphertext for c in encryptor.encrypt_stream(io.BytesIO(plaintext))]
    assert chunks == expected
    assert encryptor.manifest.to_bytes() == expected_manifest
    assert encryptor.manifest.dataset_id == hashlib.sha256(expected_manifest).hexdigest()


# ---- (a) one ciphertext, one manifest ------------------------------------------------------

KEY = Key(material=bytes([9]) * 32)


@pytest.mark.parametrize("forged_chunk_size", [10, 11, 15, 17, 64, MAX_CHUNK_SIZE])
def test_a_rewritten_chunk_size_does_not_decrypt(forged_chunk_size: int) -> None:
    # A 10-byte file in one chunk: every chunk_size from 10 up gives a consistent manifest.
    manifest, encrypted = encrypt_bytes(KEY, b"0123456789", chunk_size=16)
    chunks = [c.ciphertext for c in encrypted]
    forged = dataclasses.replace(manifest, chunk_size=forged_chunk_size)
    # The forgery is a well-formed manifest with a new id: only the AEAD can refuse it.
    assert Manifest.from_bytes(forged.to_bytes()) == forged
    assert forged.dataset_id != manifest.dataset_id
    with pytest.raises(DecryptionError, match=rf"chunk 0 of dataset {forged.dataset_id} failed"):
        decrypt_to_buffer(KEY, forged, chunks)
    with pytest.raises(DecryptionError, match="failed authentication"):
        decrypt_chunk(KEY, forged, 0, chunks[0])
    assert decrypt_to_buffer(KEY, manifest, chunks) == b"0123456789"


@pytest.mark.parametrize("field", ["salt", "nonce_prefix"])
def test_every_header_field_is_authenticated(field: str) -> None:
    # Salt also changes the subkey and the commitment, the prefix the nonce; the AEAD must refuse
    # either even when the attacker recomputes the commitment (the key owner can).
    manifest, encrypted = encrypt_bytes(KEY, b"abc", chunk_size=16)
    value = getattr(manifest, field)
    flipped = value[:-1] + ("0" if value[-1] != "0" else "1")
    forged = dataclasses.replace(manifest, **{field: flipped})
    commitment = _hkdf_sha256(KEY.material, bytes.fromhex(forged.salt), COMMITMENT_DOMAIN, 32)
    forged = dataclasses.replace(forged, key_commitment=commitment.hex())
    with pytest.raises(DecryptionError, match="failed authentication"):
        decrypt_to_buffer(KEY, forged, [c.ciphertext for c in encrypted])


# ---- (b) one id, one key -------------------------------------------------------------------


class _WatchedChunks:
    """A chunk source that records whether the decryptor read from it."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks
        self.read = False

    def __iter__(self) -> Iterator[bytes]:
        self.read = True
        return iter(self._chunks)


@pytest.fixture(scope="module")
def dataset() -> tuple[Manifest, list[bytes]]:
    manifest, encrypted = encrypt_bytes(KEY, bytes(range(256)) * 3, chunk_size=128)
    return manifest, [c.ciphertext for c in encrypted]


def _altered_commitment(manifest: Manifest) -> Manifest:
    commitment = bytearray.fromhex(manifest.key_commitment)
    commitment[-1] ^= 0x01
    return dataclasses.replace(manifest, key_commitment=commitment.hex())


@pytest.mark.parametrize("case", ["altered_commitment", "other_key"])
def test_a_key_that_does_not_match_is_refused_before_any_chunk(
    dataset: tuple[Manifest, list[bytes]], case: str
) -> None:
    manifest, chunks = dataset
    key, target = (
        (KEY, _altered_commitment(manifest)) if case == "altered_commitment" else (Key(), manifest)
    )
    message = f"the key does not match dataset {target.dataset_id}"
    watched = _WatchedChunks(chunks)
    out = bytearray(b"\xff" * target.plaintext_size)
    with pytest.raises(DecryptionError, match=message):
        decrypt_into(key, target, watched, memoryview(out))
    assert not watched.read
    assert out == b"\xff" * target.plaintext_size  # nothing written, not even zeros
    with pytest.raises(DecryptionError, match=message):
        decrypt_to_buffer(key, target, watched)
    assert not watched.read
    with pytest.raises(DecryptionError, match=message):
        DatasetDecryptor(key, target)
    with pytest.raises(DecryptionError, match=message) as excinfo:
        decrypt_chunk(key, target, 0, chunks[0])
    assert manifest.key_commitment not in str(excinfo.value)


# GCM arithmetic for the two-key forgery ("invisible salamanders", Dodis et al., CRYPTO 2018).
_GCM_R = 0xE1 << 120


def _gf_mul(x: int, y: int) -> int:
    """Multiplication in GF(2^128) with GCM's bit order (NIST SP 800-38D, algorithm 1)."""
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ _GCM_R if v & 1 else v >> 1
    return z


def _gf_pow(x: int, e: int) -> int:
    result = 1 << 127  # the field's one, in GCM's bit order
    while e:
        if e & 1:
            result = _gf_mul(result, x)
        x = _gf_mul(x, x)
        e >>= 1
    return result


def _aes_block(key: bytes, block: bytes) -> int:
    # The raw AES permutation on one block, as GCM uses it for H and the tag mask.
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return int.from_bytes(encryptor.update(block) + encryptor.finalize(), "big")


def _ghash(h: int, blocks: list[int]) -> int:
    x = 0
    for block in blocks:
        x = _gf_mul(x ^ block, h)
    return x


def _blocks(aad: bytes, ciphertext: bytes) -> list[int]:
    def padded(data: bytes) -> list[int]:
        data += bytes(-len(data) % 16)
        return [int.from_bytes(data[i : i + 16], "big") for i in range(0, len(data), 16)]

    lengths = (len(aad) * 8 << 64) | (len(ciphertext) * 8)
    return [*padded(aad), *padded(ciphertext), lengths]


def _two_key_ciphertext(
    subkey1: bytes, subkey2: bytes, nonce: bytes, aad: bytes, blocks: int
) -> bytes:
    """A ciphertext + tag that authenticates under both subkeys (same nonce and AAD)."""
    h1, h2 = _aes_block(subkey1, bytes(16)), _aes_block(subkey2, bytes(16))
    j0 = nonce + b"\x00\x00\x00\x01"
    mask1, mask2 = _aes_block(subkey1, j0), _aes_block(subkey2, j0)
    ciphertext = bytearray(16 * blocks)  # the first block is the free variable X
    layout = _blocks(aad, bytes(ciphertext))
    free = len(_blocks(aad, b"")) - 1  # index of X among the GHASH blocks
    exponent = len(layout) - free  # X is multiplied by H^exponent
    # tag1 == tag2  <=>  X * (H1^e + H2^e) == GHASH1(X=0) + GHASH2(X=0) + E1(J0) + E2(J0)
    rhs = _ghash(h1, layout) ^ _ghash(h2, layout) ^ mask1 ^ mask2
    coefficient = _gf_pow(h1, exponent) ^ _gf_pow(h2, exponent)
    x = _gf_mul(rhs, _gf_pow(coefficient, 2**128 - 2))  # the inverse, by Fermat
    ciphertext[:16] = x.to_bytes(16, "big")
    tag = _ghash(h1, _blocks(aad, bytes(ciphertext))) ^ mask1
    return bytes(ciphertext) + tag.to_bytes(16, "big")


def test_a_ciphertext_valid_under_two_keys_opens_under_one() -> None:
    # The data owner's attack: one chunk that AES-GCM accepts under two keys. Without the key
    # commitment, the same dataset id would open to one plaintext for a reviewer holding key 1
    # and to another inside a room holding key 2.
    key1, key2 = Key(material=b"\x01" * 32), Key(material=b"\x02" * 32)
    salt, prefix, chunk_size = b"\x5a" * 32, b"\xa5" * 7, 32
    subkey1 = _hkdf_sha256(key1.material, salt, CHUNK_DOMAIN, 32)
    subkey2 = _hkdf_sha256(key2.material, salt, CHUNK_DOMAIN, 32)
    commitment1 = _hkdf_sha256(key1.material, salt, COMMITMENT_DOMAIN, 32)
    header = _header(chunk_size, salt, prefix, commitment1)
    nonce = _nonce(prefix, 0, last=True)
    chunk = _two_key_ciphertext(subkey1, subkey2, nonce, header, blocks=2)
    # The forgery is real: AES-GCM itself accepts it under both subkeys, to different plaintexts.
    plaintext1 = AESGCM(subkey1).decrypt(nonce, chunk, header)
    plaintext2 = AESGCM(subkey2).decrypt(nonce, chunk, header)
    assert plaintext1 != plaintext2
    manifest = Manifest(
        salt=salt.hex(),
        nonce_prefix=prefix.hex(),
        chunk_size=chunk_size,
        key_commitment=commitment1.hex(),
        chunks=(ChunkRef(sha256=hashlib.sha256(chunk).hexdigest(), size=len(chunk)),),
        plaintext_size=len(plaintext1),
    )
    assert decrypt_to_buffer(key1, manifest, [chunk]) == plaintext1
    with pytest.raises(DecryptionError, match="the key does not match dataset"):
        decrypt_to_buffer(key2, manifest, [chunk])
    # And a manifest committing to key 2 is another dataset id, whose header key 1 fails.
    commitment2 = _hkdf_sha256(key2.material, salt, COMMITMENT_DOMAIN, 32)
    other = dataclasses.replace(manifest, key_commitment=commitment2.hex())
    assert other.dataset_id != manifest.dataset_id
    with pytest.raises(DecryptionError, match="the key does not match dataset"):
        decrypt_to_buffer(key1, other, [chunk])


# ---- old manifests --------------------------------------------------------------------------


def test_version_1_manifests_are_refused_by_name() -> None:
    manifest, _ = encrypt_bytes(KEY, b"abc", chunk_size=16)
    old = json.loads(manifest.to_bytes())
    del old["key_commitment"]
    old["version"] = 1
    data = json.dumps(old, sort_keys=True, separators=(",", ":")).encode()
    with pytest.raises(DecryptionError, match="version 1 is no longer accepted") as excinfo:
        Manifest.from_bytes(data)
    assert "encrypt and upload the dataset again" in str(excinfo.value)
    with pytest.raises(DecryptionError, match="version 1 is no longer accepted"):
        dataclasses.replace(manifest, version=1)
