"""The host the trusted core runs on: the metadata database and the blob store, as one object.

:class:`SqlHost` implements the core's ``Host`` interface (:mod:`sealroom.enclave.host`) with the
SQL stores of this package and a :class:`~sealroom.storage.blobs.BlobStore`. It adds no logic:
everything it returns is untrusted by the core, which checks it (see that module). The server
builds one and hands it to :func:`sealroom.enclave.open_core`; storage never imports the core.

``on_job_finished`` tells the server a job's outcome is committed (its long-polls answer at once
instead of at their next look at the database); it carries the job id only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from sealroom.model.records import AuditRow
from sealroom.storage.blobs import BlobStore, chunk_key, result_key
from sealroom.storage.metadata import DEFAULT_JOB_LEASE_MS, MetadataStore
from sealroom.storage.requests import RequestStore

__all__ = ["SqlHost"]


class SqlHost(MetadataStore, RequestStore):
    """Metadata (rooms, datasets, jobs, caches, audit), requests and blobs of one server."""

    def __init__(
        self,
        engine: Engine,
        blobs: BlobStore,
        *,
        on_job_finished: Callable[[str], None] = lambda job_id: None,
        job_lease_ms: int = DEFAULT_JOB_LEASE_MS,
    ) -> None:
        MetadataStore.__init__(self, engine, job_lease_ms=job_lease_ms)
        RequestStore.__init__(self, engine)
        self.blobs = blobs
        self._on_job_finished = on_job_finished

    def finish_job(
        self,
        job_id: str,
        *,
        succeeded: bool,
        result_blob: str | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        audit: Sequence[AuditRow] = (),
    ) -> None:
        super().finish_job(
            job_id,
            succeeded=succeeded,
            result_blob=result_blob,
            error_code=error_code,
            error_message=error_message,
            audit=audit,
        )
        self._on_job_finished(job_id)

    def dataset_chunk(self, sha256_hex: str) -> bytes:
        return self.blobs.get(chunk_key(sha256_hex))

    def put_job_result(self, job_id: str, data: bytes) -> str:
        key = result_key(job_id)
        self.blobs.put(key, data)
        return key

    def job_result(self, blob: str) -> bytes:
        return self.blobs.get(blob)
