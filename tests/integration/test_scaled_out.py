"""The scaled-out topology of docs/deployment.md, for real: PostgreSQL + S3 + 2 servers + 2
workers on one machine, as separate processes.

The two ``serve`` replicas run no jobs (``--workers 0``); two ``sealroom worker run`` processes
do. All four share the PostgreSQL database (the session's throwaway cluster), the S3 bucket
(moto), the sealing key and the operator's PKI directory; each has a data directory of its own.
A room is published through one server and its data uploaded through the other; jobs submitted
through both at once, from many threads, all run, and each room's audit log, appended by four
processes, is one unforked log that verifies through either server. A worker killed with
``kill -9`` in the middle of a job loses nothing: the job's lease runs out and another worker
runs it, once.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    PythonComputeNodeDefinition,
    RawDataNodeDefinition,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from tests.integration.conftest import BANK, ServerProcess, start_server, stop_server
from tests.s3server import S3Server, s3_bucket, s3_server  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

LEASE_SECONDS = 3
SLEEP_SECONDS = 8


@dataclass
class Deployment:
    root: Path
    env: dict[str, str]
    database_url: str
    servers: list[ServerProcess] = field(default_factory=list)
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - the process holds it
        process = subprocess.Popen(
            [sys.executable, "-m", "sealroom.cli", "worker", "run", "--workers", "1"],
            env={**self.env, "SEALROOM_DATA_DIR": str(self.root / name)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.workers[name] = process
        return process

    def stop(self) -> None:
        for process in self.workers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.workers.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for server in self.servers:
            stop_server(server)

    def job_status(self, job_id: str) -> str | None:
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                status = conn.execute(
                    sa.text("SELECT status FROM jobs WHERE id = :id"), {"id": job_id}
                ).scalar_one_or_none()
        finally:
            engine.dispose()
        return None if status is None else str(status)


@pytest.fixture
def deployment(
    tmp_path: Path,
    postgres_url: str,
    s3_server: S3Server,  # noqa: F811 - the fixture
    s3_bucket: str,  # noqa: F811 - the fixture
) -> Iterator[Deployment]:
    env = {
        **os.environ,
        **s3_server.env(s3_bucket, prefix="prod"),
        "SEALROOM_DATABASE_URL": postgres_url,
        "SEALROOM_SEALING_KEY_FILE": str(tmp_path / "sealing.key"),
        "SEALROOM_PKI_DIR": str(tmp_path / "pki"),
        "SEALROOM_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    shared = {k: env[k] for k in env if k.startswith(("SEALROOM_", "AWS_"))}
    setup = Deployment(tmp_path, env, postgres_url)
    try:
        # The first process makes the sealing key, the core's identity (in the database) and
        # the PKI; the others open them.
        for name in ("server-1", "server-2"):
            (tmp_path / name).mkdir()
            setup.servers.append(start_server(tmp_path / name, shared, args=("--workers", "0")))
        for name in ("worker-1", "worker-2"):
            setup.start_worker(name)
        yield setup
    finally:
        setup.stop()


def _room(owner: sr.Client) -> AnalyticsDcr:
    b = AnalyticsDcrBuilder(client=owner).with_name("scaled out").with_owner(BANK)
    b.add_node_definition(
        TableDataNodeDefinition(
            name="t",
            columns=[Column(name="x", format_type=FormatType.INTEGER, is_nullable=False)],
            is_required=True,
        )
    )
    b.add_node_definition(SqlComputeNodeDefinition(name="total", query="SELECT SUM(x) AS s FROM t"))
    b.add_node_definition(RawDataNodeDefinition(name="raw", is_required=True))
    b.add_node_definition(
        PythonComputeNodeDefinition(
            name="sleepy",
            script=f"import time\ntime.sleep({SLEEP_SECONDS})\n"
            "open('/output/out.txt', 'w').write(open('/input/raw').read())\n",
            dependencies=["raw"],
        )
    )
    b.add_participant(BANK, data_owner_of=["t", "raw"], analyst_of=["total", "sleepy"])
    return owner.publish_analytics_dcr(b.build())


def _wait_for(what: str, check: object, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_two_servers_and_two_workers_share_one_database_and_bucket(
    deployment: Deployment,
    tmp_path: Path,
    s3_server: S3Server,  # noqa: F811 - the fixture
    s3_bucket: str,  # noqa: F811 - the fixture
) -> None:
    one, two = deployment.servers
    token = one.add_user(BANK)
    via_one = sr.create_client(BANK, token, api_url=one.url, state_dir=tmp_path / "state-1")
    via_two = sr.create_client(BANK, token, api_url=two.url, state_dir=tmp_path / "state-2")

    dcr = _room(via_one)
    table = via_two.retrieve_analytics_dcr(dcr.id).get_node("t")
    assert isinstance(table, TableDataNode)
    table.upload_and_publish_dataset(
        io.BytesIO(b"".join(b"%d\n" % i for i in range(1000))), sr.Key(), "t.csv"
    )
    raw = via_one.retrieve_analytics_dcr(dcr.id).get_node("raw")
    raw.upload_and_publish_dataset(io.BytesIO(b"raw bytes"), sr.Key(), "raw")  # type: ignore[union-attr]

    # Jobs through both servers at once, from many threads: the workers run every one, and the
    # room's log, appended by four processes, stays one log.
    sessions = [via_one.session(), via_two.session()]

    def run(i: int) -> bytes:
        session = sessions[i % 2]
        job = session.run_computation(dcr.id, "total")
        return sessions[(i + 1) % 2].get_computation_result(job, timeout=120)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, range(16)))
    assert set(results) == {b"s\n499500\n"}
    for session in sessions:
        log = session.verify_audit_log(dcr.id)
        assert [e.seq for e in log.events] == list(range(log.size))
    completed = [
        e for e in sessions[0].verify_audit_log(dcr.id).events if str(e.action) == "JOB_COMPLETED"
    ]
    assert len(completed) == 16

    # Only ciphertext in the bucket.
    objects = s3_server.objects(s3_bucket)
    assert any(key.startswith("prod/") for key in objects)
    assert not any(b"raw bytes" in data or b"499500" in data for data in objects.values())

    # kill -9 a worker in the middle of a job: its lease runs out, the other worker runs it.
    deployment.workers["worker-2"].send_signal(signal.SIGTERM)
    deployment.workers["worker-2"].wait(timeout=60)
    job = sessions[0].run_computation(dcr.id, "sleepy")
    _wait_for("the job to run", lambda: deployment.job_status(job.id) == "running")
    deployment.workers["worker-1"].kill()
    deployment.workers["worker-1"].wait()
    deployment.start_worker("worker-3")
    result = sessions[1].get_computation_result(job, timeout=120)
    with zipfile.ZipFile(io.BytesIO(result)) as archive:
        assert archive.read("out.txt") == b"raw bytes"
    events = sessions[1].verify_audit_log(dcr.id).events
    assert [str(e.action) for e in events if e.details.get("job_id") == job.id].count(
        "JOB_COMPLETED"
    ) == 1
    assert not [e for e in events if str(e.action) == "TAMPERING_DETECTED"]
