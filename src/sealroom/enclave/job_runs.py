"""Running a claimed job to completion, inside the core (called by a worker; never raises).

In order: the ticket is opened and compared with the host's row (:func:`.jobs.check_unaltered`);
a job the log records as finished is not run again (a host re-queueing it); the action is
decided again on the room as it is now (it may have stopped since the job was queued); the
privacy budget is charged before the run (a failed run spends too: its failure may depend on the
data); every published dataset whose key the run uses is audited; the node runs; a preview
node's release is charged to the analyst's airlock quota; the result is sealed at rest and the
outcome audited.
"""

from __future__ import annotations

import logging

from sealroom.audit import kinds
from sealroom.crypto import seal_at_rest
from sealroom.enclave.context import CoreContext
from sealroom.enclave.job_ticket import JobTicket, open_ticket
from sealroom.enclave.jobs import check_unaltered
from sealroom.enclave.metering import Run
from sealroom.enclave.requests import preview_target
from sealroom.enclave.sources import PublishedData
from sealroom.enclave.verified_state import RoomFacts
from sealroom.errors import ConflictError, JobFailedError, SealroomError
from sealroom.model.definition import (
    PreviewNode,
    PythonNode,
    RNode,
    RoomDefinition,
    SqlNode,
    SyntheticNode,
)
from sealroom.model.development import development_definition
from sealroom.model.policy import Action, decide
from sealroom.model.principal import Principal
from sealroom.model.records import JobRecord

__all__ = ["RESULT_AAD", "execute_job"]

logger = logging.getLogger("sealroom.enclave.job_runs")

#: Binds a job's result sealed at rest to its purpose.
RESULT_AAD = b"sealroom/job-result/v1"
#: What each kind of job is decided as, when it runs.
_ACTIONS = {
    "room": Action.RUN_COMPUTATION,
    "development": Action.RUN_DEVELOPMENT,
    "request_preview": Action.REVIEW_REQUEST,
}


def execute_job(core: CoreContext, job: JobRecord) -> None:
    """Run a claimed job to completion, in one of the core's compute slots.

    A preview node's run is charged to the analyst's quota whether it succeeds (the result's
    bytes) or fails (the failure message's bytes): which failure, and at which line of a
    script, can depend on the data as a result does. Past the quota only the quota's message
    is told, which carries nothing the run chose.
    """
    with core.compute_slots:
        _execute(core, job)


def _execute(core: CoreContext, job: JobRecord) -> None:
    try:
        ticket = open_ticket(core.identity.storage_key, job)
    except ConflictError as exc:
        _report_unopenable_ticket(core, job)
        core.host.finish_job(
            job.id, succeeded=False, error_code=exc.code, error_message=exc.message
        )
        return
    try:
        check_unaltered(core, ticket, job)
        with core.audit.locked(ticket.room_id) as facts:
            finished = job.id in facts.finished_jobs
        if finished:
            core.alarm(ticket.room_id, f"job {job.id}", "the host queued it again")
            raise ConflictError(
                f"job {job.id} already finished; the host queued it again", code="job_tampered"
            )
    except ConflictError as exc:
        core.host.finish_job(
            job.id, succeeded=False, error_code=exc.code, error_message=exc.message
        )
        return
    run = Run(job.id, ticket.room_id, ticket.node, ticket.submitted_by)
    try:
        definition, room = _job_definition(core, ticket)
        _charge_privacy_budget(core, run, definition, room)
        _audit_datasets_used(core, run, definition)
        node = definition.node(run.node)
        published = PublishedData(
            run.room_id,
            lambda name: core.copies.publication(run.room_id, name),
            core.tables,
            core.reader,
        )
        try:
            result = core.runner.run(
                definition, run.node, published, parameters=dict(ticket.parameters)
            )
        except Exception as exc:  # worded once here; the job ends in the handler below
            if not isinstance(node, PreviewNode):
                raise
            code, message = core.runner.describe_failure(exc)
            core.meters.charge_airlock(run, node, len(message.encode()), failure=True)
            raise JobFailedError(code, message) from None
        if isinstance(node, PreviewNode):
            core.meters.charge_airlock(run, node, len(result.data), failure=False)
    except Exception as exc:  # noqa: BLE001 - every failure must end the job, safely worded
        code, message = core.runner.describe_failure(exc)
        with core.audit.locked(run.room_id) as facts:
            if _finished_elsewhere(core, run, facts):
                return
            core.audit.append(
                run.room_id,
                user=run.submitted_by,
                notes=f"job {job.id} failed: {code}",
                event=kinds.JobFailed(run.node, run.job_id, code),
                write=lambda audit: core.host.finish_job(
                    job.id, succeeded=False, error_code=code, error_message=message, audit=audit
                ),
            )
        return
    sealed = seal_at_rest(core.result_key(job.id), result.data, aad=RESULT_AAD)
    with core.audit.locked(run.room_id) as facts:
        if _finished_elsewhere(core, run, facts):
            return
        # The result blob first: a crash then leaves an unreferenced blob (gc drops it) and a
        # job still running (queued again), never a finished job without its result.
        blob = core.host.put_job_result(job.id, sealed)
        core.audit.append(
            run.room_id,
            user=run.submitted_by,
            notes=f"job {job.id} succeeded",
            event=kinds.JobCompleted(run.node, run.job_id, "succeeded"),
            write=lambda audit: core.host.finish_job(
                job.id, succeeded=True, result_blob=blob, audit=audit
            ),
        )


