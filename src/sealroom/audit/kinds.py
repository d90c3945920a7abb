"""One dataclass per kind of audit event: the ``details`` each :class:`AuditAction` carries.

The core writes an entry from one of these (:meth:`EventKind.to_details`) and reads the room's
facts back from the same class (:func:`kind_of`, :mod:`sealroom.enclave.verified_state`,
:func:`sealroom.model.room_state.derive_room_state`), so a detail's name or type cannot drift
between writer and reader. The field names are the detail keys of the log format (a field whose
name would shadow a builtin names its key in ``metadata``); values are what
:class:`~sealroom.audit.events.AuditEvent` allows — ``str``, ``int``, ``None`` — so ε and δ are
written with ``repr`` (exact text, no float in the log).

Reading is lenient where the log is old and strict where it matters: :func:`kind_of` returns
``None`` for an entry whose details do not fit its kind (the fold then skips it, as it skipped a
missing detail before these classes existed), and a submission written before submissions named
their rate-limited nodes reads with ``rate_limited=None``.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Final, Self

from sealroom.audit.events import (
    MAX_DETAIL_VALUE_CHARS,
    MAX_DETAILS,
    AuditAction,
    AuditEvent,
    DetailValue,
)
from sealroom.errors import BadRequestError

__all__ = [
    "AccessDenied",
    "AirlockQuotaCharged",
    "CommitIntegrated",
    "DatasetKeyUsed",
    "DatasetPublished",
    "DatasetRemoved",
    "DatasetStatisticsRetrieved",
    "DatasetStatisticsShared",
    "DatasetValidated",
    "DevelopmentJobSubmitted",
    "EventKind",
    "JobCompleted",
    "JobFailed",
    "JobSubmitted",
    "PrivacyBudgetCharged",
    "RequestApproved",
    "RequestPreviewSubmitted",
    "RequestRejected",
    "RequestSubmitted",
    "RequestSuperseded",
    "ResultRetrieved",
    "RoomPublished",
    "RoomStopped",
    "Submission",
    "TamperingDetected",
    "ValidationReportRetrieved",
    "kind_of",
]

_RATE_LIMITED: Final = "rate_limited"
#: A submission's own details besides ``rate_limited…``: node, job id, recipient key,
#: parameters, and the signer and nonce of the participant's signature the core adds.
_SUBMISSION_OWN_DETAILS: Final = 6


@dataclass(frozen=True)
class EventKind:
    """The details of one kind of event; subclasses name their ``ACTION``."""

    ACTION: ClassVar[AuditAction]

    def to_details(self) -> dict[str, DetailValue]:
        return {_key(f): getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_details(cls, details: Mapping[str, DetailValue]) -> Self | None:
        """The kind's fields read back, or None if a detail is missing or of another type."""
        values: dict[str, Any] = {}
        for name, key, hint in _layout(cls):
            value = details.get(key)
            if not _fits(value, hint):
                return None
            values[name] = value
        return cls(**values)


def kind_of(event: AuditEvent) -> EventKind | None:
    """The typed details of ``event`` (None: malformed for its kind)."""
    return _KINDS[event.action].from_details(event.details)


# -- rooms ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RoomPublished(EventKind):
    ACTION = AuditAction.ROOM_PUBLISHED
    room_id: str


@dataclass(frozen=True)
class RoomStopped(EventKind):
    ACTION = AuditAction.ROOM_STOPPED


@dataclass(frozen=True)
class AccessDenied(EventKind):
    ACTION = AuditAction.ACCESS_DENIED
    action: str
    node: str | None
    reason: str


@dataclass(frozen=True)
class TamperingDetected(EventKind):
    """The host's copy of ``fact`` disagreed with the core's record (never the host's value)."""

    ACTION = AuditAction.TAMPERING_DETECTED
    fact: str


# -- datasets ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetPublished(EventKind):
    ACTION = AuditAction.DATASET_PUBLISHED
    node: str
    dataset_id: str


@dataclass(frozen=True)
class DatasetValidated(EventKind):
    ACTION = AuditAction.DATASET_VALIDATED
    node: str
    dataset_id: str
    #: "PASSED" or "FAILED".
    outcome: str


@dataclass(frozen=True)
class DatasetRemoved(EventKind):
    ACTION = AuditAction.DATASET_REMOVED
    node: str


