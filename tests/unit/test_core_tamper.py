"""The core believes only what it can verify: a host that lies about any fact is caught.

The core runs here on :class:`tests.hostile_host.HostileHost`, an in-memory host a test edits as
a malicious operator edits the database (the harness is :mod:`tests.unit.core_harness`). For
every fact the core enforces — a room's status, the dataset published to a node, the privacy
budget spent, airlock usage, rate-limit windows, a job's specification and parameters, requests,
approvals and commits, the audit log itself — the host's copy is changed (while the core runs,
and across a restart of the core), and the core must refuse or detect it: it decides from the
room's audit log, reports the disagreement in a ``TAMPERING_DETECTED`` entry (never quoting what
the host wrote) and repairs the host's copy. The one thing it cannot see alone is a rollback of
everything at once (the last test).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from sealroom.audit import AuditLog
from sealroom.audit.checkpoint import open_checkpoint, room_origin
from sealroom.audit.log import check_extends
from sealroom.enclave.verified_state import RoomFacts
from sealroom.errors import (
    ConflictError,
    NotFoundError,
    TooManyRequestsError,
    VerificationError,
)
from sealroom.model.records import JobStatus, now_ms
from sealroom.model.room_state import derive_room_state
from sealroom.model.wire import AirlockQuota
from tests.unit.core_harness import (
    ANALYST,
    BANK,
    INSURER,
    SALES,
    Setup,
    interactive_room,
    room_fixture,  # noqa: F401 (the fixture room)
    setup_fixture,  # noqa: F401 (the fixture setup)
    static_room,
)

# -- honest runs ----------------------------------------------------------------------------


def test_an_honest_host_sees_no_tampering(setup: Setup, room: str) -> None:
    job = setup.run(room, "by_region", {"min": "0"})
    assert setup.host.jobs[job].status == JobStatus.SUCCEEDED
    setup.run(room, "dp_count")
    setup.run(room, "peek")
    setup.as_(BANK).stop_room(room)
    assert setup.as_(ANALYST).room_status(room) == "stopped"
    setup.restart()
    assert setup.as_(ANALYST).room_status(room) == "stopped"
    assert setup.as_(ANALYST).privacy_budget(room).epsilon_spent == 1.0
    assert setup.tampering(room) == []
    # The host's copies are what the log says.
    assert setup.host.rooms[room].stopped_at_ms is not None
    assert setup.host.budget[room] == (1.0, pytest.approx(1e-6))
    assert len(setup.host.executions[(room, "by_region")]) == 1


def test_the_signed_room_state_is_the_one_derived_from_the_whole_log(
    setup: Setup, room: str
) -> None:
    setup.as_(BANK).stop_room(room)
    canonical = setup.as_(ANALYST).room_state(room).state
    assert json.loads(canonical) == json.loads(
        derive_room_state(room, setup.events(room)).canonical()
    )


# -- stopped ----------------------------------------------------------------------------------


@pytest.mark.parametrize("restart", [False, True], ids=["running", "restarted"])
def test_clearing_stopped_does_not_restart_a_room(setup: Setup, room: str, restart: bool) -> None:
    setup.as_(BANK).stop_room(room)
    setup.host.rooms[room] = replace(setup.host.rooms[room], stopped_at_ms=None)
    if restart:
        setup.restart()
    with pytest.raises(ConflictError, match="stopped") as refused:
        setup.submit(room, "by_region", {"min": "0"})
    assert refused.value.code == "room_stopped"
    assert setup.as_(ANALYST).room_status(room) == "stopped"
    assert setup.tampering(room) == ["the room's status"]
    assert setup.host.rooms[room].stopped_at_ms is not None  # repaired from the log


def test_a_host_stopping_a_room_does_not_stop_it(setup: Setup, room: str) -> None:
    setup.host.rooms[room] = replace(setup.host.rooms[room], stopped_at_ms=now_ms())
    assert setup.as_(ANALYST).room_status(room) == "active"
    setup.run(room, "dp_count")
    assert setup.tampering(room) == ["the room's status"]


def test_a_queued_job_of_a_stopped_room_does_not_run(setup: Setup, room: str) -> None:
    job = setup.submit(room, "dp_count")
    setup.as_(BANK).stop_room(room)
    setup.host.rooms[room] = replace(setup.host.rooms[room], stopped_at_ms=None)
    assert setup.run_next() == JobStatus.FAILED
    assert setup.host.jobs[job].error_code == "job_refused"


# -- published datasets -------------------------------------------------------------------------


def test_restoring_an_older_publication_is_refused(setup: Setup, room: str) -> None:
    old = setup.host.publications[(room, "sales")]
    new_id = setup.publish(room, "sales", b"east,1\n")
    setup.host.publications[(room, "sales")] = old  # the older dataset, its key still opens
    job = setup.submit(room, "dp_count")
    assert setup.run_next() == JobStatus.FAILED
    assert setup.host.jobs[job].error_code == "dataset_tampered"
    with pytest.raises(ConflictError, match="lost or replaced") as refused:
        setup.as_(BANK).validation_report(room, "sales")
    assert refused.value.code == "dataset_tampered"
    listed = setup.as_(ANALYST).published_datasets(room)
    assert [(d.node, d.dataset_id) for d in listed] == [("sales", new_id)]
    assert setup.tampering(room) == ["the publication of node sales"]


def test_a_dropped_publication_is_not_an_empty_table(setup: Setup, room: str) -> None:
    del setup.host.publications[(room, "sales")]
    setup.restart()
    job = setup.submit(room, "dp_count")
    assert setup.run_next() == JobStatus.FAILED
    assert setup.host.jobs[job].error_code == "dataset_tampered"
    assert setup.tampering(room) == ["the publication of node sales"]


def test_a_publication_the_log_removed_stays_removed(setup: Setup, room: str) -> None:
    row = setup.host.publications[(room, "sales")]
    setup.as_(BANK).remove_dataset(room, "sales")
    setup.host.publications[(room, "sales")] = row
    assert setup.as_(ANALYST).published_datasets(room) == []
    with pytest.raises(NotFoundError):
        setup.as_(BANK).validation_report(room, "sales")
    assert setup.tampering(room) == ["the publication of node sales"]


# -- the privacy budget -------------------------------------------------------------------------


@pytest.mark.parametrize("restart", [False, True], ids=["running", "restarted"])
def test_deleting_the_budget_gives_no_fresh_budget(setup: Setup, room: str, restart: bool) -> None:
    setup.run(room, "dp_count")  # spends 1.0 of 1.5
    del setup.host.budget[room]
    if restart:
        setup.restart()
    assert setup.as_(ANALYST).privacy_budget(room).epsilon_spent == 1.0
    job = setup.run(room, "dp_count")
    assert setup.host.jobs[job].error_code == "privacy_budget_exhausted"
    assert setup.tampering(room) == ["the privacy budget spent"]
    assert setup.host.budget[room][0] == 1.0


# -- airlock quotas ------------------------------------------------------------------------------


def test_deleting_airlock_usage_gives_no_fresh_quota(setup: Setup, room: str) -> None:
    first = setup.run(room, "peek")
    assert setup.host.jobs[first].status == JobStatus.SUCCEEDED
    used = setup.as_(ANALYST).airlock_quotas(room).quotas["peek"].used
    assert used > 250  # a second result would pass the quota of 500 bytes
    setup.host.airlock.clear()
    setup.restart()
    assert setup.as_(ANALYST).airlock_quotas(room).quotas["peek"] == AirlockQuota(
        limit=500, used=used
    )
    second = setup.run(room, "peek")
    assert setup.host.jobs[second].error_code == "airlock_quota_exceeded"
    assert setup.tampering(room) == [f"the airlock usage of {ANALYST} on peek"]


# -- rate limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize("restart", [False, True], ids=["running", "restarted"])
def test_deleting_executions_does_not_reset_a_rate_limit(
    setup: Setup, room: str, restart: bool
) -> None:
    setup.submit(room, "by_region", {"min": "0"})
    setup.submit(room, "by_region", {"min": "1"})
    setup.host.executions.clear()
    if restart:
        setup.restart()
    with pytest.raises(TooManyRequestsError, match="rate limit"):
        setup.submit(room, "by_region", {"min": "2"})
    assert setup.tampering(room) == ["the rate-limit window of computation by_region"]
    assert len(setup.host.executions[(room, "by_region")]) == 2


# -- jobs: specification, parameters, node, submitter --------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("parameters", json.dumps({"min": "-1000"})),
        ("node", "dp_count"),
        ("submitted_by", BANK),
        ("spec", json.dumps({"kind": "development", "node": {}, "sql": True})),
    ],
)
def test_a_queued_job_edited_by_the_host_does_not_run(
    setup: Setup, room: str, column: str, value: str
) -> None:
    job = setup.submit(room, "by_region", {"min": "5"})
    setup.host.edit_job(job, **{column: value})
    setup.restart()
    assert setup.run_next() == JobStatus.FAILED
    assert setup.host.jobs[job].error_code == "job_tampered"
    assert setup.tampering(room) == [f"job {job}"]
    notes = " ".join(event.notes for event in setup.events(room))
    assert "-1000" not in notes  # what the host wrote is never repeated
    with pytest.raises(ConflictError) as refused:
        setup.as_(ANALYST).job_status(job)
    assert refused.value.code == "job_tampered"


def test_a_job_moved_to_another_room_is_refused(setup: Setup, room: str) -> None:
    job = setup.submit(room, "by_region", {"min": "5"})
    other = setup.as_(BANK).publish_room(
        static_room().model_copy(update={"name": "other"}).model_dump(mode="json"),
    )
    setup.host.edit_job(job, room_id=other)
    assert setup.run_next() == JobStatus.FAILED
    assert setup.tampering(room) == [f"job {job}"]  # reported in the ticket's room
    assert setup.tampering(other) == []


def test_tickets_cannot_be_swapped_or_dropped(setup: Setup, room: str) -> None:
    low = setup.submit(room, "by_region", {"min": "5"})
    high = setup.submit(room, "by_region", {"min": "50"})
    ticket = setup.host.jobs[low].ticket
    setup.host.edit_job(low, ticket=setup.host.jobs[high].ticket)
    setup.host.edit_job(high, ticket=None)
    assert setup.run_next() == JobStatus.FAILED
    assert setup.run_next() == JobStatus.FAILED
    assert setup.host.jobs[low].error_code == "job_tampered"
    assert "was altered" in (setup.host.jobs[low].error_message or "")
    assert "no ticket" in (setup.host.jobs[high].error_message or "")
    assert ticket is not None
    # Both are said in the room's log, where every participant sees them.
    assert sorted(setup.tampering(room)) == sorted([f"job {low}", f"job {high}"])


def test_a_ticketless_job_filed_under_a_room_the_core_never_made_makes_no_log(
    setup: Setup, room: str
) -> None:
    job = setup.submit(room, "by_region", {"min": "5"})
    stranger = "f" * 64
    setup.host.edit_job(job, ticket=None, room_id=stranger)
    assert setup.run_next() == JobStatus.FAILED
    assert setup.host.jobs[job].error_code == "job_tampered"
    assert stranger not in setup.host.entries
    assert setup.tampering(room) == []


def test_a_finished_job_queued_again_does_not_run_again(setup: Setup, room: str) -> None:
    job = setup.run(room, "dp_count")
    setup.host.edit_job(job, status=JobStatus.QUEUED)
    setup.restart()
    assert setup.run_next() == JobStatus.FAILED
    assert setup.as_(ANALYST).privacy_budget(room).epsilon_spent == 1.0  # charged once
    assert setup.tampering(room) == [f"job {job}"]


def test_a_result_is_released_from_the_ticket_only(setup: Setup, room: str) -> None:
    job = setup.run(room, "by_region", {"min": "5"})
    setup.host.edit_job(job, parameters=json.dumps({"min": "0"}))
    with pytest.raises(ConflictError) as refused:
        setup.as_(ANALYST).retrieve_result(room, job, setup.recipient.public_key.to_bytes(), "csv")
    assert refused.value.code == "job_tampered"
    setup.host.edit_job(job, parameters=json.dumps({"min": "5"}))
    sealed, _, _ = setup.as_(ANALYST).retrieve_result(
        room, job, setup.recipient.public_key.to_bytes(), "csv"
    )
    assert sealed


def test_a_stranger_probing_a_tampered_job_learns_nothing(setup: Setup, room: str) -> None:
    job = setup.submit(room, "by_region", {"min": "5"})
    setup.host.edit_job(job, parameters=json.dumps({"min": "0"}))
    with pytest.raises(NotFoundError) as refused:
        setup.as_("mallory@elsewhere.example").job_status(job)
    assert room not in str(refused.value)


# -- requests, approvals and commits -------------------------------------------------------------


def test_a_rejected_request_stays_rejected(setup: Setup) -> None:
    room_id, commit = interactive_room(setup)
    setup.as_(BANK).approve_request(room_id, commit.commit_id)
    setup.as_(INSURER).reject_request(room_id, commit.commit_id, "no")
    record = setup.host.requests[commit.commit_id]
    setup.host.requests[commit.commit_id] = replace(record, status="pending", rejected_by=None)
    setup.restart()
    with pytest.raises(ConflictError) as refused:
        setup.as_(INSURER).approve_request(room_id, commit.commit_id)
    assert refused.value.code == "request_closed"
    assert setup.as_(ANALYST).get_request(room_id, commit.commit_id).status == "rejected"
    assert setup.tampering(room_id) == [f"the status of request {commit.commit_id}"]


def test_approvals_count_as_the_log_records_them(setup: Setup) -> None:
    room_id, commit = interactive_room(setup)
    setup.as_(BANK).approve_request(room_id, commit.commit_id)
    setup.as_(INSURER).approve_request(room_id, commit.commit_id)
    setup.host.approval_rows[commit.commit_id].pop(BANK)  # the host "loses" one
    view = setup.as_(ANALYST).get_request(room_id, commit.commit_id)
    assert view.missing_approvals == []
    assert set(view.approvals) == {BANK, INSURER}
    assert setup.tampering(room_id) == [f"the approvals of request {commit.commit_id}"]
    setup.as_(ANALYST).integrate_request(room_id, commit.commit_id)


def test_a_forged_approval_never_counts(setup: Setup) -> None:
    room_id, commit = interactive_room(setup)
    setup.as_(BANK).approve_request(room_id, commit.commit_id)
    setup.host.add_approval(commit.commit_id, INSURER, bytes(64))
    with pytest.raises(ConflictError) as refused:
        setup.as_(ANALYST).integrate_request(room_id, commit.commit_id)
    assert refused.value.code == "approval_missing"
    assert setup.tampering(room_id) == [f"the approvals of request {commit.commit_id}"]


def test_dropped_or_altered_commits_refuse_the_room(setup: Setup) -> None:
    room_id, commit = interactive_room(setup)
    for owner in (BANK, INSURER):
        setup.as_(owner).approve_request(room_id, commit.commit_id)
    setup.as_(ANALYST).integrate_request(room_id, commit.commit_id)
    saved = setup.host.commit_rows[room_id]
    setup.host.commit_rows[room_id] = []
    setup.restart()
    with pytest.raises(VerificationError, match="audit log records"):
        setup.as_(BANK).retrieve_room(room_id)
    setup.host.commit_rows[room_id] = [replace(saved[0], integrated_by=INSURER, commit=b"{}")]
    setup.restart()
    with pytest.raises(VerificationError):
        setup.as_(BANK).retrieve_room(room_id)


# -- the audit log ---------------------------------------------------------------------------------


@pytest.mark.parametrize("edit", ["drop the last", "edit one", "reorder", "drop all"])
def test_edited_audit_entries_are_refused_after_a_restart(
    setup: Setup, room: str, edit: str
) -> None:
    setup.as_(BANK).stop_room(room)  # a fact: the core checkpoints the log after it
    entries = setup.host.entries[room]
    if edit == "drop the last":
        entries.pop()
    elif edit == "edit one":
        entries[-1] = entries[-1].replace("ROOM_STOPPED", "ROOM_PUBLISHED")
    elif edit == "reorder":
        entries[1], entries[2] = entries[2], entries[1]
    else:
        entries.clear()
    setup.host.rooms[room] = replace(setup.host.rooms[room], stopped_at_ms=None)
    setup.restart()
    with pytest.raises((VerificationError, ValueError)):
        setup.as_(ANALYST).room_status(room)


def test_the_log_served_is_checked_against_the_cores_tree(setup: Setup, room: str) -> None:
    """The core keeps a leaf hash per entry, not the entries (its memory does not grow with
    the log's text): the entries it serves are read from the host, and one the host edited
    while the core runs is refused, not served."""
    events, _ = setup.as_(ANALYST).audit_log(room)
    assert [e.seq for e in events] == list(range(len(events)))
    with pytest.raises(ValueError, match="leaf hashes only"):
        setup.core._core.audit.log(room).events()
    entries = setup.host.entries[room]
    entries[1] = entries[1].replace("published dataset", "published nothing")
    with pytest.raises(VerificationError, match="altered or lost"):
        setup.as_(ANALYST).audit_log(room)
    assert setup.as_(ANALYST).audit_log(room, 2)[0] == events[2:]  # the rest still reads
    entries.pop()
    with pytest.raises(VerificationError, match="altered or lost"):
        setup.as_(ANALYST).audit_log(room, 2)


def test_a_rollback_of_everything_is_seen_only_by_who_saw_later(setup: Setup, room: str) -> None:
    """The limit docs/security.md states: a host restoring a whole earlier copy (events, checkpoint
    and caches together) is not detectable by the core alone — a client that kept a later
    checkpoint detects it, because the served log does not extend it."""
    before = setup.host.snapshot()
    setup.as_(BANK).stop_room(room)
    _, later = setup.as_(ANALYST).audit_log(room)
    setup.host.restore(before)
    setup.restart()
    assert setup.as_(ANALYST).room_status(room) == "active"  # the core alone cannot tell
    events, note = setup.as_(ANALYST).audit_log(room)
    served = AuditLog(room, events)
    verify_key = setup.core.verify_key
    kept = open_checkpoint(later, room_origin(room), verify_key)
    assert kept.size > served.size
    with pytest.raises(VerificationError, match="truncated"):
        check_extends(kept, room_origin(room), served)
    assert note


# -- the verified state itself -------------------------------------------------------------------


def test_facts_folded_incrementally_equal_facts_folded_at_load(setup: Setup, room: str) -> None:
    setup.run(room, "by_region", {"min": "0"})
    setup.run(room, "dp_count")
    setup.run(room, "peek")
    setup.as_(BANK).stop_room(room)
    running = setup.core.facts(room)
    incremental = replace(running, executions={}), dict(running.executions)
    folded = RoomFacts(room)
    for event in setup.events(room):
        folded.fold(event)
    assert replace(folded, executions={}) == incremental[0]
    assert {k: list(v) for k, v in folded.executions.items()} == {
        k: list(v) for k, v in incremental[1].items()
    }
    assert folded.epsilon_spent == 1.0
    assert folded.stopped
    assert folded.airlock(ANALYST)["peek"] > 0


# -- the core's own work -------------------------------------------------------------------------


def test_publishing_a_table_unseals_its_key_once(
    setup: Setup, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key is opened once, checked against the manifest, and validation decrypts with it."""
    from sealroom.enclave import inputs

    opened: list[bytes] = []
    real = inputs.open_sealed

    def counting(*args: object, **kwargs: object) -> bytes:
        material = real(*args, **kwargs)  # type: ignore[arg-type]
        opened.append(material)
        return material

    monkeypatch.setattr(inputs, "open_sealed", counting)
    setup.publish(room, "sales", SALES + b"west,7\n")
    assert len(opened) == 1
    listed = setup.as_(ANALYST).published_datasets(room)
    assert [d.validation for d in listed] == ["PASSED"]
