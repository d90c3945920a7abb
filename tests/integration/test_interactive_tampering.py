"""A malicious host against interactive rooms: forged approvals, dropped or altered commits.

The host stores requests, approvals and commits; none of it counts without the core's
signature, and the sequence of commits must be the one the audit log records.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, insert
from starlette.testclient import TestClient

import sealroom as sr
from sealroom.errors import ConflictError, VerificationError
from sealroom.server.app import create_app
from sealroom.storage import schema as t
from sealroom.storage.metadata import now_ms
from tests.integration.conftest import (
    ANALYST,
    BANK,
    INSURER,
    InProcessPlatform,
    make_settings,
)
from tests.integration.test_interactive_rooms import _overlap_request, _three_parties

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::sealroom.errors.SimulatedAttestationWarning"),
]


def test_a_forged_approval_does_not_count(app_platform: InProcessPlatform) -> None:
    dcrs = _three_parties(app_platform.client)
    request = _overlap_request(dcrs[ANALYST])
    dcrs[BANK].get_submitted_request(request.id).approve()  # type: ignore[attr-defined]
    # The host writes an approval for the insurer, with a signature it made up.
    with app_platform.platform.store.engine.begin() as conn:
        conn.execute(
            insert(t.request_approvals).values(
                request_id=request.id,  # type: ignore[attr-defined]
                approver=INSURER,
                signature=bytes(64),
                approved_at_ms=now_ms(),
            )
        )
    view = dcrs[ANALYST].get_submitted_request(request.id)  # type: ignore[attr-defined]
    assert view.status.value == "pending"
    assert view.missing_approvals == [INSURER]
    with pytest.raises(ConflictError, match="policies") as raised:
        view.integrate()
    assert raised.value.code == "approval_missing"


def _integrated(platform: InProcessPlatform) -> tuple[str, str]:
    dcrs = _three_parties(platform.client)
    request = _overlap_request(dcrs[ANALYST])
    for email in (BANK, INSURER):
        dcrs[email].get_submitted_request(request.id).approve()  # type: ignore[attr-defined]
    request.integrate()  # type: ignore[attr-defined]
    return dcrs[BANK].id, platform.token(BANK)


def _restart(tmp_path: Path) -> TestClient:
    return TestClient(create_app(make_settings(tmp_path)))


def test_a_host_dropping_a_commit_is_refused_after_a_restart(
    app_platform: InProcessPlatform, tmp_path: Path
) -> None:
    room_id, token = _integrated(app_platform)
    app_platform.test_client.__exit__(None, None, None)
    with _restart(tmp_path) as restarted:
        platform = restarted.app.state.platform  # type: ignore[attr-defined]
        with platform.store.engine.begin() as conn:
            conn.execute(delete(t.room_commits).where(t.room_commits.c.room_id == room_id))
    with _restart(tmp_path) as restarted:
        client = sr.create_client(
            BANK, token, api_url="http://testserver", transport=restarted._transport
        )
        with pytest.raises(VerificationError, match="differ from the 1 the audit log records"):
            client.retrieve_analytics_dcr(room_id)


def test_a_host_altering_a_stored_commit_is_refused_after_a_restart(
    app_platform: InProcessPlatform, tmp_path: Path
) -> None:
    room_id, token = _integrated(app_platform)
    app_platform.test_client.__exit__(None, None, None)
    with _restart(tmp_path) as restarted:
        platform = restarted.app.state.platform  # type: ignore[attr-defined]
        with platform.store.engine.begin() as conn:
            row = conn.execute(t.room_commits.select()).one()
            commit = json.loads(row.commit)
            commit["analysts"][0]["email"] = "mallory@elsewhere.example"
            conn.execute(t.room_commits.update().values(commit=json.dumps(commit).encode()))
    with _restart(tmp_path) as restarted:
        client = sr.create_client(
            BANK, token, api_url="http://testserver", transport=restarted._transport
        )
        with pytest.raises(VerificationError, match="stored commit 1 was altered"):
            client.retrieve_analytics_dcr(room_id)


class _CommitTampering(httpx.BaseTransport):
    """A host that serves a room with its commit changed, between the core and the client."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if (
            request.method == "GET"
            and request.url.path.count("/") == 3
            and "/rooms/" in str(request.url)
        ):
            response.read()
            body = json.loads(response.content)
            if body.get("commits"):
                commit = json.loads(body["commits"][0]["commit"])
                commit["note"] = "something else"
                body["commits"][0]["commit"] = json.dumps(commit, separators=(",", ":"))
                return httpx.Response(200, json=body)
        return response


def test_the_sdk_refuses_a_commit_the_core_did_not_sign(app_platform: InProcessPlatform) -> None:
    room_id, token = _integrated(app_platform)
    client = sr.create_client(
        BANK, token, api_url="http://testserver", transport=_CommitTampering(app_platform.transport)
    )
    with pytest.raises(VerificationError):
        client.retrieve_analytics_dcr(room_id)
