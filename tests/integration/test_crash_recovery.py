"""``kill -9`` of a real ``sealroom serve`` in the middle of things (issue 21, item 8).

Each scenario starts a server, brings it to a known point by polling its database (a job row
``running``, an upload with some chunks stored), kills it with SIGKILL — no lifespan, no
cleanup — and starts it again on the same data directory with the same sealing key (the killed
server's lock on the directory is gone with its process). Then, whatever the moment of the kill:

* an upload cut short is invisible (no dataset), ``sealroom gc`` lists and collects it, and the
  same file uploads again from the start (the SDK has no resumption across processes: each
  chunk PUT is retried, a whole upload is not);
* a publish cut short happened entirely (the log has the dataset *and* its validation, the
  report opens) or not at all (no dataset on the node; publishing again passes);
* a job that was running runs again and its result is what the core signed;
* a burst of approvals and integrations stopped anywhere leaves every room loadable: the
  commits the host stores are exactly those the log records (one transaction writes both),
  each request's state is the log's, and a new request still integrates;
* every room's audit log verifies, extending the checkpoint the client saw before the kill, and
  ``sealroom audit export`` + ``audit verify`` agree.
"""

from __future__ import annotations

import io
import json
import signal
import sqlite3
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    PythonComputeNodeDefinition,
    RawDataNodeDefinition,
    RequestStatus,
    SqlComputationNode,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from tests.integration.conftest import ANALYST, BANK, ServerProcess, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

#: Rows of the table being validated when the server dies (validation takes a while).
PUBLISH_ROWS = 300_000
#: The sleeping job: long enough to be caught running, short enough to run again.
JOB_SECONDS = 3
UPLOAD_CHUNK = 64 << 10
#: Chunks the interrupted upload gets out before its file "stalls".
UPLOAD_CHUNKS_BEFORE_KILL = 4


def _db(server: ServerProcess) -> sqlite3.Connection:
    return sqlite3.connect(server.data_dir / "metadata.sqlite3", timeout=10)


