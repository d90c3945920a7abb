"""Where a run's data nodes get their data: the room's published datasets, or test data.

A job of a room reads :class:`PublishedData`. A test run of a draft (``test_all_computations``)
reads :class:`TestData`: empty tables of the declared schemas, or *test datasets* the author
uploaded for that test and sealed to the core for exactly that test run of that draft. The two
never mix: a test run has no publication to read; a key sealed for a test run is in another HPKE
context than a publication's (:class:`~sealroom.enclave.inputs.KeyUse`), so neither opens as the
other; the core refuses a test run of a draft whose id is a published room's, and a test run id
it has seen before; test keys are never stored.

Invariants:

* A source returns ``None`` when a node has no data (nothing published, no test dataset); the
  runner then uses an empty table of the node's schema, or refuses if the node is required.
* A source that has data it may not use (validation failed) raises with a message that names
  the node, never a value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from sealroom.enclave.inputs import DatasetReader, KeyUse, ValidatedTableCache
from sealroom.errors import ConflictError
from sealroom.model.definition import RawNode, TableNode
from sealroom.model.records import PublicationRecord
from sealroom.validation import ValidationLimits, validate_table


class DataSource(Protocol):
    """What a run reads for its data nodes."""

    #: Test data: a node marked required may still be empty.
    allows_missing_required: bool

    def table(self, node: TableNode) -> pa.Table | None: ...

    def raw(self, node: RawNode) -> pa.Buffer | None: ...


class PublishedData:
    """The room's published datasets (validated once, cached).

    ``publication`` returns the node's current publication as the room's audit log records it
    (the core checks the host's row against the log), or None when nothing is published.
    """

    allows_missing_required = False

    def __init__(
        self,
        room_id: str,
        publication: Callable[[str], PublicationRecord | None],
        tables: ValidatedTableCache,
        reader: DatasetReader,
    ) -> None:
        self._room_id = room_id
        self._publication = publication
        self._tables = tables
        self._reader = reader

    def table(self, node: TableNode) -> pa.Table | None:
        publication = self._publication(node.name)
        if publication is None:
            return None
        validated = self._tables.validate(self._room_id, node, publication)
        if not validated.passed or validated.table is None:
            raise ConflictError(
                f"table {node.name!r} failed validation; the data owner must publish a dataset "
                "that passes (see its validation report) before computations can use it",
                code="input_invalid",
            )
        return validated.table

    def raw(self, node: RawNode) -> pa.Buffer | None:
        publication = self._publication(node.name)
        if publication is None:
            return None
        return self._reader.plaintext(
            KeyUse(self._room_id, node.name, publication.dataset_id), publication.sealed_key
        )


@dataclass(frozen=True)
class TestDataset:
    """A test dataset for one node: the author's upload, its key sealed for this test."""

    dataset_id: str
    sealed_key: bytes


class TestData:
    """Empty inputs, or the test datasets given for this run (validated, never cached)."""

    allows_missing_required = True

    def __init__(
        self,
        draft_id: str,
        test_run: str,
        datasets: dict[str, TestDataset],
        reader: DatasetReader,
        limits: ValidationLimits,
    ) -> None:
        self._draft_id = draft_id
        self._test_run = test_run
        self._datasets = datasets
        self._reader = reader
        self._limits = limits

    def table(self, node: TableNode) -> pa.Table | None:
        dataset = self._datasets.get(node.name)
        if dataset is None:
            return None
        plaintext = self._reader.plaintext(self._use(node.name, dataset), dataset.sealed_key)
        result = validate_table(memoryview(plaintext), node.schema_, limits=self._limits)
        del plaintext
        if not result.passed or result.table is None:
            raise ConflictError(
                f"the test dataset of table {node.name!r} failed validation",
                code="input_invalid",
            )
        return result.table

    def raw(self, node: RawNode) -> pa.Buffer | None:
        dataset = self._datasets.get(node.name)
        if dataset is None:
            return None
        return self._reader.plaintext(self._use(node.name, dataset), dataset.sealed_key)

    def _use(self, node: str, dataset: TestDataset) -> KeyUse:
        return KeyUse(self._draft_id, node, dataset.dataset_id, test_run=self._test_run)
