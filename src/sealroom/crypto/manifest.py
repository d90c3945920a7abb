"""The dataset manifest: what a dataset is, and the only thing its id is computed from.

Wire form (version 2) — canonical JSON (:mod:`sealroom.crypto.canonical`) of::

    {"version": 2, "algorithm": "AES-256-GCM-HKDF-SHA256-STREAM",
     "salt": hex(32 bytes), "nonce_prefix": hex(7 bytes), "chunk_size": int,
     "key_commitment": hex(32 bytes),
     "chunks": [{"sha256": hex of ciphertext chunk, "size": ciphertext bytes}, ...],
     "plaintext_size": int}

    dataset id = sha256_hex(manifest bytes)

What each field stops (the cipher that checks them is :mod:`sealroom.crypto.streaming`):

* ``chunks`` — the SHA-256 of every ciphertext chunk: the id commits to the exact ciphertext, so
  the untrusted blob store cannot substitute, reorder or drop chunks without changing the id.
* ``salt``, ``nonce_prefix``, ``chunk_size`` — the header. Every chunk's AEAD authenticates all
  of it (with ``key_commitment``), so a party without the key cannot write a second manifest for
  the same chunks: e.g. changing ``chunk_size`` of a one-chunk dataset, whose shape does not
  constrain it, makes the chunk fail authentication (version 1 left it unauthenticated, giving
  one ciphertext several ids).
* ``key_commitment`` — HKDF of the key and salt (:mod:`sealroom.crypto.streaming`), checked
  before any chunk is decrypted. AES-GCM is not key-committing: without this, one ciphertext
  could be crafted to decrypt under two keys to two plaintexts, i.e. one id would name two
  datasets. With it, a dataset id names at most one (key, plaintext) pair.
* ``version``, ``algorithm`` — only version 2 is accepted; version 1 manifests are refused with
  an error saying so (their datasets must be encrypted and uploaded again).

Invariants (checked whenever a :class:`Manifest` is constructed, so none exists unchecked):

* Every chunk but the last holds exactly ``chunk_size`` plaintext bytes (``chunk_size + 16``
  ciphertext bytes); the last holds 1 to ``chunk_size`` bytes, or 0 only when the file is empty
  (one empty final chunk). So there is exactly one valid manifest shape per plaintext size and
  chunk size, and a manifest can be checked for consistency without any key.
* ``plaintext_size`` agrees with the chunk sizes; sizes and counts are within the limits below.
* :meth:`Manifest.from_bytes` accepts only the canonical encoding, so the dataset id is the SHA-256
  of exactly the bytes received and no dataset has two ids.
* Every failure raises :class:`~sealroom.errors.DecryptionError` (not ``ValueError``): manifests
  come from the untrusted host, and "this dataset cannot be opened" is one failure for callers to
  handle (the host maps it to 400 on upload, the core to a failed job).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property

from sealroom.crypto.canonical import canonical_json
from sealroom.errors import DecryptionError

__all__ = [
    "ALGORITHM",
    "KEY_COMMITMENT_SIZE",
    "MANIFEST_VERSION",
    "MAX_CHUNKS",
    "MAX_CHUNK_SIZE",
    "MAX_MANIFEST_BYTES",
    "MIN_CHUNK_SIZE",
    "NONCE_PREFIX_SIZE",
    "RETIRED_VERSIONS",
    "SALT_SIZE",
    "TAG_SIZE",
    "ChunkRef",
    "Manifest",
    "check_chunk_size",
]

_MiB = 1024 * 1024

ALGORITHM = "AES-256-GCM-HKDF-SHA256-STREAM"
MANIFEST_VERSION = 2

RETIRED_VERSIONS = frozenset({1})
"""Versions refused with an error naming them: version 1 authenticated neither ``chunk_size`` nor
the key (see the module docstring). Nothing reads them any more."""

MAX_CHUNK_SIZE = 64 * _MiB
"""Largest plaintext chunk accepted: the server holds a whole chunk in memory per request."""

MIN_CHUNK_SIZE = 1
"""Smallest chunk size. Tiny chunks are only inefficient, never unsafe: :data:`MAX_CHUNKS` bounds
the work a manifest can cause."""

MAX_CHUNKS = 1_000_000
"""Most chunks per dataset: 8 TB at the default chunk size, far beyond what one core can hold,
while bounding the manifest to about 100 MB of JSON and the chunk index well inside u32."""

MAX_MANIFEST_BYTES = 128 * _MiB
"""Largest manifest parsed: a :data:`MAX_CHUNKS` manifest is about 90 MB. Checked before parsing so
that an untrusted manifest cannot make the parser allocate without bound."""

TAG_SIZE = 16
"""AES-GCM tag bytes appended to every chunk."""

SALT_SIZE = 32
NONCE_PREFIX_SIZE = 7
KEY_COMMITMENT_SIZE = 32

_HEX_DIGITS = frozenset("0123456789abcdef")
_MANIFEST_FIELDS = frozenset(
    {
        "version",
        "algorithm",
        "salt",
        "nonce_prefix",
        "chunk_size",
        "key_commitment",
        "chunks",
        "plaintext_size",
    }
)
_CHUNK_FIELDS = frozenset({"sha256", "size"})


@dataclass(frozen=True)
class ChunkRef:
    """A manifest entry: hex SHA-256 and byte size of one ciphertext chunk (plaintext + 16)."""

    sha256: str
    size: int


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """What a dataset is: parameters, key commitment and the hash of every ciphertext chunk.

    Constructing one checks it completely (see the module docstring); an inconsistent manifest
    raises :class:`~sealroom.errors.DecryptionError`. ``dataset_id`` is the SHA-256 of
    :meth:`to_bytes`.
    """

    salt: str
    nonce_prefix: str
    chunk_size: int
    key_commitment: str
    chunks: tuple[ChunkRef, ...]
    plaintext_size: int
    version: int = MANIFEST_VERSION
    algorithm: str = ALGORITHM

    def __post_init__(self) -> None:
        _check_manifest(self)

    def to_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "algorithm": self.algorithm,
            "salt": self.salt,
            "nonce_prefix": self.nonce_prefix,
            "chunk_size": self.chunk_size,
            "key_commitment": self.key_commitment,
            "chunks": [{"sha256": c.sha256, "size": c.size} for c in self.chunks],
            "plaintext_size": self.plaintext_size,
        }

    def to_bytes(self) -> bytes:
        """The canonical JSON bytes; the dataset id is their SHA-256."""
        return self._canonical_bytes

    @cached_property
    def _canonical_bytes(self) -> bytes:
        return canonical_json(self.to_dict())

    @cached_property
    def dataset_id(self) -> str:
        return hashlib.sha256(self._canonical_bytes).hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse an untrusted manifest strictly.

        Raises :class:`~sealroom.errors.DecryptionError` unless ``data`` is the canonical
        encoding of a consistent manifest. Requiring canonical bytes means the dataset id is the
        SHA-256 of exactly the bytes received, so no two encodings name one dataset.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"manifest must be bytes, not {type(data).__name__}")
        data = bytes(data)
        if len(data) > MAX_MANIFEST_BYTES:
            raise DecryptionError(
                f"invalid dataset manifest: {len(data)} bytes exceeds the limit of "
                f"{MAX_MANIFEST_BYTES} bytes"
            )
        try:
            obj = json.loads(
                data.decode("utf-8"),
                object_pairs_hook=_no_duplicate_keys,
                parse_float=_reject_float,
                parse_constant=_reject_float,
            )
        except (ValueError, RecursionError) as exc:
            # ValueError covers JSON syntax, UTF-8, over-long integers and our hooks.
            raise DecryptionError("invalid dataset manifest: not valid JSON") from exc
        if not isinstance(obj, dict):
            raise DecryptionError("invalid dataset manifest: not a JSON object")
        # Before the field check: a retired version has other fields, and deserves to be named.
        _check_version(obj.get("version"))
        if set(obj) != _MANIFEST_FIELDS:
            raise DecryptionError("invalid dataset manifest: wrong set of fields")
        raw_chunks = obj["chunks"]
        if not isinstance(raw_chunks, list):
            raise DecryptionError("invalid dataset manifest: 'chunks' is not a list")
        refs: list[ChunkRef] = []
        for index, raw in enumerate(raw_chunks):
            if not isinstance(raw, dict) or set(raw) != _CHUNK_FIELDS:
                raise DecryptionError(f"invalid dataset manifest: chunk {index} is malformed")
            refs.append(ChunkRef(sha256=raw["sha256"], size=raw["size"]))
        manifest = cls(
            version=obj["version"],
            algorithm=obj["algorithm"],
            salt=obj["salt"],
            nonce_prefix=obj["nonce_prefix"],
            chunk_size=obj["chunk_size"],
            key_commitment=obj["key_commitment"],
            chunks=tuple(refs),
            plaintext_size=obj["plaintext_size"],
        )
        if manifest.to_bytes() != data:
            raise DecryptionError("invalid dataset manifest: not in canonical form")
        return manifest

    def chunk_plaintext_size(self, index: int) -> int:
        """Plaintext bytes of chunk ``index``."""
        return self.chunks[index].size - TAG_SIZE


def check_chunk_size(chunk_size: int) -> None:
    """Raise TypeError/ValueError unless ``chunk_size`` is an int within the limits."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise TypeError("chunk_size must be an int")
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk_size must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE} bytes")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_hex(value: object, nbytes: int) -> bool:
    return isinstance(value, str) and len(value) == 2 * nbytes and set(value) <= _HEX_DIGITS


