"""Blob storage for ciphertext: dataset chunks and encrypted job results.

Only ciphertext is ever handed to a blob store, so the store can be untrusted (a local directory
by default, an S3-compatible bucket at scale). Dataset chunks are content-addressed by the
SHA-256 of their ciphertext, which makes chunk uploads idempotent: a retried chunk lands on the
same key.

Invariant: keys are restricted to ``[a-z0-9_-]`` segments separated by ``/``; anything else is
refused, so a key can never escape the store's root directory.

A file's modification time says when it was last written or re-used (:meth:`keep_or_put`):
garbage collection (:mod:`sealroom.storage.gc`) deletes only files older than its cutoff.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from sealroom.errors import NotFoundError

_KEY_PATTERN = re.compile(r"^[a-z0-9_-]{1,128}(/[a-z0-9_-]{1,128}){0,4}$")


class BlobStore(Protocol):
    def put(self, key: str, data: bytes | bytearray | memoryview) -> None: ...

    def put_parts(self, key: str, parts: Iterable[bytes | bytearray | memoryview]) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...


def chunk_key(sha256_hex: str) -> str:
    return f"chunks/{sha256_hex[:2]}/{sha256_hex}"


def result_key(job_id: str) -> str:
    return f"results/{job_id}"


class LocalBlobStore:
    """A directory of files, written atomically (temporary file, then rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if not _KEY_PATTERN.match(key):
            raise ValueError(f"invalid blob key {key!r}")
        return self.root / key

    def put(self, key: str, data: bytes | bytearray | memoryview) -> None:
        self.put_parts(key, (data,))

    def put_parts(self, key: str, parts: Iterable[bytes | bytearray | memoryview]) -> None:
        """Write the concatenation of ``parts`` (no joined copy is made)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        with open(tmp, "wb") as handle:
            handle.writelines(parts)
        os.replace(tmp, path)

    def keep_or_put(self, key: str, parts: Iterable[bytes | bytearray | memoryview]) -> None:
        """Write ``parts`` unless the blob exists; if it does, mark it re-used (its mtime), so
        that garbage collection running meanwhile keeps it or finds it gone and we write it."""
        try:
            os.utime(self._path(key))
        except FileNotFoundError:
            self.put_parts(key, parts)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"blob {key} is missing from the store") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
