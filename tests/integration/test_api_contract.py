"""The API keeps its contract with hostile clients (issue 13, item 13).

A hostile request gets a 4xx problem document, never a 5xx, and every status, content type and
body is one the OpenAPI document declares. Two halves:

* Schemathesis generates requests for every operation of the document (valid and invalid ones,
  boundary values, undeclared methods, requests without a token) and checks each answer against
  the document. It runs in-process against the real app, bounded and derandomised (a fixed seed,
  a few examples per operation), with a real room published through the SDK and a real
  finished job, so that generated node names and bodies get past the lookups to the core.
* Explicit attacker requests through a real ``sealroom serve``, the ones that once answered 500:
  control characters or 3,000 characters in a node name in a URL path, and an all-zero X25519
  recipient key (a low-order point) when fetching a job's result.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.case import Case
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    SqlComputationNode,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from sealroom.server.app import create_app
from sealroom.server.settings import Settings
from tests.integration.conftest import (
    BANK,
    InProcessPlatform,
    make_settings,
    sales_room,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TOTALS = SqlComputeNodeDefinition(
    name="totals",
    query="SELECT region, SUM(amount) AS total FROM sales GROUP BY region",
    dependencies=["sales"],
)

# -- the document against the app ----------------------------------------------------------


class _Forward:
    """The ASGI app Schemathesis calls: the app of the module's platform, whose TestClient runs
    (and closes) the lifespan. Until the fixture sets it, an app that only serves the document."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # Refused before a message is read: the caller takes it for "no lifespan".
            raise RuntimeError("the platform's TestClient runs the lifespan")
        await self.app(scope, receive, send)


APP = _Forward(create_app(Settings()))
SCHEMA = schemathesis.openapi.from_asgi(
    "/openapi.json",
    APP,
    config=SchemathesisConfig.from_dict(
        {
            "seed": 13,
            # Each operation also gets Schemathesis' coverage cases (boundaries, wrong types,
            # missing fields, undeclared methods, no token): a few dozen requests, under 1 s.
            "generation": {"max-examples": 10, "deterministic": True, "database": "none"},
            # Stateful runs chain operations through links the document does not declare.
            "phases": {"stateful": {"enabled": False}},
            "checks": {
                # Bodies such as a room definition are free-form objects in the document: the
                # core refusing a well-typed but meaningless one with 400 is right.
                "positive_data_acceptance": {"enabled": False},
            },
        }
    ),
)


@dataclass(frozen=True)
class Fixtures:
    headers: dict[str, str]
    room_id: str
    #: A room the fuzzing may stop, so that the others keep running.
    expendable_room_id: str
    job_id: str


def _expendable_room(platform: InProcessPlatform) -> AnalyticsDcr:
    client = platform.client(BANK)
    b = AnalyticsDcrBuilder(client=client).with_name("expendable").with_owner(BANK)
    b.add_node_definition(
        TableDataNodeDefinition(
            name="t",
            columns=[Column(name="c", format_type=FormatType.STRING, is_nullable=False)],
            is_required=True,
        )
    )
    b.add_participant(BANK, data_owner_of=["t"])
    return client.publish_analytics_dcr(b.build())


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixtures]:
    root = tmp_path_factory.mktemp("contract")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEALROOM_STATE_DIR", str(root / "sdk-state"))
        settings = make_settings(root)
        with TestClient(create_app(settings)) as test_client:
            platform = InProcessPlatform(settings, test_client)
            dcr = sales_room(platform, [TOTALS], analyst_of=["totals"])
            totals = dcr.get_node("totals")
            assert isinstance(totals, SqlComputationNode)
            totals.run_computation_and_get_results_as_string()
            assert totals.job_id is not None
            serving_the_document, APP.app = APP.app, test_client.app
            try:
                yield Fixtures(
                    headers={"Authorization": f"Bearer {platform.token(BANK)}"},
                    room_id=dcr.id,
                    expendable_room_id=_expendable_room(platform).id,
                    job_id=totals.job_id.id,
                )
            finally:
                APP.app = serving_the_document


@SCHEMA.parametrize()
def test_every_operation_answers_as_documented(case: Case[Any], fixtures: Fixtures) -> None:
    """Also runs each authenticated operation without a token (Schemathesis' ignored_auth)."""
    parameters = case.path_parameters or {}
    # Real ids, so that requests reach the core's decisions rather than stop at "not found";
    # node names, request ids, upload ids and bodies stay generated.
    if "room_id" in parameters:
        stops = case.operation.path.endswith("/stop")
        parameters["room_id"] = fixtures.expendable_room_id if stops else fixtures.room_id
    if "job_id" in parameters:
        parameters["job_id"] = fixtures.job_id
    case.call_and_validate(headers=fixtures.headers)


def test_the_document_declares_one_error_shape_and_no_422() -> None:
    document = create_app(Settings()).openapi()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    problem = {"$ref": "#/components/schemas/Problem"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)
            errors = {"400", "404", "413", "500"}
            if path != "/health" and path != "/v1/enclave/attestation":
                # A token (SDK, CLI) or the web app's session cookie (the pages' JavaScript).
                either = [{"HTTPBearer": []}, {"WebSession": []}]
                assert operation["security"] == either, (method, path)
                errors |= {"401", "403", "409", "429"}
            for status in errors:
                content = responses[status]["content"]
                assert content == {"application/problem+json": {"schema": problem}}


