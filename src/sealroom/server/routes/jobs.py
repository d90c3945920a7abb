"""Jobs: submit, poll (with long-polling), fetch the sealed result."""

from __future__ import annotations

import time

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from sealroom.errors import BadRequestError
from sealroom.server.routes.deps import PlatformDep, UserDep
from sealroom.storage.metadata import JobRecord, JobStatus

router = APIRouter(tags=["jobs"])

#: How often a long-poll looks at the job again.
_POLL_SECONDS = 0.05


class JobOut(BaseModel):
    job_id: str
    room_id: str
    node: str
    status: str
    submitted_by: str
    created_at_ms: int
    finished_at_ms: int | None
    error_code: str | None
    error_message: str | None


class SubmitJob(BaseModel):
    #: Values of the computation's declared parameters (strings), checked by the core.
    parameters: dict[str, str] = Field(default_factory=dict)


class FetchResult(BaseModel):
    recipient_public_key: str = Field(pattern=r"^[0-9a-f]{64}$")
    #: csv or arrow for SQL nodes, zip for scripts; empty means the node's default.
    format: str | None = None


def job_out(job: JobRecord) -> JobOut:
    return JobOut(
        job_id=job.id,
        room_id=job.room_id,
        node=job.node,
        status=job.status,
        submitted_by=job.submitted_by,
        created_at_ms=job.created_at_ms,
        finished_at_ms=job.finished_at_ms,
        error_code=job.error_code,
        error_message=job.error_message,
    )


@router.post("/v1/rooms/{room_id}/nodes/{node}/jobs", status_code=202)
def submit_job(
    room_id: str,
    node: str,
    platform: PlatformDep,
    user: UserDep,
    body: SubmitJob | None = None,
) -> JobOut:
    parameters = body.parameters if body is not None else None
    return job_out(platform.core.submit_job(user, room_id, node, parameters))


@router.get("/v1/jobs/{job_id}")
def job_status(
    job_id: str,
    platform: PlatformDep,
    user: UserDep,
    wait: float = Query(default=0.0, ge=0.0, description="seconds to wait for the job to finish"),
) -> JobOut:
    job = platform.core.job_status(user, job_id)
    deadline = time.monotonic() + min(wait, platform.settings.max_job_wait_seconds)
    while job.status not in JobStatus.FINISHED and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        refreshed = platform.store.get_job(job_id)
        if refreshed is None:
            break
        job = refreshed
    return job_out(job)


@router.post("/v1/jobs/{job_id}/result")
def fetch_result(job_id: str, body: FetchResult, platform: PlatformDep, user: UserDep) -> Response:
    try:
        recipient = bytes.fromhex(body.recipient_public_key)
    except ValueError:
        raise BadRequestError("recipient_public_key must be hex") from None
    sealed = platform.core.retrieve_result(user, job_id, recipient, body.format)
    return Response(content=sealed, media_type="application/octet-stream")
