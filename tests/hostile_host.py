"""A host that lies: an in-memory ``Host`` whose every store a test can edit, drop or roll back.

The trusted core reaches the outside world only through its ``Host`` interface
(:mod:`sealroom.enclave.host`), so it can run on this double with no database, no blob store and
no server. Everything is kept in plain dictionaries and lists that a test changes directly, as a
malicious operator would change the database between two requests or two restarts:

* ``host.rooms[room_id] = replace(record, stopped_at_ms=None)`` — edit a row;
* ``del host.budget[room_id]``, ``host.entries[room_id].pop()`` — drop one;
* ``host.entries[room_id].reverse()`` — reorder;
* ``saved = host.snapshot()`` … ``host.restore(saved)`` — roll back everything at once.

It implements the interface faithfully otherwise (a job is claimed once, a commit's sequence
number is taken once), so that an honest run on it behaves as on the SQL host.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from sealroom.errors import CommitRaceError, ConflictError, NotFoundError
from sealroom.model.records import (
    ApprovalRecord,
    AuditRow,
    CommitRecord,
    DatasetRecord,
    JobRecord,
    JobStatus,
    PublicationRecord,
    RequestRecord,
    RequestStatus,
    RoomRecord,
    now_ms,
)

#: The stores a snapshot copies (and a restore puts back).
STORES = (
    "rooms",
    "participants",
    "datasets",
    "chunks",
    "publications",
    "jobs",
    "results",
    "executions",
    "airlock",
    "budget",
    "requests",
    "approval_rows",
    "commit_rows",
    "entries",
    "checkpoints",
)


class HostileHost:
    """An in-memory host (see the module docstring); every attribute is a store to tamper with."""

    def __init__(self) -> None:
        self.rooms: dict[str, RoomRecord] = {}
        self.participants: dict[str, set[str]] = {}
        self.datasets: dict[str, DatasetRecord] = {}
        self.chunks: dict[str, bytes] = {}
        self.publications: dict[tuple[str, str], PublicationRecord] = {}
        self.jobs: dict[str, JobRecord] = {}
        self.results: dict[str, bytes] = {}
        self.executions: dict[tuple[str, str], list[int]] = {}
        self.airlock: dict[tuple[str, str, str], int] = {}
        self.budget: dict[str, tuple[float, float]] = {}
        self.requests: dict[str, RequestRecord] = {}
        self.approval_rows: dict[str, dict[str, ApprovalRecord]] = {}
        self.commit_rows: dict[str, list[CommitRecord]] = {}
        self.entries: dict[str, list[str]] = {}
        self.checkpoints: dict[str, tuple[int, str]] = {}
        self.identity: bytes | None = None
        #: How long a claim holds a job (as SqlHost's): renewed by the workers' heartbeat.
        self.job_lease_ms = 60_000
        self._lock = threading.RLock()

    # -- tampering ----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {name: copy.deepcopy(getattr(self, name)) for name in STORES}

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Roll every store back to ``snapshot`` (what a host restoring a backup does)."""
        with self._lock:
            for name in STORES:
                setattr(self, name, copy.deepcopy(snapshot[name]))

    def edit_job(self, job_id: str, **changes: Any) -> None:
        self.jobs[job_id] = replace(self.jobs[job_id], **changes)

    # -- audit ---------------------------------------------------------------------------------
    def append_audit_rows(self, audit: Sequence[AuditRow]) -> None:
        with self._lock:
            self._write_audit(audit)

    def room_lock(self, room_id: str) -> AbstractContextManager[None]:
        return self._lock

    def _write_audit(self, audit: Sequence[AuditRow]) -> None:
        """The entries of an action, with its rows (the caller holds the lock)."""
        for row in audit:
            entries = self.entries.setdefault(row.room_id, [])
            assert row.seq == len(entries), "the core appends in order"
            entries.append(row.entry)
            if row.checkpoint is not None:
                self._keep_checkpoint(row.room_id, row.seq + 1, row.checkpoint)

    def audit_entries(self, room_id: str, start: int = 0) -> list[str]:
        return list(self.entries.get(room_id, [])[start:])

    def audit_checkpoint(self, room_id: str) -> str | None:
        kept = self.checkpoints.get(room_id)
        return None if kept is None else kept[1]

    def save_audit_checkpoint(self, room_id: str, size: int, note: str) -> None:
        with self._lock:
            self._keep_checkpoint(room_id, size, note)

    def _keep_checkpoint(self, room_id: str, size: int, note: str) -> None:
        kept = self.checkpoints.get(room_id)
        if kept is None or size > kept[0]:
            self.checkpoints[room_id] = (size, note)

    # -- datasets ------------------------------------------------------------------------------
    def get_dataset(self, dataset_id: str) -> DatasetRecord | None:
        return self.datasets.get(dataset_id)

    def dataset_chunk(self, sha256_hex: str) -> bytes:
        try:
            return self.chunks[sha256_hex]
        except KeyError:
            raise NotFoundError(f"blob chunks/{sha256_hex} is missing from the store") from None

    # -- rooms and publications ----------------------------------------------------------------
    def get_room(self, room_id: str) -> RoomRecord | None:
        return self.rooms.get(room_id)

    def insert_room(
        self, room: RoomRecord, participants: Iterable[str], *, audit: Sequence[AuditRow] = ()
    ) -> None:
        with self._lock:
            if room.id in self.rooms:
                raise ConflictError(f"room {room.id} is already published", code="room_exists")
            self.rooms[room.id] = room
            self.participants[room.id] = {email.lower() for email in participants}
            self._write_audit(audit)

    def set_room_stopped(
        self, room_id: str, stopped_at_ms: int | None, state_signature: bytes | None
    ) -> None:
        with self._lock:
            room = self.rooms[room_id]
            self.rooms[room_id] = replace(
                room, stopped_at_ms=stopped_at_ms, state_signature=state_signature
            )

    def get_publication(self, room_id: str, node: str) -> PublicationRecord | None:
        return self.publications.get((room_id, node))

    def list_publications(self, room_id: str) -> list[PublicationRecord]:
        return sorted(
            (p for (room, _), p in self.publications.items() if room == room_id),
            key=lambda p: p.node,
        )

    def put_publication(
        self, publication: PublicationRecord, *, audit: Sequence[AuditRow] = ()
    ) -> None:
        with self._lock:
            self.publications[(publication.room_id, publication.node)] = publication
            self._write_audit(audit)

    def delete_publication(self, room_id: str, node: str) -> bool:
        return self.publications.pop((room_id, node), None) is not None

    # -- jobs ----------------------------------------------------------------------------------
    def insert_job(self, job: JobRecord, *, audit: Sequence[AuditRow] = ()) -> None:
        with self._lock:
            self.jobs[job.id] = job
            self._write_audit(audit)

    def get_job(self, job_id: str) -> JobRecord | None:
        return self.jobs.get(job_id)

    def count_unfinished_jobs(self, user_email: str) -> int:
        return sum(
            1
            for job in self.jobs.values()
            if job.submitted_by.lower() == user_email.lower()
            and job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
        )

    def claim_next_job(self) -> JobRecord | None:
        with self._lock:
            for job in sorted(self.jobs.values(), key=lambda j: (j.created_at_ms, j.id)):
                if job.status == JobStatus.QUEUED:
                    claimed = replace(
                        job,
                        status=JobStatus.RUNNING,
                        started_at_ms=now_ms(),
                        attempts=job.attempts + 1,
                        lease_expires_at_ms=now_ms() + self.job_lease_ms,
                    )
                    self.jobs[job.id] = claimed
                    return claimed
        return None

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
        with self._lock:
            self._write_audit(audit)
            self.jobs[job_id] = replace(
                self.jobs[job_id],
                status=JobStatus.SUCCEEDED if succeeded else JobStatus.FAILED,
                finished_at_ms=now_ms(),
                result_blob=result_blob,
                error_code=error_code,
                error_message=error_message,
                lease_expires_at_ms=None,
            )

    def renew_job_leases(self, job_ids: Sequence[str]) -> None:
        with self._lock:
            until = now_ms() + self.job_lease_ms
            for job_id in job_ids:
                job = self.jobs.get(job_id)
                if job is not None and job.status == JobStatus.RUNNING:
                    self.jobs[job_id] = replace(job, lease_expires_at_ms=until)

    def requeue_expired_job_leases(self) -> int:
        with self._lock:
            expired = [
                j
                for j in self.jobs.values()
                if j.status == JobStatus.RUNNING
                and j.lease_expires_at_ms is not None
                and j.lease_expires_at_ms < now_ms()
            ]
            for job in expired:
                self.jobs[job.id] = replace(
                    job, status=JobStatus.QUEUED, started_at_ms=None, lease_expires_at_ms=None
                )
            return len(expired)

    def sealed_identity(self) -> bytes | None:
        return self.identity

    def keep_sealed_identity(self, sealed: bytes) -> bytes:
        with self._lock:
            if self.identity is None:
                self.identity = sealed
            return self.identity

    def requeue_interrupted_jobs(self) -> int:
        with self._lock:
            running = [j for j in self.jobs.values() if j.status == JobStatus.RUNNING]
            for job in running:
                self.jobs[job.id] = replace(job, status=JobStatus.QUEUED, started_at_ms=None)
            return len(running)

    def put_job_result(self, job_id: str, data: bytes) -> str:
        blob = f"results/{job_id}"
        self.results[blob] = data
        return blob

    def job_result(self, blob: str) -> bytes:
        try:
            return self.results[blob]
        except KeyError:
            raise NotFoundError(f"blob {blob} is missing from the store") from None

    # -- caches of the audit log's facts -------------------------------------------------------
    def node_executions(self, room_id: str, node: str, since_ms: int) -> list[int]:
        return sorted(at for at in self.executions.get((room_id, node), []) if at > since_ms)

    def add_node_executions(self, room_id: str, nodes: Sequence[str], at_ms: int) -> None:
        with self._lock:
            for node in nodes:
                self.executions.setdefault((room_id, node), []).append(at_ms)

    def set_node_executions(self, room_id: str, node: str, at_ms: Sequence[int]) -> None:
        self.executions[(room_id, node)] = list(at_ms)

    def airlock_usage(self, room_id: str, user_email: str) -> dict[str, int]:
        user = user_email.lower()
        return {
            node: used
            for (room, node, who), used in self.airlock.items()
            if room == room_id and who == user
        }

    def set_airlock_usage(self, room_id: str, node: str, user_email: str, used: int) -> None:
        self.airlock[(room_id, node, user_email.lower())] = used

    def privacy_budget_spent(self, room_id: str) -> tuple[float, float]:
        return self.budget.get(room_id, (0.0, 0.0))

    def set_privacy_budget_spent(self, room_id: str, epsilon: float, delta: float) -> None:
        self.budget[room_id] = (epsilon, delta)

    # -- requests of interactive rooms ---------------------------------------------------------
    def insert_request(
        self,
        request_id: str,
        room_id: str,
        commit: bytes,
        requester: str,
        *,
        audit: Sequence[AuditRow] = (),
    ) -> bool:
        with self._lock:
            if request_id in self.requests:
                return False
            self._write_audit(audit)
            created = now_ms()
            self.requests[request_id] = RequestRecord(
                request_id,
                room_id,
                commit,
                requester,
                RequestStatus.PENDING,
                created,
                created,
                None,
                None,
            )
            return True

    def get_request(self, room_id: str, request_id: str) -> RequestRecord | None:
        record = self.requests.get(request_id)
        return record if record is not None and record.room_id == room_id else None

    def list_requests(self, room_id: str) -> list[RequestRecord]:
        return sorted(
            (r for r in self.requests.values() if r.room_id == room_id),
            key=lambda r: (r.created_at_ms, r.id),
        )

    def set_request_status(
        self,
        request_id: str,
        status: str,
        *,
        rejected_by: str | None = None,
        rejection: str | None = None,
        audit: Sequence[AuditRow] = (),
    ) -> bool:
        with self._lock:
            record = self.requests.get(request_id)
            if record is None or record.status != RequestStatus.PENDING:
                return False
            self._write_audit(audit)
            self.requests[request_id] = replace(
                record,
                status=status,
                updated_at_ms=now_ms(),
                rejected_by=rejected_by,
                rejection=rejection,
            )
            return True

    def add_approval(
        self, request_id: str, approver: str, signature: bytes, *, audit: Sequence[AuditRow] = ()
    ) -> None:
        with self._lock:
            self._write_audit(audit)
            rows = self.approval_rows.setdefault(request_id, {})
            rows[approver.lower()] = ApprovalRecord(approver.lower(), signature, now_ms())

    def approvals(self, request_id: str) -> list[ApprovalRecord]:
        return list(self.approval_rows.get(request_id, {}).values())

    def commits(self, room_id: str) -> list[CommitRecord]:
        return list(self.commit_rows.get(room_id, []))

    def integrate_commit(self, record: CommitRecord, *, audit: Sequence[AuditRow]) -> None:
        with self._lock:
            rows = self.commit_rows.setdefault(record.room_id, [])
            request = self.requests.get(record.commit_id)
            if any(r.seq == record.seq for r in rows) or (
                request is None or request.status != RequestStatus.PENDING
            ):
                raise CommitRaceError(f"sequence number {record.seq} is taken")
            rows.append(record)
            self.requests[record.commit_id] = replace(
                request, status=RequestStatus.INTEGRATED, updated_at_ms=now_ms()
            )
            self._write_audit(audit)