def _check_version(version: object) -> None:
    def bad(what: str) -> DecryptionError:
        return DecryptionError(f"invalid dataset manifest: {what}")

    # The value is echoed only when it is a version we know: the manifest is untrusted input.
    if _is_int(version) and version in RETIRED_VERSIONS:
        raise bad(
            f"version {version} is no longer accepted (expected {MANIFEST_VERSION}, which "
            "authenticates the chunk size and commits to the key); encrypt and upload the "
            "dataset again"
        )
    if not _is_int(version) or version != MANIFEST_VERSION:
        raise bad(f"unsupported version (expected {MANIFEST_VERSION})")


def _check_manifest(m: Manifest) -> None:
    def bad(what: str) -> DecryptionError:
        return DecryptionError(f"invalid dataset manifest: {what}")

    _check_version(m.version)
    if m.algorithm != ALGORITHM:
        raise bad(f"unsupported algorithm (expected {ALGORITHM})")
    if not _is_hex(m.salt, SALT_SIZE):
        raise bad(f"salt must be {SALT_SIZE} bytes of lower-case hex")
    if not _is_hex(m.nonce_prefix, NONCE_PREFIX_SIZE):
        raise bad(f"nonce_prefix must be {NONCE_PREFIX_SIZE} bytes of lower-case hex")
    if not _is_int(m.chunk_size) or not MIN_CHUNK_SIZE <= m.chunk_size <= MAX_CHUNK_SIZE:
        raise bad(f"chunk_size must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE}")
    if not _is_hex(m.key_commitment, KEY_COMMITMENT_SIZE):
        raise bad(f"key_commitment must be {KEY_COMMITMENT_SIZE} bytes of lower-case hex")
    if not isinstance(m.chunks, tuple) or not 1 <= len(m.chunks) <= MAX_CHUNKS:
        raise bad(f"must list between 1 and {MAX_CHUNKS} chunks")
    full = m.chunk_size + TAG_SIZE
    last_index = len(m.chunks) - 1
    for index, ref in enumerate(m.chunks):
        if not isinstance(ref, ChunkRef) or not _is_hex(ref.sha256, 32) or not _is_int(ref.size):
            raise bad(f"chunk {index} is malformed")
        if index < last_index and ref.size != full:
            raise bad(f"chunk {index} must be {full} bytes (only the last chunk may be shorter)")
    last_size = m.chunks[last_index].size
    # The last chunk is non-empty unless it is the only one (an empty file): one shape per size.
    smallest_last = TAG_SIZE if last_index == 0 else TAG_SIZE + 1
    if not smallest_last <= last_size <= full:
        raise bad(f"last chunk must be between {smallest_last} and {full} bytes")
    if not _is_int(m.plaintext_size) or m.plaintext_size != (
        last_index * m.chunk_size + last_size - TAG_SIZE
    ):
        raise bad("plaintext_size does not match the chunk sizes")


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


def _reject_float(text: str) -> object:
    raise ValueError("manifests contain no floats")
