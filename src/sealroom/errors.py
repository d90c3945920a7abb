"""The one exception hierarchy of Sealroom, shared by the server, the trusted core and the SDK.

Every exception Sealroom raises on purpose is defined here (a unit test scans the package). The
status is the HTTP status of the problem document the server answers with; ``local`` marks an
error that never crosses the wire (see below)::

    SealroomError                             local  base of everything we raise on purpose
    ├── ConfigurationError                    local  bad settings, missing set-up (refuse to start)
    │   └── UnknownEnclaveSpecificationError  local  the SDK knows no such enclave specification
    ├── DefinitionError                       400    a room definition is invalid (builder, core)
    ├── CryptoError                           400    a cryptographic operation failed
    │   └── DecryptionError                   400    AEAD failure: wrong key, tampering, truncation
    ├── VerificationError                     500    a signed object failed verification
    │   └── AttestationError                  500    the enclave's attestation is not acceptable
    ├── RequestError                          400    a request was refused (base of the statuses)
    │   ├── BadRequestError                   400    malformed or invalid input
    │   ├── AuthenticationError               401    missing or unknown API token
    │   ├── PermissionDeniedError             403    authenticated participant, action not allowed
    │   │   └── ParticipantSignatureError     403    core: the participant's signature is refused
    │   ├── NotFoundError                     404    unknown, or not to be known to the caller
    │   ├── ConflictError                     409    the state forbids it (room stopped, ...)
    │   │   └── CommitRaceError               409    core: another commit took the sequence number
    │   ├── LimitExceededError                413    an explicit limit was hit (size, rows, time)
    │   ├── TooManyRequestsError              429    a rate limit of the room; try again later
    │   │   └── RateLimitedError              429    core: a node's rate-limit window is used up
    │   └── ServerError                       500    a bug or an unavailable dependency
    ├── ComputationError                      local  SDK: a job failed (job id, code, safe message)
    ├── JobTimeoutError                       local  SDK: waiting for a job took too long
    ├── DatasetRejectedError                  local  SDK: a file refused (its columns, its report)
    ├── AudienceRefusedError                  local  SDK: the media audience engine refused a run
    ├── JobFailedError                        local  core: a job fails (code and safe message)
    │   └── SqlExecutionError                 local  core: SQL could not run to completion
    ├── PrivacyFilterError                    local  core: the privacy filter refuses a query
    │   └── DpQueryError                      local  core: differential-privacy mode refuses it
    └── SandboxError                          local  core: the sandbox refused to run, or an output

Invariants:

* Messages carry context (room id, node name, job id, limits) but never data values: errors cross
  the trust boundary and reach other parties.
* Every class has its own stable wire ``code`` (unique in the tree; an instance may carry a more
  specific one, e.g. ``ConflictError(..., code="request_superseded")``). The server answers an
  error with a problem document carrying its status, code and message; the SDK rebuilds the same
  class from the code alone (:func:`error_for_code`). Specific codes belong to the classes that
  name a status (``BadRequestError`` … ``ServerError``): a specific code is no class's code, and
  the SDK rebuilds it from the status, which names its class.
* A ``local`` error never crosses the wire: configuration stays with the process that reads it,
  the SDK raises its own (a failed job is a :class:`ComputationError` built from the job's
  recorded code and message), and the core turns its internal errors into a job's failure code
  or a :class:`RequestError`. One that reaches the server's handler is answered as an internal
  error, without its message.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final, Literal

__all__ = [
    "AttestationError",
    "AudienceRefusedError",
    "AuthenticationError",
    "BadRequestError",
    "CommitRaceError",
    "ComputationError",
    "ConfigurationError",
    "ConflictError",
    "CryptoError",
    "DatasetRejectedError",
    "DecryptionError",
    "DefinitionError",
    "DpQueryError",
    "JobFailedError",
    "JobTimeoutError",
    "LimitExceededError",
    "NotFoundError",
    "ParticipantSignatureError",
    "PermissionDeniedError",
    "PrivacyFilterError",
    "RateLimitedError",
    "RequestError",
    "SandboxError",
    "SealroomError",
    "ServerError",
    "SimulatedAttestationWarning",
    "SqlErrorCode",
    "SqlExecutionError",
    "TooManyRequestsError",
    "UnknownEnclaveSpecificationError",
    "VerificationError",
    "crosses_the_wire",
    "error_for_code",
]


class SealroomError(Exception):
    """Base class of every error Sealroom raises on purpose.

    ``code`` is the class's stable wire code; an instance may carry a more specific one.
    ``status`` is the HTTP status the server answers with (for an error that crosses the wire).
    """

    code: str = "sealroom_error"
    status: ClassVar[int] = 500


class ConfigurationError(SealroomError):
    """Settings or set-up are wrong; the process should not start."""

    code = "configuration_error"


class UnknownEnclaveSpecificationError(ConfigurationError):
    """``enclave_specifications.versions()`` was asked for an id that is not in the catalogue."""

    code = "unknown_enclave_specification"


class DefinitionError(SealroomError):
    """A room definition is invalid. The message names the offending node, column or role."""

    code = "invalid_definition"
    status = 400


class CryptoError(SealroomError):
    """A cryptographic operation failed."""

    code = "crypto_error"
    status = 400


class DecryptionError(CryptoError):
    """Authenticated decryption failed: wrong key; tampered, truncated or reordered data."""

    code = "decryption_failed"


class VerificationError(SealroomError):
    """A signed or hashed object did not verify (room id, audit log, signature)."""

    code = "integrity_violation"
    status = 500


class AttestationError(VerificationError):
    """The enclave's attestation document is not acceptable under the trusted specification."""

    code = "attestation_refused"


