"""Interactive rooms and drafts: requests, approvals, commits, development jobs, test runs.

Every route here only relays to the trusted core, which authorises, applies and audits.
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sealroom.errors import BadRequestError
from sealroom.model.wire import CommitOut, JobOut, RequestOut, TestRunOut
from sealroom.server.routes.deps import PlatformDep, PrincipalDep
from sealroom.server.routes.jobs import SubmitJob, job_out

router = APIRouter(tags=["requests"])


class SubmitRequest(BaseModel):
    commit: dict[str, Any] = Field(description="the commit (see sealroom.model.commits)")


class RejectRequest(BaseModel):
    reason: str = Field(default="", max_length=1000)


class DevelopmentJob(SubmitJob):
    node: dict[str, Any] = Field(description="a SQL, Python, R or synthetic node definition")


class TestDatasetIn(BaseModel):
    dataset_id: str = Field(pattern=r"^[0-9a-f]{64}$")
    sealed_key: str = Field(
        description="base64 HPKE ciphertext of the key, sealed for this test run of this draft"
    )


class TestRun(BaseModel):
    test_run: str = Field(
        pattern=r"^[0-9a-f]{32}$",
        description="a fresh random id (hex) the test datasets' keys are sealed for",
    )
    definition: dict[str, Any]
    test_datasets: dict[str, TestDatasetIn] = Field(default_factory=dict)
    parameters: dict[str, dict[str, str]] = Field(default_factory=dict)


@router.post("/v1/rooms/{room_id}/requests", status_code=201)
def submit_request(
    room_id: str, body: SubmitRequest, platform: PlatformDep, user: PrincipalDep
) -> RequestOut:
    return platform.core.submit_request(user, room_id, body.commit)


@router.get("/v1/rooms/{room_id}/requests")
def list_requests(room_id: str, platform: PlatformDep, user: PrincipalDep) -> list[RequestOut]:
    return platform.core.list_requests(user, room_id)


@router.get("/v1/rooms/{room_id}/requests/{request_id}")
def get_request(
    room_id: str, request_id: str, platform: PlatformDep, user: PrincipalDep
) -> RequestOut:
    return platform.core.get_request(user, room_id, request_id)


@router.post("/v1/rooms/{room_id}/requests/{request_id}/approve")
def approve_request(
    room_id: str, request_id: str, platform: PlatformDep, user: PrincipalDep
) -> RequestOut:
    return platform.core.approve_request(user, room_id, request_id)


@router.post("/v1/rooms/{room_id}/requests/{request_id}/reject")
def reject_request(
    room_id: str, request_id: str, body: RejectRequest, platform: PlatformDep, user: PrincipalDep
) -> RequestOut:
    return platform.core.reject_request(user, room_id, request_id, body.reason)


@router.post("/v1/rooms/{room_id}/requests/{request_id}/integrate")
def integrate_request(
    room_id: str, request_id: str, platform: PlatformDep, user: PrincipalDep
) -> RequestOut:
    return platform.core.integrate_request(user, room_id, request_id)


@router.post("/v1/rooms/{room_id}/requests/{request_id}/preview", status_code=202)
def preview_request(
    room_id: str,
    request_id: str,
    body: SubmitJob,
    platform: PlatformDep,
    user: PrincipalDep,
) -> JobOut:
    recipient = bytes.fromhex(body.recipient_public_key)
    return job_out(
        platform.core.preview_request(user, room_id, request_id, body.parameters, recipient)
    )


@router.get("/v1/rooms/{room_id}/commits")
def list_commits(room_id: str, platform: PlatformDep, user: PrincipalDep) -> list[CommitOut]:
    return platform.core.commits(user, room_id)


@router.post("/v1/rooms/{room_id}/development-jobs", status_code=202)
def submit_development_job(
    room_id: str, body: DevelopmentJob, platform: PlatformDep, user: PrincipalDep
) -> JobOut:
    recipient = bytes.fromhex(body.recipient_public_key)
    return job_out(
        platform.core.submit_development_job(user, room_id, body.node, body.parameters, recipient)
    )


@router.post("/v1/test-runs", response_model_exclude_none=True)
def test_run(body: TestRun, platform: PlatformDep, user: PrincipalDep) -> TestRunOut:
    """Run every computation of a draft over empty tables or the caller's test datasets."""
    datasets = {}
    for node, dataset in body.test_datasets.items():
        try:
            sealed = base64.b64decode(dataset.sealed_key, validate=True)
        except ValueError:
            raise BadRequestError("sealed_key must be base64") from None
        datasets[node] = (dataset.dataset_id, sealed)
    results = platform.core.test_computations(
        user, body.definition, datasets, body.parameters, body.test_run
    )
    return TestRunOut(results=results)
