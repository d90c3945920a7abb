"""Blob storage for ciphertext: dataset chunks and encrypted job results.

Only ciphertext is ever handed to a blob store, so the store can be untrusted (a local directory
by default, an S3-compatible bucket at scale: :mod:`sealroom.storage.s3`). Dataset chunks are
content-addressed by the SHA-256 of their ciphertext, which makes chunk uploads idempotent: a
retried chunk lands on the same key.

Invariants, of every :class:`BlobStore` (``tests/unit/test_blob_store_conformance.py`` runs one
suite against each):

* Keys are restricted to ``[a-z0-9_-]`` segments separated by ``/``; anything else is refused, so
  a key can never escape the store's root directory (or its prefix in a bucket).
* A blob is written whole or not at all: a reader sees the old bytes, the new ones or none.
* A missing key reads as :class:`~sealroom.errors.NotFoundError`; deleting one is not an error.
* A blob's modification time says when it was last written or re-used (:meth:`keep_or_put`):
  garbage collection (:mod:`sealroom.storage.gc`) deletes only blobs older than its cutoff.

Garbage collection deletes an unreferenced chunk in two steps, so that a server re-using the
chunk at that moment never ends up pointing at a deleted blob: :meth:`~BlobStore.set_aside`
takes the blob out of the store's reach (a reader finds it missing; :meth:`keep_or_put` writes it
again) unless it was re-used since the cutoff; gc reads the database once more; then
:meth:`~BlobStore.end_aside` puts it back or drops it. Each store says how it makes that safe.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from sealroom.errors import NotFoundError

__all__ = [
    "BlobInfo",
    "BlobStore",
    "LocalBlobStore",
    "check_key",
    "chunk_key",
    "result_key",
]

_KEY_PATTERN = re.compile(r"^[a-z0-9_-]{1,128}(/[a-z0-9_-]{1,128}){0,4}$")
#: The suffix of a file :meth:`LocalBlobStore.set_aside` moved aside (a dot file: never a key).
_ASIDE: Final = ".gc"

Parts = Iterable[bytes | bytearray | memoryview]


@dataclass(frozen=True)
class BlobInfo:
    """A blob (or a partial write) as a listing sees it."""

    key: str
    size: int
    modified_at_ms: int


class BlobStore(Protocol):
    # -- what the server and the core use ------------------------------------------------------
    def put(self, key: str, data: bytes | bytearray | memoryview) -> None: ...

    def put_parts(self, key: str, parts: Parts) -> None:
        """Write the concatenation of ``parts`` without joining them into one copy."""
        ...

    def keep_or_put(self, key: str, parts: Parts) -> None:
        """Write ``parts`` unless the blob exists; if it does, mark it re-used (its modification
        time), so that garbage collection running meanwhile keeps it, or finds it gone and we
        write it again."""
        ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    # -- what garbage collection uses ------------------------------------------------------------
    def list_blobs(self, prefix: str) -> Iterator[BlobInfo]:
        """Every blob whose key starts with ``prefix + "/"``, sorted by key."""
        ...

    def stat(self, key: str) -> BlobInfo | None:
        """The blob's size and modification time; None if it is missing (or ``key`` invalid)."""
        ...

    def set_aside(self, key: str, modified_before_ms: int) -> bool:
        """Take the blob out of reach if it was last modified before ``modified_before_ms``;
        False (and the blob stays) if it is missing or was written or re-used since."""
        ...

    def end_aside(self, key: str, *, keep: bool) -> None:
        """Finish :meth:`set_aside`: put the blob back (``keep``) unless it was written again
        meanwhile, or drop it."""
        ...

    def put_back_left_aside(self, prefix: str) -> None:
        """Blobs under ``prefix`` that a garbage collection stopped half-way left aside go back
        (the next collection checks them again)."""
        ...

    def drop_partial_writes(self, before_ms: int, *, dry_run: bool) -> list[BlobInfo]:
        """Remove what writes that never finished left behind, started before ``before_ms``
        (with ``dry_run`` only list it)."""
        ...


