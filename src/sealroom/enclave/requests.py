"""Interactive rooms: requests to change a room, their approvals, integration and previews.

The host stores requests, approvals and integrated commits (:mod:`sealroom.storage.requests`);
the core trusts none of it (:mod:`.request_views` reads them as the audit log records them, and
:mod:`.history` verifies integrated commits):

* an integrated commit counts only with the core's signature over (room, sequence, pin after,
  commit), and the sequence of commits must be exactly the one the room's audit log records
  (``COMMIT_INTEGRATED`` entries) — a host that drops or reorders commits is refused;
* an approval is made only when the approver asks, after checking they own an affected data
  node, and counts only as the room's audit log records it (``REQUEST_APPROVED``);
* a request applies only on top of the history pin it was built on (optimistic concurrency):
  once another commit is integrated, every other pending request is superseded.

Every step (submit, approve, reject, supersede, integrate, preview) is authorised first
(:mod:`.authorize`) and appended to the room's audit log; notes name requests by id and nodes by
name, never a data value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from sealroom.audit import kinds
from sealroom.enclave.authorize import Authorized
from sealroom.enclave.context import CoreContext
from sealroom.enclave.history import RoomHistory, check_computations
from sealroom.enclave.jobs import queue_job
from sealroom.errors import (
    CommitRaceError,
    ConflictError,
    DefinitionError,
    PermissionDeniedError,
)
from sealroom.model import signed_actions
from sealroom.model.commits import (
    Commit,
    apply_commit,
    approval_message,
    approver_groups,
    commit_record_message,
    next_history_pin,
    parse_commit,
)
from sealroom.model.definition import RoomDefinition, SqlNode
from sealroom.model.policy import Action
from sealroom.model.principal import Principal, normalise_email
from sealroom.model.records import (
    AuditRow,
    CommitRecord,
    JobRecord,
    RequestRecord,
    RequestStatus,
    now_ms,
)
from sealroom.model.wire import CommitOut, RequestOut

__all__ = [
    "approve_request",
    "commits",
    "get_request",
    "integrate_request",
    "list_requests",
    "preview_request",
    "preview_target",
    "reject_request",
    "submit_request",
]

#: A rejection reason is shown to every participant: a sentence, not a document.
MAX_REJECTION_CHARS = 1_000
#: Control characters and line separators (the audit log is one line per event).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def submit_request(
    core: CoreContext, principal: Principal, room_id: str, commit_data: object
) -> RequestOut:
    """Propose a commit (computations, analysts and data owners added, roles withdrawn),
    approved by the owners it affects."""
    allowed = core.authority.authorize(
        principal,
        room_id,
        Action.SUBMIT_REQUEST,
        call=signed_actions.submit_request(room_id, commit_data),
    )
    request_id = _submit(core, allowed, commit_data)
    return core.ledger.view(allowed.history, request_id)


def list_requests(core: CoreContext, principal: Principal, room_id: str) -> list[RequestOut]:
    allowed = core.authority.authorize(principal, room_id, Action.LIST_REQUESTS)
    return core.ledger.list_all(allowed.history)


def get_request(
    core: CoreContext, principal: Principal, room_id: str, request_id: str
) -> RequestOut:
    allowed = core.authority.authorize(principal, room_id, Action.LIST_REQUESTS)
    return core.ledger.view(allowed.history, request_id)


def commits(core: CoreContext, principal: Principal, room_id: str) -> list[CommitOut]:
    """The room's integrated commits, in order."""
    allowed = core.authority.authorize(principal, room_id, Action.RETRIEVE_DEFINITION)
    return core.ledger.commits(allowed.history)


def approve_request(
    core: CoreContext, principal: Principal, room_id: str, request_id: str
) -> RequestOut:
    """Sign ``principal``'s approval (they must own a data node the request affects)."""
    allowed = core.authority.authorize(
        principal,
        room_id,
        Action.REVIEW_REQUEST,
        call=signed_actions.approve_request(room_id, request_id),
    )
    with core.authority.denials_audited(allowed):
        _approve(core, allowed, request_id)
    return core.ledger.view(allowed.history, request_id)


def reject_request(
    core: CoreContext, principal: Principal, room_id: str, request_id: str, reason: str
) -> RequestOut:
    """Reject (an affected data owner) or withdraw (the requester) a pending request."""
    allowed = core.authority.authorize(
        principal,
        room_id,
        Action.REVIEW_REQUEST,
        call=signed_actions.reject_request(room_id, request_id, reason),
    )
    with core.authority.denials_audited(allowed):
        _reject(core, allowed, request_id, reason)
    return core.ledger.view(allowed.history, request_id)


