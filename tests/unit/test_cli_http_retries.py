"""The SDK's HTTP layer (``sealroom.client._http``), which every CLI command goes through:
retries honour ``Retry-After`` with jitter, stay bounded and never re-send a non-idempotent
request the server may have acted on; the account check asks ``/v1/me`` once.

The server never answers 429/503 with ``Retry-After`` itself (a proxy in front of it may), so
these run against an ``httpx.MockTransport``: the transport seam the SDK has for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from sealroom.client._http import (
    MAX_RETRY_AFTER_SECONDS,
    RETRY_ATTEMPTS,
    RETRY_JITTER_SECONDS,
    ApiClient,
    retry_after_seconds,
)
from sealroom.errors import AuthenticationError, ServerError, TooManyRequestsError

PROBLEM = {"detail": "slow down", "code": "too_many_requests"}


def api(
    handler: Callable[[httpx.Request], httpx.Response], account_email: str | None = None
) -> tuple[ApiClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    client = ApiClient(
        "http://testserver",
        "sr_token",
        transport=httpx.MockTransport(record),
        account_email=account_email,
    )
    return client, seen


def busy_then_ok(
    status: int, retry_after: str | None, busy_times: int = 1
) -> Callable[..., httpx.Response]:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] <= busy_times:
            headers = {} if retry_after is None else {"Retry-After": retry_after}
            return httpx.Response(status, json=PROBLEM, headers=headers)
        return httpx.Response(200, json={"ok": True})

    return handler


def test_a_post_answered_429_with_retry_after_is_sent_again_after_that_time() -> None:
    client, seen = api(busy_then_ok(429, "1"))
    started = time.monotonic()
    assert client.post_json("/v1/something", {"a": 1}) == {"ok": True}
    elapsed = time.monotonic() - started
    assert len(seen) == 2
    assert 1.0 <= elapsed < 1.0 + RETRY_JITTER_SECONDS + 1.0


def test_a_post_answered_429_without_retry_after_is_not_sent_again() -> None:
    client, seen = api(busy_then_ok(429, None))
    with pytest.raises(TooManyRequestsError, match="slow down"):
        client.post_json("/v1/something", {})
    assert len(seen) == 1


def test_a_retry_after_beyond_the_cap_is_not_waited_for() -> None:
    client, seen = api(busy_then_ok(503, str(int(MAX_RETRY_AFTER_SECONDS) + 1)))
    started = time.monotonic()
    with pytest.raises(ServerError):
        client.get_json("/v1/rooms")
    assert len(seen) == 1
    assert time.monotonic() - started < 1.0


def test_retries_are_bounded() -> None:
    client, seen = api(busy_then_ok(503, "0", busy_times=100))
    with pytest.raises(ServerError):
        client.get_json("/v1/rooms")
    assert len(seen) == RETRY_ATTEMPTS


def test_a_502_is_retried_for_a_get_but_not_for_a_post() -> None:
    client, seen = api(busy_then_ok(502, None))
    assert client.get_json("/v1/rooms") == {"ok": True}
    assert len(seen) == 2
    client, seen = api(busy_then_ok(502, None))
    with pytest.raises(ServerError):
        client.post_json("/v1/rooms", {})
    assert len(seen) == 1


def test_each_attempt_of_an_idempotent_signed_request_carries_a_fresh_proof() -> None:
    client, seen = api(busy_then_ok(503, "0"))
    proofs = iter(["first", "second"])
    client.request("PUT", "/v1/rooms/r/x", json={}, proof=lambda: next(proofs))
    assert [request.headers["Sealroom-Proof"] for request in seen] == ["first", "second"]


def test_a_signed_action_is_not_signed_again_on_the_servers_word() -> None:
    """A host answering 503 + Retry-After to a run it did submit would otherwise get a second
    signature of the run (a second charge to a rate limit or a privacy budget)."""
    client, seen = api(busy_then_ok(503, "0"))
    with pytest.raises(ServerError):
        client.request("POST", "/v1/rooms/r/nodes/n/jobs", json={}, proof=lambda: "signed")
    assert len(seen) == 1


def test_a_transport_error_is_retried_only_when_idempotent() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client, seen = api(unreachable)
    with pytest.raises(ServerError, match="cannot reach"):
        client.post_json("/v1/rooms", {})
    assert len(seen) == 1
    client, seen = api(unreachable)
    with pytest.raises(ServerError, match="cannot reach"):
        client.get_json("/v1/rooms")
    assert len(seen) == RETRY_ATTEMPTS


def test_retry_after_reads_seconds_and_http_dates() -> None:
    def answer(value: str) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": value})

    assert retry_after_seconds(answer("7")) == 7.0
    later = datetime.now(UTC) + timedelta(seconds=30)
    assert 25 < (retry_after_seconds(answer(format_datetime(later, usegmt=True))) or 0) <= 30
    past = datetime.now(UTC) - timedelta(days=1)
    assert retry_after_seconds(answer(format_datetime(past, usegmt=True))) == 0.0
    assert retry_after_seconds(answer("soon")) is None
    assert retry_after_seconds(httpx.Response(503)) is None


def account(email: str) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/me":
            return httpx.Response(200, json={"email": email})
        return httpx.Response(200, json=[])

    return handler


def test_the_account_is_checked_once_before_the_first_request() -> None:
    client, seen = api(account("alice@bank.example"), account_email="Alice@Bank.example")
    client.get_json("/v1/rooms")
    client.get_json("/v1/rooms")
    assert [request.url.path for request in seen] == ["/v1/me", "/v1/rooms", "/v1/rooms"]


def test_a_token_of_another_account_is_refused_naming_both() -> None:
    client, seen = api(account("alice@bank.example"), account_email="bob@insurer.example")
    for _ in range(2):  # refused again, never sent
        with pytest.raises(AuthenticationError) as raised:
            client.get_json("/v1/rooms")
        assert "belongs to alice@bank.example, not to bob@insurer.example" in str(raised.value)
    assert [request.url.path for request in seen] == ["/v1/me", "/v1/me"]