def check_key(key: str) -> str:
    if not _KEY_PATTERN.match(key):
        raise ValueError(f"invalid blob key {key!r}")
    return key


def chunk_key(sha256_hex: str) -> str:
    return f"chunks/{sha256_hex[:2]}/{sha256_hex}"


def result_key(job_id: str) -> str:
    return f"results/{job_id}"


class LocalBlobStore:
    """A directory of files, written atomically (temporary file, then rename).

    Setting a blob aside is an atomic rename to a dot file beside it (never a valid key): a
    server that re-used the blob before the rename gave it a new mtime, which the check after the
    rename sees; one that comes after finds it missing and writes it again.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes | bytearray | memoryview) -> None:
        self.put_parts(key, (data,))

    def put_parts(self, key: str, parts: Parts) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        with open(tmp, "wb") as handle:
            handle.writelines(parts)
        os.replace(tmp, path)

    def keep_or_put(self, key: str, parts: Parts) -> None:
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

    def list_blobs(self, prefix: str) -> Iterator[BlobInfo]:
        root = self._path(prefix)
        if not root.is_dir():
            return
        for path in sorted(root.rglob("*")):
            key = path.relative_to(self.root).as_posix()
            if not _KEY_PATTERN.match(key):
                continue  # temporary files and blobs set aside: dot files
            info = self._stat_path(path, key)
            if info is not None:
                yield info

    def stat(self, key: str) -> BlobInfo | None:
        try:
            path = self._path(key)
        except ValueError:
            return None
        return self._stat_path(path, key)

    @staticmethod
    def _stat_path(path: Path, key: str) -> BlobInfo | None:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None  # deleted meanwhile
        if not path.is_file():
            return None
        return BlobInfo(key, stat.st_size, stat.st_mtime_ns // 1_000_000)

    def _aside_path(self, path: Path) -> Path:
        return path.with_name(f".{path.name}{_ASIDE}")

    def set_aside(self, key: str, modified_before_ms: int) -> bool:
        path = self._path(key)
        moved = self._aside_path(path)
        try:
            os.rename(path, moved)
        except FileNotFoundError:
            return False  # deleted meanwhile (another gc)
        # The rename keeps the mtime: a re-use before it shows here; after it, the server
        # finds the file gone and writes it again.
        if moved.stat().st_mtime_ns // 1_000_000 >= modified_before_ms:
            self._put_back(moved, path)
            return False
        return True

    def end_aside(self, key: str, *, keep: bool) -> None:
        path = self._path(key)
        moved = self._aside_path(path)
        if keep:
            self._put_back(moved, path)
        else:
            moved.unlink(missing_ok=True)

    def put_back_left_aside(self, prefix: str) -> None:
        root = self._path(prefix)
        if not root.is_dir():
            return
        for moved in root.rglob(f".*{_ASIDE}"):
            path = moved.with_name(moved.name[1 : -len(_ASIDE)])
            if _KEY_PATTERN.match(path.relative_to(self.root).as_posix()):
                self._put_back(moved, path)

    @staticmethod
    def _put_back(moved: Path, path: Path) -> None:
        if path.exists():
            moved.unlink(missing_ok=True)  # written again meanwhile: the same bytes (its key)
        else:
            os.replace(moved, path)

    def drop_partial_writes(self, before_ms: int, *, dry_run: bool) -> list[BlobInfo]:
        """Temporary files of :meth:`put_parts` that were never renamed into place."""
        dropped: list[BlobInfo] = []
        for path in sorted(self.root.rglob(".*.tmp")):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # renamed into place meanwhile
            modified = stat.st_mtime_ns // 1_000_000
            if not path.is_file() or modified >= before_ms:
                continue
            if not dry_run:
                path.unlink(missing_ok=True)
            key = path.relative_to(self.root).as_posix()
            dropped.append(BlobInfo(key, stat.st_size, modified))
        return dropped
