"""The Sealroom SDK client: attested sessions, encrypted uploads, rooms and computations."""

from __future__ import annotations

from sealroom.client._client import Auth, Client, create_client
from sealroom.client._session import (
    AirlockQuotaInfo,
    JobId,
    PrivacyBudget,
    RetrieveAuditLogResponse,
    Session,
)
from sealroom.model.identities import AuthenticationMethod

__all__ = [
    "AirlockQuotaInfo",
    "Auth",
    "AuthenticationMethod",
    "Client",
    "JobId",
    "PrivacyBudget",
    "RetrieveAuditLogResponse",
    "Session",
    "create_client",
]