class RequestError(SealroomError):
    """A request was refused. ``code`` is the stable wire code, ``status`` the HTTP status."""

    code = "request_refused"
    status = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            # A more specific code within the same class (e.g. "room_stopped" for a conflict).
            self.code = code


class BadRequestError(RequestError):
    code = "bad_request"
    status = 400


class AuthenticationError(RequestError):
    code = "unauthenticated"
    status = 401


class PermissionDeniedError(RequestError):
    code = "permission_denied"
    status = 403


class ParticipantSignatureError(PermissionDeniedError):
    """The core could not authenticate the participant by their own signature: none was sent, it
    does not verify, it was made with a key or certificate the room does not recognise for
    them, or it was used before (a replay). The message names what failed."""

    code = "participant_signature"


class NotFoundError(RequestError):
    code = "not_found"
    status = 404


class ConflictError(RequestError):
    code = "conflict"
    status = 409


class CommitRaceError(ConflictError):
    """Another commit took this sequence number first (the host refuses to store a second).

    Raised by the host's store, caught by the core, which supersedes the request and answers a
    :class:`ConflictError` with code ``request_superseded``.
    """

    code = "commit_race"


class LimitExceededError(RequestError):
    code = "limit_exceeded"
    status = 413


class TooManyRequestsError(RequestError):
    """A rate limit of the room refused the request; try again later."""

    code = "rate_limited"
    status = 429


class RateLimitedError(TooManyRequestsError):
    """Inside the core: a rate-limited node has used up its window.

    The core records the denial in the audit log and answers a :class:`TooManyRequestsError`
    with the same ``reason``.
    """

    code = "node_rate_limited"

    def __init__(self, reason: str, *, code: str | None = None) -> None:
        super().__init__(reason, code=code)
        self.reason = reason


class ServerError(RequestError):
    code = "server_error"
    status = 500


class ComputationError(SealroomError):
    """A job failed. The message is the safe message produced by the trusted core."""

    code = "computation_failed"

    def __init__(self, message: str, *, job_id: str, code: str = "computation_failed") -> None:
        super().__init__(message)
        self.job_id = job_id
        self.code = code


