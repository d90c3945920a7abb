"""Interactive rooms inside the core: the verified history, requests, approvals, integration.

The host stores requests, approvals and integrated commits (:mod:`sealroom.storage.requests`);
the core trusts none of it:

* an integrated commit counts only with the core's signature over (room, sequence, pin after,
  commit), and the sequence of commits must be exactly the one the room's audit log records
  (``COMMIT_INTEGRATED`` entries) — a host that drops or reorders commits is refused;
* an approval counts only as the room's audit log records it (``REQUEST_APPROVED``, made when
  the approver asked, after checking they own an affected data node); the host's rows carry the
  core's signature over (room, commit, history pin, approver) and are compared with the log;
* whether a request is still pending is the log's say too: a request the log records as
  rejected, superseded or integrated stays closed whatever the host's row says;
* a request applies only on top of the history pin it was built on (optimistic concurrency):
  once another commit is integrated, every other pending request is superseded.

Every step (submit, approve, reject, supersede, integrate, preview) is appended to the room's
audit log; notes name requests by id and nodes by name, never a data value.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sealroom.audit import AuditAction
from sealroom.compute.sql import check_query_dependencies, check_query_parameters
from sealroom.crypto import SigningKey
from sealroom.enclave.audit_log import AuditLogKeeper
from sealroom.enclave.host import RequestRecords
from sealroom.enclave.tampering import TamperingAlarm
from sealroom.errors import (
    CommitRaceError,
    ConflictError,
    DefinitionError,
    NotFoundError,
    PermissionDeniedError,
    VerificationError,
)
from sealroom.model.commits import (
    ApproverGroup,
    Commit,
    apply_commit,
    approval_message,
    approver_groups,
    commit_record_message,
    next_history_pin,
    parse_commit,
    verify_history,
)
from sealroom.model.definition import Node, RoomDefinition, SqlNode
from sealroom.model.records import (
    CommitRecord,
    RequestRecord,
    RequestStatus,
    now_ms,
)

#: A rejection reason is shown to every participant: a sentence, not a document.
MAX_REJECTION_CHARS = 1_000
#: Control characters and line separators (the audit log is one line per event).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class RoomHistory:
    """A room's published definition, its integrated commits, and the definition they make."""

    room_id: str
    base: RoomDefinition
    commits: tuple[Commit, ...] = ()
    records: tuple[CommitRecord, ...] = ()
    pins: tuple[str, ...] = field(default=())

    @property
    def current(self) -> RoomDefinition:
        return self.definitions[-1]

    @property
    def pin(self) -> str:
        return self.pins[-1]

    @cached_property
    def definitions(self) -> list[RoomDefinition]:
        """The definition after 0, 1, ... commits (computed once per history)."""
        definitions = [self.base]
        for commit in self.commits:
            definitions.append(apply_commit(definitions[-1], commit))
        return definitions

    def definition_at(self, pin: str) -> RoomDefinition | None:
        """The definition a request built on ``pin`` was built against (None: unknown pin)."""
        try:
            return self.definitions[self.pins.index(pin)]
        except ValueError:
            return None


def load_history(
    room_id: str,
    base: RoomDefinition,
    records: Sequence[CommitRecord],
    audited: Sequence[str],
    signing_key: SigningKey,
) -> RoomHistory:
    """Verify the stored commits against the core's signatures and the audit log's record."""
    ids = [record.commit_id for record in records]
    if ids != list(audited):
        raise VerificationError(
            f"room {room_id}: the stored commits ({len(ids)}) differ from the "
            f"{len(audited)} the audit log records: the host dropped or altered some"
        )
    commits, pins = verify_history(
        room_id,
        [record.commit for record in records],
        [record.signature for record in records],
        signing_key.verify_key,
        what="stored commit",
    )
    if [commit.commit_id for commit in commits] != ids:
        raise VerificationError(f"room {room_id}: the stored commit ids were altered")
    history = RoomHistory(room_id, base, tuple(commits), tuple(records), tuple(pins))
    history.definitions  # noqa: B018 - applies every commit now, so a bad one fails here
    return history


