"""What an operator sees of a real ``sealroom serve --log-format json``: logs, /metrics, /ready.

One server for the module: the fixture drives it through what people do — log-ins (one with a
wrong token), a room published, a dataset uploaded and validated, a parameterised run, a run
that fails, refusals — with values made to be found (dataset values, a parameter's value, the
query's text, the file name, tokens, the dataset key, the session cookie). The tests then read
the server's whole log and its /metrics: every secret absent, every request and job state there.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    SqlComputationNode,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from sealroom.errors import ComputationError
from sealroom.server.accounts import issue_token
from sealroom.server.observability import metrics_allowed
from sealroom.server.platform import open_store
from sealroom.server.settings import Settings
from tests.integration.conftest import (
    ANALYST,
    BANK,
    OUTSIDER,
    ServerProcess,
    start_server,
    stop_server,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::sealroom.errors.SimulatedAttestationWarning"),
]

ROWS = 40


@dataclass
class Activity:
    server: ServerProcess
    room_id: str
    #: Everything that must never reach the log.
    secrets: dict[str, str]
    #: The X-Request-Id of a request of BANK's.
    request_id: str
    #: Ids of jobs that succeeded and failed.
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def log_lines(self) -> list[str]:
        return self.server.log_path.read_text().splitlines()

    def events(self, kind: str) -> list[dict[str, Any]]:
        found = []
        for line in self.log_lines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("event") == kind:
                    found.append(record)
        return found


def _room(client: sr.Client, query_marker: str) -> Any:
    builder = (
        AnalyticsDcrBuilder(client=client)
        .with_name("observed")
        .with_owner(BANK)
        .add_node_definition(
            TableDataNodeDefinition(
                name="sales",
                columns=[
                    Column(name="region", format_type=FormatType.STRING, is_nullable=False),
                    Column(name="amount", format_type=FormatType.INTEGER, is_nullable=False),
                ],
                is_required=True,
            )
        )
        .add_node_definition(
            SqlComputeNodeDefinition(
                "by_region",
                "SELECT COUNT(*) AS n FROM sales WHERE region = $region "
                f"AND region <> '{query_marker}'",
                parameters=["region"],
            )
        )
        # Fails at run time: the regions are not numbers.
        .add_node_definition(
            SqlComputeNodeDefinition("broken", "SELECT CAST(region AS INTEGER) AS r FROM sales")
        )
    )
    builder.add_participant(BANK, data_owner_of=["sales"], analyst_of=["by_region", "broken"])
    builder.add_participant(ANALYST)
    return client.publish_analytics_dcr(builder.build())


@pytest.fixture(scope="module")
def activity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Activity]:
    root = tmp_path_factory.mktemp("observed")
    server = start_server(root, args=["--log-format", "json"])
    try:
        yield _drive(server)
    finally:
        stop_server(server)


def _drive(server: ServerProcess) -> Activity:
    url = server.url
    # Tokens issued in-process, as `sealroom user add` does (three CLI runs took ~20 s here).
    store = open_store(Settings(data_dir=server.data_dir))
    tokens = {email: issue_token(store, email) for email in (BANK, ANALYST, OUTSIDER)}
    store.engine.dispose()
    value_marker = "value" + secrets.token_hex(8)
    parameter = "param" + secrets.token_hex(8)
    query_marker = "query" + secrets.token_hex(8)
    file_name = f"file-{secrets.token_hex(6)}.csv"
    wrong_token = "wrong" + secrets.token_hex(16)
    key = sr.Key()

    bank = sr.create_client(BANK, tokens[BANK], api_url=url)
    dcr = _room(bank, query_marker)
    rows = "".join(f"{value_marker}{i},{1000 + i}\n" for i in range(ROWS))
    sales = dcr.get_node("sales")
    assert isinstance(sales, TableDataNode)
    sales.upload_and_publish_dataset(io.BytesIO(rows.encode()), key, file_name)

    activity = Activity(
        server,
        dcr.id,
        secrets={
            "bank token": tokens[BANK],
            "analyst token": tokens[ANALYST],
            "outsider token": tokens[OUTSIDER],
            "wrong token": wrong_token,
            "dataset value": value_marker,
            "parameter value": parameter,
            "query text": query_marker,
            "file name": file_name,
            "dataset key (hex)": key.material.hex(),
            "dataset key (base64)": base64.b64encode(key.material).decode(),
        },
        request_id="",
    )

    node = dcr.get_node("by_region")
    assert isinstance(node, SqlComputationNode)
    job = node.run_computation(parameters={"region": parameter})
    assert node.get_results_as_string(timeout=60) == "n\n0\n"
    activity.succeeded.append(job.id)
    broken = dcr.get_node("broken")
    assert isinstance(broken, SqlComputationNode)
    failing = broken.run_computation()
    with pytest.raises(ComputationError):
        broken.get_results_as_string(timeout=60)
    activity.failed.append(failing.id)

    # Refusals: a wrong token, an outsider, a request without a token, a page that is not.
    bearer = {"Authorization": f"Bearer {wrong_token}"}
    assert httpx.get(f"{url}/v1/rooms/{dcr.id}", headers=bearer).status_code == 401
    outsider = {"Authorization": f"Bearer {tokens[OUTSIDER]}"}
    assert httpx.get(f"{url}/v1/rooms/{dcr.id}", headers=outsider).status_code in (403, 404)
    assert httpx.get(f"{url}/v1/rooms").status_code == 401
    assert httpx.get(f"{url}/no/such/{value_marker}").status_code == 404

    # The web app's log-in: a wrong token, then the right one, and a page with the session.
    login = {"email": BANK, "token": wrong_token}
    assert httpx.post(f"{url}/login", data=login, follow_redirects=False).status_code != 303
    login["token"] = tokens[BANK]
    answer = httpx.post(f"{url}/login", data=login, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    cookies = dict(answer.cookies)
    assert cookies
    activity.secrets.update({f"cookie {name}": value for name, value in cookies.items()})
    assert httpx.get(f"{url}/v1/me", cookies=cookies).status_code == 200

    me = httpx.get(f"{url}/v1/me", headers={"Authorization": f"Bearer {tokens[BANK]}"})
    assert me.status_code == 200
    activity.request_id = me.headers["x-request-id"]
    return activity


# -- logs -------------------------------------------------------------------------------------


def test_the_log_carries_no_token_key_value_parameter_query_or_file_name(
    activity: Activity,
) -> None:
    log = activity.server.log_path.read_text()
    for what, secret in activity.secrets.items():
        assert secret not in log, f"the server's log contains the {what}"
    # Nor a raw path: the 404's path carried a dataset value (checked above) and room ids only
    # appear as room_id fields of job lines, never inside a route.
    for record in activity.events("http_request"):
        assert activity.room_id not in record["route"]


def test_every_log_line_of_the_server_is_json(activity: Activity) -> None:
    lines = activity.log_lines()
    json_lines = [line for line in lines if line.startswith("{")]
    for line in json_lines:
        record = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(record), line
    # The banner `serve` prints for a person (address, sealing key) is the only plain text.
    plain = [line for line in lines if not line.startswith("{")]
    assert len(plain) < 10, plain
    assert not any("Traceback" in line for line in lines)


def test_each_request_has_a_line_with_its_route_status_user_and_id(activity: Activity) -> None:
    requests = activity.events("http_request")
    mine = [r for r in requests if r["request_id"] == activity.request_id]
    assert len(mine) == 1
    assert mine[0]["route"] == "/v1/me"
    assert mine[0]["method"] == "GET"
    assert mine[0]["status"] == 200
    assert mine[0]["user"] == BANK
    assert mine[0]["duration_ms"] >= 0

    seen = {(r["method"], r["route"], r["status"]) for r in requests}
    assert ("POST", "/v1/rooms", 201) in seen
    assert ("PUT", "/v1/uploads/{upload_id}/chunks/{index}", 204) in seen
    assert ("PUT", "/v1/rooms/{room_id}/nodes/{node}/dataset", 200) in seen
    assert ("GET", "/v1/rooms/{room_id}", 401) in seen
    assert ("GET", "(unmatched)", 404) in seen
    assert ("POST", "/login", 303) in seen
    # Authenticated requests name their user; refused ones name nobody.
    assert all("user" not in r for r in requests if r["status"] == 401)
    session_me = [r for r in requests if r["route"] == "/v1/me"]
    assert {r.get("user") for r in session_me} == {BANK}


def test_each_job_state_change_has_a_line(activity: Activity) -> None:
    jobs = activity.events("job_state")
    for job_id, outcome in [(j, "succeeded") for j in activity.succeeded] + [
        (j, "failed") for j in activity.failed
    ]:
        states = [r for r in jobs if r["job_id"] == job_id]
        assert [r["state"] for r in states] == ["queued", "running", outcome]
        assert {r["room_id"] for r in states} == {activity.room_id}
        assert states[2]["duration_ms"] >= 0
    (failure,) = [r for r in jobs if r["job_id"] in activity.failed and r["state"] == "failed"]
    assert failure["node"] == "broken"
    assert failure["error_code"]


# -- metrics and readiness ----------------------------------------------------------------------


def _metrics(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = httpx.get(f"{url}/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def test_metrics_count_requests_jobs_uploads_and_validated_rows(activity: Activity) -> None:
    url = activity.server.url
    metrics = _metrics(url)

    def value(name: str, **labels: str) -> float:
        return metrics[(name, tuple(sorted(labels.items())))]

    chunk = "/v1/uploads/{upload_id}/chunks/{index}"
    assert value("sealroom_http_requests_total", route=chunk, method="PUT", status_class="2xx") >= 1
    assert (
        value(
            "sealroom_http_requests_total",
            route="/v1/rooms/{room_id}",
            method="GET",
            status_class="4xx",
        )
        >= 2
    )
    assert (
        value(
            "sealroom_http_request_duration_seconds_count",
            route="/v1/me",
            method="GET",
            status_class="2xx",
        )
        >= 2
    )
    # No raw path became a label.
    routes = {dict(labels).get("route", "") for _, labels in metrics}
    assert not any(activity.room_id in route for route in routes)

    assert value("sealroom_jobs_total", state="queued") == 2
    assert value("sealroom_jobs_total", state="running") == 2
    assert value("sealroom_jobs_total", state="succeeded") == 1
    assert value("sealroom_jobs_total", state="failed") == 1
    assert value("sealroom_job_duration_seconds_count", outcome="succeeded") == 1
    assert value("sealroom_job_queue_length") == 0
    assert value("sealroom_jobs_running") == 0

    token = activity.secrets["bank token"]
    datasets = httpx.get(f"{url}/v1/datasets", headers={"Authorization": f"Bearer {token}"})
    assert value("sealroom_upload_bytes_total") == sum(d["size"] for d in datasets.json())
    assert value("sealroom_validation_rows_total", result="valid") == ROWS
    assert value("sealroom_validation_rows_total", result="invalid") == 0
    assert value("sealroom_dataset_validations_total", outcome="passed") == 1

    assert value("sealroom_scratch_used_bytes") >= 0
    assert value("sealroom_scratch_filesystem_free_bytes") > 0
    assert ("process_resident_memory_bytes", ()) in metrics


def test_metrics_answer_loopback_clients_not_a_proxied_request(activity: Activity) -> None:
    url = activity.server.url
    relayed = httpx.get(f"{url}/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert relayed.status_code == 403
    assert relayed.json()["code"] == "permission_denied"


def test_ready_answers_while_the_core_and_its_workers_run(activity: Activity) -> None:
    answer = httpx.get(f"{activity.server.url}/ready")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ready", "reasons": []}


def test_metrics_token_policy() -> None:
    """Loopback without a token; with one, its bearer alone, wherever they are."""
    assert metrics_allowed("127.0.0.1", {}, "")
    assert metrics_allowed("::1", {}, "")
    assert not metrics_allowed("192.0.2.1", {}, "")
    assert not metrics_allowed("127.0.0.1", {"forwarded": "for=192.0.2.1"}, "")
    assert not metrics_allowed("testclient", {}, "")
    assert not metrics_allowed(None, {}, "")
    token = secrets.token_hex(16)
    assert metrics_allowed("192.0.2.1", {"authorization": f"Bearer {token}"}, token)
    assert not metrics_allowed("127.0.0.1", {}, token)
    assert not metrics_allowed("127.0.0.1", {"authorization": f"Bearer {token}x"}, token)
    assert not metrics_allowed("127.0.0.1", {"authorization": f"Basic {token}"}, token)
