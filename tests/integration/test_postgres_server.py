"""A real ``sealroom serve`` on PostgreSQL (``SEALROOM_DATABASE_URL``), restarted on the same
database, and the operator commands beside it.

The server runs the same migrations at start on an empty PostgreSQL database (the session's
throwaway cluster, ``tests/postgres.py``) and keeps nothing of its metadata in the data
directory (no ``metadata.sqlite3``): rooms, datasets, jobs and the audit log are PostgreSQL
rows. A second server process started on the same database and data directory (an upgrade, a
crash) serves the earlier result and its core re-verifies the room's audit log from those rows
against the checkpoint it signed; the client's saved checkpoint accepts the longer log.

``sealroom backup`` backs up the embedded SQLite database only: with a PostgreSQL URL it
refuses and names ``pg_dump``, before writing anything. ``sealroom gc`` works on PostgreSQL.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

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
from sealroom.client import JobId
from sealroom.errors import RequestError
from tests.integration.conftest import ANALYST, BANK, ServerProcess, start_server, stop_server

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

ROWS = "north,10\nsouth,3\nnorth,5\n"
EXPECTED = "region,total\nnorth,15\nsouth,3\n"


def _client(server: ServerProcess, email: str, token: str, state_dir: Path) -> sr.Client:
    return sr.create_client(email, token, api_url=server.url, state_dir=state_dir)


def _publish(owner: sr.Client) -> str:
    b = AnalyticsDcrBuilder(client=owner).with_name("on postgres").with_owner(BANK)
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
    b.add_node_definition(
        SqlComputeNodeDefinition(
            name="totals",
            query="SELECT region, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region",
        )
    )
    b.add_participant(BANK, data_owner_of=["sales"])
    b.add_participant(ANALYST, analyst_of=["totals"])
    dcr = owner.publish_analytics_dcr(b.build())
    sales = dcr.get_node("sales")
    assert isinstance(sales, TableDataNode)
    sales.upload_and_publish_dataset(io.BytesIO(ROWS.encode()), sr.Key(), "sales.csv")
    return dcr.id


def _run(analyst: sr.Client, room_id: str) -> tuple[JobId, str]:
    node = analyst.retrieve_analytics_dcr(room_id).get_node("totals")
    assert isinstance(node, SqlComputationNode)
    job = node.run_computation()
    result = analyst.session().get_computation_result(job, timeout=120, result_format="csv")
    return job, result.decode()


def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(query))]
    finally:
        engine.dispose()


def test_a_server_on_postgresql_publishes_runs_and_restarts(
    tmp_path: Path, postgres_url: str
) -> None:
    env = {"SEALROOM_DATABASE_URL": postgres_url}
    state = tmp_path / "client-state"
    server = start_server(tmp_path, env)
    try:
        tokens = {email: server.add_user(email) for email in (BANK, ANALYST)}
        room_id = _publish(_client(server, BANK, tokens[BANK], state))
        analyst = _client(server, ANALYST, tokens[ANALYST], state)
        first_job, first = _run(analyst, room_id)
        assert first == EXPECTED
        entries_before = len(analyst.session().verify_audit_log(room_id).events)
        # PostgreSQL refuses NUL in text (SQLite stores it): the client's error, a 400 that
        # does not quote the value.
        with pytest.raises(RequestError) as refused:
            analyst.upload_dataset(io.BytesIO(b"1\n"), sr.Key(), "nul\x00name")
        assert refused.value.status == 400
        assert "NUL character" in str(refused.value)
    finally:
        stop_server(server)

    # The metadata lives in PostgreSQL, not in the data directory.
    assert not (server.data_dir / "metadata.sqlite3").exists()
    stored = _rows(postgres_url, "SELECT room_id, count(*) FROM audit_entries GROUP BY room_id")
    assert stored == [(room_id, entries_before)]
    (job_status,) = _rows(postgres_url, f"SELECT status FROM jobs WHERE id = '{first_job.id}'")
    assert job_status == ("succeeded",)

    again = start_server(tmp_path, env)  # same database, data directory and sealing key
    try:
        analyst = _client(again, ANALYST, tokens[ANALYST], state)
        # The job's id and the key its result is sealed to, kept by the client across the
        # restart: the result is served from the PostgreSQL row and the blob it names.
        earlier = analyst.session().get_computation_result(
            first_job, timeout=60, result_format="csv"
        )
        assert earlier.decode() == EXPECTED
        _, second = _run(analyst, room_id)
        assert second == EXPECTED
        # Verified against the checkpoint this client saved before the restart: it extends it.
        log = analyst.session().verify_audit_log(room_id)
        assert len(log.events) > entries_before
    finally:
        stop_server(again)


def test_backup_with_postgresql_names_pg_dump_and_gc_runs(
    tmp_path: Path, postgres_url: str
) -> None:
    env = {"SEALROOM_DATABASE_URL": postgres_url}
    server = start_server(tmp_path, env)
    try:
        archive = tmp_path / "backup.tar"
        refused = server.cli(
            "backup", "--data-dir", str(server.data_dir), "-o", str(archive), check=False
        )
        assert refused.returncode != 0
        assert "pg_dump" in refused.stderr
        assert not archive.exists()

        gc = server.cli("gc", "--data-dir", str(server.data_dir), "--dry-run", "--json")
        report = json.loads(gc.stdout)
        assert report["dry_run"] is True
    finally:
        stop_server(server)
