"""The metadata repository: every read and write of the host's database goes through here.

Records are the small frozen dataclasses of :mod:`sealroom.model.records`, so that callers never
hold live rows or sessions. Tables that repeat a fact of a room's audit log (a room's
``stopped_at_ms``, ``node_executions``, ``airlock_usage``, ``privacy_budget``) are caches the core
writes and checks; the core never decides from them. Methods are short transactions; callers
that need several writes to be atomic use one method that does them together (for example
:meth:`MetadataStore.complete_upload`).

The statements every job runs (token lookup, rooms, jobs, claims, audit entries and checkpoints)
are built once at import, with bound parameters: building one cost SQLAlchemy more than SQLite
took to run it (85 µs against 30 µs for a job's row), and a job runs about twenty.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from sealroom.errors import ConflictError
from sealroom.model.identities import key_fingerprint
from sealroom.model.principal import normalise_email
from sealroom.model.records import (
    AuditRow,
    DatasetRecord,
    JobRecord,
    JobStatus,
    PublicationRecord,
    RoomRecord,
    now_ms,
)
from sealroom.storage import schema as t
from sealroom.storage.database import insert_if_missing, upsert
from sealroom.storage.notifications import FINISHED_CHANNEL, QUEUED_CHANNEL, notify

__all__ = [
    "MetadataStore",
    "ParticipantKeyRecord",
    "UserRecord",
    "WebSessionRecord",
    "write_audit_rows",
]


@dataclass(frozen=True)
class UserRecord:
    email: str
    created_at_ms: int
    active_tokens: int


@dataclass(frozen=True)
class WebSessionRecord:
    """A browser session (``server/web/auth.py``), found by the SHA-256 of its id."""

    email: str
    #: The API token the session was opened with (its SHA-256; never revoked while found).
    token_sha256: str
    csrf_token: str
    created_at_ms: int
    last_seen_at_ms: int


class ParticipantKeyRecord(NamedTuple):
    """A key of the host's directory (the host's word, not a verified fact)."""

    public_key_hex: str
    fingerprint: str
    registered_at_ms: int


# Built once: the hottest write of the platform (every action is audited).
_INSERT_AUDIT_ENTRY = insert(t.audit_entries)
_ADVISORY_LOCK = text("SELECT pg_advisory_lock(:key)")
_ADVISORY_UNLOCK = text("SELECT pg_advisory_unlock(:key)")


def write_audit_rows(conn: Connection, audit: Sequence[AuditRow]) -> None:
    """Insert ``audit`` in the caller's transaction (the entries of the action it writes), and
    keep the checkpoints they carry. A taken ``(room, seq)`` raises IntegrityError, which rolls
    the whole action back."""
    if not audit:
        return
    conn.execute(
        _INSERT_AUDIT_ENTRY,
        [{"room_id": row.room_id, "seq": row.seq, "entry": row.entry} for row in audit],
    )
    for row in audit:
        if row.checkpoint is not None:
            _keep_checkpoint(conn, row.room_id, row.seq + 1, row.checkpoint)


def _keep_checkpoint(conn: Connection, room_id: str, size: int, note: str) -> None:
    """Keep ``note`` unless a checkpoint of a larger size is already kept: one statement, so
    of two writers racing the larger checkpoint stays, whichever comes last."""
    row = {"room_id": room_id, "size": size, "note": note}
    upsert(conn, t.audit_checkpoints, row, ("room_id",), only_if_larger="size")


_EMAIL_FOR_TOKEN = (
    select(t.users.c.email)
    .join(t.api_tokens, t.api_tokens.c.user_id == t.users.c.id)
    .where(t.api_tokens.c.token_sha256 == bindparam("token_sha256"))
    .where(t.api_tokens.c.revoked_at_ms.is_(None))
)
#: A session whose token is revoked is not found: one indexed join on every request that
#: carries the cookie (``api_tokens.token_sha256`` is unique), and revocation ends it at once.
_GET_WEB_SESSION = (
    select(
        t.web_sessions.c.email,
        t.web_sessions.c.token_sha256,
        t.web_sessions.c.csrf_token,
        t.web_sessions.c.created_at_ms,
        t.web_sessions.c.last_seen_at_ms,
    )
    .join(t.api_tokens, t.api_tokens.c.token_sha256 == t.web_sessions.c.token_sha256)
    .where(t.web_sessions.c.id_sha256 == bindparam("id_sha256"))
    .where(t.api_tokens.c.revoked_at_ms.is_(None))
)
_GET_ROOM = select(t.rooms).where(t.rooms.c.id == bindparam("room_id"))
_GET_PUBLICATION = select(t.publications).where(
    and_(
        t.publications.c.room_id == bindparam("room_id"), t.publications.c.node == bindparam("node")
    )
)
_INSERT_JOB = insert(t.jobs)
_GET_JOB = select(t.jobs).where(t.jobs.c.id == bindparam("job_id"))
_COUNT_UNFINISHED_JOBS = (
    select(func.count())
    .select_from(t.jobs)
    .where(
        and_(
            func.lower(t.jobs.c.submitted_by) == bindparam("email"),
            t.jobs.c.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)),
        )
    )
)
#: Parameters at execution name the columns set (``status``, ``finished_at_ms`` …).
_FINISH_JOB = update(t.jobs).where(t.jobs.c.id == bindparam("job_id"))


def _claim_statements() -> tuple[Any, Any]:
    """(the next queued jobs in fair order, claim one of them and return its row)."""
    jobs = t.jobs
    running = (
        select(
            jobs.c.submitted_by,
            func.sum(case((jobs.c.status == JobStatus.RUNNING, 1), else_=0)).label("running"),
            func.max(jobs.c.started_at_ms).label("last_started"),
        )
        .group_by(jobs.c.submitted_by)
        .subquery()
    )
    place = func.row_number().over(
        partition_by=jobs.c.submitted_by, order_by=(jobs.c.created_at_ms, jobs.c.id)
    )
    queued = (
        select(
            jobs.c.id,
            jobs.c.created_at_ms,
            (place + func.coalesce(running.c.running, 0)).label("turn"),
            func.coalesce(running.c.last_started, 0).label("last_started"),
        )
        .select_from(jobs.outerjoin(running, jobs.c.submitted_by == running.c.submitted_by))
        .where(jobs.c.status == JobStatus.QUEUED)
        .subquery()
    )
    candidates = (
        select(queued.c.id)
        .order_by(queued.c.turn, queued.c.last_started, queued.c.created_at_ms)
        .limit(8)
    )
    claim = (
        update(jobs)
        .where(and_(jobs.c.id == bindparam("candidate"), jobs.c.status == JobStatus.QUEUED))
        .values(
            status=JobStatus.RUNNING,
            started_at_ms=bindparam("claimed_at_ms"),
            attempts=jobs.c.attempts + 1,
            lease_expires_at_ms=bindparam("lease_until_ms"),
        )
        .returning(*jobs.c)
    )
    return candidates, claim


_NEXT_JOB_CANDIDATES, _CLAIM_JOB = _claim_statements()


def _record(cls: Any, row: Any) -> Any:
    return cls(**dict(row._mapping))


#: How long a worker holds a job it claimed without renewing it (it renews a quarter of this).
DEFAULT_JOB_LEASE_MS: Final = 60_000


class MetadataStore:
    """Typed access to the metadata tables."""

    def __init__(self, engine: Engine, *, job_lease_ms: int = DEFAULT_JOB_LEASE_MS) -> None:
        self.engine = engine
        #: How long a claim holds a job before it must be renewed (renew_job_leases).
        self.job_lease_ms = job_lease_ms

    # -- users and tokens ---------------------------------------------------------------
    def ensure_user(self, email: str) -> int:
        with self.engine.begin() as conn:
            user_id = select(t.users.c.id).where(t.users.c.email == email)
            existing = conn.execute(user_id).scalar()
            if existing is not None:
                return int(existing)
            # Two processes adding the same person at once: one row, both read its id.
            row = {"email": email, "created_at_ms": now_ms()}
            insert_if_missing(conn, t.users, row, ("email",))
            return int(conn.execute(user_id).scalar_one())

    def add_token(self, email: str, token_sha256: str, label: str = "") -> None:
        user_id = self.ensure_user(email)
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.api_tokens).values(
                    user_id=user_id, token_sha256=token_sha256, label=label, created_at_ms=now_ms()
                )
            )

    def email_for_token(self, token_sha256: str) -> str | None:
        with self.engine.connect() as conn:
            email = conn.execute(_EMAIL_FOR_TOKEN, {"token_sha256": token_sha256}).scalar()
        return None if email is None else str(email)

    def list_users(self) -> list[UserRecord]:
        active = (
            select(func.count(t.api_tokens.c.id))
            .where(t.api_tokens.c.user_id == t.users.c.id)
            .where(t.api_tokens.c.revoked_at_ms.is_(None))
            .scalar_subquery()
        )
        query = select(t.users.c.email, t.users.c.created_at_ms, active.label("active_tokens"))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.users.c.email)).all()
        return [UserRecord(r.email, r.created_at_ms, int(r.active_tokens)) for r in rows]

    def revoke_tokens(self, email: str) -> int:
        with self.engine.begin() as conn:
            user_id = conn.execute(select(t.users.c.id).where(t.users.c.email == email)).scalar()
            if user_id is None:
                return 0
            result = conn.execute(
                update(t.api_tokens)
                .where(t.api_tokens.c.user_id == user_id)
                .where(t.api_tokens.c.revoked_at_ms.is_(None))
                .values(revoked_at_ms=now_ms())
            )
            return int(result.rowcount)

    # -- web sessions (only the SHA-256 of a session id is stored) ----------------------------
    def add_web_session(
        self, id_sha256: str, email: str, token_sha256: str, csrf_token: str, at_ms: int
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.web_sessions).values(
                    id_sha256=id_sha256,
                    email=email,
                    token_sha256=token_sha256,
                    csrf_token=csrf_token,
                    created_at_ms=at_ms,
                    last_seen_at_ms=at_ms,
                )
            )

    def web_session(self, id_sha256: str) -> WebSessionRecord | None:
        """The session, unless it is unknown or the token it was opened with is revoked
        (expiry is the caller's decision: it holds the settings)."""
        with self.engine.connect() as conn:
            row = conn.execute(_GET_WEB_SESSION, {"id_sha256": id_sha256}).one_or_none()
        return None if row is None else WebSessionRecord(*row)

    def touch_web_session(self, id_sha256: str, at_ms: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(t.web_sessions)
                .where(t.web_sessions.c.id_sha256 == id_sha256)
                .values(last_seen_at_ms=at_ms)
            )

    def delete_web_session(self, id_sha256: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(t.web_sessions).where(t.web_sessions.c.id_sha256 == id_sha256))

    def delete_expired_web_sessions(self, idle_since_ms: int, created_before_ms: int) -> int:
        """Delete sessions last seen before ``idle_since_ms`` or created before
        ``created_before_ms``; the number deleted."""
        sessions = t.web_sessions
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(sessions).where(
                    (sessions.c.last_seen_at_ms < idle_since_ms)
                    | (sessions.c.created_at_ms < created_before_ms)
                )
            )
        return int(result.rowcount)

    # -- uploads and datasets -----------------------------------------------------------
    def create_upload(self, upload_id: str, owner_email: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.uploads).values(
                    id=upload_id, owner_email=owner_email, created_at_ms=now_ms(), completed=False
                )
            )

    def upload_owner(self, upload_id: str) -> tuple[str, bool] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.uploads.c.owner_email, t.uploads.c.completed).where(
                    t.uploads.c.id == upload_id
                )
            ).first()
        return None if row is None else (str(row.owner_email), bool(row.completed))

    def put_upload_chunk(self, upload_id: str, index: int, sha256: str, size: int) -> None:
        """Record a received chunk; re-sending the same index (a retry) replaces it."""
        row = {"upload_id": upload_id, "chunk_index": index, "sha256": sha256, "size": size}
        with self.engine.begin() as conn:
            upsert(conn, t.upload_chunks, row, ("upload_id", "chunk_index"))

    def upload_chunks(self, upload_id: str) -> dict[int, tuple[str, int]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.upload_chunks).where(t.upload_chunks.c.upload_id == upload_id)
            ).all()
        return {r.chunk_index: (r.sha256, r.size) for r in rows}

    def complete_upload(self, upload_id: str, dataset: DatasetRecord) -> None:
        with self.engine.begin() as conn:
            # The same content uploaded twice is one dataset (its id is the manifest's hash).
            insert_if_missing(conn, t.datasets, dataset.__dict__, ("id",))
            conn.execute(
                update(t.uploads).where(t.uploads.c.id == upload_id).values(completed=True)
            )

    def get_dataset(self, dataset_id: str) -> DatasetRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.datasets).where(t.datasets.c.id == dataset_id)).first()
        return None if row is None else _record(DatasetRecord, row)

    def list_datasets(self, owner_email: str) -> list[DatasetRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.datasets)
                .where(t.datasets.c.owner_email == owner_email)
                .order_by(t.datasets.c.created_at_ms)
            ).all()
        return [_record(DatasetRecord, r) for r in rows]

    def dataset_publications(self, dataset_id: str) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.publications.c.room_id, t.publications.c.node).where(
                    t.publications.c.dataset_id == dataset_id
                )
            ).all()
        return [(r.room_id, r.node) for r in rows]

    def delete_dataset(self, dataset_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(t.datasets).where(t.datasets.c.id == dataset_id))

    # -- rooms --------------------------------------------------------------------------
    def insert_room(
        self, room: RoomRecord, participants: Iterable[str], *, audit: Sequence[AuditRow] = ()
    ) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t.rooms).values(**room.__dict__))
                write_audit_rows(conn, audit)
                emails = sorted({normalise_email(e) for e in participants})
                if emails:
                    conn.execute(
                        insert(t.room_participants),
                        [{"room_id": room.id, "email": e} for e in emails],
                    )
        except IntegrityError:
            raise ConflictError(
                f"room {room.id} is already published", code="room_exists"
            ) from None

    def get_room(self, room_id: str) -> RoomRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(_GET_ROOM, {"room_id": room_id}).first()
        return None if row is None else _record(RoomRecord, row)

    def rooms_for(self, email: str) -> list[RoomRecord]:
        query = (
            select(t.rooms)
            .join(t.room_participants, t.room_participants.c.room_id == t.rooms.c.id)
            .where(t.room_participants.c.email == normalise_email(email))
            .order_by(t.rooms.c.created_at_ms)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_record(RoomRecord, r) for r in rows]

    def set_room_stopped(
        self, room_id: str, stopped_at_ms: int | None, state_signature: bytes | None
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(t.rooms)
                .where(t.rooms.c.id == room_id)
                .values(stopped_at_ms=stopped_at_ms, state_signature=state_signature)
            )

    # -- publications -------------------------------------------------------------------
    def put_publication(
        self, publication: PublicationRecord, *, audit: Sequence[AuditRow] = ()
    ) -> None:
        with self.engine.begin() as conn:
            write_audit_rows(conn, audit)
            upsert(conn, t.publications, publication.__dict__, ("room_id", "node"))

    def get_publication(self, room_id: str, node: str) -> PublicationRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(_GET_PUBLICATION, {"room_id": room_id, "node": node}).first()
        return None if row is None else _record(PublicationRecord, row)

    def list_publications(self, room_id: str) -> list[PublicationRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.publications)
                .where(t.publications.c.room_id == room_id)
                .order_by(t.publications.c.node)
            ).all()
        return [_record(PublicationRecord, r) for r in rows]

    def delete_publication(self, room_id: str, node: str) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(t.publications).where(
                    and_(t.publications.c.room_id == room_id, t.publications.c.node == node)
                )
            )
        return bool(result.rowcount)

    # -- jobs ---------------------------------------------------------------------------
    def insert_job(self, job: JobRecord, *, audit: Sequence[AuditRow] = ()) -> None:
        """Queue ``job`` (the core built it: its ticket says what it runs)."""
        with self.engine.begin() as conn:
            conn.execute(_INSERT_JOB, job.__dict__)
            write_audit_rows(conn, audit)
            notify(conn, QUEUED_CHANNEL)

    def get_job(self, job_id: str) -> JobRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(_GET_JOB, {"job_id": job_id}).first()
        return None if row is None else _record(JobRecord, row)

    def list_jobs(self, room_id: str, user_email: str, limit: int) -> list[JobRecord]:
        """``user_email``'s jobs of ``room_id``, the ``limit`` most recent, oldest first.

        Host metadata (the status columns the workers keep): for showing, never for deciding.
        """
        jobs = t.jobs
        query = (
            select(jobs)
            .where(
                and_(
                    jobs.c.room_id == room_id,
                    func.lower(jobs.c.submitted_by) == normalise_email(user_email),
                )
            )
            .order_by(jobs.c.created_at_ms.desc(), jobs.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_record(JobRecord, r) for r in reversed(rows)]

    def count_unfinished_jobs(self, user_email: str) -> int:
        """How many of ``user_email``'s jobs are queued or running."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    _COUNT_UNFINISHED_JOBS, {"email": normalise_email(user_email)}
                ).scalar_one()
            )

    def claim_next_job(self) -> JobRecord | None:
        """Atomically move the next queued job to running and return it.

        Fair between users: a job's turn is its place among its submitter's queued jobs plus
        how many of theirs already run; between equal turns, the user whose last job started
        longest ago (or never) goes first, then the oldest job. One user's sixty queued jobs
        therefore take turns with another user's one, instead of all going first.
        """
        with self.engine.begin() as conn:
            candidates: Sequence[Any] = conn.execute(_NEXT_JOB_CANDIDATES).all()
            for (job_id,) in candidates:
                claimed_at = now_ms()
                row = conn.execute(
                    _CLAIM_JOB,
                    {
                        "candidate": job_id,
                        "claimed_at_ms": claimed_at,
                        "lease_until_ms": claimed_at + self.job_lease_ms,
                    },
                ).first()
                if row is not None:  # not claimed by another worker meanwhile
                    job: JobRecord = _record(JobRecord, row)
                    return job
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
        with self.engine.begin() as conn:
            write_audit_rows(conn, audit)
            conn.execute(
                _FINISH_JOB,
                {
                    "job_id": job_id,
                    "status": JobStatus.SUCCEEDED if succeeded else JobStatus.FAILED,
                    "finished_at_ms": now_ms(),
                    "result_blob": result_blob,
                    "error_code": error_code,
                    "error_message": error_message,
                    "lease_expires_at_ms": None,
                },
            )
            notify(conn, FINISHED_CHANNEL, job_id)

    def requeue_interrupted_jobs(self) -> int:
        """Jobs left 'running' by a stopped server go back to the queue (run at start by the
        one server of a data directory; servers sharing a database use leases instead)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(t.jobs)
                .where(t.jobs.c.status == JobStatus.RUNNING)
                .values(status=JobStatus.QUEUED, started_at_ms=None, lease_expires_at_ms=None)
            )
        return int(result.rowcount)

    def renew_job_leases(self, job_ids: Sequence[str]) -> None:
        """Hold the running jobs ``job_ids`` (this worker's) for another lease."""
        if not job_ids:
            return
        jobs = t.jobs
        with self.engine.begin() as conn:
            conn.execute(
                update(jobs)
                .where(and_(jobs.c.id.in_(list(job_ids)), jobs.c.status == JobStatus.RUNNING))
                .values(lease_expires_at_ms=now_ms() + self.job_lease_ms)
            )

    def requeue_expired_job_leases(self) -> int:
        """Running jobs whose lease ran out (their worker died) go back to the queue."""
        jobs = t.jobs
        with self.engine.begin() as conn:
            result = conn.execute(
                update(jobs)
                .where(
                    and_(jobs.c.status == JobStatus.RUNNING, jobs.c.lease_expires_at_ms < now_ms())
                )
                .values(status=JobStatus.QUEUED, started_at_ms=None, lease_expires_at_ms=None)
            )
        return int(result.rowcount)

    # -- the core's identity, when cores share this database --------------------------------
    def sealed_identity(self) -> bytes | None:
        with self.engine.connect() as conn:
            sealed = conn.execute(
                select(t.core_identity.c.sealed).where(t.core_identity.c.id == 1)
            ).scalar_one_or_none()
        return None if sealed is None else bytes(sealed)

    def keep_sealed_identity(self, sealed: bytes) -> bytes:
        """Store ``sealed`` unless an identity is stored already; the one stored (the first
        process to start wins, every other unseals that one)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(t.core_identity).values(id=1, sealed=sealed, created_at_ms=now_ms())
                )
        except IntegrityError:
            pass
        kept = self.sealed_identity()
        assert kept is not None  # inserted, or there already
        return kept

    # -- caches of facts the core keeps in the audit log ----------------------------------
    def node_executions(self, room_id: str, node: str, since_ms: int) -> list[int]:
        """When runs of the rate-limited ``node`` were counted, after ``since_ms``, in order."""
        executions = t.node_executions
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(executions.c.at_ms)
                .where(
                    and_(
                        executions.c.room_id == room_id,
                        executions.c.node == node,
                        executions.c.at_ms > since_ms,
                    )
                )
                .order_by(executions.c.at_ms)
            ).all()
        return [int(r.at_ms) for r in rows]

    def add_node_executions(self, room_id: str, nodes: Sequence[str], at_ms: int) -> None:
        if not nodes:
            return
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.node_executions),
                [{"room_id": room_id, "node": node, "at_ms": at_ms} for node in nodes],
            )

    def set_node_executions(self, room_id: str, node: str, at_ms: Sequence[int]) -> None:
        executions = t.node_executions
        with self.engine.begin() as conn:
            conn.execute(
                delete(executions).where(
                    and_(executions.c.room_id == room_id, executions.c.node == node)
                )
            )
            if at_ms:
                conn.execute(
                    insert(executions),
                    [{"room_id": room_id, "node": node, "at_ms": at} for at in at_ms],
                )

    def airlock_usage(self, room_id: str, user_email: str) -> dict[str, int]:
        """Bytes of each preview node's results ``user_email`` has been charged, by node."""
        usage = t.airlock_usage
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(usage.c.node, usage.c.used_bytes).where(
                    and_(
                        usage.c.room_id == room_id,
                        usage.c.user_email == normalise_email(user_email),
                    )
                )
            ).all()
        return {str(r.node): int(r.used_bytes) for r in rows}

    def set_airlock_usage(self, room_id: str, node: str, user_email: str, used: int) -> None:
        row = {
            "room_id": room_id,
            "node": node,
            "user_email": normalise_email(user_email),
            "used_bytes": used,
        }
        with self.engine.begin() as conn:
            upsert(conn, t.airlock_usage, row, ("room_id", "node", "user_email"))

    def privacy_budget_spent(self, room_id: str) -> tuple[float, float]:
        """(epsilon, delta) the room's differentially private runs have spent."""
        budget = t.privacy_budget
        with self.engine.connect() as conn:
            row = conn.execute(
                select(budget.c.spent_epsilon, budget.c.spent_delta).where(
                    budget.c.room_id == room_id
                )
            ).one_or_none()
        return (0.0, 0.0) if row is None else (float(row[0]), float(row[1]))

    def set_privacy_budget_spent(self, room_id: str, epsilon: float, delta: float) -> None:
        row = {"room_id": room_id, "spent_epsilon": epsilon, "spent_delta": delta}
        with self.engine.begin() as conn:
            upsert(conn, t.privacy_budget, row, ("room_id",))

    # -- the key directory ----------------------------------------------------------------
    def register_participant_key(self, email: str, public_key_hex: str) -> ParticipantKeyRecord:
        """Record ``public_key_hex`` (a raw Ed25519 key, 64 lower-case hex digits) as
        ``email``'s latest key; earlier ones stay. Registering a kept key again makes it the
        latest. Registration times of one address strictly increase, so "latest" is one key."""
        if len(public_key_hex) != 64 or any(c not in "0123456789abcdef" for c in public_key_hex):
            raise ValueError("a public key is 64 lower-case hex digits")
        keys = t.participant_keys
        address = normalise_email(email)
        fingerprint = key_fingerprint(bytes.fromhex(public_key_hex))
        with self.engine.begin() as conn:
            latest = conn.execute(
                select(func.max(keys.c.registered_at_ms)).where(keys.c.email == address)
            ).scalar()
            at = now_ms() if latest is None else max(now_ms(), int(latest) + 1)
            row = {
                "email": address,
                "fingerprint": fingerprint,
                "public_key": public_key_hex,
                "registered_at_ms": at,
            }
            upsert(conn, keys, row, ("email", "fingerprint"))
        return ParticipantKeyRecord(public_key_hex, fingerprint, at)

    def participant_key(self, email: str) -> ParticipantKeyRecord | None:
        """The key ``email`` registered last, if any."""
        keys = t.participant_keys
        with self.engine.connect() as conn:
            row = conn.execute(
                select(keys.c.public_key, keys.c.fingerprint, keys.c.registered_at_ms)
                .where(keys.c.email == normalise_email(email))
                .order_by(keys.c.registered_at_ms.desc(), keys.c.fingerprint)
                .limit(1)
            ).one_or_none()
        if row is None:
            return None
        return ParticipantKeyRecord(str(row[0]), str(row[1]), int(row[2]))

    # -- audit --------------------------------------------------------------------------
    def append_audit_rows(self, audit: Sequence[AuditRow]) -> None:
        with self.engine.begin() as conn:
            write_audit_rows(conn, audit)

    @contextmanager
    def room_lock(self, room_id: str) -> Iterator[None]:
        """The room's lock across processes: a PostgreSQL session advisory lock, held on a
        connection of its own (released by the server if this process dies). SQLite has one
        writing process (the data-directory lock): nothing to hold."""
        if self.engine.dialect.name != "postgresql":
            yield
            return
        digest = hashlib.sha256(b"sealroom/room-lock/" + room_id.encode()).digest()
        key = {"key": int.from_bytes(digest[:8], "big", signed=True)}
        with self.engine.connect() as conn:
            conn.execute(_ADVISORY_LOCK, key)
            conn.commit()
            try:
                yield
            finally:
                conn.execute(_ADVISORY_UNLOCK, key)
                conn.commit()

    def audit_checkpoint(self, room_id: str) -> str | None:
        """The latest checkpoint the core signed for ``room_id`` (a signed note), if any."""
        with self.engine.connect() as conn:
            note = conn.execute(
                select(t.audit_checkpoints.c.note).where(t.audit_checkpoints.c.room_id == room_id)
            ).scalar_one_or_none()
        return None if note is None else str(note)

    def save_audit_checkpoint(self, room_id: str, size: int, note: str) -> None:
        """Keep ``note`` unless a checkpoint of a larger size is already kept."""
        with self.engine.begin() as conn:
            _keep_checkpoint(conn, room_id, size, note)

    def audit_entries(self, room_id: str, start: int = 0) -> list[str]:
        entries = t.audit_entries
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(entries.c.entry)
                .where(and_(entries.c.room_id == room_id, entries.c.seq >= start))
                .order_by(entries.c.seq)
            ).all()
        return [str(r.entry) for r in rows]
