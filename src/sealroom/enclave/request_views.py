"""What participants see of an interactive room's requests and commits, as the core verified it.

The host stores requests, approvals and integrated commits (:mod:`sealroom.storage.requests`);
the ledger reads them as the room's audit log records them:

* whether a request is still pending is the log's say: a request the log records as rejected,
  superseded or integrated stays closed whatever the host's row says;
* an approval counts only as the log records it (``REQUEST_APPROVED``); the host's rows carry
  the core's signature over (room, commit, history pin, approver) and are compared with the log
  (a row without the signature, or one the log does not record, never counts);
* a disagreement is reported (:mod:`.tampering`) and the log believed.
"""

from __future__ import annotations

import json

from sealroom.crypto import SigningKey
from sealroom.enclave.audit_log import AuditLogKeeper
from sealroom.enclave.history import RoomHistory
from sealroom.enclave.host import RequestRecords
from sealroom.enclave.tampering import TamperingAlarm
from sealroom.errors import DefinitionError, NotFoundError, VerificationError
from sealroom.model.commits import (
    ApproverGroup,
    Commit,
    apply_commit,
    approval_message,
    approver_groups,
    parse_commit,
)
from sealroom.model.principal import normalise_email
from sealroom.model.records import RequestRecord, RequestStatus
from sealroom.model.wire import ApproverGroupOut, CommitOut, RequestOut

__all__ = ["RequestLedger"]


class RequestLedger:
    """Reads requests, approvals and commits of a room, checked against its audit log."""

    def __init__(
        self,
        store: RequestRecords,
        signing_key: SigningKey,
        audit: AuditLogKeeper,
        alarm: TamperingAlarm,
    ) -> None:
        self._store = store
        self._signing_key = signing_key
        self._audit = audit
        self._alarm = alarm

    def request(self, history: RoomHistory, request_id: str) -> tuple[RequestRecord, Commit]:
        record = self._store.get_request(history.room_id, request_id)
        if record is None:
            raise NotFoundError(f"request {request_id} not found in room {history.room_id}")
        return record, parse_commit(json.loads(record.commit))

    def view(self, history: RoomHistory, request_id: str) -> RequestOut:
        """What every participant may see of request ``request_id`` (see :meth:`describe`)."""
        record, commit = self.request(history, request_id)
        return self.describe(history, record, commit)

    def describe(self, history: RoomHistory, record: RequestRecord, commit: Commit) -> RequestOut:
        """What every participant may see of a request."""
        status = self.status(history.room_id, record)
        if status == RequestStatus.PENDING and commit.history_pin != history.pin:
            status = RequestStatus.SUPERSEDED
        groups, approvals, missing = self.approval_state(history, commit)
        if status == RequestStatus.PENDING and not missing:
            status = "ready_to_integrate"
        return RequestOut(
            id=record.id,
            room_id=record.room_id,
            commit=json.loads(record.commit),
            requester=record.requester,
            note=commit.note,
            history_pin=commit.history_pin,
            status=status,
            created_at_ms=record.created_at_ms,
            updated_at_ms=record.updated_at_ms,
            approver_groups=[
                ApproverGroupOut(node=g.node, approvers=list(g.approvers)) for g in groups
            ],
            approvals=approvals,
            missing_approvals=missing,
            rejected_by=record.rejected_by,
            rejection=record.rejection,
        )

    def list_all(self, history: RoomHistory) -> list[RequestOut]:
        out = []
        for record in self._store.list_requests(history.room_id):
            commit = parse_commit(json.loads(record.commit))
            out.append(self.describe(history, record, commit))
        return out

    def commits(self, history: RoomHistory) -> list[CommitOut]:
        return [
            CommitOut(
                id=record.commit_id,
                seq=record.seq,
                note=commit.note,
                requester=commit.requester,
                nodes=[node.name for node in commit.nodes],
                analysts=[g.model_dump(mode="json") for g in commit.analysts],
                history_pin=record.history_pin,
                integrated_by=record.integrated_by,
                integrated_at_ms=record.integrated_at_ms,
                commit=json.loads(record.commit),
                signature=record.signature.hex(),
            )
            for record, commit in zip(history.records, history.commits, strict=True)
        ]

    def status(self, room_id: str, record: RequestRecord) -> str:
        """The request's stored status as the audit log records it (pending until closed)."""
        with self._audit.locked(room_id) as facts:
            logged = facts.closed_requests.get(record.id, RequestStatus.PENDING)
        if record.status == logged:
            return logged
        # Read both again under the room's lock: a status and its entry are written together.
        with self._audit.locked(room_id) as facts:
            stored = self._store.get_request(room_id, record.id)
            logged = facts.closed_requests.get(record.id, RequestStatus.PENDING)
            if stored is None or stored.status != logged:
                self._alarm(
                    room_id,
                    f"the status of request {record.id}",
                    f"the host says {stored.status if stored else 'nothing'}, the log {logged}",
                )
        return logged

    def groups(self, history: RoomHistory, commit: Commit) -> list[ApproverGroup]:
        before = history.definition_at(commit.history_pin)
        if before is None:
            return []
        try:
            return approver_groups(apply_commit(before, commit), commit)
        except DefinitionError:
            return []

    def approval_state(
        self, history: RoomHistory, commit: Commit
    ) -> tuple[list[ApproverGroup], dict[str, int], list[str]]:
        """(approver groups, approvals as the log records them: approver → when, nodes no owner
        has approved for)."""
        groups = self.groups(history, commit)
        approvals = self._approvals(history.room_id, commit)
        missing = [
            g.node for g in groups if not any(normalise_email(e) in approvals for e in g.approvers)
        ]
        return groups, approvals, missing

    def _approvals(self, room_id: str, commit: Commit) -> dict[str, int]:
        """Who approved ``commit``, as the audit log records it. The host's rows are compared:
        a row without the core's signature, or one the log does not record, never counts."""
        with self._audit.locked(room_id) as facts:
            logged = dict(facts.approvers.get(commit.commit_id, {}))
            signed, forged = self._stored_approvers(room_id, commit)
            if signed != set(logged) or forged:
                self._alarm(
                    room_id,
                    f"the approvals of request {commit.commit_id}",
                    f"the host has {len(signed)} signed by the core and {forged} not, the log "
                    f"records {len(logged)}",
                )
        return logged

    def _stored_approvers(self, room_id: str, commit: Commit) -> tuple[set[str], int]:
        """(approvers of the host's rows signed by the core for this commit and pin, how many
        rows are not)."""
        signed, forged = set(), 0
        for approval in self._store.approvals(commit.commit_id):
            message = approval_message(
                room_id, commit.commit_id, commit.history_pin, approval.approver
            )
            try:
                self._signing_key.verify_key.verify(message, approval.signature)
            except VerificationError:
                forged += 1
                continue
            signed.add(normalise_email(approval.approver))
        return signed, forged
