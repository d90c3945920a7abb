"""Long-polls against a real ``sealroom serve`` (issue 13, item 9), and in-process.

Each ``GET /v1/jobs/{id}?wait=`` used to hold a worker thread while it waited: about sixty of
them stalled ``/health`` and every other user for 8-11 s. Waiting now happens in the event
loop, and one user holds at most ``MAX_WAITS_PER_USER`` long-polls at once. A long-poll is
woken by the end of its job (issue 17: looking every 50 ms made each job 25 ms slower).
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    PythonComputeNodeDefinition,
    RawDataNodeDefinition,
    SqlComputeNodeDefinition,
    TableDataNodeDefinition,
)
from sealroom.enclave.core import TrustedCore
from sealroom.model.records import JobRecord
from sealroom.server.accounts import issue_token
from sealroom.server.routes import jobs as job_routes
from sealroom.server.routes.jobs import MAX_WAITS_PER_USER
from sealroom.storage.database import open_engine, sqlite_url
from sealroom.storage.metadata import MetadataStore
from tests.integration.conftest import BANK, OUTSIDER, InProcessPlatform, ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

ANALYSTS = [f"analyst{i}@x.example" for i in range(16)]
SLEEP_SECONDS = 8


def _sleeping_job(server: ServerProcess) -> tuple[str, dict[str, str]]:
    """A job that runs for SLEEP_SECONDS, and a token per analyst allowed to poll it."""
    store = MetadataStore(open_engine(sqlite_url(server.data_dir / "metadata.sqlite3")))
    tokens = {email: issue_token(store, email) for email in [BANK, *ANALYSTS]}
    store.engine.dispose()
    client = sr.create_client(BANK, tokens[BANK], api_url=server.url)
    b = AnalyticsDcrBuilder(client=client).with_name("polls").with_owner(BANK)
    b.add_node_definition(RawDataNodeDefinition(name="raw", is_required=True))
    b.add_node_definition(
        PythonComputeNodeDefinition(
            name="sleepy",
            script=f"import time\ntime.sleep({SLEEP_SECONDS})\n",
            dependencies=["raw"],
        )
    )
    b.add_participant(BANK, data_owner_of=["raw"], analyst_of=["sleepy"])
    for email in ANALYSTS:
        b.add_participant(email, analyst_of=["sleepy"])
    dcr = client.publish_analytics_dcr(b.build())
    dcr.get_node("raw").upload_and_publish_dataset(io.BytesIO(b"x"), sr.Key(), "x")  # type: ignore[union-attr]
    job = client.session().run_computation(dcr.id, "sleepy")
    return job.id, tokens


def _poll(url: str, job_id: str, token: str, wait: float) -> float:
    started = time.monotonic()
    response = httpx.get(
        f"{url}/v1/jobs/{job_id}",
        params={"wait": wait},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return time.monotonic() - started


def test_many_long_polls_leave_the_server_responsive(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory()
    job_id, tokens = _sleeping_job(server)
    polls = [
        (email, token)
        for email, token in tokens.items()
        if email != BANK
        for _ in range(MAX_WAITS_PER_USER)
    ]
    assert len(polls) == 64
    with ThreadPoolExecutor(max_workers=len(polls)) as pool:
        waiting = [pool.submit(_poll, server.url, job_id, token, 5.0) for _, token in polls]
        time.sleep(1.0)  # every poll is now waiting
        started = time.monotonic()
        health = httpx.get(f"{server.url}/health", timeout=30)
        health_seconds = time.monotonic() - started
        other = _poll(server.url, job_id, tokens[BANK], 0.0)  # another user, not waiting
        durations = [future.result() for future in waiting]
    assert health.status_code == 200
    assert health_seconds < 1.0, f"/health took {health_seconds:.1f} s under 64 long-polls"
    assert other < 1.0
    assert min(durations) > 4.0  # they really waited (the job sleeps longer)


def test_one_user_holds_a_bounded_number_of_long_polls(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory()
    job_id, tokens = _sleeping_job(server)
    token = tokens[ANALYSTS[0]]
    with ThreadPoolExecutor(max_workers=3 * MAX_WAITS_PER_USER) as pool:
        durations = list(
            pool.map(lambda _: _poll(server.url, job_id, token, 3.0), range(3 * MAX_WAITS_PER_USER))
        )
    held = [d for d in durations if d > 2.0]
    assert len(held) == MAX_WAITS_PER_USER, sorted(durations)


def _counting_room(app_platform: InProcessPlatform, query: str) -> tuple[sr.Client, str]:
    """A room of ``BANK``'s with a published table ``t`` and a SQL node ``q`` running ``query``."""
    client = app_platform.client(BANK)
    b = AnalyticsDcrBuilder(client=client).with_name("wake").with_owner(BANK)
    b.add_node_definition(
        TableDataNodeDefinition(
            name="t",
            is_required=True,
            columns=[Column(name="x", format_type=FormatType.INTEGER, is_nullable=False)],
        )
    )
    b.add_node_definition(SqlComputeNodeDefinition(name="q", query=query))
    b.add_participant(BANK, data_owner_of=["t"], analyst_of=["q"])
    dcr = client.publish_analytics_dcr(b.build())
    dcr.get_node("t").upload_and_publish_dataset(io.BytesIO(b"1\n2\n"), sr.Key(), "t.csv")  # type: ignore[union-attr]
    return client, dcr.id


