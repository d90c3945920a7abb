"""Releasing a job's result: sealed to the key named at submission, signed, audited.

The result is HPKE-sealed to the recipient key named when the job was submitted (read from the
job's sealed ticket), and to no other: the key the caller names must be that key (the SDK says
which key it expects, so a mismatch is refused here rather than found later). The core signs
room, node, job, parameters, recipient key, format and the sealed bytes
(:mod:`sealroom.model.result_release`): the host can neither forge nor re-seal a result.
"""

from __future__ import annotations

from sealroom.audit import kinds
from sealroom.compute.sql import table_from_ipc, table_to_csv
from sealroom.crypto import open_at_rest, result_context, seal
from sealroom.enclave.context import CoreContext
from sealroom.enclave.job_runs import RESULT_AAD
from sealroom.enclave.job_ticket import open_ticket
from sealroom.enclave.jobs import check_unaltered, recipient_key
from sealroom.errors import (
    BadRequestError,
    ConflictError,
    DecryptionError,
    NotFoundError,
    PermissionDeniedError,
)
from sealroom.model import signed_actions
from sealroom.model.definition import SqlNode
from sealroom.model.policy import Action
from sealroom.model.principal import Principal
from sealroom.model.records import JobStatus
from sealroom.model.result_release import ResultRelease, parameters_of, sign_result_release

__all__ = ["SCRIPT_RESULT_FORMATS", "SQL_RESULT_FORMATS", "retrieve_result"]

#: Result formats by kind of node: SQL tables as CSV or Arrow; scripts' /output as a zip.
SQL_RESULT_FORMATS = frozenset({"csv", "arrow"})
SCRIPT_RESULT_FORMATS = frozenset({"zip"})


def retrieve_result(
    core: CoreContext,
    principal: Principal,
    job_id: str,
    recipient_public_key: bytes,
    result_format: str | None,
) -> tuple[bytes, bytes, str]:
    """``(sealed result, signature of its release, its format)``."""
    job = core.host.get_job(job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} not found")
    ticket = open_ticket(core.identity.storage_key, job)
    room_id, node = ticket.room_id, ticket.node
    call = signed_actions.retrieve_result(room_id, job_id, recipient_public_key, result_format)
    try:
        if ticket.spec is None:
            allowed = core.authority.authorize(
                principal, room_id, Action.RETRIEVE_RESULT, node=node, call=call
            )
            is_sql = isinstance(allowed.definition.result_source(node), SqlNode)
        else:
            # A development or preview result goes to whoever ran it, and nobody else.
            allowed = core.authority.authorize(
                principal, room_id, Action.RETRIEVE_DEFINITION, call=call
            )
            if not principal.is_named(ticket.submitted_by):
                raise NotFoundError(f"job {job_id} not found")
            is_sql = bool(ticket.spec.get("sql"))
    except NotFoundError:
        # A stranger probing a job id must not learn the room it belongs to.
        raise NotFoundError(f"job {job_id} not found") from None
    check_unaltered(core, ticket, job)
    formats = SQL_RESULT_FORMATS if is_sql else SCRIPT_RESULT_FORMATS
    result_format = result_format or ("csv" if is_sql else "zip")
    if result_format not in formats:
        raise BadRequestError(
            f"node {node!r} returns {' or '.join(sorted(formats))}, not {result_format!r}"
        )
    if job.status == JobStatus.FAILED:
        raise ConflictError(
            f"job {job_id} failed: {job.error_message}", code=job.error_code or "job_failed"
        )
    expired = job.result_blob is None and job.error_code == "result_expired"
    if job.status == JobStatus.SUCCEEDED and expired:
        # The host deleted it after its retention period (``sealroom gc``, storage/gc.py): the
        # host's word, but a host can always delete a result; say so, not "still running".
        raise ConflictError(
            f"the result of job {job_id} is no longer kept (the server deletes results after "
            "its retention period); run the computation again",
            code="result_expired",
        )
    if job.status != JobStatus.SUCCEEDED or job.result_blob is None:
        raise ConflictError(f"job {job_id} is still {job.status}", code="job_not_finished")
    # The key named at submission, from the ticket: the host can swap neither.
    recipient = recipient_key(ticket.recipient_key)
    if recipient_key(recipient_public_key) != recipient:
        raise PermissionDeniedError(
            f"the result of job {job_id} is released only to the key named when the job was "
            "submitted; fetch it from the session that submitted it"
        )
    try:
        stored = open_at_rest(
            core.result_key(job_id), core.host.job_result(job.result_blob), aad=RESULT_AAD
        )
    except DecryptionError:
        raise ConflictError(
            f"the stored result of job {job_id} was altered", code="result_corrupt"
        ) from None
    payload = table_to_csv(table_from_ipc(stored)) if result_format == "csv" else stored
    sealed = seal(recipient, payload, context=result_context(room_id, job_id, result_format))
    release = ResultRelease.of(
        room_id=room_id,
        node=node,
        job_id=job_id,
        parameters=parameters_of(ticket.cached_parameters()),
        recipient_public_key=recipient.hex(),
        result_format=result_format,
        sealed=sealed,
    )
    signature = sign_result_release(release, core.identity.signing_key)
    core.audit.append(
        room_id,
        user=principal.email,
        notes=f"retrieved the result of job {job_id} ({node})",
        event=kinds.ResultRetrieved(node, job_id, result_format, recipient.hex()),
        proof=allowed.proof,
    )
    return sealed, signature, result_format
