"""Turning a published dataset into plaintext and a validated table, inside the core.

The path for one table input is: publication (host) → sealed key opened with the core's X25519
key, bound to (room, node, dataset) → manifest checked against the dataset id → ciphertext chunks
fetched one by one, each checked against its manifest hash and decrypted into one in-memory
buffer → validated → a typed Arrow table.

Invariants:

* Plaintext exists only in this process's memory (and DuckDB's spill directory in the RAM-backed
  scratch); it is never written to the blob store, the database or a log.
* Everything read from the host is untrusted: a manifest that does not hash to the dataset id, a
  chunk that does not match its hash, or a key sealed for another room or node is refused.
* Validated tables are cached by (dataset id, schema), bounded in bytes, least recently used
  evicted first; a cache miss simply validates again (validation is deterministic), which is also
  what happens after a restart. The entry is shared by every room and node that published the
  same dataset to a table of the same schema (a publisher's DataLab and its media rooms): the
  dataset id commits to the ciphertext and to its key (the manifest's key commitment, checked at
  every publication before its table is looked up), so it determines the plaintext, and
  validation depends on nothing else but the schema and the core's limits.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from sealroom.crypto import (
    KemPrivateKey,
    Key,
    Manifest,
    dataset_key_context,
    dataset_test_key_context,
    decrypt_into,
    open_sealed,
)
from sealroom.enclave.host import DatasetStore
from sealroom.errors import (
    BadRequestError,
    ConflictError,
    DecryptionError,
    LimitExceededError,
    NotFoundError,
)
from sealroom.model.definition import TableNode
from sealroom.model.records import PublicationRecord
from sealroom.validation import ValidationLimits, ValidationResult, validate_table


@dataclass(frozen=True)
class KeyUse:
    """What a dataset key was sealed to the core for: one data node of a published room, or,
    with ``test_run``, one test run of a draft (``room_id`` is then the draft's id).

    The two are separate HPKE contexts, so a key published to a room never opens in a test run
    and a key lent to a test run never opens as a publication.
    """

    room_id: str
    node: str
    dataset_id: str
    test_run: str | None = None

    def context(self) -> bytes:
        if self.test_run is None:
            return dataset_key_context(self.room_id, self.node, self.dataset_id)
        return dataset_test_key_context(self.room_id, self.node, self.dataset_id, self.test_run)

    def __str__(self) -> str:
        if self.test_run is None:
            return f"room {self.room_id}, node {self.node!r}"
        return f"test run {self.test_run} of draft {self.room_id}, node {self.node!r}"


def open_dataset_key(kem_key: KemPrivateKey, sealed_key: bytes, use: KeyUse) -> Key:
    try:
        material = open_sealed(kem_key, sealed_key, context=use.context())
    except DecryptionError:
        raise BadRequestError(
            f"the key for dataset {use.dataset_id} is not sealed to this core for {use}",
            code="invalid_sealed_key",
        ) from None
    return Key(material=material)


@dataclass(frozen=True)
class OpenedDataset:
    """A dataset's key, unsealed by the core for one use, and its manifest (which hashes to the
    dataset id). Opened once and passed on: a publication unseals its key once."""

    key: Key = field(repr=False)
    manifest: Manifest


@dataclass(frozen=True)
class ValidatedTable:
    dataset_id: str
    passed: bool
    table: pa.Table | None
    report: dict[str, object]
    #: Summary statistics by threshold, computed once (:mod:`sealroom.enclave.statistics`),
    #: under ``statistics_lock`` (two participants may ask at once).
    statistics: dict[int, dict[str, Any]] = field(default_factory=dict, compare=False)
    statistics_lock: threading.Lock = field(
        default_factory=threading.Lock, compare=False, repr=False
    )


class DatasetReader:
    """Decrypts published datasets with keys the core unseals."""

    def __init__(
        self,
        store: DatasetStore,
        kem_key: KemPrivateKey,
        *,
        max_plaintext_bytes: int,
    ) -> None:
        self._store = store
        self._kem_key = kem_key
        self._max_plaintext_bytes = max_plaintext_bytes

    def manifest(self, dataset_id: str) -> Manifest:
        record = self._store.get_dataset(dataset_id)
        if record is None:
            raise NotFoundError(f"dataset {dataset_id} not found")
        try:
            manifest = Manifest.from_bytes(record.manifest)
        except DecryptionError:
            manifest = None
        # The host stores the manifest; only one whose hash is the id is the dataset published.
        if manifest is None or manifest.dataset_id != dataset_id:
            raise ConflictError(
                f"the stored manifest of dataset {dataset_id} does not match its id",
                code="dataset_corrupt",
            )
        return manifest

    def open(self, use: KeyUse, sealed_key: bytes) -> OpenedDataset:
        """Unseal the dataset's key for ``use`` and read its manifest (checked against its id)."""
        key = open_dataset_key(self._kem_key, sealed_key, use)
        return OpenedDataset(key, self.manifest(use.dataset_id))

    def plaintext(self, use: KeyUse, sealed_key: bytes) -> pa.Buffer:
        return self.decrypt(self.open(use, sealed_key))

    def decrypt(self, dataset: OpenedDataset) -> pa.Buffer:
        manifest = dataset.manifest
        dataset_id = manifest.dataset_id
        if manifest.plaintext_size > self._max_plaintext_bytes:
            raise LimitExceededError(
                f"dataset {dataset_id} has {manifest.plaintext_size} bytes; this core accepts "
                f"at most {self._max_plaintext_bytes}"
            )
        chunks = (self._store.dataset_chunk(ref.sha256) for ref in manifest.chunks)
        # Uninitialised memory from Arrow's pool: decryption writes every byte, so zero-filling
        # first (as a bytearray does) would only touch every page twice.
        buffer = pa.allocate_buffer(manifest.plaintext_size)
        try:
            decrypt_into(dataset.key, manifest, chunks, memoryview(buffer))
            return buffer
        except DecryptionError:
            raise ConflictError(
                f"dataset {dataset_id} failed authentication: its ciphertext was altered, "
                "truncated or encrypted with another key",
                code="dataset_corrupt",
            ) from None