@dataclass(frozen=True)
class ValidationReportRetrieved(EventKind):
    ACTION = AuditAction.VALIDATION_REPORT_RETRIEVED
    node: str
    dataset_id: str


@dataclass(frozen=True)
class DatasetStatisticsShared(EventKind):
    ACTION = AuditAction.DATASET_STATISTICS_SHARED
    node: str
    dataset_id: str
    #: "true" or "false".
    shared: str


@dataclass(frozen=True)
class DatasetStatisticsRetrieved(EventKind):
    ACTION = AuditAction.DATASET_STATISTICS_RETRIEVED
    node: str
    dataset_id: str
    recipient_key: str


@dataclass(frozen=True)
class DatasetKeyUsed(EventKind):
    ACTION = AuditAction.DATASET_KEY_USED
    job_id: str
    node: str
    dataset_id: str


# -- jobs -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Submission(EventKind):
    """A run submitted: it names the rate-limited nodes it counts (``rate_limited``, comma-
    separated — node names have no comma — continued in ``rate_limited_2``… when long), and its
    parameters (JSON, or its hash when long) when it has any."""

    node: str
    job_id: str
    recipient_key: str
    #: None: written before submissions named their rate-limited nodes.
    rate_limited: tuple[str, ...] | None
    parameters: str | None = None

    def to_details(self) -> dict[str, DetailValue]:
        details: dict[str, DetailValue] = {
            "node": self.node,
            "job_id": self.job_id,
            "recipient_key": self.recipient_key,
            **_rate_limited_details(self.rate_limited or ()),
        }
        if self.parameters is not None:
            details["parameters"] = self.parameters
        return details

    @classmethod
    def from_details(cls, details: Mapping[str, DetailValue]) -> Self | None:
        node, job_id, key = details.get("node"), details.get("job_id"), details.get("recipient_key")
        parameters = details.get("parameters")
        if not (isinstance(node, str) and isinstance(job_id, str) and isinstance(key, str)):
            return None
        if parameters is not None and not isinstance(parameters, str):
            return None
        return cls(node, job_id, key, _rate_limited_nodes(details), parameters)


@dataclass(frozen=True)
class JobSubmitted(Submission):
    ACTION = AuditAction.JOB_SUBMITTED


@dataclass(frozen=True)
class DevelopmentJobSubmitted(Submission):
    ACTION = AuditAction.DEVELOPMENT_JOB_SUBMITTED


@dataclass(frozen=True)
class RequestPreviewSubmitted(Submission):
    ACTION = AuditAction.REQUEST_PREVIEW_SUBMITTED


@dataclass(frozen=True)
class _JobOutcome(EventKind):
    node: str
    job_id: str
    #: "succeeded", or the failure's code.
    outcome: str


@dataclass(frozen=True)
class JobCompleted(_JobOutcome):
    ACTION = AuditAction.JOB_COMPLETED


@dataclass(frozen=True)
class JobFailed(_JobOutcome):
    ACTION = AuditAction.JOB_FAILED


@dataclass(frozen=True)
class ResultRetrieved(EventKind):
    ACTION = AuditAction.RESULT_RETRIEVED
    node: str
    job_id: str
    result_format: str = field(metadata={"key": "format"})
    recipient_key: str


@dataclass(frozen=True)
class PrivacyBudgetCharged(EventKind):
    """ε and δ as ``repr`` text (exact), with what the room had spent before the charge."""

    ACTION = AuditAction.PRIVACY_BUDGET_CHARGED
    job_id: str
    node: str
    epsilon: str
    delta: str
    spent_epsilon: str
    spent_delta: str

    @classmethod
    def of(
        cls, job_id: str, node: str, epsilon: float, delta: float, spent: tuple[float, float]
    ) -> PrivacyBudgetCharged:
        return cls(job_id, node, repr(epsilon), repr(delta), repr(spent[0]), repr(spent[1]))


@dataclass(frozen=True)
class AirlockQuotaCharged(EventKind):
    ACTION = AuditAction.AIRLOCK_QUOTA_CHARGED
    node: str
    job_id: str
    charged_bytes: int = field(metadata={"key": "bytes"})
    #: Bytes of the quota used after this charge.
    used: int


