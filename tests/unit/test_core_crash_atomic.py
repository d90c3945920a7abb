"""A crash between two host writes never leaves an action's rows without its audit entries.

Every action that writes rows (a room, a publication, a job, its outcome, a request, an approval,
a rejection, a commit) hands its audit entries to the same host call, which writes both in one
transaction. Here the host "crashes" (raises) at the second write after an action starts: with
rows and entries written by one call the host holds both or neither; with two calls it would
hold rows whose entries are lost, which the next core takes for rows the host slipped in.
After the crash a new core opens on what the host kept, and sees no tampering.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sealroom.audit import AuditAction
from sealroom.model.commits import Commit, initial_history_pin
from sealroom.model.definition import SqlNode
from sealroom.model.records import JobStatus
from tests.hostile_host import HostileHost
from tests.unit.core_harness import (
    ANALYST,
    BANK,
    INSURER,
    SALES,
    Setup,
    interactive_room,
    setup_fixture,  # noqa: F401 (the fixture setup)
    static_room,
)

#: Every method by which the host persists something.
_WRITES = frozenset(
    {
        "append_audit_rows",
        "save_audit_checkpoint",
        "insert_room",
        "set_room_stopped",
        "put_publication",
        "delete_publication",
        "insert_job",
        "finish_job",
        "put_job_result",
        "insert_request",
        "set_request_status",
        "add_approval",
        "integrate_commit",
        "add_node_executions",
        "set_airlock_usage",
        "set_privacy_budget_spent",
    }
)


class HostDiedError(Exception):
    """The host process died here."""


class CrashingHost(HostileHost):
    """Lets ``writes_left`` more writes through, then crashes at every write (None: never)."""

    writes_left: int | None = None

    def __getattribute__(self, name: str) -> Any:
        attribute = super().__getattribute__(name)
        if name not in _WRITES:
            return attribute

        def write(*args: Any, **kwargs: Any) -> Any:
            left = object.__getattribute__(self, "writes_left")
            if left is not None:
                if left == 0:
                    raise HostDiedError(name)
                self.writes_left = left - 1
            return attribute(*args, **kwargs)

        return write


def _logged(setup: Setup, room_id: str, action: AuditAction, **details: str) -> bool:
    return any(
        event.action is action and all(event.details.get(k) == v for k, v in details.items())
        for event in setup.events(room_id)
    )


def _crash_during(setup: Setup, step: Callable[[], object]) -> None:
    """Run ``step`` with the host crashing at its second write, then restart the core."""
    host = setup.host
    assert isinstance(host, CrashingHost)
    host.writes_left = 1
    try:
        step()
    except HostDiedError:
        pass
    finally:
        host.writes_left = None
    setup.restart()


def _other_request(room_id: str) -> Commit:
    return Commit(
        room_id=room_id,
        history_pin=initial_history_pin(room_id),
        requester=ANALYST,
        nodes=(
            SqlNode(
                name="n_sales", query="SELECT COUNT(*) AS n FROM sales", dependencies=("sales",)
            ),
        ),
    )


@pytest.fixture(name="crashing")
def crashing_fixture(setup: Setup) -> Setup:
    """The harness's setup, on a host that can crash."""
    setup.opened.close()
    setup.host = CrashingHost()
    setup.restart()
    return setup


def test_publishing_a_room(crashing: Setup) -> None:
    definition = static_room().model_dump(mode="json")
    _crash_during(crashing, lambda: crashing.as_(BANK).publish_room(definition))
    (room_id,) = crashing.host.rooms
    assert _logged(crashing, room_id, AuditAction.ROOM_PUBLISHED)
    assert crashing.as_(ANALYST).room_status(room_id) == "active"
    assert crashing.tampering(room_id) == []


def test_publishing_and_validating_a_dataset(crashing: Setup) -> None:
    room_id = crashing.as_(BANK).publish_room(static_room().model_dump(mode="json"))
    _crash_during(crashing, lambda: crashing.publish(room_id, "sales", SALES))
    assert (room_id, "sales") in crashing.host.publications
    assert _logged(crashing, room_id, AuditAction.DATASET_PUBLISHED, node="sales")
    assert _logged(crashing, room_id, AuditAction.DATASET_VALIDATED, node="sales")
    assert crashing.run(room_id, "by_region", {"min": "0"})
    assert crashing.tampering(room_id) == []


def test_submitting_and_finishing_a_job(crashing: Setup) -> None:
    room_id = crashing.as_(BANK).publish_room(static_room().model_dump(mode="json"))
    crashing.publish(room_id, "sales", SALES)
    _crash_during(crashing, lambda: crashing.submit(room_id, "by_region", {"min": "0"}))
    (job_id,) = crashing.host.jobs
    assert _logged(crashing, room_id, AuditAction.JOB_SUBMITTED, job_id=job_id)

    job = crashing.host.claim_next_job()
    assert job is not None
    _crash_during(crashing, lambda: crashing.core.execute_job(job))
    # The job did not finish (its outcome is the last write): the restart queued it again.
    assert crashing.host.jobs[job_id].status == JobStatus.QUEUED
    assert not _logged(crashing, room_id, AuditAction.JOB_COMPLETED, job_id=job_id)
    assert crashing.run_next() == JobStatus.SUCCEEDED
    assert _logged(crashing, room_id, AuditAction.JOB_COMPLETED, job_id=job_id)
    assert crashing.tampering(room_id) == []


def test_submitting_approving_rejecting_and_integrating_requests(crashing: Setup) -> None:
    room_id, commit = interactive_room(crashing)
    other = _other_request(room_id)
    _crash_during(
        crashing,
        lambda: crashing.as_(ANALYST).submit_request(room_id, other.model_dump(mode="json")),
    )
    assert other.commit_id in crashing.host.requests
    assert _logged(crashing, room_id, AuditAction.REQUEST_SUBMITTED, request_id=other.commit_id)

    _crash_during(
        crashing, lambda: crashing.as_(BANK).reject_request(room_id, other.commit_id, "no")
    )
    assert crashing.host.requests[other.commit_id].status == "rejected"
    assert _logged(crashing, room_id, AuditAction.REQUEST_REJECTED, request_id=other.commit_id)

    for owner in (BANK, INSURER):
        _crash_during(
            crashing,
            lambda owner=owner: crashing.as_(owner).approve_request(room_id, commit.commit_id),
        )
        assert owner in crashing.host.approval_rows[commit.commit_id]
    view = crashing.as_(ANALYST).get_request(room_id, commit.commit_id)
    assert view.missing_approvals == []

    _crash_during(
        crashing, lambda: crashing.as_(ANALYST).integrate_request(room_id, commit.commit_id)
    )
    assert len(crashing.host.commit_rows[room_id]) == 1
    assert _logged(crashing, room_id, AuditAction.COMMIT_INTEGRATED, request_id=commit.commit_id)
    assert crashing.as_(ANALYST).get_request(room_id, commit.commit_id).status == "integrated"
    assert crashing.tampering(room_id) == []
