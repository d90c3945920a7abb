"""The SDK's HTTP layer: one httpx client, bearer auth, problem documents → exceptions, retries.

A problem document's ``code`` says which exception to raise (:func:`sealroom.errors.error_for_code`:
the server's ``DefinitionError`` is the SDK's ``DefinitionError``); the status matters only for a
code the SDK does not know.

The transport is injectable (``httpx.BaseTransport``), so the whole SDK runs against the real
ASGI app in-process in tests and against a real server otherwise.

Retries (tenacity), at most :data:`RETRY_ATTEMPTS` attempts in all:

* an idempotent request (GET, PUT of a content-addressed chunk, DELETE, and POSTs the caller
  marks ``idempotent``) is retried on connection errors and on 502/503/504, after an
  exponential back-off with random jitter (so that many clients refused at once do not all
  come back at once);
* a request answered 429 or 503 *with* ``Retry-After`` is retried after the time the server
  asked for (plus jitter) — unless it is a non-idempotent *signed action* (it carries a
  ``proof``). The host is not trusted to say it did not act: each attempt of an action is
  signed afresh, so re-sending on its word would let a lying host collect several valid
  signatures of one action (run a rate-limited or differentially private computation several
  times). Such an error is raised for the user to decide. A wait longer than
  :data:`MAX_RETRY_AFTER_SECONDS` is not waited for: the error is raised at once.

TLS: an ``https://`` server's certificate is always verified (httpx's default; the SDK has no
switch to turn it off). Against the public CAs by default, or against only the CAs of a bundle
the caller names (``ca_bundle=``, ``SEALROOM_CA_BUNDLE``: a private CA or a self-signed
certificate). A certificate that does not verify is not retried (it will not heal) and says what
to pass.

The account check: a client made for one e-mail asks ``GET /v1/me`` once, before its first
request, and refuses a token that belongs to another account
(:class:`~sealroom.errors.AuthenticationError` naming both addresses) instead of acting as
that account.
"""

from __future__ import annotations

import email.utils
import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_result,
    stop_after_attempt,
    wait_exponential_jitter,
)

from sealroom._version import __version__
from sealroom.errors import (
    AuthenticationError,
    ConfigurationError,
    ServerError,
    error_for_code,
)
from sealroom.model.principal import normalise_email
from sealroom.model.signed_actions import PROOF_HEADER

DEFAULT_API_URL = "http://127.0.0.1:8765"
#: Seconds for one request; uploads and validation of large tables take long server-side.
DEFAULT_TIMEOUT_SECONDS = 600.0
#: Attempts in all (the first and four retries).
RETRY_ATTEMPTS: Final = 5
#: The first back-off, doubled after each further failure up to RETRY_BACKOFF_MAX_SECONDS.
RETRY_BACKOFF_SECONDS: Final = 0.2
RETRY_BACKOFF_MAX_SECONDS: Final = 10.0
#: Random seconds added to every back-off, including the server's Retry-After.
RETRY_JITTER_SECONDS: Final = 0.5
#: The longest Retry-After waited for; a server asking more is answered with its error now
#: (a user at a terminal would rather know than wait minutes without a word).
MAX_RETRY_AFTER_SECONDS: Final = 60.0
#: Statuses retried for idempotent requests: the gateway or server was briefly unavailable.
_RETRY_STATUSES: Final = frozenset({502, 503, 504})
#: Statuses whose Retry-After is honoured for any request: the server did not act.
_BUSY_STATUSES: Final = frozenset({429, 503})

#: What one attempt ends with: the response, or the transport error (kept as a value, so that
#: tenacity decides on it like on a response).
_Outcome = httpx.Response | httpx.TransportError


def api_url_from_env(api_url: str | None) -> str:
    return (api_url or os.environ.get("SEALROOM_API_URL") or DEFAULT_API_URL).rstrip("/")


def tls_verification(ca_bundle: str | os.PathLike[str] | None) -> ssl.SSLContext | bool:
    """What httpx verifies server certificates with: ``ca_bundle`` (a PEM file of CA
    certificates; default ``SEALROOM_CA_BUNDLE``) alone when given, the default CAs otherwise.
    Never ``False``: there is no way to turn verification off."""
    path = ca_bundle if ca_bundle is not None else os.environ.get("SEALROOM_CA_BUNDLE") or None
    if path is None:
        return True
    try:
        return ssl.create_default_context(cafile=os.fspath(path))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"cannot use the CA bundle {os.fspath(path)}: {exc} (a PEM file of CA certificates)"
        ) from None


