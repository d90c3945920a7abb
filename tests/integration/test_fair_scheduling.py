"""Computations share the server fairly, through a real ``sealroom serve`` (issue 13, 10-11).

One user's sixty queued jobs delayed another room's job by 17-40 s, and test runs ignored the
worker bound (sixteen sandboxes at once on a two-worker server). Now jobs take turns between
users, one user may have a bounded number of unfinished jobs, and test runs take the same
slots as jobs.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    PythonComputeNodeDefinition,
    RawDataNodeDefinition,
)
from tests.integration.conftest import BANK, INSURER, ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]


def _builder(client: sr.Client, seconds: float) -> AnalyticsDcrBuilder:
    b = AnalyticsDcrBuilder(client=client).with_name("busy").with_owner(BANK)
    b.add_node_definition(RawDataNodeDefinition(name="raw", is_required=True))
    for name, pause in (("slow", seconds), ("quick", 0.0)):
        b.add_node_definition(
            PythonComputeNodeDefinition(
                name=name, script=f"import time\ntime.sleep({pause})\n", dependencies=["raw"]
            )
        )
    b.add_participant(BANK, data_owner_of=["raw"], analyst_of=["slow", "quick"])
    b.add_participant(INSURER, analyst_of=["quick"])
    return b


def _room(server: ServerProcess, seconds: float) -> tuple[AnalyticsDcr, sr.Client, sr.Client]:
    bank = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
    insurer = sr.create_client(INSURER, server.add_user(INSURER), api_url=server.url)
    dcr = bank.publish_analytics_dcr(_builder(bank, seconds).build())
    dcr.get_node("raw").upload_and_publish_dataset(io.BytesIO(b"x"), sr.Key(), "x")  # type: ignore[union-attr]
    return dcr, bank, insurer


def test_one_users_queue_does_not_hold_back_another_user(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory(SEALROOM_WORKERS="1")
    dcr, bank, insurer = _room(server, 1.5)
    many = [bank.session().run_computation(dcr.id, "slow") for _ in range(5)]
    one = insurer.session().run_computation(dcr.id, "quick")
    finished = {}
    for job in [*many, one]:
        session = (insurer if job is one else bank).session()
        finished[job.id] = session.wait_until_computation_has_finished(job, timeout=120)[
            "finished_at_ms"
        ]
    before = [job for job in many if finished[job.id] < finished[one.id]]
    # Its turn comes after the bank's running job and at most one more, not after all five.
    assert len(before) <= 2, f"{len(before)} of the bank's jobs went first"


def test_a_user_has_a_bounded_number_of_unfinished_jobs(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory(SEALROOM_WORKERS="1", SEALROOM_MAX_UNFINISHED_JOBS_PER_USER="3")
    dcr, bank, insurer = _room(server, 5.0)
    for _ in range(3):
        bank.session().run_computation(dcr.id, "slow")
    with pytest.raises(sr.TooManyRequestsError, match="3 computations queued or running"):
        bank.session().run_computation(dcr.id, "slow")
    insurer.session().run_computation(dcr.id, "quick")  # another user is not held back


def test_test_runs_take_the_workers_slots(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory(SEALROOM_WORKERS="1")
    bank = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
    draft = _builder(bank, 2.0)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = list(pool.map(lambda _: draft.test_all_computations(), range(3)))
    elapsed = time.monotonic() - started
    assert all(result.status == "success" for run in runs for result in run), runs
    # One slot: the three runs (two seconds of sleeping each) went one after another.
    assert elapsed >= 6.0, f"three test runs took {elapsed:.1f} s: they ran side by side"
