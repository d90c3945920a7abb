"""Job tickets: what a job runs and for whom, sealed by the core when the job is submitted.

Format (version 1)::

    ticket  = canonical JSON {"job_id", "room_id", "node", "submitted_by", "spec",
                              "parameters": {name: value}, "recipient_key": hex,
                              "submitted_at_ms"}
    sealed  = seal_at_rest(K, ticket, aad = "sealroom/job-ticket/v1/" || job id)
    K       = derive_key(identity storage key, purpose "job-ticket/v1")

The host stores the sealed ticket with the job (``jobs.ticket``) and can neither read nor
change it, nor move it to another job (the AAD binds the job id). The core runs a job and
releases its result from the ticket's values only: room, node, submitter, specification,
parameters, recipient key. The host's columns that repeat them are caches, compared with the
ticket whenever the core reads the job (:meth:`JobTicket.altered_columns`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sealroom.crypto import canonical_json, derive_key, open_at_rest, seal_at_rest
from sealroom.errors import ConflictError, DecryptionError
from sealroom.model.records import JobRecord

__all__ = ["JobTicket", "open_ticket"]

_AAD: Final = b"sealroom/job-ticket/v1/"
_PURPOSE: Final = "job-ticket/v1"


@dataclass(frozen=True)
class JobTicket:
    job_id: str
    room_id: str
    node: str
    submitted_by: str
    #: What else the job runs (a development node, a request preview); None: the room's node.
    spec: Mapping[str, Any] | None
    parameters: Mapping[str, str] = field(default_factory=dict)
    #: The raw X25519 key the result is sealed to.
    recipient_key: bytes = b""
    submitted_at_ms: int = 0

    def seal(self, storage_key: bytes) -> bytes:
        body = canonical_json(
            {
                "job_id": self.job_id,
                "room_id": self.room_id,
                "node": self.node,
                "submitted_by": self.submitted_by,
                "spec": dict(self.spec) if self.spec is not None else None,
                "parameters": dict(self.parameters),
                "recipient_key": self.recipient_key.hex(),
                "submitted_at_ms": self.submitted_at_ms,
            }
        )
        return seal_at_rest(_key(storage_key), body, aad=_AAD + self.job_id.encode())

    def cached_parameters(self) -> str | None:
        """The ``jobs.parameters`` column the host keeps of this ticket."""
        return json.dumps(dict(self.parameters), sort_keys=True) if self.parameters else None

    def cached_spec(self) -> str | None:
        """The ``jobs.spec`` column the host keeps of this ticket."""
        return json.dumps(dict(self.spec), sort_keys=True) if self.spec else None

    def record(self, sealed: bytes) -> JobRecord:
        """The queued job as the host stores it."""
        return JobRecord(
            id=self.job_id,
            room_id=self.room_id,
            node=self.node,
            submitted_by=self.submitted_by,
            status="queued",
            created_at_ms=self.submitted_at_ms,
            started_at_ms=None,
            finished_at_ms=None,
            attempts=0,
            error_code=None,
            error_message=None,
            result_blob=None,
            parameters=self.cached_parameters(),
            spec=self.cached_spec(),
            ticket=sealed,
        )

    def altered_columns(self, job: JobRecord) -> list[str]:
        """The host's columns of ``job`` that disagree with the ticket (names, not values)."""
        altered = [
            name
            for name, cached, sealed in (
                ("room_id", job.room_id, self.room_id),
                ("node", job.node, self.node),
                ("submitted_by", job.submitted_by, self.submitted_by),
            )
            if cached != sealed
        ]
        if _parsed(job.parameters) != (dict(self.parameters) or None):
            altered.append("parameters")
        if _parsed(job.spec) != (dict(self.spec) if self.spec else None):
            altered.append("spec")
        return altered


def open_ticket(storage_key: bytes, job: JobRecord) -> JobTicket:
    """The ticket the core sealed for ``job``; ConflictError when it is missing or altered."""
    if job.ticket is None:
        raise ConflictError(
            f"job {job.id} has no ticket sealed by this core (it was queued by an older version, "
            "or the host altered it); submit it again",
            code="job_tampered",
        )
    try:
        body = json.loads(open_at_rest(_key(storage_key), job.ticket, aad=_AAD + job.id.encode()))
        return JobTicket(
            job_id=body["job_id"],
            room_id=body["room_id"],
            node=body["node"],
            submitted_by=body["submitted_by"],
            spec=body["spec"],
            parameters=body["parameters"],
            recipient_key=bytes.fromhex(body["recipient_key"]),
            submitted_at_ms=body["submitted_at_ms"],
        )
    except (DecryptionError, ValueError, KeyError, TypeError):
        raise ConflictError(
            f"the stored ticket of job {job.id} was altered", code="job_tampered"
        ) from None


def _key(storage_key: bytes) -> bytes:
    return derive_key(storage_key, purpose=_PURPOSE)


def _parsed(column: str | None) -> object:
    if not column:
        return None
    try:
        value: object = json.loads(column)
    except ValueError:
        return column  # not JSON: never equal to what the ticket holds
    return value or None
