"""The API's response shapes: one pydantic model per JSON shape, shared by core, server and SDK.

The trusted core returns these for the actions whose answer is data (a request, the datasets of
a room, a budget, …), the server's routes declare them as their response models (so the OpenAPI
document states each response exactly, and the contract tests hold the server to it), and the
SDK parses what the untrusted host relays with the same model — a field renamed on one side
cannot be missed on the other.

Invariants:

* Models are frozen and forbid extra fields: a response is exactly its shape, and a host adding
  a field the SDK does not know is refused rather than silently passed on.
* Field names are the JSON names clients have used since the first version; the SDK's public
  methods that return plain dicts return ``model.model_dump(mode="json")`` of these.
* No secret travels in these: keys are sealed (:mod:`sealroom.crypto`) or public, and results
  and validation reports are bytes answered outside JSON.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AirlockQuota",
    "AirlockQuotas",
    "ApproverGroupOut",
    "AuditEntryOut",
    "AuditLogOut",
    "CommitOut",
    "ConsistencyProofOut",
    "DatasetPublishedOut",
    "DatasetStatisticsOut",
    "HealthOut",
    "InclusionProofOut",
    "JobOut",
    "MeOut",
    "OutputColumnOut",
    "PrivacyBudgetOut",
    "PublishedDatasetOut",
    "RequestOut",
    "RoomCommitOut",
    "RoomOut",
    "RoomPublishedOut",
    "RoomStateOut",
    "RoomStatusOut",
    "TestReportOut",
    "TestRunOut",
]

RoomStatus = Literal["active", "stopped"]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# -- the service ------------------------------------------------------------------------------
class HealthOut(_Wire):
    status: Literal["ok"]
    version: str


# -- rooms ------------------------------------------------------------------------------------
class RoomPublishedOut(_Wire):
    room_id: str


class RoomCommitOut(_Wire):
    commit: str = Field(description="the commit's canonical JSON")
    signature: str = Field(description="the core's Ed25519 signature over it, hex")


class RoomOut(_Wire):
    room_id: str
    definition: str = Field(description="canonical JSON; its SHA-256 is the room id")
    signature: str = Field(description="the core's Ed25519 signature, hex")
    status: RoomStatus
    created_at_ms: int
    commits: list[RoomCommitOut] = Field(
        default_factory=list,
        description="integrated commits in order: canonical JSON and the core's signature (hex)",
    )
    history_pin: str = ""


class RoomStatusOut(_Wire):
    status: RoomStatus


class RoomStateOut(_Wire):
    state: str = Field(description="the canonical room state (sealroom.model.room_state)")
    signature: str = Field(description="the core's Ed25519 signature over it, hex")


class PrivacyBudgetOut(_Wire):
    """The room's differential-privacy budget (None: the room has none) and what is spent."""

    epsilon_budget: float | None
    epsilon_spent: float
    delta_budget: float
    delta_spent: float


class AirlockQuota(_Wire):
    limit: int = Field(description="bytes the preview node may release to you")
    used: int = Field(description="bytes charged so far")


class AirlockQuotas(_Wire):
    """The caller's use of each preview node's quota, by node (nodes the caller may run)."""

    quotas: dict[str, AirlockQuota]


# -- audit log --------------------------------------------------------------------------------
class AuditEntryOut(_Wire):
    """One audit event (:mod:`sealroom.audit.events`): its JSON form is what the log hashes."""

    # Strict: the SDK hashes what it parsed, so nothing may be coerced ("1" is not 1).
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    room_id: str
    seq: int
    timestamp_ms: int
    user: str
    action: str = Field(description="an AuditAction")
    notes: str
    details: dict[str, str | int | bool | None] = Field(
        description="identifiers and outcomes only (sealroom.audit.kinds), never data values"
    )


class AuditLogOut(_Wire):
    room_id: str
    start: int
    entries: list[AuditEntryOut]
    checkpoint: str = Field(description="the signed checkpoint (C2SP note) of the entries")


class InclusionProofOut(_Wire):
    index: int
    size: int
    proof: list[str] = Field(description="base64 hashes, RFC 9162 §2.1.3")