def integrate_request(
    core: CoreContext, principal: Principal, room_id: str, request_id: str
) -> RequestOut:
    """Apply an approved request: the room's definition changes, for everybody."""
    allowed = core.authority.authorize(
        principal,
        room_id,
        Action.INTEGRATE_REQUEST,
        call=signed_actions.integrate_request(room_id, request_id),
    )
    history = allowed.history
    record, commit = _integrate(core, allowed, request_id)
    updated = RoomHistory(
        room_id,
        history.base,
        (*history.commits, commit),
        (*history.records, record),
        (*history.pins, record.history_pin),
    )
    core.authority.remember(updated)
    return core.ledger.view(updated, request_id)


def preview_request(
    core: CoreContext,
    principal: Principal,
    room_id: str,
    request_id: str,
    parameters: Mapping[str, str] | None,
    recipient_public_key: bytes,
) -> JobRecord:
    """Run the requested computation for its only affected data owner, before approving."""
    allowed = core.authority.authorize(
        principal,
        room_id,
        Action.REVIEW_REQUEST,
        call=signed_actions.preview_request(room_id, request_id, parameters, recipient_public_key),
    )
    with core.authority.denials_audited(allowed):
        applied, commit = preview_target(core, principal, allowed.history, request_id)
    target = commit.nodes[-1].name
    spec = {
        "kind": "request_preview",
        "request_id": request_id,
        "sql": isinstance(applied.result_source(target), SqlNode),
    }
    return queue_job(
        core,
        allowed,
        applied,
        target,
        parameters,
        recipient_public_key,
        spec=spec,
        kind=kinds.RequestPreviewSubmitted,
        notes=f"previewed computation {target} of request {request_id}",
    )


# -- the steps, once authorised ---------------------------------------------------------------
def _submit(core: CoreContext, allowed: Authorized, data: object) -> str:
    principal, history = allowed.principal, allowed.history
    commit = parse_commit(data)
    if commit.room_id != history.room_id:
        raise DefinitionError(f"the request is for room {commit.room_id}, not this one")
    if not principal.is_named(commit.requester):
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

    def write(audit: Sequence[AuditRow]) -> None:
        if not core.host.insert_request(
            commit.commit_id,
            history.room_id,
            commit.canonical_bytes(),
            principal.email,
            audit=audit,
        ):
            raise ConflictError(
                f"request {commit.commit_id} was already submitted", code="request_exists"
            )

    core.audit.append(
        history.room_id,
        user=principal.email,
        notes=f"requested {_summary(commit)} (request {commit.commit_id}); approvers: "
        + (", ".join(f"owners of {g.node}" for g in groups) or "none (no data affected)"),
        event=kinds.RequestSubmitted(
            commit.commit_id,
            ",".join(node.name for node in commit.nodes),
            ",".join(g.node for g in groups),
        ),
        proof=allowed.proof,
        write=write,
    )
    return commit.commit_id


def _approve(core: CoreContext, allowed: Authorized, request_id: str) -> None:
    principal, history = allowed.principal, allowed.history
    record, commit = _pending(core, history, request_id, principal)
    groups = core.ledger.groups(history, commit)
    mine = [g.node for g in groups if any(principal.is_named(a) for a in g.approvers)]
    if not mine:
        raise PermissionDeniedError(
            f"{principal} owns no data node this request affects "
            f"({', '.join(g.node for g in groups) or 'none'}): only their data owners approve"
        )
    message = approval_message(
        history.room_id, commit.commit_id, commit.history_pin, principal.email
    )
    signature = core.identity.signing_key.sign(message)
    core.audit.append(
        history.room_id,
        user=principal.email,
        notes=f"approved request {record.id} as data owner of {', '.join(mine)}",
        event=kinds.RequestApproved(
            record.id,
            ",".join(mine),
            None if allowed.proof is None else allowed.proof.to_header(),
        ),
        proof=allowed.proof,
        write=lambda audit: core.host.add_approval(
            record.id, principal.email, signature, audit=audit
        ),
    )


def _reject(core: CoreContext, allowed: Authorized, request_id: str, reason: str) -> None:
    principal, history = allowed.principal, allowed.history
    record, commit = _pending(core, history, request_id, principal)
    groups = core.ledger.groups(history, commit)
    is_approver = any(principal.is_named(a) for g in groups for a in g.approvers)
    is_requester = principal.is_named(record.requester)
    if not is_approver and not is_requester:
        raise PermissionDeniedError(
            f"{principal} may not reject request {record.id}: only the data owners it "
            "affects, or its requester (to withdraw it), may"
        )
    reason = _CONTROL.sub(" ", reason).strip()[:MAX_REJECTION_CHARS]

    def write(audit: Sequence[AuditRow]) -> None:
        if not core.host.set_request_status(
            record.id,
            RequestStatus.REJECTED,
            rejected_by=principal.email,
            rejection=reason,
            audit=audit,
        ):
            raise ConflictError(f"request {record.id} is no longer pending", code="request_closed")

    core.audit.append(
        history.room_id,
        user=principal.email,
        notes=f"{'withdrew' if is_requester else 'rejected'} request {record.id}",
        event=kinds.RequestRejected(record.id, reason[:500]),
        proof=allowed.proof,
        write=write,
    )


