"""Everything the trusted core reads and writes outside itself: the ``Host`` interface.

The core does no I/O of its own (the python-tuf lesson: the trusted part takes bytes and returns
verified objects; a separate layer does disk and network). It reaches the host — the metadata
database and the blob store — only through this interface, which :mod:`sealroom.storage`
implements (``SqlHost``) and a test can implement with an in-memory host that lies.

Nothing a ``Host`` returns is trusted. The core checks what it reads against what it signed (room
definitions, commits, approvals, audit checkpoints, job tickets) and against the room's audit
log (:mod:`sealroom.enclave.verified_state`). The *cache* methods store facts the audit log
already holds (room status, rate-limit windows, airlock usage, privacy budget), so the host can
show them; the core writes them and compares them with the log, never decides from them.

A method that writes the rows of an action takes the action's audit entries (``audit``) and
writes them in the same transaction: a crash leaves the rows and their entries, or neither. (A
row without its entry would look to the next core like one the host slipped in.)

The interface is split by concern, so that each part of the core asks only for what it uses;
``Host`` is all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from sealroom.model.records import (
    ApprovalRecord,
    AuditRow,
    CommitRecord,
    DatasetRecord,
    JobRecord,
    PublicationRecord,
    RequestRecord,
    RoomRecord,
)

__all__ = [
    "AuditStore",
    "DatasetStore",
    "FactCaches",
    "Host",
    "IdentityStore",
    "JobQueue",
    "RequestRecords",
    "RoomStore",
]


class AuditStore(Protocol):
    """The rooms' audit entries and the latest checkpoint the core signed of each."""

    def append_audit_rows(self, audit: Sequence[AuditRow]) -> None:
        """Store entries of an action that writes no rows of its own (and a row's checkpoint),
        in one transaction; a taken ``(room, seq)`` fails it."""
        ...

    def audit_entries(self, room_id: str, start: int = 0) -> list[str]:
        """The room's entries from ``seq`` ``start`` on, in order (the core checks the order)."""
        ...

    def room_lock(self, room_id: str) -> AbstractContextManager[None]:
        """Hold the room's lock across every process sharing this host (cores that share a
        database): only one appends to the room's log at a time. A host of one process (the
        data-directory lock) may give a no-op; the core asks only when it is shared."""
        ...

    def audit_checkpoint(self, room_id: str) -> str | None: ...

    def save_audit_checkpoint(self, room_id: str, size: int, note: str) -> None:
        """Keep ``note`` unless a checkpoint of a larger size is already kept."""
        ...


class DatasetStore(Protocol):
    """Uploaded datasets: their manifests and ciphertext chunks (the host's uploads)."""

    def get_dataset(self, dataset_id: str) -> DatasetRecord | None: ...

    def dataset_chunk(self, sha256_hex: str) -> bytes:
        """The ciphertext chunk with this hash (NotFoundError when missing)."""
        ...


class RoomStore(Protocol):
    """Published rooms and the datasets published to their nodes."""

    def get_room(self, room_id: str) -> RoomRecord | None: ...

    def insert_room(
        self, room: RoomRecord, participants: Iterable[str], *, audit: Sequence[AuditRow] = ()
    ) -> None:
        """Store a new room (ConflictError ``room_exists`` if it is already stored)."""
        ...

    def set_room_stopped(
        self, room_id: str, stopped_at_ms: int | None, state_signature: bytes | None
    ) -> None: ...

    def get_publication(self, room_id: str, node: str) -> PublicationRecord | None: ...

    def list_publications(self, room_id: str) -> list[PublicationRecord]: ...

    def put_publication(
        self, publication: PublicationRecord, *, audit: Sequence[AuditRow] = ()
    ) -> None:
        """Store ``publication``, replacing the node's previous one."""
        ...

    def delete_publication(self, room_id: str, node: str) -> bool: ...