class ConsistencyProofOut(_Wire):
    first: int
    second: int
    proof: list[str] = Field(description="base64 hashes, RFC 9162 §2.1.4")


# -- datasets ---------------------------------------------------------------------------------
class DatasetPublishedOut(_Wire):
    room_id: str
    node: str
    dataset_id: str
    validation: str | None = Field(
        description='"PASSED" or "FAILED" once a table is validated; null for a raw file'
    )
    published: bool = Field(
        default=True,
        description="false when the dataset failed validation and the node keeps the dataset "
        "that passed before (`kept_dataset_id`); publishing with `replace_passing` replaces it",
    )
    kept_dataset_id: str | None = None
    report: dict[str, Any] | None = Field(
        default=None,
        description="the validation report (codes, counts, row numbers, never a value); the "
        "publisher's own, as `validation-report` gives it",
    )


class DatasetStatisticsOut(_Wire):
    """A dataset's summary statistics as the core releases them: sealed to the asker's key."""

    dataset_id: str
    sealed: str = Field(description="base64 HPKE ciphertext of the statistics (JSON)")
    signature: str = Field(description="the core's signature of the release, hex")


class PublishedDatasetOut(_Wire):
    node: str
    dataset_id: str
    publisher: str
    published_at_ms: int
    validation: str | None = Field(
        description='"PASSED" or "FAILED" once a table is validated; null for a raw file'
    )


# -- jobs -------------------------------------------------------------------------------------
class JobOut(_Wire):
    job_id: str
    room_id: str
    node: str
    status: str = Field(description="queued, running, succeeded or failed")
    submitted_by: str
    created_at_ms: int
    finished_at_ms: int | None
    error_code: str | None
    error_message: str | None


class OutputColumnOut(_Wire):
    name: str
    type: str = Field(description="integer, float or string: the type scripts see")
    sql_type: str | None = Field(default=None, description="SQL results: the engine's type")
    nullable: bool


class TestReportOut(_Wire):
    """How one computation of a draft ran (absent fields are left out of the JSON)."""

    __test__ = False  # not a pytest class

    node: str
    kind: str
    status: str = Field(description="success, failed or skipped (an input failed)")
    error: str | None = None
    error_code: str | None = None
    output_schema: list[OutputColumnOut] | None = Field(
        default=None, description="a table result's columns"
    )
    files: list[str] | None = Field(default=None, description="the files a script wrote")
    logs: dict[str, str] | None = Field(default=None, description="a script's stdout, stderr")


class TestRunOut(_Wire):
    __test__ = False  # not a pytest class

    results: list[TestReportOut] = Field(description="one report per compute node")


# -- requests (interactive rooms) ---------------------------------------------------------------
class ApproverGroupOut(_Wire):
    node: str
    approvers: list[str]


class RequestOut(_Wire):
    """What every participant may see of a request."""

    id: str
    room_id: str
    commit: dict[str, Any] = Field(description="the commit (sealroom.model.commits)")
    requester: str
    note: str
    history_pin: str
    status: str = Field(
        description="pending, ready_to_integrate, integrated, rejected or superseded"
    )
    created_at_ms: int
    updated_at_ms: int
    approver_groups: list[ApproverGroupOut]
    approvals: dict[str, int] = Field(description="approver → when (ms), as the log records")
    missing_approvals: list[str] = Field(description="nodes no owner has approved for yet")
    rejected_by: str | None
    rejection: str | None


class CommitOut(_Wire):
    """An integrated commit of the room's history."""

    id: str
    seq: int
    note: str
    requester: str
    nodes: list[str]
    analysts: list[dict[str, Any]]
    history_pin: str
    integrated_by: str
    integrated_at_ms: int
    commit: dict[str, Any]
    signature: str = Field(description="the core's Ed25519 signature over the commit, hex")


# -- the caller's account -----------------------------------------------------------------------
class MeOut(_Wire):
    """Whose API token authenticated the request (the SDK checks it against the e-mail it was
    given, so that one user's token cannot silently act as another's address)."""

    email: str = Field(description="the account's e-mail address, normalised")
