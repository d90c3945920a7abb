"""A malicious operator against a real ``sealroom serve``: stop it, edit its SQLite, restart it.

What the issue found (and the core now refuses): clearing ``rooms.stopped_at_ms`` un-stopped a
room, deleting the ``privacy_budget`` row gave a fresh ε budget, deleting ``node_executions``
reset a rate limit, and a queued job ran with whatever ``jobs.parameters`` said at run time.
The core decides from the room's audit log and the job's sealed ticket instead; the host's
columns are caches, and each disagreement is in the audit log as ``TAMPERING_DETECTED``.
"""

from __future__ import annotations

import io
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    Column,
    ContainerComputationNode,
    FormatType,
    NumericRangeRule,
    PythonComputeNodeDefinition,
    RateLimit,
    SqlComputationNode,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from sealroom.errors import ComputationError, ConflictError, TooManyRequestsError
from tests.integration.conftest import ANALYST, BANK, ServerProcess, stop_server

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

WORKERS = ("--workers", "1")


def _room(owner: sr.Client, name: str) -> AnalyticsDcr:
    b = AnalyticsDcrBuilder(client=owner).with_name(name).with_owner(BANK)
    b.with_privacy_budget(epsilon=1.5)
    column = Column(
        name="x",
        format_type=FormatType.INTEGER,
        is_nullable=False,
        in_range=NumericRangeRule(greater_than_equals=0, less_than_equals=100),
    )
    b.add_node_definition(TableDataNodeDefinition(name="t", columns=[column], is_required=True))
    b.add_node_definition(
        SqlComputeNodeDefinition("noisy", "SELECT COUNT(*) AS n FROM t", dp_epsilon=1.0)
    )
    b.add_node_definition(
        SqlComputeNodeDefinition(
            "limited",
            "SELECT COUNT(*) AS n FROM t",
            rate_limit=RateLimit(window_seconds=3600, max_executions=1),
        )
    )
    b.add_node_definition(
        SqlComputeNodeDefinition(
            "above",
            "SELECT COUNT(*) AS n FROM t WHERE x >= CAST($min AS INTEGER)",
            parameters=["min"],
        )
    )
    b.add_node_definition(
        PythonComputeNodeDefinition("sleeper", "import time\ntime.sleep(3)\n", dependencies=[])
    )
    b.add_participant(BANK, data_owner_of=["t"])
    b.add_participant(ANALYST, analyst_of=["noisy", "limited", "above", "sleeper"])
    dcr = owner.publish_analytics_dcr(b.build())
    table = dcr.get_node("t")
    assert isinstance(table, TableDataNode)
    data = "".join(f"{i}\n" for i in range(100)).encode()
    table.upload_and_publish_dataset(io.BytesIO(data), sr.Key(), "t.csv")
    return dcr


def _sql(dcr: AnalyticsDcr, name: str) -> SqlComputationNode:
    node = dcr.get_node(name)
    assert isinstance(node, SqlComputationNode)
    return node


def _job(server: ServerProcess, job_id: str) -> tuple[str, str | None]:
    with sqlite3.connect(server.data_dir / "metadata.sqlite3") as db:
        row = db.execute("SELECT status, error_code FROM jobs WHERE id = ?", (job_id,)).fetchone()
    db.close()
    return row[0], row[1]


