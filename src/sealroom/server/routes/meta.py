"""Health, version and the core's attestation document."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from sealroom._version import __version__
from sealroom.errors import BadRequestError
from sealroom.server.routes.deps import PlatformDep

router = APIRouter(tags=["meta"])

#: Client nonces are 16 to 64 bytes (hex-encoded here).
_NONCE_HEX = r"^[0-9a-f]{32,128}$"


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/v1/enclave/attestation")
def attestation(platform: PlatformDep, nonce: str = Query(pattern=_NONCE_HEX)) -> dict[str, Any]:
    try:
        raw = bytes.fromhex(nonce)
    except ValueError:
        raise BadRequestError("nonce must be hex") from None
    try:
        document = platform.core.attestation(raw)
    except ValueError:
        raise BadRequestError("nonce must be 16 to 64 bytes") from None
    wire: dict[str, Any] = document.to_wire()
    return wire
