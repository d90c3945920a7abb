"""Garbage collection of the host's storage (``sealroom gc``): what nobody can use any more.

What goes, each against a cutoff of :class:`GcPolicy` (``now`` minus an age):

1. **Expired results**: the encrypted result of a job that succeeded before ``now`` minus the
   result retention. The job row stays (its sealed ticket, its status, what the audit log names);
   its ``result_blob`` is cleared and its ``error_code`` says :data:`RESULT_EXPIRED`, which the
   core answers a fetch with (409 ``result_expired``, not "still running"). Then the file goes.
2. **Unpublished datasets**: a dataset uploaded before the grace cutoff that no publication row
   references (never published, or removed from every node it was published to).
3. **Uploads**: upload rows created before the grace cutoff. Abandoned ones (never completed)
   with the rows of the chunks they received; completed ones are receipts only (the dataset row
   is the record), deleted as well so their chunk rows do not keep chunks alive for ever.
4. **Orphan blobs**, older (by modification time) than the grace cutoff: chunks that no remaining
   dataset's manifest and no remaining upload lists; results that no job points to, of jobs
   neither queued nor running; what writes that never finished left (temporary files, or
   unfinished multipart uploads of the S3 store).

The blob store is any :class:`~sealroom.storage.blobs.BlobStore` (a directory or a bucket): gc
reaches it only through that protocol.

Never deleted, because something still references it:

* a dataset a publication row names, in any room, stopped or not. The room's audit log says
  which dataset each node holds, and the core refuses a node whose row went missing
  (``enclave/host_copies.py``): such rows and their datasets are never touched;
* every chunk of a dataset that remains, and of an upload that remains;
* the result of a job that finished within the retention; the result file of a queued or
  running job (written before the job's row points to it);
* rooms, jobs, requests, approvals, commits, audit entries and checkpoints: nothing of them.
  A room's audit log is append-only and names datasets and jobs by id, so it verifies the same.

Test runs read the caller's own uploads while the request lasts and keep nothing: a dataset
kept only for test runs counts as unpublished.

Safe while a server runs on the same data directory:

* Rows first, files after. Each row step is one statement or one transaction whose WHERE
  repeats its conditions (SQLite serialises writers), so a dataset published meanwhile is not
  deleted. A crash between leaves unreferenced files, which the next run deletes; never a row
  pointing at a missing file.
* Files are deleted only when older than the grace cutoff: a chunk or result being written now,
  whose row comes just after the file, is young.
* A chunk stored long ago can be re-used by a new upload (content addressing: the server writes a
  chunk only once); the server then refreshes its modification time (``BlobStore.keep_or_put``).
  Each orphan chunk is first set aside (``BlobStore.set_aside``: a chunk refreshed meanwhile
  stays), then the database is read again, and a chunk referenced meanwhile is put back; a server
  that finds the chunk set aside writes it again. Chunks are set aside in batches, so each is out
  of reach for a short time (the S3 store's re-use waits while a chunk is aside).
* A manifest that does not parse stops the chunk step (nothing is known to be unreferenced).

Only ciphertext and ids are handled here; nothing is decrypted, nothing is logged but ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import Connection, Engine, and_, delete, exists, func, select, update

from sealroom.crypto import Manifest
from sealroom.errors import DecryptionError
from sealroom.model.records import JobStatus
from sealroom.storage import schema as t
from sealroom.storage.blobs import BlobStore

__all__ = [
    "RESULT_EXPIRED",
    "AbandonedUpload",
    "ExpiredResult",
    "GcPolicy",
    "GcReport",
    "OrphanFile",
    "UnpublishedDataset",
    "collect_garbage",
]

#: The ``error_code`` of a succeeded job whose result was deleted (``enclave/results.py``
#: answers its fetch with this code).
RESULT_EXPIRED: Final = "result_expired"
_RESULT_EXPIRED_MESSAGE: Final = (
    "the result was deleted after the server's result retention period; run the computation again"
)
#: Rows per ``IN (…)`` list: well below SQLite's limit of bound parameters.
_BATCH: Final = 500
_CHUNK_NAME = re.compile(r"^[0-9a-f]{64}$")
_RESULT_NAME = re.compile(r"^[a-z0-9_-]{1,128}$")
#: Chunks set aside at once before the database is read again: each stays out of reach for the
#: time of one batch (a server re-using one waits for it on S3), and the database is read once
#: per batch.
_ASIDE_BATCH: Final = 100


@dataclass(frozen=True)
class GcPolicy:
    """When things expire. Times in milliseconds since the epoch."""

    now_ms: int
    #: Results of jobs that finished longer ago than this go; None keeps every result.
    result_retention_ms: int | None
    #: Unpublished datasets, uploads and unreferenced files older than this go.
    grace_ms: int

    def __post_init__(self) -> None:
        if self.grace_ms < 0 or (self.result_retention_ms or 0) < 0:
            raise ValueError("ages must not be negative")

    @property
    def grace_cutoff_ms(self) -> int:
        return self.now_ms - self.grace_ms


@dataclass(frozen=True)
class ExpiredResult:
    job_id: str
    room_id: str
    finished_at_ms: int
    size: int


@dataclass(frozen=True)
class UnpublishedDataset:
    id: str
    owner_email: str
    created_at_ms: int
    size: int


@dataclass(frozen=True)
class AbandonedUpload:
    id: str
    owner_email: str
    created_at_ms: int
    chunks: int


@dataclass(frozen=True)
class OrphanFile:
    #: ``chunk``, ``result`` or ``temporary``.
    kind: str
    #: The blob key (a temporary file: its path under the store's root; an unfinished S3
    #: multipart upload: its key).
    key: str
    size: int
    modified_at_ms: int


@dataclass
class GcReport:
    """What was deleted (or, in a dry run, would be)."""

    dry_run: bool
    results: list[ExpiredResult] = field(default_factory=list)
    datasets: list[UnpublishedDataset] = field(default_factory=list)
    uploads: list[AbandonedUpload] = field(default_factory=list)
    #: Completed uploads whose receipt rows went (their datasets are unaffected).
    upload_receipts: int = 0
    files: list[OrphanFile] = field(default_factory=list)
    #: Why a step was skipped (the first manifest that does not parse), if one was.
    skipped: list[str] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        """Bytes of files deleted: results and orphan files (dataset chunks are among these)."""
        return sum(r.size for r in self.results) + sum(f.size for f in self.files)


def collect_garbage(
    engine: Engine, blobs: BlobStore, policy: GcPolicy, *, dry_run: bool = False
) -> GcReport:
    """Delete what :class:`GcPolicy` says has expired (see the module docstring), or with
    ``dry_run`` only find it: then nothing is written, renamed or deleted."""
    report = GcReport(dry_run=dry_run)
    _expire_results(engine, blobs, policy, report)
    _drop_unpublished_datasets(engine, policy, report)
    _drop_old_uploads(engine, policy, report)
    _drop_orphan_chunks(engine, blobs, policy, report)
    _drop_orphan_results(engine, blobs, policy, report)
    _drop_stale_temporary_files(blobs, policy, report)
    return report


# -- 1. results ---------------------------------------------------------------------------------
def _expire_results(engine: Engine, blobs: BlobStore, policy: GcPolicy, report: GcReport) -> None:
    if policy.result_retention_ms is None:
        return
    jobs = t.jobs
    expired = and_(
        jobs.c.status == JobStatus.SUCCEEDED,
        jobs.c.result_blob.is_not(None),
        jobs.c.finished_at_ms < policy.now_ms - policy.result_retention_ms,
    )
    with engine.connect() as conn:
        rows = conn.execute(
            select(jobs.c.id, jobs.c.room_id, jobs.c.finished_at_ms, jobs.c.result_blob)
            .where(expired)
            .order_by(jobs.c.finished_at_ms, jobs.c.id)
        ).all()
    blob_of = {str(r.id): str(r.result_blob) for r in rows}
    cleared: set[str] = set(blob_of)
    if not report.dry_run:
        cleared = set()
        for batch in _batches(list(blob_of)):
            with engine.begin() as conn:
                # The WHERE again: only rows that still qualify lose their result.
                result = conn.execute(
                    update(jobs)
                    .where(and_(jobs.c.id.in_(batch), expired))
                    .values(
                        result_blob=None,
                        error_code=RESULT_EXPIRED,
                        error_message=_RESULT_EXPIRED_MESSAGE,
                    )
                    .returning(jobs.c.id)
                )
                cleared.update(str(job_id) for (job_id,) in result)
    for r in rows:
        if r.id not in cleared:
            continue
        key = blob_of[r.id]
        size = _size(blobs, key)
        if not report.dry_run:
            blobs.delete(key)
        report.results.append(ExpiredResult(r.id, r.room_id, r.finished_at_ms, size))


# -- 2. datasets --------------------------------------------------------------------------------
def _drop_unpublished_datasets(engine: Engine, policy: GcPolicy, report: GcReport) -> None:
    datasets = t.datasets
    unpublished = and_(
        datasets.c.created_at_ms < policy.grace_cutoff_ms,
        ~exists().where(t.publications.c.dataset_id == datasets.c.id),
    )
    columns = (datasets.c.id, datasets.c.owner_email, datasets.c.created_at_ms, datasets.c.size)
    with engine.begin() as conn:
        if report.dry_run:
            rows = conn.execute(select(*columns).where(unpublished)).all()
        else:
            # One statement: a publication committed meanwhile keeps its dataset.
            rows = conn.execute(delete(datasets).where(unpublished).returning(*columns)).all()
    found = [UnpublishedDataset(str(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]
    report.datasets.extend(sorted(found, key=lambda d: (d.created_at_ms, d.id)))


# -- 3. uploads ---------------------------------------------------------------------------------
def _drop_old_uploads(engine: Engine, policy: GcPolicy, report: GcReport) -> None:
    uploads, chunks = t.uploads, t.upload_chunks
    old = uploads.c.created_at_ms < policy.grace_cutoff_ms
    counted = (
        select(chunks.c.upload_id, func.count().label("chunks"))
        .group_by(chunks.c.upload_id)
        .subquery()
    )
    query = (
        select(
            uploads.c.id,
            uploads.c.owner_email,
            uploads.c.created_at_ms,
            uploads.c.completed,
            func.coalesce(counted.c.chunks, 0),
        )
        .select_from(uploads.outerjoin(counted, counted.c.upload_id == uploads.c.id))
        .where(old)
        .order_by(uploads.c.created_at_ms, uploads.c.id)
    )
    with engine.begin() as conn:
        rows = conn.execute(query).all()
        if not report.dry_run and rows:
            # One transaction: the first DELETE takes SQLite's write lock, so no chunk row of
            # these uploads arrives between the two statements.
            conn.execute(
                delete(chunks).where(chunks.c.upload_id.in_(select(uploads.c.id).where(old)))
            )
            deleted = {
                r[0] for r in conn.execute(delete(uploads).where(old).returning(uploads.c.id))
            }
            rows = [r for r in rows if r.id in deleted]
    for upload_id, owner, created, completed, count in rows:
        if completed:
            report.upload_receipts += 1
        else:
            report.uploads.append(AbandonedUpload(upload_id, owner, created, int(count)))


# -- 4. chunks ----------------------------------------------------------------------------------
def _drop_orphan_chunks(
    engine: Engine, blobs: BlobStore, policy: GcPolicy, report: GcReport
) -> None:
    if not report.dry_run:
        blobs.put_back_left_aside("chunks")
    old = [
        f
        for f in _files(blobs, "chunks", "chunk", _CHUNK_NAME)
        if f.modified_at_ms < policy.grace_cutoff_ms
    ]
    if not old:
        return
    with engine.connect() as conn:
        referenced = _referenced_chunks(conn, policy, report)
    if referenced is None:
        return
    orphans = [f for f in old if f.key.rsplit("/", 1)[1] not in referenced]
    if report.dry_run:
        report.files.extend(orphans)
        return
    for start in range(0, len(orphans), _ASIDE_BATCH):
        # A chunk refreshed since the cutoff stays where it is; one deleted meanwhile (another
        # gc) is skipped.
        aside = [
            orphan
            for orphan in orphans[start : start + _ASIDE_BATCH]
            if blobs.set_aside(orphan.key, policy.grace_cutoff_ms)
        ]
        # Read again, after setting aside: a chunk an upload took up meanwhile is referenced
        # now, or the server found it gone and wrote it again.
        with engine.connect() as conn:
            referenced = _referenced_chunks(conn, policy, report)
        for orphan in aside:
            keep = referenced is None or orphan.key.rsplit("/", 1)[1] in referenced
            blobs.end_aside(orphan.key, keep=keep)
            if not keep:
                report.files.append(orphan)


def _referenced_chunks(conn: Connection, policy: GcPolicy, report: GcReport) -> set[str] | None:
    """Hashes of every chunk a remaining dataset or upload lists; None if a manifest does not
    parse (then no chunk is known to be unreferenced). In a dry run, what the run would have
    deleted (its datasets, the uploads older than the grace cutoff) does not count."""
    gone_datasets: set[str] = set()
    gone_uploads: set[str] = set()
    if report.dry_run:
        gone_datasets = {d.id for d in report.datasets}
        gone_uploads = {
            str(upload_id)
            for (upload_id,) in conn.execute(
                select(t.uploads.c.id).where(t.uploads.c.created_at_ms < policy.grace_cutoff_ms)
            )
        }
    referenced: set[str] = set()
    for dataset_id, manifest in conn.execute(select(t.datasets.c.id, t.datasets.c.manifest)):
        if dataset_id in gone_datasets:
            continue
        try:
            referenced.update(chunk.sha256 for chunk in Manifest.from_bytes(manifest).chunks)
        except (ValueError, DecryptionError):
            reason = (
                f"orphan chunks: the manifest of dataset {dataset_id} does not parse, so no "
                "chunk is known to be unreferenced"
            )
            if reason not in report.skipped:
                report.skipped.append(reason)
            return None
    for upload_id, sha256 in conn.execute(
        select(t.upload_chunks.c.upload_id, t.upload_chunks.c.sha256)
    ):
        if upload_id not in gone_uploads:
            referenced.add(str(sha256))
    return referenced


# -- 5. results no job points to ----------------------------------------------------------------
def _drop_orphan_results(
    engine: Engine, blobs: BlobStore, policy: GcPolicy, report: GcReport
) -> None:
    old = [
        f
        for f in _files(blobs, "results", "result", _RESULT_NAME)
        if f.modified_at_ms < policy.grace_cutoff_ms
    ]
    if not old:
        return
    jobs = t.jobs
    # After the listing: a job that is running now may write its result file and point to it
    # later; one that was finished already no longer writes.
    with engine.connect() as conn:
        pointed = {
            str(b)
            for (b,) in conn.execute(
                select(jobs.c.result_blob).where(jobs.c.result_blob.is_not(None))
            )
        }
        unfinished = {
            str(job_id)
            for (job_id,) in conn.execute(
                select(jobs.c.id).where(jobs.c.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
            )
        }
    for orphan in old:
        if orphan.key in pointed or orphan.key.rsplit("/", 1)[1] in unfinished:
            continue
        if not report.dry_run:
            blobs.delete(orphan.key)
        report.files.append(orphan)


# -- 6. what interrupted writes left ------------------------------------------------------------
def _drop_stale_temporary_files(blobs: BlobStore, policy: GcPolicy, report: GcReport) -> None:
    partial = blobs.drop_partial_writes(policy.grace_cutoff_ms, dry_run=report.dry_run)
    report.files.extend(OrphanFile("temporary", p.key, p.size, p.modified_at_ms) for p in partial)


# -- blobs ----------------------------------------------------------------------------------------
def _files(blobs: BlobStore, prefix: str, kind: str, name: re.Pattern[str]) -> Iterable[OrphanFile]:
    """The blobs under ``prefix`` whose last key segment is ``name``."""
    for blob in blobs.list_blobs(prefix):
        if name.match(blob.key.rsplit("/", 1)[1]):
            yield OrphanFile(kind, blob.key, blob.size, blob.modified_at_ms)


def _size(blobs: BlobStore, key: str) -> int:
    info = blobs.stat(key)
    return 0 if info is None else info.size


def _batches(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]
