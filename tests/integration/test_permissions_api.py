"""Permissions enforced by the core, through the real app and the SDK (in-process)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

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
from sealroom.crypto import KemPrivateKey
from tests.integration.conftest import BANK, INSURER, OUTSIDER, InProcessPlatform

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

ANALYST_A = "ann@analytics.example"
ANALYST_B = "ben@analytics.example"
VIEWER = "vic@observer.example"
COLUMNS = [Column(name="email", format_type=FormatType.EMAIL, is_nullable=False)]


@dataclass
class Room:
    platform: InProcessPlatform
    room_id: str

    def dcr(self, email: str) -> AnalyticsDcr:
        return self.platform.client(email).retrieve_analytics_dcr(self.room_id)


@pytest.fixture
def room(app_platform: InProcessPlatform) -> Iterator[Room]:
    owner = app_platform.client(BANK)
    b = AnalyticsDcrBuilder(client=owner).with_name("perm").with_owner(BANK)
    b.add_node_definition(TableDataNodeDefinition(name="a", columns=COLUMNS, is_required=True))
    b.add_node_definition(TableDataNodeDefinition(name="b", columns=COLUMNS, is_required=True))
    b.add_node_definition(
        SqlComputeNodeDefinition(
            name="q_a", query="SELECT COUNT(*) AS n FROM a", dependencies=["a"]
        )
    )
    b.add_node_definition(
        SqlComputeNodeDefinition(
            name="q_ab",
            query="SELECT COUNT(*) AS n FROM a JOIN b USING (email)",
            dependencies=["a", "b"],
        )
    )
    b.add_participant(BANK, data_owner_of=["a"])
    b.add_participant(INSURER, data_owner_of=["b"])
    b.add_participant(ANALYST_A, analyst_of=["q_a", "q_ab"])
    b.add_participant(ANALYST_B, analyst_of=["q_ab"])
    b.add_participant(VIEWER)
    dcr = owner.publish_analytics_dcr(b.build())
    for email, table in ((BANK, "a"), (INSURER, "b")):
        node = app_platform.client(email).retrieve_analytics_dcr(dcr.id).get_node(table)
        assert isinstance(node, TableDataNode)
        node.upload_and_publish_dataset(io.BytesIO(b"x@y.example\nz@y.example\n"), sr.Key(), "t")
    return Room(app_platform, dcr.id)


def _table(room: Room, email: str, name: str) -> TableDataNode:
    node = room.dcr(email).get_node(name)
    assert isinstance(node, TableDataNode)
    return node


def _sql(room: Room, email: str, name: str) -> SqlComputationNode:
    node = room.dcr(email).get_node(name)
    assert isinstance(node, SqlComputationNode)
    return node


def test_analyst_cannot_upload_to_a_table(room: Room) -> None:
    with pytest.raises(sr.PermissionDeniedError, match="leaf_crud"):
        _table(room, ANALYST_A, "a").upload_and_publish_dataset(
            io.BytesIO(b"q@y.example\n"), sr.Key(), "t"
        )


def test_owner_of_table_a_cannot_publish_to_table_b(room: Room) -> None:
    with pytest.raises(sr.PermissionDeniedError, match="on node 'b'"):
        _table(room, BANK, "b").upload_and_publish_dataset(
            io.BytesIO(b"q@y.example\n"), sr.Key(), "t"
        )


def test_owner_of_table_a_cannot_remove_or_read_report_of_table_b(room: Room) -> None:
    node = _table(room, BANK, "b")
    with pytest.raises(sr.PermissionDeniedError):
        node.remove_published_dataset()
    with pytest.raises(sr.PermissionDeniedError):
        node.get_validation_report_as_dict()
    assert (
        _table(room, INSURER, "b").get_validation_report_as_dict()["report"]["outcome"] == "PASSED"
    )


@pytest.mark.parametrize("email", [BANK, INSURER, VIEWER])
def test_participants_without_analyst_role_cannot_run_or_fetch(room: Room, email: str) -> None:
    with pytest.raises(sr.PermissionDeniedError, match="execute_compute"):
        _sql(room, email, "q_ab").run_computation()
    job = _sql(room, ANALYST_A, "q_ab").run_computation()
    node = _sql(room, email, "q_ab")
    node.job_id = job
    with pytest.raises(sr.NotFoundError):
        node.get_results_as_string(timeout=60)


def test_a_second_analyst_fetches_another_analysts_result_only_if_analyst_of_that_node(
    room: Room,
) -> None:
    shared = _sql(room, ANALYST_A, "q_ab")
    shared.run_computation()
    other = _sql(room, ANALYST_B, "q_ab")
    other.job_id = shared.job_id
    assert other.get_results_as_string(timeout=60) == "n\n2\n"

    private = _sql(room, ANALYST_A, "q_a")
    private.run_computation()
    assert private.get_results_as_string(timeout=60) == "n\n2\n"
    # B is not analyst of q_a: it cannot fetch A's result even knowing the job id.
    sql_b = SqlComputationNode(room.dcr(ANALYST_B), "q_a")
    sql_b.job_id = private.job_id
    with pytest.raises(sr.NotFoundError):
        sql_b.get_results_as_string(timeout=60)
    with pytest.raises(sr.PermissionDeniedError):
        sql_b.run_computation()


def test_non_participants_get_404_for_everything(room: Room) -> None:
    api = httpx.Client(
        base_url="http://testserver",
        transport=room.platform.transport,
        headers={"Authorization": f"Bearer {room.platform.token(OUTSIDER)}"},
    )
    rid = room.room_id
    # A well-formed submission, so that the 404 is about the room and not about the body.
    recipient = KemPrivateKey.generate().public_key.hex()
    requests = [
        ("GET", f"/v1/rooms/{rid}", None),
        ("GET", f"/v1/rooms/{rid}/status", None),
        ("GET", f"/v1/rooms/{rid}/audit-log", None),
        ("GET", f"/v1/rooms/{rid}/datasets", None),
        ("POST", f"/v1/rooms/{rid}/stop", None),
        ("POST", f"/v1/rooms/{rid}/nodes/q_a/jobs", {"recipient_public_key": recipient}),
        ("GET", f"/v1/rooms/{rid}/nodes/a/validation-report", None),
        ("DELETE", f"/v1/rooms/{rid}/nodes/a/dataset", None),
        ("PUT", f"/v1/rooms/{rid}/nodes/a/dataset", {"dataset_id": "0" * 64, "sealed_key": ""}),
    ]
    unknown = [(m, p.replace(rid, "f" * 64), b) for m, p, b in requests]
    for method, path, body in requests + unknown:
        response = api.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] == "not_found"
    # A room that exists and one that does not are indistinguishable.
    same = api.get(f"/v1/rooms/{rid}").json()["detail"].replace(rid, "ID")
    other = api.get(f"/v1/rooms/{'f' * 64}").json()["detail"].replace("f" * 64, "ID")
    assert same == other
    assert rid not in [r["id"] for r in api.get("/v1/rooms").json()]


def test_requests_without_a_valid_token_are_refused(room: Room) -> None:
    api = httpx.Client(base_url="http://testserver", transport=room.platform.transport)
    assert api.get(f"/v1/rooms/{room.room_id}").status_code == 401
    response = api.get("/v1/rooms", headers={"Authorization": "Bearer sr_forged"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_denials_are_audited(room: Room) -> None:
    with pytest.raises(sr.PermissionDeniedError):
        _sql(room, VIEWER, "q_a").run_computation()
    log = room.dcr(VIEWER).retrieve_audit_log()
    denied = [line for line in log.splitlines() if line.endswith(",ACCESS_DENIED")]
    assert any(VIEWER in line and "q_a" in line for line in denied)


def test_sql_refuses_to_run_on_a_table_that_failed_validation(room: Room) -> None:
    table = _table(room, BANK, "a")
    # The SDK checks a file before sending it: the owner sends a bad one on purpose, and asks
    # for it to replace the one that passed.
    with pytest.raises(sr.DatasetRejectedError) as rejected:
        table.upload_and_publish_dataset(io.BytesIO(b"not-an-email\n"), sr.Key(), "bad")
    assert rejected.value.stage == "local"
    key = sr.Key()
    dataset_id = room.platform.client(BANK).upload_dataset(
        io.BytesIO(b"not-an-email\n"), key, "bad"
    )
    assert table.publish_dataset(dataset_id, key)["published"] is False  # the good one stays
    assert table.publish_dataset(dataset_id, key, force=True)["published"] is True
    report = table.get_validation_report_as_dict()["report"]
    assert report["outcome"] == "FAILED"
    node = _sql(room, ANALYST_A, "q_a")
    node.run_computation()
    with pytest.raises(sr.ComputationError, match="table 'a' failed validation"):
        node.get_results_as_string(timeout=60)


def test_a_stranger_probing_a_job_id_learns_nothing_of_its_room(room: Room) -> None:
    """The refusal named the room the job belongs to; now it names only the job."""
    job = _sql(room, ANALYST_A, "q_a").run_computation().id
    headers = {"Authorization": f"Bearer {room.platform.token(OUTSIDER)}"}
    recipient = {"recipient_public_key": "11" * 32, "format": "csv"}
    with httpx.Client(transport=room.platform.transport, base_url="http://sealroom") as http:
        for response in (
            http.post(f"/v1/jobs/{job}/result", json=recipient, headers=headers),
            http.get(f"/v1/jobs/{job}", headers=headers),
        ):
            assert response.status_code == 404
            assert room.room_id not in response.text
            assert response.json()["detail"] == f"job {job} not found"
