"""The host's records of requests, approvals and integrated commits of interactive rooms.

Everything here is written by the core and stored by the untrusted host, which may alter it;
that is why each approval and each integrated commit carries the core's signature, checked by
the core whenever it reads them back (see :mod:`sealroom.enclave.requests`). A host can
withhold a record (the core then sees fewer approvals or commits, never forged ones), and
dropping integrated commits is also visible in the room's audit log.

Each write and the audit entries of its action go in one transaction. Integrating is atomic:
the commit row (unique per ``(room, seq)``), the request's status change and the entry, so two
integrations racing for the same sequence number cannot both succeed.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from sealroom.errors import CommitRaceError
from sealroom.model.principal import normalise_email
from sealroom.model.records import (
    ApprovalRecord,
    AuditRow,
    CommitRecord,
    RequestRecord,
    RequestStatus,
    now_ms,
)
from sealroom.storage import schema as t
from sealroom.storage.database import upsert
from sealroom.storage.metadata import write_audit_rows

__all__ = ["RequestStore"]


class RequestStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- requests -------------------------------------------------------------------------
    def insert_request(
        self,
        request_id: str,
        room_id: str,
        commit: bytes,
        requester: str,
        *,
        audit: Sequence[AuditRow] = (),
    ) -> bool:
        """Store a new pending request and its audit entries; False (nothing written) if a
        request with this id (commit) exists."""
        created = now_ms()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(t.room_requests).values(
                        id=request_id,
                        room_id=room_id,
                        commit=commit,
                        requester=requester,
                        status=RequestStatus.PENDING,
                        created_at_ms=created,
                        updated_at_ms=created,
                    )
                )
                write_audit_rows(conn, audit)
        except IntegrityError:
            return False
        return True

    def get_request(self, room_id: str, request_id: str) -> RequestRecord | None:
        requests = t.room_requests
        with self.engine.connect() as conn:
            row = conn.execute(
                select(requests).where(
                    and_(requests.c.id == request_id, requests.c.room_id == room_id)
                )
            ).first()
        return None if row is None else RequestRecord(**dict(row._mapping))

    def list_requests(self, room_id: str) -> list[RequestRecord]:
        requests = t.room_requests
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(requests)
                .where(requests.c.room_id == room_id)
                .order_by(requests.c.created_at_ms, requests.c.id)
            ).all()
        return [RequestRecord(**dict(row._mapping)) for row in rows]

    def set_request_status(
        self,
        request_id: str,
        status: str,
        *,
        rejected_by: str | None = None,
        rejection: str | None = None,
        audit: Sequence[AuditRow] = (),
    ) -> bool:
        """Move a pending request to ``status`` and write its audit entries; False (nothing
        written) if it is no longer pending."""
        requests = t.room_requests
        with self.engine.begin() as conn:
            result = conn.execute(
                update(requests)
                .where(
                    and_(requests.c.id == request_id, requests.c.status == RequestStatus.PENDING)
                )
                .values(
                    status=status,
                    updated_at_ms=now_ms(),
                    rejected_by=rejected_by,
                    rejection=rejection,
                )
            )
            if not result.rowcount:
                return False
            write_audit_rows(conn, audit)
        return True

    # -- approvals ------------------------------------------------------------------------
    def add_approval(
        self, request_id: str, approver: str, signature: bytes, *, audit: Sequence[AuditRow] = ()
    ) -> None:
        """Record (or replace) ``approver``'s approval, with its audit entries."""
        row = {
            "request_id": request_id,
            "approver": normalise_email(approver),
            "signature": signature,
            "approved_at_ms": now_ms(),
        }
        with self.engine.begin() as conn:
            # One statement: the same person approving on two servers at once is one approval.
            upsert(conn, t.request_approvals, row, ("request_id", "approver"))
            conn.execute(
                update(t.room_requests)
                .where(t.room_requests.c.id == request_id)
                .values(updated_at_ms=now_ms())
            )
            write_audit_rows(conn, audit)

    def approvals(self, request_id: str) -> list[ApprovalRecord]:
        approvals = t.request_approvals
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(approvals.c.approver, approvals.c.signature, approvals.c.approved_at_ms)
                .where(approvals.c.request_id == request_id)
                .order_by(approvals.c.approved_at_ms, approvals.c.approver)
            ).all()
        return [ApprovalRecord(str(r[0]), bytes(r[1]), int(r[2])) for r in rows]

    # -- commits --------------------------------------------------------------------------
    def commits(self, room_id: str) -> list[CommitRecord]:
        commits = t.room_commits
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(commits).where(commits.c.room_id == room_id).order_by(commits.c.seq)
            ).all()
        return [CommitRecord(**dict(row._mapping)) for row in rows]

    def integrate_commit(self, record: CommitRecord, *, audit: Sequence[AuditRow]) -> None:
        """Store the commit, mark its request integrated and append its audit entries, in one
        transaction: a crash leaves all three or none (a
        commit without its entry would be refused by the next core as one the host slipped in).

        Raises :class:`CommitRaceError` if the sequence number is taken or the request is no
        longer pending (then nothing is written).
        """
        requests = t.room_requests
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t.room_commits).values(**record.__dict__))
                write_audit_rows(conn, audit)
                result = conn.execute(
                    update(requests)
                    .where(
                        and_(
                            requests.c.id == record.commit_id,
                            requests.c.status == RequestStatus.PENDING,
                        )
                    )
                    .values(status=RequestStatus.INTEGRATED, updated_at_ms=now_ms())
                )
                if result.rowcount != 1:
                    raise CommitRaceError(_race_message(record))
        except IntegrityError:
            raise CommitRaceError(_race_message(record)) from None


def _race_message(record: CommitRecord) -> str:
    return (
        f"commit {record.commit_id} of room {record.room_id} lost sequence number {record.seq}: "
        "another commit took it, or its request is no longer pending"
    )