def _integrate(
    core: CoreContext, allowed: Authorized, request_id: str
) -> tuple[CommitRecord, Commit]:
    """Check the approvals and store the commit; the caller then swaps in the new history."""
    principal, history = allowed.principal, allowed.history
    with core.integrating:
        record, commit = _pending(core, history, request_id, principal)
        _, _, missing = core.ledger.approval_state(history, commit)
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
            signature=core.identity.signing_key.sign(
                commit_record_message(history.room_id, sequence, canonical, pin_after)
            ),
            integrated_by=principal.email,
            integrated_at_ms=now_ms(),
        )
        with core.audit.locked(history.room_id):
            try:
                # The commit, its request's status and its entry in one host transaction: a
                # commit the log lacks would make the next core refuse the room's history.
                core.audit.append(
                    history.room_id,
                    user=principal.email,
                    notes=f"integrated request {record.id} ({_summary(commit)}) as commit "
                    f"{sequence}",
                    event=kinds.CommitIntegrated(
                        record.id,
                        commit.commit_id,
                        sequence,
                        pin_after,
                        ",".join(node.name for node in commit.nodes),
                    ),
                    proof=allowed.proof,
                    write=lambda audit: core.host.integrate_commit(stored, audit=audit),
                )
            except CommitRaceError:
                _supersede(core, history.room_id, record.id, principal)
                raise ConflictError(
                    f"request {record.id} was superseded: another commit was integrated first",
                    code="request_superseded",
                ) from None
        for other in core.host.list_requests(history.room_id):
            if other.status == RequestStatus.PENDING and other.id != record.id:
                _supersede(core, history.room_id, other.id, principal)
        return stored, commit


def preview_target(
    core: CoreContext, principal: Principal, history: RoomHistory, request_id: str
) -> tuple[RoomDefinition, Commit]:
    """The definition to run a requested computation in, for its only affected owner."""
    _, commit = _pending(core, history, request_id, principal)
    applied = apply_commit(history.current, commit)
    owners = {normalise_email(a) for g in approver_groups(applied, commit) for a in g.approvers}
    if owners != {principal.email}:
        raise PermissionDeniedError(
            "only the one data owner a request affects may preview its result before "
            f"approving; this request affects {len(owners)} data owner(s)"
            + ("" if principal.email in owners else f", not including {principal}")
        )
    if not commit.nodes:
        raise ConflictError("the request adds no computation to preview", code="no_preview")
    return applied, commit


def _pending(
    core: CoreContext, history: RoomHistory, request_id: str, principal: Principal
) -> tuple[RequestRecord, Commit]:
    record, commit = core.ledger.request(history, request_id)
    status = core.ledger.status(history.room_id, record)
    if status != RequestStatus.PENDING:
        raise ConflictError(
            f"request {record.id} is {status}, no longer pending", code="request_closed"
        )
    if commit.history_pin != history.pin:
        _supersede(core, history.room_id, record.id, principal)
        raise ConflictError(
            f"request {record.id} was superseded: it was built on an out-of-date history of "
            "the room (another commit was integrated since); submit it again",
            code="request_superseded",
        )
    return record, commit


def _supersede(core: CoreContext, room_id: str, request_id: str, principal: Principal) -> None:
    def write(audit: Sequence[AuditRow]) -> None:
        if not core.host.set_request_status(request_id, RequestStatus.SUPERSEDED, audit=audit):
            raise ConflictError(f"request {request_id} is no longer pending", code="request_closed")

    try:
        core.audit.append(
            room_id,
            user=principal.email,
            notes=f"request {request_id} was superseded by a newer commit",
            event=kinds.RequestSuperseded(request_id),
            write=write,
        )
    except ConflictError as exc:
        if exc.code != "request_closed":
            raise
        # Closed meanwhile: nothing to supersede, and no entry written.


def _summary(commit: Commit) -> str:
    parts = [f"computation {node.name}" for node in commit.nodes]
    parts += [f"analyst {g.email} of {', '.join(g.analyst_of)}" for g in commit.analysts]
    parts += [f"data owner {g.email} of {', '.join(g.data_owner_of)}" for g in commit.owners]
    parts += [
        f"withdrawing {w.email} from " + ", ".join((*w.data_owner_of, *w.analyst_of))
        for w in commit.withdrawals
    ]
    parts += [
        f"recognising {i.email} by " + (f"key {i.key[:16]}" if i.key else f"trust root {i.root}")
        for i in commit.identities
    ]
    return "; ".join(parts)