class JobQueue(Protocol):
    """Durable jobs and their encrypted results."""

    def insert_job(self, job: JobRecord, *, audit: Sequence[AuditRow] = ()) -> None: ...

    def get_job(self, job_id: str) -> JobRecord | None: ...

    def count_unfinished_jobs(self, user_email: str) -> int: ...

    def claim_next_job(self) -> JobRecord | None:
        """Atomically move the next queued job (fair between users) to running."""
        ...

    def finish_job(
        self,
        job_id: str,
        *,
        succeeded: bool,
        result_blob: str | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        audit: Sequence[AuditRow] = (),
    ) -> None: ...

    def requeue_interrupted_jobs(self) -> int: ...

    def renew_job_leases(self, job_ids: Sequence[str]) -> None:
        """Hold these running jobs (this process's) for another lease."""
        ...

    def requeue_expired_job_leases(self) -> int:
        """Put running jobs whose lease ran out (their worker died) back in the queue."""
        ...

    def put_job_result(self, job_id: str, data: bytes) -> str:
        """Store a job's encrypted result; the blob's name, for :meth:`job_result`."""
        ...

    def job_result(self, blob: str) -> bytes: ...


class FactCaches(Protocol):
    """The host's copies of facts the audit log holds: shown by the host, checked by the core."""

    def node_executions(self, room_id: str, node: str, since_ms: int) -> list[int]:
        """When runs of the rate-limited ``node`` were counted, after ``since_ms``."""
        ...

    def add_node_executions(self, room_id: str, nodes: Sequence[str], at_ms: int) -> None: ...

    def set_node_executions(self, room_id: str, node: str, at_ms: Sequence[int]) -> None:
        """Replace what is kept of ``node``'s runs (the core repairing the cache)."""
        ...

    def airlock_usage(self, room_id: str, user_email: str) -> dict[str, int]: ...

    def set_airlock_usage(self, room_id: str, node: str, user_email: str, used: int) -> None: ...

    def privacy_budget_spent(self, room_id: str) -> tuple[float, float]: ...

    def set_privacy_budget_spent(self, room_id: str, epsilon: float, delta: float) -> None: ...


class RequestRecords(Protocol):
    """Requests, approvals and integrated commits of interactive rooms."""

    def insert_request(
        self,
        request_id: str,
        room_id: str,
        commit: bytes,
        requester: str,
        *,
        audit: Sequence[AuditRow] = (),
    ) -> bool:
        """Store a new pending request; False (and nothing written) if its id exists."""
        ...

    def get_request(self, room_id: str, request_id: str) -> RequestRecord | None: ...

    def list_requests(self, room_id: str) -> list[RequestRecord]: ...

    def set_request_status(
        self,
        request_id: str,
        status: str,
        *,
        rejected_by: str | None = None,
        rejection: str | None = None,
        audit: Sequence[AuditRow] = (),
    ) -> bool:
        """Move a pending request to ``status``; False (and nothing written) if it is no
        longer pending."""
        ...

    def add_approval(
        self, request_id: str, approver: str, signature: bytes, *, audit: Sequence[AuditRow] = ()
    ) -> None: ...

    def approvals(self, request_id: str) -> list[ApprovalRecord]: ...

    def commits(self, room_id: str) -> list[CommitRecord]: ...

    def integrate_commit(self, record: CommitRecord, *, audit: Sequence[AuditRow]) -> None:
        """Store the commit, mark its request integrated and append its audit entry,
        atomically: all or nothing (CommitRaceError)."""
        ...


class IdentityStore(Protocol):
    """The core's sealed identity, when cores share the host (it opens only under the sealing
    key: the host holds ciphertext)."""

    def sealed_identity(self) -> bytes | None: ...

    def keep_sealed_identity(self, sealed: bytes) -> bytes:
        """Store ``sealed`` unless one is stored; return the one stored."""
        ...


@runtime_checkable
class Host(
    AuditStore,
    DatasetStore,
    RoomStore,
    JobQueue,
    FactCaches,
    RequestRecords,
    IdentityStore,
    Protocol,
):
    """Everything outside the core: :class:`sealroom.storage.host.SqlHost` in a server."""
