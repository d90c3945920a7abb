"""The records the host stores for the core, as both sides see them (pure: no I/O).

The trusted core reads and writes these through its :class:`~sealroom.enclave.host.Host`
interface; :mod:`sealroom.storage` keeps them in its tables. They live here, below both, so that
neither imports the other (dependencies point downward: enclave → storage-free; storage → model).

Every field is *untrusted* when the core reads it back: a record is what the host says. The core
believes a field only after checking it against something it signed (a room's definition, a
commit, a job ticket) or against the room's audit log (:mod:`sealroom.enclave.verified_state`);
columns that repeat such facts (a room's ``stopped_at_ms``, a job's ``node`` or ``parameters``)
are caches, kept for the host's own listings.

Records are small frozen dataclasses, so callers never hold live rows or sessions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = [
    "ApprovalRecord",
    "AuditRow",
    "CommitRecord",
    "DatasetRecord",
    "JobRecord",
    "JobStatus",
    "PublicationRecord",
    "RequestRecord",
    "RequestStatus",
    "RoomRecord",
    "now_ms",
]


def now_ms() -> int:
    """Milliseconds since the epoch (the clock every record uses)."""
    return int(time.time() * 1000)


@dataclass(frozen=True)
class AuditRow:
    """One audit entry as the host stores it: the room, its sequence number, its canonical JSON.

    The core hands these to a host method together with the rows of the action they record, so
    that the host writes both in one transaction (a crash keeps both or neither). ``checkpoint``,
    when set, is the core's signed checkpoint of the log through this entry (size ``seq + 1``),
    which the host keeps as the room's latest in the same transaction."""

    room_id: str
    seq: int
    entry: str
    checkpoint: str | None = None


@dataclass(frozen=True)
class DatasetRecord:
    id: str
    owner_email: str
    name: str
    description: str
    manifest: bytes
    size: int
    created_at_ms: int


@dataclass(frozen=True)
class RoomRecord:
    id: str
    name: str
    owner_email: str
    definition: bytes
    signature: bytes
    created_at_ms: int
    #: A cache of the room's ROOM_STOPPED audit entry (the core believes the log, not this).
    stopped_at_ms: int | None
    state_signature: bytes | None

    @property
    def is_stopped(self) -> bool:
        return self.stopped_at_ms is not None


@dataclass(frozen=True)
class PublicationRecord:
    room_id: str
    node: str
    dataset_id: str
    sealed_key: bytes
    publisher_email: str
    published_at_ms: int
    validation_outcome: str | None
    validation_report: bytes | None


class JobStatus:
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    FINISHED = frozenset({"succeeded", "failed"})


@dataclass(frozen=True)
class JobRecord:
    id: str
    room_id: str
    node: str
    submitted_by: str
    status: str
    created_at_ms: int
    started_at_ms: int | None
    finished_at_ms: int | None
    attempts: int
    error_code: str | None
    error_message: str | None
    result_blob: str | None
    #: JSON {name: value} of the analyst's parameters, or None (a cache of the ticket's).
    parameters: str | None = None
    #: JSON of what else the job runs (development node, request preview), or None (a cache).
    spec: str | None = None
    #: The job ticket the core sealed at submission (opaque to the host): room, node, submitter,
    #: spec, parameters and recipient key, as the core will run and release the job.
    ticket: bytes | None = None
    #: Until when the worker running the job holds it (renewed while it runs); None: not running.
    lease_expires_at_ms: int | None = None


class RequestStatus:
    PENDING = "pending"
    REJECTED = "rejected"
    INTEGRATED = "integrated"
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class RequestRecord:
    id: str
    room_id: str
    commit: bytes
    requester: str
    status: str
    created_at_ms: int
    updated_at_ms: int
    rejected_by: str | None
    rejection: str | None


@dataclass(frozen=True)
class ApprovalRecord:
    approver: str
    signature: bytes
    approved_at_ms: int


@dataclass(frozen=True)
class CommitRecord:
    room_id: str
    seq: int
    commit_id: str
    commit: bytes
    history_pin: str
    signature: bytes
    integrated_by: str
    integrated_at_ms: int
