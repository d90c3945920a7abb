"""The SDK's HTTP layer: one httpx client, bearer auth, problem documents → exceptions, retries.

A problem document's ``code`` says which exception to raise (:func:`sealroom.errors.error_for_code`:
the server's ``DefinitionError`` is the SDK's ``DefinitionError``); the status matters only for a
code the SDK does not know.

The transport is injectable (``httpx.BaseTransport``), so the whole SDK runs against the real
ASGI app in-process in tests and against a real server otherwise. Only idempotent requests are
retried (GET, PUT of a content-addressed chunk, and POSTs the caller marks ``idempotent``), on
connection errors and on 502/503/504, with exponential back-off.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from sealroom._version import __version__
from sealroom.errors import ServerError, error_for_code
from sealroom.model.signed_actions import PROOF_HEADER

DEFAULT_API_URL = "http://127.0.0.1:8765"
#: Seconds for one request; uploads and validation of large tables take long server-side.
DEFAULT_TIMEOUT_SECONDS = 600.0
RETRY_ATTEMPTS = 5
RETRY_BACKOFF_SECONDS = 0.2
_RETRY_STATUSES = frozenset({502, 503, 504})


def api_url_from_env(api_url: str | None) -> str:
    return (api_url or os.environ.get("SEALROOM_API_URL") or DEFAULT_API_URL).rstrip("/")


class ApiClient:
    """A thin wrapper over ``httpx.Client`` that speaks the Sealroom API."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.api_url = api_url
        self._http = httpx.Client(
            base_url=api_url,
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=10.0),
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": f"sealroom-sdk/{__version__}",
            },
        )

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
        """Send one request, retrying an idempotent one on transport errors and 502-504.

        ``proof`` makes the participant's signature of the action (the ``Sealroom-Proof``
        header); it is called for every attempt, since the core accepts a signature once.
        """
        retry = idempotent if idempotent is not None else method in ("GET", "PUT", "DELETE")
        attempts = RETRY_ATTEMPTS if retry else 1
        for attempt in range(attempts):
            sent = dict(headers or {})
            if proof is not None:
                sent[PROOF_HEADER] = proof()
            try:
                response = self._http.request(
                    method,
                    path,
                    json=json,
                    content=bytes(content) if isinstance(content, memoryview) else content,
                    params=params,
                    headers=sent,
                )
            except httpx.TransportError as exc:
                if attempt + 1 >= attempts:
                    raise ServerError(
                        f"cannot reach the Sealroom server at {self.api_url}: {exc}",
                        code="unreachable",
                    ) from None
            else:
                _release_body(response)
                if response.status_code not in _RETRY_STATUSES or attempt + 1 >= attempts:
                    _raise_for_problem(response)
                    return response
            time.sleep(RETRY_BACKOFF_SECONDS * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post_json(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = self.request("POST", path, json=body, **kwargs)
        return response.json() if response.content else None


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