# -- requests (interactive rooms) -------------------------------------------------------------
@dataclass(frozen=True)
class RequestSubmitted(EventKind):
    ACTION = AuditAction.REQUEST_SUBMITTED
    request_id: str
    #: Comma-separated node names (the computations it adds; the data nodes it affects).
    nodes: str
    affected_nodes: str


@dataclass(frozen=True)
class RequestApproved(EventKind):
    ACTION = AuditAction.REQUEST_APPROVED
    request_id: str
    #: The data nodes the approver owns, comma-separated.
    nodes: str
    #: The approver's own signature of the approval (an ``ActionProof`` header, with the key
    #: and any certificate), so anybody can check offline who approved the request.
    proof: str | None = None


@dataclass(frozen=True)
class RequestRejected(EventKind):
    ACTION = AuditAction.REQUEST_REJECTED
    request_id: str
    reason: str


@dataclass(frozen=True)
class RequestSuperseded(EventKind):
    ACTION = AuditAction.REQUEST_SUPERSEDED
    request_id: str


@dataclass(frozen=True)
class CommitIntegrated(EventKind):
    """The room's definition changed: the commit, its sequence number, the history pin after."""

    ACTION = AuditAction.COMMIT_INTEGRATED
    request_id: str
    commit_id: str
    seq: int
    history_pin: str
    nodes: str


_KINDS: Final[dict[AuditAction, type[EventKind]]] = {
    kind.ACTION: kind
    for kind in (
        RoomPublished,
        RoomStopped,
        AccessDenied,
        TamperingDetected,
        DatasetPublished,
        DatasetValidated,
        DatasetRemoved,
        ValidationReportRetrieved,
        DatasetStatisticsShared,
        DatasetStatisticsRetrieved,
        DatasetKeyUsed,
        JobSubmitted,
        DevelopmentJobSubmitted,
        RequestPreviewSubmitted,
        JobCompleted,
        JobFailed,
        ResultRetrieved,
        PrivacyBudgetCharged,
        AirlockQuotaCharged,
        RequestSubmitted,
        RequestApproved,
        RequestRejected,
        RequestSuperseded,
        CommitIntegrated,
    )
}


# -- helpers ----------------------------------------------------------------------------------
def _key(f: Any) -> str:
    return str(f.metadata.get("key", f.name))


#: Each kind's (field, detail key, type), computed once per kind (the fold reads every entry).
_LAYOUTS: dict[type[EventKind], tuple[tuple[str, str, Any], ...]] = {}


def _layout(kind: type[EventKind]) -> tuple[tuple[str, str, Any], ...]:
    layout = _LAYOUTS.get(kind)
    if layout is None:
        hints = typing.get_type_hints(kind)
        layout = tuple((f.name, _key(f), hints[f.name]) for f in fields(kind))
        _LAYOUTS[kind] = layout
    return layout


def _fits(value: DetailValue, hint: Any) -> bool:
    if hint is str:
        return isinstance(value, str)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    # str | None: the only optional detail type a kind declares.
    return value is None or isinstance(value, str)


def _rate_limited_details(nodes: Sequence[str]) -> dict[str, DetailValue]:
    chunks: list[str] = []
    for name in nodes:
        if chunks and len(chunks[-1]) + 1 + len(name) <= MAX_DETAIL_VALUE_CHARS:
            chunks[-1] += "," + name
        else:
            chunks.append(name)
    if len(chunks) > MAX_DETAILS - _SUBMISSION_OWN_DETAILS:
        raise BadRequestError("this run counts too many rate-limited computations to record")
    details: dict[str, DetailValue] = {_RATE_LIMITED: chunks[0] if chunks else ""}
    for index, chunk in enumerate(chunks[1:], start=2):
        details[f"{_RATE_LIMITED}_{index}"] = chunk
    return details


def _rate_limited_nodes(details: Mapping[str, DetailValue]) -> tuple[str, ...] | None:
    first = details.get(_RATE_LIMITED)
    if not isinstance(first, str):
        return None
    names = [name for name in first.split(",") if name]
    index = 2
    while isinstance(more := details.get(f"{_RATE_LIMITED}_{index}"), str):
        names.extend(name for name in more.split(",") if name)
        index += 1
    return tuple(names)
