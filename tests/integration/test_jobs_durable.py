"""Jobs survive server restarts: finished results stay fetchable, running jobs are not stuck."""

from __future__ import annotations

import io
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

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
from tests.integration.conftest import ANALYST, BANK, ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

# A cross join heavy enough to be running when the server is killed.
SLOW_QUERY = "SELECT SUM(a.x * b.x + c.x) AS s FROM t a, t b, t c"


def _publish(server: ServerProcess, tokens: dict[str, str]) -> tuple[str, int]:
    owner = sr.create_client(BANK, tokens[BANK], api_url=server.url)
    b = AnalyticsDcrBuilder(client=owner).with_name("durable").with_owner(BANK)
    b.add_node_definition(
        TableDataNodeDefinition(
            name="t",
            columns=[Column(name="x", format_type=FormatType.INTEGER, is_nullable=False)],
            is_required=True,
        )
    )
    b.add_node_definition(SqlComputeNodeDefinition(name="fast", query="SELECT SUM(x) AS s FROM t"))
    b.add_node_definition(SqlComputeNodeDefinition(name="slow", query=SLOW_QUERY))
    b.add_participant(BANK, data_owner_of=["t"])
    b.add_participant(ANALYST, analyst_of=["fast", "slow"])
    dcr = owner.publish_analytics_dcr(b.build())
    rows = 1500
    node = dcr.get_node("t")
    assert isinstance(node, TableDataNode)
    node.upload_and_publish_dataset(
        io.BytesIO("".join(f"{i}\n" for i in range(rows)).encode()), sr.Key(), "t.csv"
    )
    return dcr.id, rows


def test_results_and_interrupted_jobs_survive_restarts(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_factory(tmp_path)
    tokens = {email: server.add_user(email) for email in (BANK, ANALYST)}
    room_id, rows = _publish(server, tokens)

    analyst = sr.create_client(ANALYST, tokens[ANALYST], api_url=server.url)
    fast = analyst.retrieve_analytics_dcr(room_id).get_node("fast")
    assert isinstance(fast, SqlComputationNode)
    assert (
        fast.run_computation_and_get_results_as_string(timeout=60)
        == f"s\n{rows * (rows - 1) // 2}\n"
    )
    finished_job = fast.job_id
    assert finished_job is not None

    slow = analyst.retrieve_analytics_dcr(room_id).get_node("slow")
    assert isinstance(slow, SqlComputationNode)
    slow_job = slow.run_computation()
    session = analyst.session()
    deadline = time.monotonic() + 30
    while session.get_computation_status(slow_job)["status"] != "running":
        assert time.monotonic() < deadline, "the slow job never started"
        time.sleep(0.05)

    # Crash: no chance to clean up.
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()

    restarted = server_factory(tmp_path)
    analyst = sr.create_client(ANALYST, tokens[ANALYST], api_url=restarted.url)
    session = analyst.session()
    # The finished result is still there, decryptable by the same (unsealed) core identity.
    again = session.get_computation_result(finished_job, timeout=30)
    assert again == f"s\n{rows * (rows - 1) // 2}\n".encode()
    # The interrupted job was requeued and runs to completion.
    status = session.get_computation_status(slow_job)
    assert status["status"] in ("queued", "running", "succeeded")
    # The JobId carries the recipient key its result is sealed to, so it survives the restart too.
    result = session.get_computation_result(slow_job, timeout=300)
    assert result.startswith(b"s\n")