#: A cache entry: (dataset id, digest of the table schema it was validated against).
_TableKey = tuple[str, str]


def _schema_digest(node: TableNode) -> str:
    return hashlib.sha256(node.schema_.model_dump_json().encode()).hexdigest()


class ValidatedTableCache:
    """Validated tables in memory, bounded by ``max_bytes``; validation runs once per (dataset,
    schema), whichever rooms publish it (module docstring)."""

    def __init__(
        self,
        reader: DatasetReader,
        limits: ValidationLimits,
        max_bytes: int,
        *,
        max_concurrent: int = 1,
    ) -> None:
        self._reader = reader
        # Each validation already uses every core (pyarrow, DuckDB and the hash threads); running
        # several at once only oversubscribes the CPU and multiplies peak memory.
        self._running = threading.BoundedSemaphore(max_concurrent)
        self._limits = limits
        self._max_bytes = max_bytes
        self._entries: OrderedDict[_TableKey, ValidatedTable] = OrderedDict()
        self._bytes = 0
        self._guard = threading.Lock()
        self._key_locks: dict[_TableKey, threading.Lock] = {}
        #: The entries each (room, node) asked for: replacing a node's dataset drops the old
        #: entry unless another node still has it.
        self._uses: dict[tuple[str, str], set[_TableKey]] = {}

    def validate(
        self,
        room_id: str,
        node: TableNode,
        publication: PublicationRecord,
        opened: OpenedDataset | None = None,
    ) -> ValidatedTable:
        """Decrypt and validate ``publication`` (or return the cached outcome), with its key
        ``opened`` already when the caller unsealed it.

        The caller has checked the publication's key against the dataset's key commitment (at
        its publication): only then may another room's validation of that dataset stand for
        this one's."""
        key = (publication.dataset_id, _schema_digest(node))
        with self._guard:
            self._uses.setdefault((room_id, node.name), set()).add(key)
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                cached = self._entries.get(key)
                if cached is not None:
                    self._entries.move_to_end(key)
                    return cached
            with self._running:
                if opened is None:
                    use = KeyUse(room_id, node.name, publication.dataset_id)
                    opened = self._reader.open(use, publication.sealed_key)
                plaintext = self._reader.decrypt(opened)
                try:
                    result: ValidationResult = validate_table(
                        memoryview(plaintext), node.schema_, limits=self._limits
                    )
                finally:
                    del plaintext
            entry = ValidatedTable(
                dataset_id=publication.dataset_id,
                passed=result.passed,
                table=result.table,
                report=result.report,
            )
            self._remember(key, entry)
            return entry

    def _remember(self, key: _TableKey, entry: ValidatedTable) -> None:
        size = entry.table.nbytes if entry.table is not None else 0
        if size > self._max_bytes:
            return
        with self._guard:
            self._entries[key] = entry
            self._bytes += size
            while self._bytes > self._max_bytes and self._entries:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.table.nbytes if evicted.table is not None else 0

    def forget(self, room_id: str, node: str, *, keep: str | None = None) -> None:
        """Drop the node's validated tables, but the one of dataset ``keep`` and those another
        room or node still uses."""
        with self._guard:
            used = self._uses.get((room_id, node), set())
            gone = {k for k in used if k[0] != keep}
            used -= gone
            if not used:
                self._uses.pop((room_id, node), None)
            elsewhere = set().union(*self._uses.values()) if self._uses else set()
            for key in gone - elsewhere:
                evicted = self._entries.pop(key, None)
                if evicted is not None:
                    self._bytes -= evicted.table.nbytes if evicted.table is not None else 0
