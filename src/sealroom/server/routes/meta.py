"""Health, version and the core's attestation document."""

from __future__ import annotations

from fastapi import APIRouter, Query

from sealroom._version import __version__
from sealroom.attestation.document import AttestationDocument
from sealroom.errors import BadRequestError
from sealroom.model.wire import HealthOut
from sealroom.server.routes.deps import PlatformDep

router = APIRouter(tags=["meta"])

#: Client nonces are 16 to 64 bytes (hex-encoded here).
_NONCE_HEX = r"^[0-9a-f]{32,128}$"


@router.get("/health")
def health() -> HealthOut:
    return HealthOut(status="ok", version=__version__)


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