def _hold_jobs(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Jobs wait for the returned event before they run; long-polls look only every 30 s."""
    monkeypatch.setattr(job_routes, "FALLBACK_POLL_SECONDS", 30.0)
    gate = threading.Event()
    execute = TrustedCore.execute_job

    def gated(core: TrustedCore, job: JobRecord) -> None:
        gate.wait(30)
        execute(core, job)

    monkeypatch.setattr(TrustedCore, "execute_job", gated)
    return gate


def test_a_long_poll_answers_when_its_job_finishes(
    app_platform: InProcessPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's end of the job wakes the long-poll: it does not wait for its next look at
    the database (made 30 s apart here, so only the wake-up can answer in time)."""
    gate = _hold_jobs(monkeypatch)
    client, room_id = _counting_room(app_platform, "SELECT count(*) AS n FROM t")
    session = client.session()
    job = session.run_computation(room_id, "q")
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(session.wait_until_computation_has_finished, job)
        time.sleep(0.5)
        assert not waiting.done()  # the long-poll is waiting for the held job
        released = time.monotonic()
        gate.set()
        status = waiting.result(timeout=25)
        answered = time.monotonic() - released
    assert status["status"] == "succeeded"
    assert answered < 5.0, f"answered {answered:.1f} s after the job was let run"
    assert app_platform.platform.job_watch.waiting() == 0


class _Requests(httpx.BaseTransport):
    """The in-process transport, recording each request's method and path (and the query)."""

    def __init__(self, inner: httpx.BaseTransport, refuse_waiting_fetches: bool = False) -> None:
        self.inner = inner
        self.refuse_waiting_fetches = refuse_waiting_fetches
        self.seen: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.method} {request.url.path}?{request.url.query.decode()}")
        if (
            self.refuse_waiting_fetches
            and request.url.path.endswith("/result")
            and "wait" in request.url.params
        ):  # as a server from before waiting fetches answers
            return httpx.Response(
                400,
                json={
                    "detail": "query parameter 'wait' is not one this operation takes",
                    "code": "unknown_query_parameter",
                },
            )
        return self.inner.handle_request(request)


def _client_through(app_platform: InProcessPlatform, transport: httpx.BaseTransport) -> sr.Client:
    return sr.create_client(
        BANK, app_platform.token(BANK), api_url="http://testserver", transport=transport
    )


def test_a_fetch_waits_for_its_job_in_one_request(
    app_platform: InProcessPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Submit, then one fetch that waits: no status request in between, and the result comes
    as soon as the job ends."""
    gate = _hold_jobs(monkeypatch)
    _, room_id = _counting_room(app_platform, "SELECT count(*) AS n FROM t")
    transport = _Requests(app_platform.transport)
    session = _client_through(app_platform, transport).session()
    job = session.run_computation(room_id, "q")
    transport.seen.clear()
    with ThreadPoolExecutor(max_workers=1) as pool:
        fetching = pool.submit(session.get_computation_result, job, result_format="csv")
        time.sleep(0.5)
        assert not fetching.done()
        released = time.monotonic()
        gate.set()
        result = fetching.result(timeout=25)
        answered = time.monotonic() - released
    assert result.decode().splitlines() == ["n", "2"]
    assert answered < 5.0
    assert [line.split("?")[0] for line in transport.seen] == [f"POST /v1/jobs/{job.id}/result"]
    assert "wait=" in transport.seen[0]


def test_a_failed_job_fetched_with_a_wait_raises_its_failure(
    app_platform: InProcessPlatform,
) -> None:
    _, room_id = _counting_room(app_platform, "SELECT CAST('x' || x AS INTEGER) AS n FROM t")
    session = app_platform.client(BANK).session()
    job = session.run_computation(room_id, "q")
    with pytest.raises(sr.ComputationError) as failure:
        session.get_computation_result(job, result_format="csv")
    assert failure.value.job_id == job.id


def test_a_fetch_from_a_server_that_does_not_wait_still_works(
    app_platform: InProcessPlatform,
) -> None:
    _, room_id = _counting_room(app_platform, "SELECT count(*) AS n FROM t")
    transport = _Requests(app_platform.transport, refuse_waiting_fetches=True)
    session = _client_through(app_platform, transport).session()
    job = session.run_computation(room_id, "q")
    assert session.get_computation_result(job, result_format="csv").decode() == "n\n2\n"
    paths = [line.split("?")[0] for line in transport.seen]
    assert f"GET /v1/jobs/{job.id}" in paths  # the status, as before


def test_a_stranger_cannot_wait_on_a_fetch(app_platform: InProcessPlatform) -> None:
    """A waiting fetch is refused as "not found" at once to whoever may not see the job."""
    _, room_id = _counting_room(app_platform, "SELECT count(*) AS n FROM t")
    job = app_platform.client(BANK).session().run_computation(room_id, "q")
    api = httpx.Client(base_url="http://testserver", transport=app_platform.transport)
    started = time.monotonic()
    response = api.post(
        f"/v1/jobs/{job.id}/result",
        params={"wait": 10},
        json={"recipient_public_key": "11" * 32},
        headers={"Authorization": f"Bearer {app_platform.token(OUTSIDER)}"},
    )
    assert response.status_code == 404, response.text
    assert time.monotonic() - started < 5.0