class JobTimeoutError(SealroomError):
    """The job did not finish within the time the caller was willing to wait."""

    code = "job_timeout"

    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class DatasetRejectedError(SealroomError):
    """A file was not provisioned to a table: its columns do not match the table's, or it failed
    validation — on the owner's machine before upload (``stage`` "local") or in the core
    (``stage`` "core"). ``report`` is the validation report when there is one; a report counts
    rows from 1 after the header row that ``header_rows`` says the file had."""

    code = "dataset_rejected"

    def __init__(
        self,
        message: str,
        *,
        stage: str,
        report: dict[str, Any] | None = None,
        header_rows: int = 0,
        dataset_id: str | None = None,
        kept_dataset_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.stage = stage
        self.report = report
        self.header_rows = header_rows
        self.dataset_id = dataset_id
        self.kept_dataset_id = kept_dataset_id


class AudienceRefusedError(SealroomError):
    """The media audience engine refused a run (an audience below the minimum audience size, a
    kind the room does not enable, a malformed definition); the message is the engine's reason,
    which never holds a data value."""

    code = "audience_refused"


class JobFailedError(SealroomError):
    """Inside the core: a job failed for a reason the analyst may be told (code + safe message).

    The core records ``code`` and ``message`` on the job; the SDK raises a
    :class:`ComputationError` with both.
    """

    code = "job_failed"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


#: The failure codes of :class:`SqlExecutionError`.
SqlErrorCode = Literal[
    "sql_timeout", "sql_memory_limit", "sql_result_too_large", "sql_error", "sql_privacy_filter"
]


class SqlExecutionError(JobFailedError):
    """SQL could not run to completion. ``message`` is safe to show the analyst (no data values).

    Raised by :func:`sealroom.compute.sql.run_sql` under its limits; ``code`` says which limit or
    refusal (:data:`SqlErrorCode`).
    """

    code: SqlErrorCode = "sql_error"

    def __init__(self, code: SqlErrorCode, message: str) -> None:
        super().__init__(code, message)


class PrivacyFilterError(SealroomError):
    """The query cannot run under the privacy filter; the message says why (query text only).

    The SQL engine reports it as a :class:`SqlExecutionError` with code ``sql_privacy_filter``.
    """

    code = "privacy_filter_refused"


class DpQueryError(PrivacyFilterError):
    """The query cannot run in differential-privacy mode; the message says why (no values)."""

    code = "dp_query_refused"


class SandboxError(SealroomError):
    """The sandbox refused to run, or refused what the script left behind.

    ``code`` is one of ``sandbox_unavailable``, ``invalid_mount``, ``invalid_runtime``,
    ``output_too_large``, ``too_many_output_files``, ``unsafe_output``. Raised inside the core
    (:mod:`sealroom.compute.sandbox`), which fails the job with this code; the SDK sees a
    :class:`ComputationError`.
    """

    code = "sandbox_refused"

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class SimulatedAttestationWarning(UserWarning):
    """Emitted whenever the SDK accepts a *simulated* attestation: no hardware protects the core."""


# -- the wire ----------------------------------------------------------------------------------

#: Every class that crosses the wire, by its code: the SDK raises one class per code.
_BY_CODE: Final[dict[str, type[SealroomError]]] = {
    cls.code: cls
    for cls in (
        DefinitionError,
        CryptoError,
        DecryptionError,
        VerificationError,
        AttestationError,
        RequestError,
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        ParticipantSignatureError,
        ConflictError,
        CommitRaceError,
        LimitExceededError,
        TooManyRequestsError,
        RateLimitedError,
        ServerError,
    )
}

#: For a code the SDK does not know (a more specific code, or a newer server's): the one class
#: under each status. 422 is FastAPI's, which the server never answers (a bad request is a 400).
_BY_STATUS: Final[dict[int, type[RequestError]]] = {
    cls.status: cls
    for cls in (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        ConflictError,
        LimitExceededError,
        TooManyRequestsError,
        ServerError,
    )
}


def crosses_the_wire(cls: type[SealroomError]) -> bool:
    """Whether the server answers ``cls`` with its own problem document (else: internal error)."""
    return _BY_CODE.get(cls.code) is cls


def error_for_code(code: str | None, message: str, status: int) -> SealroomError:
    """Rebuild the exception of a problem document (``code``, ``detail``, ``status``) for the SDK.

    The class is the one whose code this is; for a code that is no class's (a more specific
    code, e.g. ``room_stopped``, or one this SDK does not know), the request error of the status,
    carrying the code.
    """
    cls = _BY_CODE.get(code) if code is not None else None
    if cls is None:
        status = 400 if status == 422 else status
        fallback = _BY_STATUS.get(status, ServerError if status >= 500 else BadRequestError)
        return fallback(message, code=code)
    return cls(message)
