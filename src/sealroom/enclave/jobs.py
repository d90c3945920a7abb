"""Submitting jobs and telling their status: runs of a room's node, of a development node, of a
requested computation (previewed before approval).

The core seals what a job runs and to whom its result goes in a ticket the host stores but can
neither read nor change (:mod:`.job_ticket`); the host's columns of the job are caches that the
core compares with the ticket whenever it reads the job (:func:`check_unaltered`).

A submission is checked, then counted, atomically under the room's lock: its parameters against
the declared ones, the submitter's unfinished jobs against their limit, the room's rate limits
against its audit log (:mod:`.metering`) — and the submission's audit entry is what counts it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from sealroom.audit import kinds
from sealroom.audit.events import MAX_DETAIL_VALUE_CHARS
from sealroom.compute.sql import check_parameter_values
from sealroom.crypto import KemPublicKey, sha256_hex
from sealroom.enclave.authorize import Authorized
from sealroom.enclave.context import CoreContext
from sealroom.enclave.history import check_computations
from sealroom.enclave.job_ticket import JobTicket, open_ticket
from sealroom.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    TooManyRequestsError,
)
from sealroom.model import signed_actions
from sealroom.model.definition import RoomDefinition, SqlNode
from sealroom.model.development import development_definition
from sealroom.model.policy import Action, decide
from sealroom.model.principal import Principal
from sealroom.model.records import JobRecord, now_ms

__all__ = [
    "check_unaltered",
    "job_status",
    "queue_job",
    "recipient_key",
    "submit_development_job",
    "submit_job",
]


def submit_job(
    core: CoreContext,
    principal: Principal,
    room_id: str,
    node_name: str,
    parameters: Mapping[str, str] | None,
    recipient_public_key: bytes,
) -> JobRecord:
    """Queue a run of the room's node; its result will be released to
    ``recipient_public_key`` (the analyst's X25519 key) and to no other key."""
    allowed = core.authority.authorize(
        principal,
        room_id,
        Action.RUN_COMPUTATION,
        node=node_name,
        call=signed_actions.run_computation(room_id, node_name, parameters, recipient_public_key),
    )
    return queue_job(
        core,
        allowed,
        allowed.definition,
        node_name,
        parameters,
        recipient_public_key,
        spec=None,
        kind=kinds.JobSubmitted,
        notes=f"ran computation {node_name}",
    )


def submit_development_job(
    core: CoreContext,
    principal: Principal,
    room_id: str,
    node_data: object,
    parameters: Mapping[str, str] | None,
    recipient_public_key: bytes,
) -> JobRecord:
    """Run an ad-hoc computation over what ``principal`` may read, without adding it."""
    allowed = core.authority.authorize(
        principal,
        room_id,
        Action.RUN_DEVELOPMENT,
        call=signed_actions.run_development(room_id, node_data, parameters, recipient_public_key),
    )
    with core.authority.denials_audited(allowed):
        applied, node = development_definition(allowed.definition, principal.email, node_data)
        check_computations(applied, [node])
    spec = {
        "kind": "development",
        "node": node.model_dump(mode="json"),
        "sql": isinstance(applied.result_source(node.name), SqlNode),
    }
    return queue_job(
        core,
        allowed,
        applied,
        node.name,
        parameters,
        recipient_public_key,
        spec=spec,
        kind=kinds.DevelopmentJobSubmitted,
        notes=f"ran development computation {node.name} ({node.kind}, reading "
        f"{', '.join(node.dependencies) or 'nothing'})",
    )


def queue_job(
    core: CoreContext,
    allowed: Authorized,
    definition: RoomDefinition,
    target: str,
    parameters: Mapping[str, str] | None,
    recipient_public_key: bytes,
    *,
    spec: dict[str, Any] | None,
    kind: type[kinds.Submission],
    notes: str,
) -> JobRecord:
    """Check the parameters and rate limits of a job running ``target`` of ``definition``,
    queue it, audit it. Rate limits count only nodes of the room's own definition (a
    development or requested node is not the room's yet)."""
    principal, room_id = allowed.principal, allowed.room_id
    recipient = recipient_key(recipient_public_key)
    plan = definition.execution_plan(target)
    declared = list(dict.fromkeys(name for node in plan for name in node.parameters))
    values = check_parameter_values(declared, parameters or {})
    limits = [
        (node.name, node.rate_limit)
        for node in plan
        if node.rate_limit is not None and allowed.definition.node(node.name) is not None
    ]
    job_id = secrets.token_hex(16)
    audited = _audited_parameters(values) if values else None
    event = kind(target, job_id, recipient.hex(), tuple(name for name, _ in limits), audited)
    event.to_details()  # refuses now a run counting too many rate-limited nodes to record
    notes = f"{notes} (job {job_id})"
    if audited is not None:
        notes += f" with parameters {audited}"
    with core.submitting, core.audit.locked(room_id) as facts:
        unfinished = core.host.count_unfinished_jobs(principal.email)
        most = core.settings.max_unfinished_jobs_per_user
        if unfinished >= most:
            raise TooManyRequestsError(
                f"you have {unfinished} computations queued or running, the most one user "
                f"may have ({most}); wait for some to finish"
            )
        submitted_at = now_ms()
        try:
            core.meters.check_rate_limits(facts, limits, submitted_at)
        except RateLimitedError as exc:
            core.authority.audit_denial(
                principal, room_id, Action.RUN_COMPUTATION, target, exc.reason
            )
            raise TooManyRequestsError(exc.reason) from None
        ticket = JobTicket(
            job_id,
            room_id,
            target,
            principal.email,
            spec,
            values,
            recipient.to_bytes(),
            submitted_at,
        )
        job = ticket.record(ticket.seal(core.identity.storage_key))
        entry = core.audit.append(
            room_id,
            user=principal.email,
            notes=notes,
            event=event,
            proof=allowed.proof,
            write=lambda audit: core.host.insert_job(job, audit=audit),
        )
        core.host.add_node_executions(room_id, [name for name, _ in limits], entry.timestamp_ms)
    core.on_job_submitted()
    return job


def job_status(core: CoreContext, principal: Principal, job_id: str) -> JobRecord:
    """The job, if ``principal`` may see it (else "not found": the room stays unnamed)."""
    job = core.host.get_job(job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} not found")
    ticket = open_ticket(core.identity.storage_key, job)
    try:
        definition = core.authority.history(ticket.room_id)[1].current
    except NotFoundError:
        raise NotFoundError(f"job {job_id} not found") from None
    if ticket.spec is not None:
        # Development and preview jobs are their submitter's alone.
        allowed = principal.is_named(ticket.submitted_by)
    else:
        # Anyone who may run the node or fetch its results may see its jobs.
        allowed = any(
            decide(definition, principal, action, node=ticket.node).allowed
            for action in (Action.RETRIEVE_RESULT, Action.RUN_COMPUTATION)
        )
    if not allowed:
        raise NotFoundError(f"job {job_id} not found")
    check_unaltered(core, ticket, job)
    return job


def check_unaltered(core: CoreContext, ticket: JobTicket, job: JobRecord) -> None:
    """ConflictError (and a tampering report) if the host's columns of ``job`` disagree
    with its ticket: the core runs and releases a job only as it was submitted."""
    altered = ticket.altered_columns(job)
    if altered:
        core.alarm(
            ticket.room_id, f"job {job.id}", f"its {', '.join(altered)} differ from its ticket"
        )
        raise ConflictError(
            f"the host altered job {job.id} ({', '.join(altered)}); the core runs and "
            "releases a job only as it was submitted",
            code="job_tampered",
        )


def recipient_key(raw: bytes) -> KemPublicKey:
    try:
        return KemPublicKey.from_bytes(raw)
    except ValueError as exc:
        # The reason (wrong length, low-order point) is the client's own input: safe to echo.
        raise BadRequestError(f"recipient_public_key is not usable: {exc}") from None


def _audited_parameters(values: Mapping[str, str]) -> str:
    """The parameters of a run as the audit log shows them: JSON, or its hash when too long
    (an analyst's parameters are what data owners most want to see of a run)."""
    # ASCII-escaped, so no control or separator character reaches the one-line log format.
    text = json.dumps(dict(values), sort_keys=True).replace("\x7f", "\\u007f")
    return text if len(text) <= MAX_DETAIL_VALUE_CHARS else "sha256:" + sha256_hex(text.encode())
