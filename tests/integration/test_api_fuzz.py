"""Schemathesis against a real ``sealroom serve`` (issue 21, item 10): no 5xx, one error shape.

tests/integration/test_api_contract.py checks the document against the app in-process (ASGI,
no socket). This module fuzzes what an operator runs: the real command, over HTTP on loopback,
through uvicorn, with the OpenAPI document the server itself serves (``/openapi.json``). For
every operation Schemathesis sends generated requests (valid and invalid ones, boundary values,
wrong types, requests without a token), and each answer must be

* not a server error (no 5xx, whatever the request), and
* when it is an error, an RFC 9457 problem document of the one shape of server/problems.py
  (``application/problem+json``; exactly type, title, status, detail and code; the status
  repeated), and
* a status, content type and body the document declares (Schemathesis' conformance checks).

Bounded and derandomised (a fixed seed, a few examples per operation, no stateful phase); a
room of BANK's with a published table and a finished job gives the generated requests real ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from schemathesis.generation.case import Case
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import sealroom as sr
from sealroom.analytics import AnalyticsDcrBuilder, Column, FormatType, TableDataNodeDefinition
from sealroom.server.app import create_app
from sealroom.server.settings import Settings
from tests.integration.conftest import BANK, start_server, stop_server
from tests.integration.test_api_contract import _finished_job

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}
CONFIG = {
    "seed": 21,
    "generation": {"database": "none"},
}


@dataclass(frozen=True)
class Served:
    schema: BaseSchema
    headers: dict[str, str]
    room_id: str
    expendable_room_id: str
    job_id: str


def _expendable_room(client: sr.Client) -> str:
    """A room the fuzzing may stop, so that the other one keeps running."""
    b = AnalyticsDcrBuilder(client=client).with_name("expendable").with_owner(BANK)
    b.add_node_definition(
        TableDataNodeDefinition(
            name="t",
            columns=[Column(name="c", format_type=FormatType.STRING, is_nullable=False)],
            is_required=True,
        )
    )
    b.add_participant(BANK, data_owner_of=["t"])
    return client.publish_analytics_dcr(b.build()).id


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root: Path = tmp_path_factory.mktemp("fuzzed")
    server = start_server(root)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SEALROOM_STATE_DIR", str(root / "sdk-state"))
            token = server.add_user(BANK)
            client = sr.create_client(BANK, token, api_url=server.url)
            job_id, room_id = _finished_job(client)
            expendable = _expendable_room(client)
        schema = schemathesis.openapi.from_url(
            f"{server.url}/openapi.json", config=SchemathesisConfig.from_dict(CONFIG)
        )
        yield Served(schema, {"Authorization": f"Bearer {token}"}, room_id, expendable, job_id)
    finally:
        stop_server(server)


#: The operations of the document, as the code defines it: the served one must have each.
OPERATIONS = [
    (method.upper(), path)
    for path, operations in create_app(Settings()).openapi()["paths"].items()
    for method in operations
]
#: Per operation: valid requests and invalid ones (wrong types, missing fields, bad formats).
FUZZ = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _check_problem(response: Any) -> None:
    """No 5xx; every error in the one problem-details shape."""
    status = response.status_code
    assert status < 500, f"{status} from {response.request.method} {response.request.url}"
    if status >= 400:
        # Schemathesis keeps each header as the list of its values.
        assert response.headers["content-type"] == ["application/problem+json"], status
        body = response.json()
        assert set(body) == PROBLEM_FIELDS, body
        assert body["status"] == status
        assert body["type"] == f"https://sealroom.dev/problems/{body['code']}"


def test_the_served_document_has_every_operation(served: Served) -> None:
    served_operations = {
        (result.ok().method.upper(), result.ok().path)
        for result in served.schema.get_all_operations()
    }
    assert served_operations == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_answers_without_5xx_in_the_one_error_shape(
    served: Served, method: str, path: str
) -> None:
    operation = served.schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @FUZZ
    @given(case=cases, with_token=st.booleans())
    def fuzz(case: Case, with_token: bool) -> None:
        # Real ids, so that requests reach the core's decisions rather than stop at "not
        # found"; node names, request ids, upload ids and bodies stay generated.
        parameters = case.path_parameters or {}
        if "room_id" in parameters:
            stops = path.endswith("/stop")
            parameters["room_id"] = served.expendable_room_id if stops else served.room_id
        if "job_id" in parameters:
            parameters["job_id"] = served.job_id
        headers = served.headers if with_token else {}
        response = case.call(headers=headers, timeout=60)
        _check_problem(response)
        case.validate_response(
            response,
            checks=[
                not_a_server_error,
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
            ],
            headers=headers,
        )

    fuzz()