def _finished_elsewhere(core: CoreContext, run: Run, facts: RoomFacts) -> bool:
    """Whether another worker recorded this job's outcome while this one ran it (its lease
    ran out and the job was claimed again): the first outcome stands, this one is dropped."""
    if run.job_id not in facts.finished_jobs:
        return False
    logger.warning(
        "job %s finished on another worker meanwhile; this run's outcome is dropped", run.job_id
    )
    return True


def _report_unopenable_ticket(core: CoreContext, job: JobRecord) -> None:
    """Say in the audit log of the room the host files ``job`` under that its ticket cannot be
    opened — if that is a room of this core (verified): a room the host names, the core never
    creates a log for."""
    try:
        core.authority.history(job.room_id)
    except SealroomError:
        logger.warning("job %s: its ticket cannot be opened and its room is unknown", job.id)
        return
    core.alarm(job.room_id, f"job {job.id}", "its ticket is missing or was not sealed by this core")


def _job_definition(core: CoreContext, ticket: JobTicket) -> tuple[RoomDefinition, RoomDefinition]:
    """(what the job runs in, the room's own definition), decided again now: the room may have
    stopped since the job was queued."""
    record, history = core.authority.history(ticket.room_id)
    definition = history.current
    spec = dict(ticket.spec) if ticket.spec else {"kind": "room"}
    action = _ACTIONS[spec["kind"]]
    node = ticket.node if action is Action.RUN_COMPUTATION else None
    stopped = core.copies.stopped(record)
    submitter = Principal.of(ticket.submitted_by)
    decision = decide(definition, submitter, action, node=node, stopped=stopped)
    if not decision.allowed:
        raise ConflictError(f"job can no longer run: {decision.reason}", code="job_refused")
    if spec["kind"] == "development":
        definition, _ = development_definition(definition, ticket.submitted_by, spec["node"])
    elif spec["kind"] == "request_preview":
        definition, _ = preview_target(core, submitter, history, spec["request_id"])
    return definition, history.current


def _charge_privacy_budget(
    core: CoreContext, run: Run, definition: RoomDefinition, room: RoomDefinition
) -> None:
    """Spend the epsilon and delta of every DP node of the room the job runs (DP SQL,
    synthetic data, and scripts charged ``dp_epsilon``), before it runs; JobFailedError past
    the budget. A development or requested node is not the room's: it reads only data its
    runner owns or results already released, so its own noise is not the room's to pay (and a
    participant cannot drain the shared budget with it)."""
    charges: list[tuple[float, float]] = []
    for node in definition.execution_plan(run.node):
        if room.node(node.name) is None:
            continue
        if isinstance(node, SqlNode) and node.dp_epsilon is not None:
            charges.append((node.dp_epsilon, node.dp_delta))
        elif isinstance(node, SyntheticNode):
            charges.append((node.epsilon, node.delta))
        elif isinstance(node, PythonNode | RNode) and node.dp_epsilon is not None:
            # Laplace noise on counts: pure epsilon-DP, no delta.
            charges.append((node.dp_epsilon, 0.0))
    if charges:
        epsilon = sum(node_epsilon for node_epsilon, _ in charges)
        delta = sum(node_delta for _, node_delta in charges)
        core.meters.charge_privacy_budget(run, epsilon, delta, definition.privacy)


def _audit_datasets_used(core: CoreContext, run: Run, definition: RoomDefinition) -> None:
    """One entry per published dataset whose key the job makes the core use: a data owner
    can see which computation read their data, and when."""
    for node in definition.data_inputs(run.node):
        with core.audit.locked(run.room_id) as facts:
            published = facts.datasets.get(node.name)
        if published is None:
            continue
        core.audit.append(
            run.room_id,
            user=run.submitted_by,
            notes=f"job {run.job_id} ({run.node}) uses dataset {published.dataset_id} of "
            f"node {node.name}",
            event=kinds.DatasetKeyUsed(run.job_id, node.name, published.dataset_id),
        )