def _wait_for(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _bytes_read(server: ServerProcess) -> int:
    """Bytes the server process has read so far (files and sockets), from /proc."""
    io_stats = Path(f"/proc/{server.process.pid}/io").read_text()
    return int(io_stats.split("rchar:")[1].split()[0])


def _kill(server: ServerProcess) -> None:
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()


class _StallingFile(io.RawIOBase):
    """A file whose reads stop after ``limit`` bytes, until released: an upload in mid-flight."""

    def __init__(self, data: bytes, limit: int) -> None:
        self._data = memoryview(data)
        self._limit = limit
        self._at = 0
        self.release = threading.Event()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._at >= self._limit:
            self.release.wait()
        n = min(len(buffer), len(self._data) - self._at)
        buffer[:n] = self._data[self._at : self._at + n]
        self._at += n
        return n


def _background(target: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Run ``target`` in a daemon thread; its outcome (result or exception) lands in the list."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(target())
        except BaseException as exc:  # noqa: BLE001 - the test reads what happened
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _audit_cli(server: ServerProcess, email: str, token: str, room_id: str, state: Path) -> None:
    env = {**server.env, "SEALROOM_STATE_DIR": str(state)}
    export = state / f"{room_id}.json"
    args = ("--api-url", server.url, "--email", email, "--token", token)
    run_cli("audit", "export", room_id, "-o", str(export), *args, env=env)
    verified = run_cli("audit", "verify", str(export), env=env)
    assert verified.stdout.startswith(f"verified: room {room_id}")


# -- uploads, a publish and a job -------------------------------------------------------------


def test_kill_during_an_upload_a_publish_and_a_job(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    args = ("--workers", "2")
    server = server_factory(tmp_path, args=args)
    token = server.add_user(BANK)
    owner = sr.create_client(BANK, token, api_url=server.url, state_dir=state)
    b = AnalyticsDcrBuilder(client=owner).with_name("crash").with_owner(BANK)
    b.add_node_definition(
        TableDataNodeDefinition(
            name="t",
            columns=[Column(name="x", format_type=FormatType.INTEGER, is_nullable=False)],
            is_required=True,
        )
    )
    b.add_node_definition(RawDataNodeDefinition(name="raw", is_required=True))
    b.add_node_definition(SqlComputeNodeDefinition(name="total", query="SELECT SUM(x) AS s FROM t"))
    b.add_node_definition(
        PythonComputeNodeDefinition(
            name="sleepy",
            script=f"import time\ntime.sleep({JOB_SECONDS})\n"
            "open('/output/out.txt', 'w').write(open('/input/raw').read())\n",
            dependencies=["raw"],
        )
    )
    b.add_participant(BANK, data_owner_of=["t", "raw"], analyst_of=["total", "sleepy"])
    dcr = owner.publish_analytics_dcr(b.build())
    raw = dcr.get_node("raw")
    assert raw is not None
    raw.upload_and_publish_dataset(io.BytesIO(b"raw bytes"), sr.Key(), "raw")  # type: ignore[union-attr]
    table = dcr.get_node("t")
    assert isinstance(table, TableDataNode)
    rows = b"".join(b"%d\n" % i for i in range(PUBLISH_ROWS))
    table_key = sr.Key()
    table_dataset = owner.upload_dataset(io.BytesIO(rows), table_key, "t.csv")
    before = owner.session().verify_audit_log(dcr.id).size

    # 1. A job, running.
    session = owner.session()
    job = session.run_computation(dcr.id, "sleepy")
    with _db(server) as db:

        def job_running() -> bool:
            row = db.execute("SELECT status FROM jobs WHERE id = ?", (job.id,)).fetchone()
            return row is not None and row[0] == "running"

        _wait_for("the job to run", job_running)

    # 2. An upload with some chunks stored, its file stalled.
    stalled_data = b"".join(b"%d\n" % i for i in range(200_000))
    stalled = _StallingFile(stalled_data, UPLOAD_CHUNKS_BEFORE_KILL * UPLOAD_CHUNK)
    _, upload_outcome = _background(
        lambda: owner.upload_dataset(
            io.BufferedReader(stalled), sr.Key(), "stalled.csv", chunk_size=UPLOAD_CHUNK
        )
    )
    with _db(server) as db:

        def chunks() -> int:
            row = db.execute(
                "SELECT COUNT(*) FROM upload_chunks c JOIN uploads u ON u.id = c.upload_id "
                "WHERE NOT u.completed"
            ).fetchone()
            return int(row[0])

        _wait_for("the upload's first chunks", lambda: chunks() >= UPLOAD_CHUNKS_BEFORE_KILL - 1)
        (half_upload,) = [
            row[0] for row in db.execute("SELECT id FROM uploads WHERE NOT completed")
        ]

    # 3. A publish of a large table, in flight (the core decrypts and validates it).
    # The core reading the dataset's chunks shows in the server's read() byte count.
    read_before = _bytes_read(server)
    publisher, publish_outcome = _background(
        lambda: table.publish_dataset(table_dataset, table_key)
    )
    _wait_for(
        "the core to read the dataset",
        lambda: _bytes_read(server) - read_before > len(rows) // 2 or not publisher.is_alive(),
    )
    publish_was_answered = not publisher.is_alive()

    _kill(server)
    stalled.release.set()

    restarted = server_factory(tmp_path, args=args)
    owner = sr.create_client(BANK, token, api_url=restarted.url, state_dir=state)
    session = owner.session()
    dcr = owner.retrieve_analytics_dcr(dcr.id)

    # The log extends what the client verified before the kill (no truncation, no fork).
    log = session.verify_audit_log(dcr.id)
    assert log.size >= before

    # The publish: entirely (the dataset, its validation entry, its report) or not at all.
    entries = [(str(e.action), e.details) for e in log.events]
    ours = [a for a, d in entries if d.get("dataset_id") == table_dataset]
    published_to = {d["node"]: d for d in dcr.retrieve_published_datasets()}
    node = dcr.get_node("t")
    assert isinstance(node, TableDataNode)
    if "t" in published_to:
        assert published_to["t"]["dataset_id"] == table_dataset
        assert ours == ["DATASET_PUBLISHED", "DATASET_VALIDATED"]
        assert published_to["t"]["validation"] == "PASSED"
        assert node.get_validation_report_as_dict()
    else:
        assert not publish_was_answered, f"answered, then lost: {publish_outcome}"
        assert ours == []
        assert node.publish_dataset(table_dataset, table_key)["validation"] == "PASSED"
    print(f"publish at the kill: {'applied' if 't' in published_to else 'not applied'}")

    # The job ran again, and its result is the core's, for the same JobId.
    result = session.get_computation_result(job, timeout=120)
    assert zipfile.ZipFile(io.BytesIO(result)).read("out.txt") == b"raw bytes"
    total = dcr.get_node("total")
    assert isinstance(total, SqlComputationNode)
    assert total.run_computation_and_get_results_as_string(timeout=60) == (
        f"s\n{PUBLISH_ROWS * (PUBLISH_ROWS - 1) // 2}\n"
    )

    # The half upload: no dataset, listed and collected by gc; the file uploads again.
    assert "stalled.csv" not in {d["name"] for d in owner.get_available_datasets()}
    gc_args = ("gc", "--data-dir", str(restarted.data_dir), "--older-than", "0s", "--json")
    dry = json.loads(restarted.cli(*gc_args, "--dry-run").stdout)
    assert half_upload in {u["id"] for u in dry["uploads"]}
    collected = json.loads(restarted.cli(*gc_args).stdout)
    assert half_upload in {u["id"] for u in collected["uploads"]}
    with _db(restarted) as db:
        assert db.execute("SELECT 1 FROM uploads WHERE id = ?", (half_upload,)).fetchone() is None
    again = owner.upload_dataset(io.BytesIO(stalled_data), sr.Key(), "stalled.csv")
    assert again in {d["id"] for d in owner.get_available_datasets()}
    # (The background upload's client failed against the dead server, or is still retrying.)
    assert not upload_outcome or isinstance(upload_outcome[0], Exception)

    # The audit log, once more, through the CLI.
    session.verify_audit_log(dcr.id)
    _audit_cli(restarted, BANK, token, dcr.id, state)


# -- approvals and integrations of interactive rooms ------------------------------------------

ROOMS = 3
REQUESTS_PER_ROOM = 30


def _interactive_room(owner: sr.Client) -> AnalyticsDcr:
    dcr = owner.publish_analytics_dcr(
        AnalyticsDcrBuilder(client=owner)
        .with_name("crash requests")
        .with_owner(BANK)
        .with_interactivity(True)
        .add_node_definition(
            TableDataNodeDefinition(
                name="customers",
                columns=[Column(name="x", format_type=FormatType.INTEGER, is_nullable=False)],
                is_required=True,
            )
        )
        .add_participant(BANK, data_owner_of=["customers"])
        .add_participant(ANALYST)
        .build()
    )
    node = dcr.get_node("customers")
    assert isinstance(node, TableDataNode)
    node.upload_and_publish_dataset(io.BytesIO(b"1\n2\n3\n"), sr.Key(), "customers.csv")
    return dcr


def _request(analyst: AnalyticsDcr, name: str) -> object:
    return (
        analyst.build_request()
        .add_computation(SqlComputeNodeDefinition(name, f"SELECT SUM(x) AS {name} FROM customers"))
        .add_participant(ANALYST, analyst_of=[name])
        .submit()
    )


def test_kill_during_a_burst_of_approvals_and_integrations(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    states = {BANK: tmp_path / "bank", ANALYST: tmp_path / "analyst"}
    server = server_factory(tmp_path)
    tokens = {email: server.add_user(email) for email in (BANK, ANALYST)}

    def client(email: str, url: str) -> sr.Client:
        return sr.create_client(email, tokens[email], api_url=url, state_dir=states[email])

    room_ids = [_interactive_room(client(BANK, server.url)).id for _ in range(ROOMS)]

    def burst(room_id: str) -> None:
        owner = client(BANK, server.url).retrieve_analytics_dcr(room_id)
        analyst = client(ANALYST, server.url).retrieve_analytics_dcr(room_id)
        for i in range(REQUESTS_PER_ROOM):
            request = _request(analyst, f"c{i}")
            owner.get_submitted_request(request.id).approve()  # type: ignore[attr-defined]
            request.integrate()  # type: ignore[attr-defined]

    threads = [_background(lambda room_id=room_id: burst(room_id))[0] for room_id in room_ids]
    with _db(server) as db:
        _wait_for(
            "some integrations",
            lambda: db.execute("SELECT COUNT(*) FROM room_commits").fetchone()[0] >= 2 * ROOMS,
        )
    _kill(server)
    for thread in threads:
        thread.join(timeout=120)

    # On disk, before any core reads it: every commit row has its log entry and no more
    # (integrate_commit writes both in one transaction; a kill between two used to leave a
    # commit the log lacked, and a room whose history the core refused to load).
    with _db(server) as db:
        for room_id in room_ids:
            rows = db.execute(
                "SELECT COUNT(*) FROM room_commits WHERE room_id = ?", (room_id,)
            ).fetchone()[0]
            entries = db.execute(
                "SELECT COUNT(*) FROM audit_entries WHERE room_id = ? AND entry LIKE ?",
                (room_id, '%"COMMIT_INTEGRATED"%'),
            ).fetchone()[0]
            assert rows == entries

    restarted = server_factory(tmp_path)
    integrated_total = 0
    for room_id in room_ids:
        analyst = client(ANALYST, restarted.url).retrieve_analytics_dcr(room_id)
        owner = client(BANK, restarted.url).retrieve_analytics_dcr(room_id)
        # The room loads: its stored commits are exactly those its log records.
        log = analyst.session.verify_audit_log(room_id)
        logged = [
            str(e.details["request_id"]) for e in log.events if str(e.action) == "COMMIT_INTEGRATED"
        ]
        commits = analyst.get_commits()
        assert [c.seq for c in commits] == list(range(1, len(commits) + 1))
        assert len(commits) == len(logged)
        integrated_total += len(commits)
        names = {f"c{i}" for i in range(len(commits))}
        assert {n for c in commits for n in c.nodes} == names
        # Each request's state is the log's; a pending one is either approved in the log or not.
        approved = {
            str(e.details["request_id"]) for e in log.events if str(e.action) == "REQUEST_APPROVED"
        }
        for request in analyst.get_submitted_requests():
            if request.id in logged:
                assert request.status is RequestStatus.INTEGRATED
                assert request.id in approved
            else:
                assert request.status in (
                    RequestStatus.PENDING,
                    RequestStatus.READY_TO_INTEGRATE,
                    RequestStatus.SUPERSEDED,
                )
                assert (request.status is RequestStatus.READY_TO_INTEGRATE) == (
                    request.id in approved
                )
        # The room still takes a new commit, and its computations run.
        name = f"after{len(commits)}"
        request = _request(analyst, name)
        owner.get_submitted_request(request.id).approve()  # type: ignore[attr-defined]
        request.integrate()  # type: ignore[attr-defined]
        node = analyst.refresh().get_node(name)
        assert isinstance(node, SqlComputationNode)
        assert node.run_computation_and_get_results_as_string(timeout=60) == f"{name}\n6\n"
        _audit_cli(restarted, BANK, tokens[BANK], room_id, states[BANK])
    print(f"integrated before the kill: {integrated_total} commits in {ROOMS} rooms")