# -- attackers against a real server ----------------------------------------------------------


@dataclass(frozen=True)
class Target:
    api: httpx.Client
    room_id: str
    job_id: str


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A real server with a room of BANK's, its table published and a finished SQL job (one
    for the module: the attacks change nothing, and a server takes seconds to start)."""
    root = tmp_path_factory.mktemp("attacked")
    server = start_server(root)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SEALROOM_STATE_DIR", str(root / "sdk-state"))
            token = server.add_user(BANK)
            job_id, room_id = _finished_job(sr.create_client(BANK, token, api_url=server.url))
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as api:
            yield Target(api, room_id, job_id)
    finally:
        stop_server(server)


def _finished_job(client: sr.Client) -> tuple[str, str]:
    b = AnalyticsDcrBuilder(client=client).with_name("attacked").with_owner(BANK)
    b.add_node_definition(
        TableDataNodeDefinition(
            name="sales",
            columns=[
                Column(name="region", format_type=FormatType.STRING, is_nullable=False),
                Column(name="amount", format_type=FormatType.INTEGER, is_nullable=False),
            ],
            is_required=True,
        )
    )
    b.add_node_definition(TOTALS)
    b.add_participant(BANK, data_owner_of=["sales"], analyst_of=["totals"])
    dcr = client.publish_analytics_dcr(b.build())
    sales = dcr.get_node("sales")
    assert isinstance(sales, TableDataNode)
    sales.upload_and_publish_dataset(io.BytesIO(b"north,10\nsouth,3\n"), sr.Key(), "s")
    totals = dcr.get_node("totals")
    assert isinstance(totals, SqlComputationNode)
    assert totals.run_computation_and_get_results_as_string().startswith("region,total")
    assert totals.job_id is not None
    return totals.job_id.id, dcr.id


def _assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert set(body) == {"type", "title", "status", "detail", "code"}
    assert body["status"] == status
    return body


HOSTILE_NODE_NAMES = {
    "newline": "sales%0Asales",
    "nul": "sales%00",
    "escape": "%1B%5B2J",
    "delete": "sales%7F",
    "c1 control": "sales%C2%85",
    "line separator": "sales%E2%80%A8",
    "3000 characters": "n" * 3000,
    "trailing newline": "sales%0A",
}


@pytest.mark.parametrize("node", HOSTILE_NODE_NAMES.values(), ids=HOSTILE_NODE_NAMES.keys())
def test_hostile_node_names_in_paths_are_refused_with_400(target: Target, node: str) -> None:
    base = f"/v1/rooms/{target.room_id}/nodes/{node}"
    audit_log = f"/v1/rooms/{target.room_id}/audit-log"
    logged = len(target.api.get(audit_log).json()["entries"])
    requests = [
        ("POST", f"{base}/jobs", {"parameters": {}, "recipient_public_key": "ab" * 32}),
        ("GET", f"{base}/validation-report", None),
        ("PUT", f"{base}/dataset", {"dataset_id": "0" * 64, "sealed_key": "AAAA"}),
        ("DELETE", f"{base}/dataset", None),
    ]
    for method, path, body in requests:
        response = target.api.request(method, path, json=body)
        problem = _assert_problem(response, 400)
        assert problem["code"] == "bad_request"
        assert "node" in str(problem["detail"])
    # Refused by the host before the core: nothing reached the room's audit log.
    assert len(target.api.get(audit_log).json()["entries"]) == logged


def test_an_all_zero_recipient_key_is_refused_with_400(target: Target) -> None:
    """X25519's all-zero point has low order: every secret shared with it is zero. The core
    once tried to seal the result to it and answered 500."""
    for key in ("00" * 32, "01" + "00" * 31):
        response = target.api.post(
            f"/v1/jobs/{target.job_id}/result", json={"recipient_public_key": key}
        )
        problem = _assert_problem(response, 400)
        assert problem["code"] == "bad_request"
        assert "recipient_public_key" in str(problem["detail"])
        assert "low-order point" in str(problem["detail"])


def test_an_undeclared_query_parameter_is_refused_with_400(target: Target) -> None:
    """A typo must not silently change what is read: ``?strat=5`` once read the whole log."""
    audit_log = f"/v1/rooms/{target.room_id}/audit-log"
    assert target.api.get(audit_log, params={"start": 1}).status_code == 200
    problem = _assert_problem(target.api.get(audit_log, params={"strat": 1}), 400)
    assert problem["code"] == "unknown_query_parameter"
    assert (
        problem["detail"]
        == "query parameter 'strat' is not one this operation takes (it takes: start)"
    )
    # An operation without query parameters says so; a hostile name is not echoed.
    health = _assert_problem(target.api.get("/health", params={"\x1b[2J": "x"}), 400)
    assert health["detail"] == "a query parameter is not one this operation takes (it takes: none)"
    job = target.api.get(f"/v1/jobs/{target.job_id}", params={"wait": 0, "start": 0})
    assert "(it takes: wait)" in str(_assert_problem(job, 400)["detail"])