def test_editing_the_database_between_restarts_is_refused_and_audited(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_factory(tmp_path, args=WORKERS)
    tokens = {email: server.add_user(email) for email in (BANK, ANALYST)}
    owner = sr.create_client(BANK, tokens[BANK], api_url=server.url)
    room = _room(owner, "tampered")
    stopped = _room(owner, "stopped")
    analyst = sr.create_client(ANALYST, tokens[ANALYST], api_url=server.url)
    mine = analyst.retrieve_analytics_dcr(room.id)

    # Honest use first: ε 1.0 of 1.5 spent, the rate-limited node run once (its limit).
    assert _sql(mine, "noisy").run_computation_and_get_results_as_string(timeout=60)
    assert _sql(mine, "limited").run_computation_and_get_results_as_string(timeout=60)
    with pytest.raises(TooManyRequestsError):
        _sql(mine, "limited").run_computation()
    # One worker: a job queued behind a running one stays queued through a clean shutdown.
    session = analyst.session()
    sleeper = mine.get_node("sleeper")
    assert isinstance(sleeper, ContainerComputationNode)
    sleeping = sleeper.run_computation()
    deadline = time.monotonic() + 30
    while session.get_computation_status(sleeping)["status"] != "running":
        assert time.monotonic() < deadline, "the sleeper never started"
        time.sleep(0.05)
    queued = _sql(mine, "above").run_computation(parameters={"min": "90"})
    owner.retrieve_analytics_dcr(stopped.id).stop()
    stop_server(server)

    # The operator edits the metadata database.
    with sqlite3.connect(server.data_dir / "metadata.sqlite3") as db:
        assert db.execute("SELECT status FROM jobs WHERE id = ?", (queued.id,)).fetchone() == (
            "queued",
        )
        db.execute("UPDATE rooms SET stopped_at_ms = NULL, state_signature = NULL")
        db.execute("DELETE FROM privacy_budget")
        db.execute("DELETE FROM node_executions")
        db.execute("UPDATE jobs SET parameters = ? WHERE id = ?", ('{"min": "0"}', queued.id))
    db.close()

    restarted = server_factory(tmp_path, args=WORKERS)
    analyst = sr.create_client(ANALYST, tokens[ANALYST], api_url=restarted.url)
    owner = sr.create_client(BANK, tokens[BANK], api_url=restarted.url)
    mine = analyst.retrieve_analytics_dcr(room.id)
    session = analyst.session()

    # The job runs only as submitted: edited, it is refused (and never runs with min 0).
    with pytest.raises(ConflictError, match="altered") as refused:
        session.get_computation_status(queued)
    assert refused.value.code == "job_tampered"
    deadline = time.monotonic() + 60
    while _job(restarted, queued.id) != ("failed", "job_tampered"):
        assert time.monotonic() < deadline, "the edited job was never refused"
        time.sleep(0.1)
    # No fresh budget: the log says 1.0 of 1.5 is spent.
    assert mine.retrieve_privacy_budget().epsilon_spent == 1.0
    with pytest.raises(ComputationError, match="privacy budget") as exhausted:
        _sql(mine, "noisy").run_computation_and_get_results_as_string(timeout=60)
    assert exhausted.value.code == "privacy_budget_exhausted"
    # No fresh rate-limit window.
    with pytest.raises(TooManyRequestsError, match="rate limit"):
        _sql(mine, "limited").run_computation()
    # Still stopped.
    still = analyst.retrieve_analytics_dcr(stopped.id)
    assert still.get_status() == "Stopped"
    with pytest.raises(ConflictError, match="stopped"):
        _sql(still, "noisy").run_computation()

    # Every participant sees what the host did, in the verified audit log.
    log = owner.retrieve_analytics_dcr(room.id).retrieve_audit_log()
    for fact in (
        f"job {queued.id}",
        "the privacy budget spent",
        "the rate-limit window of computation limited",
    ):
        assert f"the host's copy of {fact} disagreed" in log
    assert "TAMPERING_DETECTED" in log
    assert '""min"": ""0""' not in log  # what the host wrote is never repeated
    assert "the host's copy of the room's status disagreed" in still.retrieve_audit_log()

    # The host's copies were rewritten from the log.
    stop_server(restarted)
    with sqlite3.connect(restarted.data_dir / "metadata.sqlite3") as db:
        spent = db.execute("SELECT spent_epsilon FROM privacy_budget").fetchall()
        stops = db.execute("SELECT stopped_at_ms FROM rooms WHERE id = ?", (stopped.id,)).fetchone()
    db.close()
    assert spent == [(1.0,)]
    assert stops[0] is not None
