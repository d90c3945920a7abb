"""Health, readiness, metrics, version and the core's attestation document.

``/health`` (liveness) answers while the process serves HTTP. ``/ready`` (readiness) answers 200
only while the platform is open — the core's identity unsealed, every job worker running, the
metadata database answering — and 503 otherwise (starting, stopping, a worker dead): a load
balancer sends traffic, and an orchestrator restarts, on these. ``/metrics`` is Prometheus'
text format, for loopback clients or the bearer of ``SEALROOM_METRICS_TOKEN``
(:mod:`sealroom.server.observability`). The last two are monitoring's, not the API's: they are
left out of the OpenAPI document.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from sealroom._version import __version__
from sealroom.attestation.document import AttestationDocument
from sealroom.errors import BadRequestError, PermissionDeniedError
from sealroom.model.wire import HealthOut
from sealroom.server.observability import metrics_allowed
from sealroom.server.platform import Platform
from sealroom.server.routes.deps import PlatformDep

router = APIRouter(tags=["meta"])

#: Client nonces are 16 to 64 bytes (hex-encoded here).
_NONCE_HEX = r"^[0-9a-f]{32,128}$"


@router.get("/health")
def health() -> HealthOut:
    return HealthOut(status="ok", version=__version__)


class ReadyOut(BaseModel):
    status: Literal["ready", "not_ready"]
    #: Why not, in words (empty when ready); nothing of any room or user.
    reasons: list[str]


@router.get("/ready", include_in_schema=False)
def ready(request: Request) -> JSONResponse:
    platform: Platform | None = getattr(request.app.state, "platform", None)
    reasons = _not_ready(platform)
    body = ReadyOut(status="not_ready" if reasons else "ready", reasons=reasons)
    return JSONResponse(
        body.model_dump(),
        status_code=503 if reasons else 200,
        headers={"Cache-Control": "no-store"},
    )


def _not_ready(platform: Platform | None) -> list[str]:
    if platform is None:
        return ["the platform is not open (starting or stopped)"]
    reasons = []
    if not platform.opened.workers.running():
        reasons.append("the job workers are not all running (stopping, or one died)")
    try:
        with platform.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; named, not raised
        reasons.append(f"the metadata database does not answer ({type(exc).__name__})")
    return reasons


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, platform: PlatformDep) -> Response:
    token = platform.settings.metrics_token.get_secret_value()
    client = request.client.host if request.client is not None else None
    if not metrics_allowed(client, request.headers, token):
        raise PermissionDeniedError(
            "/metrics needs the bearer token SEALROOM_METRICS_TOKEN"
            if token
            else "/metrics answers loopback clients only (set SEALROOM_METRICS_TOKEN to reach "
            "it from elsewhere)"
        )
    content, content_type = platform.metrics.exposition()
    return Response(content, media_type=content_type, headers={"Cache-Control": "no-store"})


@router.get("/v1/enclave/attestation")
def attestation(
    platform: PlatformDep, nonce: str = Query(pattern=_NONCE_HEX)
) -> AttestationDocument:
    try:
        raw = bytes.fromhex(nonce)
    except ValueError:
        raise BadRequestError("nonce must be hex") from None
    try:
        return platform.core.attestation(raw)
    except ValueError:
        raise BadRequestError("nonce must be 16 to 64 bytes") from None
