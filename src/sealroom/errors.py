"""The one exception hierarchy of Sealroom, shared by the server, the trusted core and the SDK.

::

    SealroomError                      base of everything we raise on purpose
    ├── ConfigurationError             bad settings, missing set-up (refuse to start)
    ├── DefinitionError                a room definition is invalid (builder and core)
    ├── CryptoError                    a cryptographic operation failed
    │   └── DecryptionError            AEAD failure: wrong key, tampering, truncation, reordering
    ├── VerificationError              a signed object failed verification
    │   └── AttestationError           the enclave's attestation document is not acceptable
    ├── RequestError                   a request was refused; carries an HTTP status and a wire code
    │   ├── BadRequestError            400  malformed or invalid input
    │   ├── AuthenticationError        401  missing or unknown API token
    │   ├── PermissionDeniedError      403  authenticated participant, action not allowed
    │   ├── NotFoundError              404  unknown, or not to be known to the caller
    │   ├── ConflictError              409  the state forbids it (room stopped, ...)
    │   ├── LimitExceededError         413  an explicit limit was hit (size, rows, time, memory)
    │   ├── TooManyRequestsError       429  a rate limit of the room; try again later
    │   └── ServerError                500  a bug or an unavailable dependency
    ├── ComputationError               a job failed (job id and a safe message)
    ├── JobTimeoutError                waiting for a job took longer than the caller allowed
    └── SandboxError                   the script sandbox refused to run, or what a script left

Invariants:

* Messages carry context (room id, node name, job id, limits) but never data values: errors cross
  the trust boundary and reach other parties.
* Every :class:`RequestError` maps to exactly one wire ``code`` so that the SDK can rebuild the
  same exception type from an RFC 9457 problem document (see :func:`error_for_code`).
"""

from __future__ import annotations

from typing import ClassVar


class SealroomError(Exception):
    """Base class of every error Sealroom raises on purpose."""


class ConfigurationError(SealroomError):
    """Settings or set-up are wrong; the process should not start."""


class DefinitionError(SealroomError):
    """A room definition is invalid. The message names the offending node, column or role."""


class CryptoError(SealroomError):
    """A cryptographic operation failed."""


class DecryptionError(CryptoError):
    """Authenticated decryption failed: wrong key; tampered, truncated or reordered data."""


class VerificationError(SealroomError):
    """A signed or hashed object did not verify (room id, audit log, signature)."""


class AttestationError(VerificationError):
    """The enclave's attestation document is not acceptable under the trusted specification."""


class RequestError(SealroomError):
    """A request was refused. ``code`` is the stable wire code, ``status`` the HTTP status."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            # A more specific code within the same class (e.g. "room_stopped" for a conflict).
            self.code = code  # type: ignore[misc]


class BadRequestError(RequestError):
    status = 400
    code = "bad_request"


class AuthenticationError(RequestError):
    status = 401
    code = "unauthenticated"


class PermissionDeniedError(RequestError):
    status = 403
    code = "permission_denied"


class NotFoundError(RequestError):
    status = 404
    code = "not_found"


class ConflictError(RequestError):
    status = 409
    code = "conflict"


class LimitExceededError(RequestError):
    status = 413
    code = "limit_exceeded"


class TooManyRequestsError(RequestError):
    """A rate limit of the room refused the request; try again later."""

    status = 429
    code = "rate_limited"


class ServerError(RequestError):
    status = 500
    code = "server_error"


class ComputationError(SealroomError):
    """A job failed. The message is the safe message produced by the trusted core."""

    def __init__(self, message: str, *, job_id: str, code: str = "computation_failed") -> None:
        super().__init__(message)
        self.job_id = job_id
        self.code = code


class JobTimeoutError(SealroomError):
    """The job did not finish within the time the caller was willing to wait."""

    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class SandboxError(SealroomError):
    """The sandbox refused to run, or refused what the script left behind.

    ``code`` is one of ``sandbox_unavailable``, ``invalid_mount``, ``invalid_runtime``,
    ``output_too_large``, ``too_many_output_files``, ``unsafe_output``. Raised inside the core
    (:mod:`sealroom.compute.sandbox`), which fails the job with this code; the SDK sees a
    :class:`ComputationError`.
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class JobFailedError(SealroomError):
    """Inside the core: a job failed for a reason the analyst may be told (code + safe message).

    The core records ``code`` and ``message`` on the job; the SDK sees a :class:`ComputationError`.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RateLimitedError(SealroomError):
    """Inside the core: a rate-limited node has used up its window (the core answers 429)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SimulatedAttestationWarning(UserWarning):
    """Emitted whenever the SDK accepts a *simulated* attestation: no hardware protects the core."""


_BY_STATUS: dict[int, type[RequestError]] = {
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


def error_for_status(status: int, message: str, code: str | None = None) -> RequestError:
    """Rebuild the exception for an HTTP error response (used by the SDK)."""
    if status == 422:
        status = 400
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else BadRequestError)
    return cls(message, code=code)
