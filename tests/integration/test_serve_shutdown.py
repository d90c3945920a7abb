"""SIGTERM stops ``sealroom serve`` gracefully (issue 21, item 7).

A real server with two workers runs a short job and a long one, a third waits in the queue. On
SIGTERM it takes no new job, lets the short one finish, and at ``--shutdown-timeout`` puts the
long one back in the queue and exits: within the timeout, with nothing left "running". After a
restart the long job and the waiting one complete, and the short one's result is still there.
"""

from __future__ import annotations

import io
import signal
import sqlite3
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    PythonComputeNodeDefinition,
    RawDataNodeDefinition,
)
from tests.integration.conftest import BANK, ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

SHUTDOWN_TIMEOUT_SECONDS = 3.0
SHORT_SECONDS = 0.5
LONG_SECONDS = 6.0
#: Start-up of the shutdown itself (uvicorn's, the lifespan's), on a loaded CI machine.
EXIT_SLACK_SECONDS = 5.0


def _statuses(data_dir: Path) -> dict[str, str]:
    with sqlite3.connect(data_dir / "metadata.sqlite3") as db:
        return dict(db.execute("SELECT id, status FROM jobs").fetchall())


def test_sigterm_finishes_running_jobs_requeues_the_rest_and_loses_none(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    args = ("--workers", "2", "--shutdown-timeout", str(SHUTDOWN_TIMEOUT_SECONDS))
    server = server_factory(tmp_path, args=args)
    token = server.add_user(BANK)
    client = sr.create_client(BANK, token, api_url=server.url)
    b = AnalyticsDcrBuilder(client=client).with_name("shutdown").with_owner(BANK)
    b.add_node_definition(RawDataNodeDefinition(name="raw", is_required=True))
    for name, seconds in (("short", SHORT_SECONDS), ("long", LONG_SECONDS)):
        b.add_node_definition(
            PythonComputeNodeDefinition(
                name=name,
                script=f"import time\ntime.sleep({seconds})\n"
                f"open('/output/{name}.txt', 'w').write('{name} done')\n",
                dependencies=["raw"],
            )
        )
    b.add_participant(BANK, data_owner_of=["raw"], analyst_of=["short", "long"])
    dcr = client.publish_analytics_dcr(b.build())
    dcr.get_node("raw").upload_and_publish_dataset(io.BytesIO(b"x"), sr.Key(), "x")  # type: ignore[union-attr]
    session = client.session()
    long_job = session.run_computation(dcr.id, "long")
    deadline = time.monotonic() + 60
    while session.get_computation_status(long_job)["status"] != "running":
        assert time.monotonic() < deadline, "the long job never started"
        time.sleep(0.05)
    short_job = session.run_computation(dcr.id, "short")
    while session.get_computation_status(short_job)["status"] != "running":
        assert time.monotonic() < deadline, "the short job never started"
        time.sleep(0.05)
    waiting_job = session.run_computation(dcr.id, "short")  # both workers are busy
    assert session.get_computation_status(waiting_job)["status"] == "queued"

    server.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    server.process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS + EXIT_SLACK_SECONDS)
    took = time.monotonic() - signalled
    assert took < SHUTDOWN_TIMEOUT_SECONDS + EXIT_SLACK_SECONDS
    assert took > SHUTDOWN_TIMEOUT_SECONDS - 0.5, "it did not wait for the long job"
    log = server.log_path.read_text()
    # Only the long job was still running: the waiting one was never claimed.
    assert "requeued 1: they run again at the next start" in log
    statuses = _statuses(server.data_dir)
    assert statuses[short_job.id] == "succeeded"
    assert statuses[long_job.id] == "queued"
    assert statuses[waiting_job.id] == "queued"
    assert "running" not in statuses.values()

    restarted = server_factory(tmp_path, args=args)
    session = sr.create_client(BANK, token, api_url=restarted.url).session()
    for job, name in ((short_job, "short"), (long_job, "long"), (waiting_job, "short")):
        result = session.get_computation_result(job, timeout=120)
        assert zipfile.ZipFile(io.BytesIO(result)).read(f"{name}.txt") == f"{name} done".encode()
