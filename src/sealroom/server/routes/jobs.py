"""Jobs: submit, poll (with long-polling), fetch the sealed result.

A long-poll waits in the event loop, never in a worker thread: sixty polls once held every
thread of the pool and stalled ``/health`` and every other user for seconds. It is woken when
the core's worker finishes the job (:mod:`sealroom.server.job_watch`), so the answer leaves as
soon as the result exists (looking every 50 ms instead cost 25 ms per job on average), and it
still reads the job every :data:`~sealroom.server.job_watch.FALLBACK_POLL_SECONDS`. One user
holds at most :data:`MAX_WAITS_PER_USER` long-polls at once; past that the job's status is
answered at once and the SDK pauses before it asks again.

A result fetch may wait the same way (``?wait=``): the SDK submits, then fetches, and the answer
is the result as soon as it exists, without a status request in between. The signed fetch
reaches the core only then; a job that has not succeeded by the end of the wait is answered
``409 job_not_ready`` without it (the SDK then asks for the status, which says why).

``GET /v1/rooms/{room_id}/jobs`` lists the caller's own jobs of a room, once the core has said
the caller takes part in it (anyone else gets the core's "not found"). The list is the host's
metadata, shown to find a job again (``sealroom job list``); nothing is decided from it, and a
result fetched for a listed job is verified like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import Final

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from sealroom.crypto import KemPublicKey
from sealroom.errors import BadRequestError, ConflictError, PermissionDeniedError
from sealroom.model.principal import Principal
from sealroom.model.records import JobRecord, JobStatus
from sealroom.model.result_release import RESULT_FORMAT_HEADER, RESULT_SIGNATURE_HEADER
from sealroom.model.wire import JobOut
from sealroom.server.job_watch import FALLBACK_POLL_SECONDS
from sealroom.server.platform import Platform
from sealroom.server.routes.deps import NodeInPath, PlatformDep, PrincipalDep

router = APIRouter(tags=["jobs"])

#: Long-polls one user may hold at once.
MAX_WAITS_PER_USER: Final = 4
#: Jobs one listing returns by default, and at most: the most recent ones.
DEFAULT_JOBS_LISTED: Final = 100
MAX_JOBS_LISTED: Final = 1000


class LongPolls:
    """Who holds how many long-polls (used from the event loop only, so without a lock)."""

    def __init__(self, per_user: int = MAX_WAITS_PER_USER) -> None:
        self._per_user = per_user
        self._held: Counter[Principal] = Counter()

    def acquire(self, user: Principal) -> bool:
        if self._held[user] >= self._per_user:
            return False
        self._held[user] += 1
        return True

    def release(self, user: Principal) -> None:
        self._held[user] -= 1
        if self._held[user] <= 0:
            del self._held[user]


_X25519_HEX = r"^[0-9a-f]{64}$"


class SubmitJob(BaseModel):
    #: Values of the computation's declared parameters (strings), checked by the core.
    parameters: dict[str, str] = Field(default_factory=dict)
    recipient_public_key: str = Field(
        pattern=_X25519_HEX,
        description="the X25519 key (hex) the core will seal this job's result to, and to no "
        "other key",
    )


class FetchResult(BaseModel):
    recipient_public_key: str = Field(
        pattern=_X25519_HEX, description="the key named when the job was submitted"
    )
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
    node: NodeInPath,
    body: SubmitJob,
    platform: PlatformDep,
    user: PrincipalDep,
) -> JobOut:
    recipient = bytes.fromhex(body.recipient_public_key)
    return job_out(platform.core.submit_job(user, room_id, node, body.parameters, recipient))


@router.get("/v1/rooms/{room_id}/jobs")
async def list_jobs(
    room_id: str,
    platform: PlatformDep,
    user: PrincipalDep,
    limit: int = Query(
        default=DEFAULT_JOBS_LISTED,
        ge=1,
        le=MAX_JOBS_LISTED,
        description="how many of the most recent jobs to list",
    ),
) -> list[JobOut]:
    """The caller's own jobs of the room (computations, development runs, previews), the most
    recent ``limit``, oldest first; "not found" unless the caller takes part in the room."""
    # The core decides who takes part (commits add analysts; the host's participant table
    # holds only those of the published definition); a stranger's probe is audited there and
    # answered "not found". A participant without the status permission is still one.
    with contextlib.suppress(PermissionDeniedError):
        await run_in_threadpool(platform.core.room_status, user, room_id)
    jobs = await run_in_threadpool(platform.store.list_jobs, room_id, user.email, limit)
    return [job_out(job) for job in jobs]


@router.get("/v1/jobs/{job_id}")
async def job_status(
    job_id: str,
    request: Request,
    platform: PlatformDep,
    user: PrincipalDep,
    wait: float = Query(default=0.0, ge=0.0, description="seconds to wait for the job to finish"),
) -> JobOut:
    return job_out(await _finished_or_waited(job_id, request, platform, user, wait))


async def _finished_or_waited(
    job_id: str, request: Request, platform: Platform, user: Principal, wait: float
) -> JobRecord:
    """The job once it has finished or ``wait`` seconds have passed (at once if the user holds
    too many long-polls); "not found" unless the core lets ``user`` see it."""
    job = await run_in_threadpool(platform.core.job_status, user, job_id)
    wait = min(wait, platform.settings.max_job_wait_seconds)
    polls: LongPolls = request.app.state.long_polls
    if job.status in JobStatus.FINISHED or wait <= 0 or not polls.acquire(user):
        return job
    try:
        deadline = time.monotonic() + wait
        with platform.job_watch.watching(job_id) as finished:
            while True:
                # Cleared before each read (read again once registered: a job that finished
                # since the read above woke nobody), so a wake-up during the read is kept.
                finished.clear()
                refreshed = await run_in_threadpool(platform.store.get_job, job_id)
                if refreshed is None:
                    break
                job = refreshed
                remaining = deadline - time.monotonic()
                if job.status in JobStatus.FINISHED or remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        finished.wait(), timeout=min(FALLBACK_POLL_SECONDS, remaining)
                    )
    finally:
        polls.release(user)
    return job


@router.post(
    "/v1/jobs/{job_id}/result",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def fetch_result(
    job_id: str,
    body: FetchResult,
    request: Request,
    platform: PlatformDep,
    user: PrincipalDep,
    wait: float = Query(
        default=0.0,
        ge=0.0,
        description="seconds to wait for the job to finish first, as its status does; a job "
        "that has not succeeded by then is answered 409 job_not_ready (its status says why)",
    ),
) -> Response:
    try:
        recipient = KemPublicKey.from_hex(body.recipient_public_key).to_bytes()
    except ValueError as exc:  # e.g. all zeros: a low-order point, nothing sealed to it is secret
        raise BadRequestError(f"recipient_public_key is not a usable X25519 key: {exc}") from None
    if wait > 0:
        # Saves the status request a client otherwise makes first (a round trip per job). The
        # signed fetch reaches the core only once the job has succeeded: the core verifies it
        # then, exactly as without waiting.
        job = await _finished_or_waited(job_id, request, platform, user, wait)
        if job.status != JobStatus.SUCCEEDED:
            raise ConflictError(
                f"job {job_id} is {job.status}; its status says why", code="job_not_ready"
            )
    sealed, signature, result_format = await run_in_threadpool(
        platform.core.retrieve_result, user, job_id, recipient, body.format
    )
    return Response(
        content=sealed,
        media_type="application/octet-stream",
        headers={RESULT_SIGNATURE_HEADER: signature.hex(), RESULT_FORMAT_HEADER: result_format},
    )
