"""Sealroom: an open-source, self-hostable data clean room.

The SDK's top level mirrors the seed product's (``create_client``, ``Key``,
``enclave_specifications``, ``DataRoomBuilder``, ``Permissions``); the analytics API lives in
:mod:`sealroom.analytics` and the tutorial's SQL helpers in :mod:`sealroom.sql`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sealroom._version import __version__

if TYPE_CHECKING:
    from sealroom.attestation import EnclaveSpecification, enclave_specifications
    from sealroom.client import (
        Auth,
        AuthenticationMethod,
        Client,
        JobId,
        RetrieveAuditLogResponse,
        Session,
        create_client,
    )
    from sealroom.crypto import Key
    from sealroom.errors import (
        AttestationError,
        AuthenticationError,
        BadRequestError,
        ComputationError,
        ConflictError,
        DatasetRejectedError,
        DefinitionError,
        JobTimeoutError,
        NotFoundError,
        PermissionDeniedError,
        SealroomError,
        SimulatedAttestationWarning,
        TooManyRequestsError,
        VerificationError,
    )
    from sealroom.legacy import DataRoom, DataRoomBuilder, GovernanceProtocol
    from sealroom.model.permissions import Permission, Permissions

_LAZY: dict[str, str] = {
    "AttestationError": "sealroom.errors",
    "Auth": "sealroom.client",
    "AuthenticationError": "sealroom.errors",
    "AuthenticationMethod": "sealroom.client",
    "BadRequestError": "sealroom.errors",
    "Client": "sealroom.client",
    "ComputationError": "sealroom.errors",
    "ConflictError": "sealroom.errors",
    "DatasetRejectedError": "sealroom.errors",
    "DataRoom": "sealroom.legacy",
    "DataRoomBuilder": "sealroom.legacy",
    "GovernanceProtocol": "sealroom.legacy",
    "DefinitionError": "sealroom.errors",
    "EnclaveSpecification": "sealroom.attestation",
    "JobId": "sealroom.client",
    "JobTimeoutError": "sealroom.errors",
    "Key": "sealroom.crypto",
    "NotFoundError": "sealroom.errors",
    "TooManyRequestsError": "sealroom.errors",
    "Permission": "sealroom.model.permissions",
    "PermissionDeniedError": "sealroom.errors",
    "Permissions": "sealroom.model.permissions",
    "RetrieveAuditLogResponse": "sealroom.client",
    "SealroomError": "sealroom.errors",
    "Session": "sealroom.client",
    "SimulatedAttestationWarning": "sealroom.errors",
    "VerificationError": "sealroom.errors",
    "create_client": "sealroom.client",
    "enclave_specifications": "sealroom.attestation",
}


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import sealroom.crypto` (server, CLI) stays light.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sealroom' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AttestationError",
    "Auth",
    "AuthenticationError",
    "AuthenticationMethod",
    "BadRequestError",
    "Client",
    "ComputationError",
    "ConflictError",
    "DataRoom",
    "DataRoomBuilder",
    "DatasetRejectedError",
    "DefinitionError",
    "EnclaveSpecification",
    "GovernanceProtocol",
    "JobId",
    "JobTimeoutError",
    "Key",
    "NotFoundError",
    "Permission",
    "PermissionDeniedError",
    "Permissions",
    "RetrieveAuditLogResponse",
    "SealroomError",
    "Session",
    "SimulatedAttestationWarning",
    "TooManyRequestsError",
    "VerificationError",
    "__version__",
    "create_client",
    "enclave_specifications",
]