def _certificate_refused(error: httpx.TransportError) -> bool:
    """Whether ``error`` is a server certificate that did not verify (retrying cannot help)."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(error)


class ApiClient:
    """A thin wrapper over ``httpx.Client`` that speaks the Sealroom API.

    With ``account_email``, the first request is preceded by the account check (once per
    client; concurrent first requests wait for it).
    """

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        account_email: str | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
    ) -> None:
        self.api_url = api_url
        self._http = httpx.Client(
            base_url=api_url,
            transport=transport,
            verify=tls_verification(ca_bundle),
            timeout=httpx.Timeout(timeout, connect=10.0),
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": f"sealroom-sdk/{__version__}",
            },
        )
        #: The address the token must belong to; None once checked (or never to check).
        self._unchecked_email = account_email
        self._check_lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | memoryview | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        proof: Callable[[], str] | None = None,
    ) -> httpx.Response:
        """Send one request, retried as the module says; raise the problem it was answered with.

        ``proof`` makes the participant's signature of the action (the ``Sealroom-Proof``
        header); it is called for every attempt, since the core accepts a signature once.
        """
        if self._unchecked_email is not None:
            self._check_account()
        return self._send(
            method,
            path,
            json=json,
            content=content,
            params=params,
            headers=headers,
            idempotent=idempotent,
            proof=proof,
        )

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | memoryview | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        proof: Callable[[], str] | None = None,
    ) -> httpx.Response:
        retry_failures = (
            idempotent if idempotent is not None else method in ("GET", "PUT", "DELETE")
        )
        body = bytes(content) if isinstance(content, memoryview) else content

        def attempt() -> _Outcome:
            sent = dict(headers or {})
            if proof is not None:
                sent[PROOF_HEADER] = proof()
            try:
                response = self._http.request(
                    method, path, json=json, content=body, params=params, headers=sent
                )
            except httpx.TransportError as exc:
                return exc
            _release_body(response)
            return response

        def worth_retrying(outcome: _Outcome) -> bool:
            if isinstance(outcome, httpx.TransportError):
                return retry_failures and not _certificate_refused(outcome)
            if outcome.status_code in _BUSY_STATUSES and (retry_failures or proof is None):
                asked = retry_after_seconds(outcome)
                if asked is not None:
                    return asked <= MAX_RETRY_AFTER_SECONDS
            return retry_failures and outcome.status_code in _RETRY_STATUSES

        retrying = Retrying(
            stop=stop_after_attempt(RETRY_ATTEMPTS),
            retry=retry_if_result(worth_retrying),
            wait=_back_off,
            sleep=time.sleep,
            # Out of attempts: the last outcome is reported below, like a first one.
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )
        outcome: _Outcome = retrying(attempt)
        if isinstance(outcome, httpx.TransportError) and _certificate_refused(outcome):
            raise ServerError(
                f"the Sealroom server at {self.api_url} presented a TLS certificate that does "
                f"not verify ({outcome}): if it comes from a private CA or is self-signed, pass "
                "that CA's certificate (ca_bundle=, SEALROOM_CA_BUNDLE or --ca-bundle)",
                code="unreachable",
            )
        if isinstance(outcome, httpx.TransportError):
            raise ServerError(
                f"cannot reach the Sealroom server at {self.api_url}: {outcome}",
                code="unreachable",
            )
        _raise_for_problem(outcome)
        return outcome

    def _check_account(self) -> None:
        """Refuse a token of another account than the client's e-mail (``GET /v1/me``)."""
        with self._check_lock:
            expected = self._unchecked_email
            if expected is None:
                return  # checked meanwhile by another thread
            body = self._send("GET", "/v1/me").json()
            actual = body.get("email") if isinstance(body, dict) else None
            if not isinstance(actual, str):
                raise ServerError("the server sent a malformed account (GET /v1/me)")
            if normalise_email(actual) != normalise_email(expected):
                raise AuthenticationError(
                    f"the API token belongs to {normalise_email(actual)}, not to "
                    f"{normalise_email(expected)}: use {normalise_email(expected)}'s own token "
                    "(`sealroom user add EMAIL` makes one), or the e-mail of the token's account",
                    code="token_of_another_account",
                )
            self._unchecked_email = None

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post_json(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = self.request("POST", path, json=body, **kwargs)
        return response.json() if response.content else None


_exponential = wait_exponential_jitter(
    multiplier=RETRY_BACKOFF_SECONDS, max=RETRY_BACKOFF_MAX_SECONDS, jitter=RETRY_JITTER_SECONDS
)


def _back_off(state: RetryCallState) -> float:
    """Seconds before the next attempt: what the server asked for with ``Retry-After``, else an
    exponential back-off; random jitter added to either."""
    outcome = state.outcome.result() if state.outcome is not None else None
    if isinstance(outcome, httpx.Response):
        asked = retry_after_seconds(outcome)
        if asked is not None:
            # Not a secret: jitter only spreads the clients' return over time.
            return asked + random.uniform(0, RETRY_JITTER_SECONDS)  # noqa: S311
    return float(_exponential(state))


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The wait ``Retry-After`` asks for (RFC 9110 §10.2.3: seconds, or an HTTP date), None if
    the response has none or it is unreadable."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _release_body(response: httpx.Response) -> None:
    """Free the request body now rather than at the next cyclic garbage collection.

    httpx keeps a response and its bound stream in a reference cycle, and the response keeps the
    request, so every uploaded chunk (up to 64 MiB) would stay alive until the cyclic collector
    runs. The body has been read already; replacing the stream breaks the cycle.
    """
    response.stream = httpx.ByteStream(response.content)


def _raise_for_problem(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    detail = response.reason_phrase
    code = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = str(body.get("detail") or detail)
        code = body.get("code")
    raise error_for_code(code if isinstance(code, str) else None, detail, response.status_code)