def check_computations(definition: RoomDefinition, nodes: Sequence[Node]) -> None:
    """What the core checks of SQL beyond the model: tables read, parameters used."""
    for node in nodes:
        if isinstance(node, SqlNode):
            try:
                check_query_dependencies(node.query, node.dependencies)
                check_query_parameters(node.query, node.parameters)
            except DefinitionError as exc:
                raise DefinitionError(f"SQL node {node.name!r}: {exc}") from None


class RequestDesk:
    """Requests of interactive rooms. The caller (the core) has authorised the action."""

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
        self._integrating = threading.Lock()

    # -- reading --------------------------------------------------------------------------
    def records(self, room_id: str) -> list[CommitRecord]:
        return self._store.commits(room_id)

    def request(self, history: RoomHistory, request_id: str) -> tuple[RequestRecord, Commit]:
        record = self._store.get_request(history.room_id, request_id)
        if record is None:
            raise NotFoundError(f"request {request_id} not found in room {history.room_id}")
        return record, parse_commit(json.loads(record.commit))

    def view(self, history: RoomHistory, request_id: str) -> dict[str, Any]:
        """What every participant may see of request ``request_id`` (see :meth:`describe`)."""
        record, commit = self.request(history, request_id)
        return self.describe(history, record, commit)

    def describe(
        self, history: RoomHistory, record: RequestRecord, commit: Commit
    ) -> dict[str, Any]:
        """What every participant may see of a request."""
        status = self._status(history.room_id, record)
        if status == RequestStatus.PENDING and commit.history_pin != history.pin:
            status = RequestStatus.SUPERSEDED
        groups, approvals, missing = self._approval_state(history, commit)
        if status == RequestStatus.PENDING and not missing:
            status = "ready_to_integrate"
        return {
            "id": record.id,
            "room_id": record.room_id,
            "commit": json.loads(record.commit),
            "requester": record.requester,
            "note": commit.note,
            "history_pin": commit.history_pin,
            "status": status,
            "created_at_ms": record.created_at_ms,
            "updated_at_ms": record.updated_at_ms,
            "approver_groups": [{"node": g.node, "approvers": list(g.approvers)} for g in groups],
            "approvals": approvals,
            "missing_approvals": missing,
            "rejected_by": record.rejected_by,
            "rejection": record.rejection,
        }

    def list_all(self, history: RoomHistory) -> list[dict[str, Any]]:
        out = []
        for record in self._store.list_requests(history.room_id):
            commit = parse_commit(json.loads(record.commit))
            out.append(self.describe(history, record, commit))
        return out

    def commits(self, history: RoomHistory) -> list[dict[str, Any]]:
        return [
            {
                "id": record.commit_id,
                "seq": record.seq,
                "note": commit.note,
                "requester": commit.requester,
                "nodes": [node.name for node in commit.nodes],
                "analysts": [g.model_dump(mode="json") for g in commit.analysts],
                "history_pin": record.history_pin,
                "integrated_by": record.integrated_by,
                "integrated_at_ms": record.integrated_at_ms,
                "commit": json.loads(record.commit),
                "signature": record.signature.hex(),
            }
            for record, commit in zip(history.records, history.commits, strict=True)
        ]

    # -- acting ---------------------------------------------------------------------------
    def submit(self, principal: str, history: RoomHistory, data: object) -> str:
        commit = parse_commit(data)
        if commit.room_id != history.room_id:
            raise DefinitionError(f"the request is for room {commit.room_id}, not this one")
        if commit.requester.lower() != principal.lower():
            raise DefinitionError(
                f"the request names {commit.requester} as requester, but {principal} submits it"
            )
        if commit.history_pin != history.pin:
            raise ConflictError(
                "the request was built on an out-of-date history of the room (another commit "
                "was integrated since): retrieve the room and build the request again",
                code="history_pin_outdated",
            )
        applied = apply_commit(history.current, commit)
        check_computations(applied, commit.nodes)
        groups = approver_groups(applied, commit)
        if not self._store.insert_request(
            commit.commit_id, history.room_id, commit.canonical_bytes(), principal
        ):
            raise ConflictError(
                f"request {commit.commit_id} was already submitted", code="request_exists"
            )
        self._audit.append(
            history.room_id,
            user=principal,
            action=AuditAction.REQUEST_SUBMITTED,
            notes=f"requested {_summary(commit)} (request {commit.commit_id}); approvers: "
            + (", ".join(f"owners of {g.node}" for g in groups) or "none (no data affected)"),
            details={
                "request_id": commit.commit_id,
                "nodes": ",".join(node.name for node in commit.nodes),
                "affected_nodes": ",".join(g.node for g in groups),
            },
        )
        return commit.commit_id

    def approve(self, principal: str, history: RoomHistory, request_id: str) -> None:
        record, commit = self._pending(history, request_id, principal)
        groups = self._groups(history, commit)
        mine = [g.node for g in groups if principal.lower() in (a.lower() for a in g.approvers)]
        if not mine:
            raise PermissionDeniedError(
                f"{principal} owns no data node this request affects "
                f"({', '.join(g.node for g in groups) or 'none'}): only their data owners approve"
            )
        message = approval_message(history.room_id, commit.commit_id, commit.history_pin, principal)
        with self._audit.locked(history.room_id):
            self._store.add_approval(record.id, principal, self._signing_key.sign(message))
            self._audit.append(
                history.room_id,
                user=principal,
                action=AuditAction.REQUEST_APPROVED,
                notes=f"approved request {record.id} as data owner of {', '.join(mine)}",
                details={"request_id": record.id, "nodes": ",".join(mine)},
            )

    def reject(self, principal: str, history: RoomHistory, request_id: str, reason: str) -> None:
        record, commit = self._pending(history, request_id, principal)
        groups = self._groups(history, commit)
        approvers = {a.lower() for g in groups for a in g.approvers}
        is_requester = record.requester.lower() == principal.lower()
        if principal.lower() not in approvers and not is_requester:
            raise PermissionDeniedError(
                f"{principal} may not reject request {record.id}: only the data owners it "
                "affects, or its requester (to withdraw it), may"
            )
        reason = _CONTROL.sub(" ", reason).strip()[:MAX_REJECTION_CHARS]
        with self._audit.locked(history.room_id):
            if not self._store.set_request_status(
                record.id, RequestStatus.REJECTED, rejected_by=principal, rejection=reason
            ):
                raise ConflictError(
                    f"request {record.id} is no longer pending", code="request_closed"
                )
            self._audit.append(
                history.room_id,
                user=principal,
                action=AuditAction.REQUEST_REJECTED,
                notes=f"{'withdrew' if is_requester else 'rejected'} request {record.id}",
                details={"request_id": record.id, "reason": reason[:500]},
            )

    def integrate(
        self, principal: str, history: RoomHistory, request_id: str
    ) -> tuple[CommitRecord, Commit]:
        """Check the approvals and store the commit; the caller then swaps in the new history."""
        with self._integrating:
            record, commit = self._pending(history, request_id, principal)
            _, _, missing = self._approval_state(history, commit)
            if missing:
                raise ConflictError(
                    f"request {record.id} cannot be integrated yet: it needs the approval of an "
                    f"owner of {', '.join(missing)}",
                    code="approval_missing",
                )
            sequence = len(history.commits) + 1
            pin_after = next_history_pin(history.pin, commit.commit_id)
            canonical = commit.canonical_bytes()
            stored = CommitRecord(
                room_id=history.room_id,
                seq=sequence,
                commit_id=commit.commit_id,
                commit=canonical,
                history_pin=pin_after,
                signature=self._signing_key.sign(
                    commit_record_message(history.room_id, sequence, canonical, pin_after)
                ),
                integrated_by=principal,
                integrated_at_ms=now_ms(),
            )
            with self._audit.locked(history.room_id):
                try:
                    self._store.integrate_commit(stored)
                except CommitRaceError:
                    self._supersede(history.room_id, record.id, principal)
                    raise ConflictError(
                        f"request {record.id} was superseded: another commit was integrated first",
                        code="request_superseded",
                    ) from None
                self._audit.append(
                    history.room_id,
                    user=principal,
                    action=AuditAction.COMMIT_INTEGRATED,
                    notes=f"integrated request {record.id} ({_summary(commit)}) as commit "
                    f"{sequence}",
                    details={
                        "request_id": record.id,
                        "commit_id": commit.commit_id,
                        "seq": sequence,
                        "history_pin": pin_after,
                        "nodes": ",".join(node.name for node in commit.nodes),
                    },
                )
            for other in self._store.list_requests(history.room_id):
                if other.status == RequestStatus.PENDING and other.id != record.id:
                    self._supersede(history.room_id, other.id, principal)
            return stored, commit

    def preview_target(
        self, principal: str, history: RoomHistory, request_id: str
    ) -> tuple[RoomDefinition, Commit]:
        """The definition to run a requested computation in, for its only affected owner."""
        _, commit = self._pending(history, request_id, principal)
        applied = apply_commit(history.current, commit)
        owners = {a.lower() for g in approver_groups(applied, commit) for a in g.approvers}
        if owners != {principal.lower()}:
            raise PermissionDeniedError(
                "only the one data owner a request affects may preview its result before "
                f"approving; this request affects {len(owners)} data owner(s)"
                + ("" if principal.lower() in owners else f", not including {principal}")
            )
        if not commit.nodes:
            raise ConflictError("the request adds no computation to preview", code="no_preview")
        return applied, commit

    # -- helpers --------------------------------------------------------------------------
    def _pending(
        self, history: RoomHistory, request_id: str, principal: str
    ) -> tuple[RequestRecord, Commit]:
        record, commit = self.request(history, request_id)
        status = self._status(history.room_id, record)
        if status != RequestStatus.PENDING:
            raise ConflictError(
                f"request {record.id} is {status}, no longer pending", code="request_closed"
            )
        if commit.history_pin != history.pin:
            self._supersede(history.room_id, record.id, principal)
            raise ConflictError(
                f"request {record.id} was superseded: it was built on an out-of-date history of "
                "the room (another commit was integrated since); submit it again",
                code="request_superseded",
            )
        return record, commit

    def _supersede(self, room_id: str, request_id: str, principal: str) -> None:
        with self._audit.locked(room_id):
            if self._store.set_request_status(request_id, RequestStatus.SUPERSEDED):
                self._audit.append(
                    room_id,
                    user=principal,
                    action=AuditAction.REQUEST_SUPERSEDED,
                    notes=f"request {request_id} was superseded by a newer commit",
                    details={"request_id": request_id},
                )

    def _status(self, room_id: str, record: RequestRecord) -> str:
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

    def _groups(self, history: RoomHistory, commit: Commit) -> list[ApproverGroup]:
        before = history.definition_at(commit.history_pin)
        if before is None:
            return []
        try:
            return approver_groups(apply_commit(before, commit), commit)
        except DefinitionError:
            return []

    def _approval_state(
        self, history: RoomHistory, commit: Commit
    ) -> tuple[list[ApproverGroup], dict[str, int], list[str]]:
        """(approver groups, approvals as the log records them: approver → when, nodes no owner
        has approved for)."""
        groups = self._groups(history, commit)
        approvals = self._approvals(history.room_id, commit)
        missing = [g.node for g in groups if not any(e.lower() in approvals for e in g.approvers)]
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
            signed.add(approval.approver.lower())
        return signed, forged


def _summary(commit: Commit) -> str:
    parts = [f"computation {node.name}" for node in commit.nodes]
    parts += [f"analyst {g.email} of {', '.join(g.analyst_of)}" for g in commit.analysts]
    return "; ".join(parts)
