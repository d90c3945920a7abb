"""The trusted core's verified state, and the one door every action goes through.

:class:`RoomFacts` is what the core believes about a room: a function of the room's audit log
alone, folded entry by entry. The first half feeds it entries as the core writes them and checks
each fact; the second half runs an in-process core (on :class:`tests.hostile_host.HostileHost`,
with the harness of :mod:`tests.unit.core_harness`, as :mod:`tests.unit.test_core_tamper` does)
and checks what :class:`Authority` decides, audits and remembers.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest

from sealroom.audit import AuditAction, AuditEvent, event_from_wire, kinds
from sealroom.audit.events import DetailValue
from sealroom.enclave.authorize import Authority
from sealroom.enclave.verified_state import NONCE_MEMORY_MS, PublishedDataset, RoomFacts
from sealroom.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    VerificationError,
)
from sealroom.model.definition import MAX_RATE_LIMIT_WINDOW_SECONDS
from sealroom.model.policy import Action
from sealroom.model.principal import Principal
from sealroom.model.records import now_ms
from tests.unit.core_harness import (
    ANALYST,
    BANK,
    INSURER,
    Setup,
    interactive_room,
    room_fixture,  # noqa: F401 (the fixture room)
    setup_fixture,  # noqa: F401 (the fixture setup)
)

ROOM = "r" * 64
STRANGER = "eve@elsewhere.example"
MAX_WINDOW_MS = MAX_RATE_LIMIT_WINDOW_SECONDS * 1000


# -- RoomFacts, fed entry by entry ---------------------------------------------------------------


class Log:
    """A room's log being written: each entry is folded into ``facts`` as it is appended."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self.facts = RoomFacts(ROOM)

    def add(
        self,
        kind: kinds.EventKind | None = None,
        *,
        user: str = BANK,
        at: int = 1_000,
        action: AuditAction | None = None,
        details: dict[str, DetailValue] | None = None,
    ) -> AuditEvent:
        event = AuditEvent(
            ROOM,
            len(self.events),
            at,
            user,
            action if action is not None else type(kind).ACTION,
            "",
            details if details is not None else (kind.to_details() if kind else {}),
        )
        self.events.append(event)
        self.facts.fold(event)
        return event


def submitted(node: str, rate_limited: tuple[str, ...]) -> kinds.JobSubmitted:
    return kinds.JobSubmitted(node, "job-" + node, "key", rate_limited)


def test_a_new_room_is_active_and_empty() -> None:
    facts = RoomFacts(ROOM)
    assert not facts.stopped
    assert facts.size == 0
    assert facts.runs_since("by_region", 0) == []
    assert facts.airlock(ANALYST) == {}
    state = facts.room_state()
    assert (state.room_id, state.version, state.status) == (ROOM, 0, "active")


def test_every_entry_counts_but_only_facts_change_facts() -> None:
    log = Log()
    log.add(kinds.AccessDenied("stop_room", None, "no"), user=STRANGER)
    log.add(kinds.TamperingDetected("the room's status"))
    log.add(kinds.ResultRetrieved("peek", "job-1", "csv", "key"), user=ANALYST)
    assert log.facts.size == 3
    assert log.facts == replace(RoomFacts(ROOM), size=3)


def test_a_room_is_stopped_from_its_first_stop() -> None:
    log = Log()
    log.add(kinds.RoomStopped(), at=5_000)
    log.add(kinds.RoomStopped(), at=9_000)
    assert log.facts.stopped
    assert log.facts.stopped_at_ms == 5_000
    assert log.facts.room_state().status == "stopped"
    assert log.facts.room_state().version == 2


def test_datasets_published_validated_and_removed() -> None:
    log = Log()
    log.add(kinds.DatasetPublished("sales", "d1"), user=BANK, at=10)
    log.add(kinds.DatasetPublished("claims", "d2"), user=INSURER, at=20)
    assert log.facts.datasets == {
        "sales": PublishedDataset("d1", BANK, 10),
        "claims": PublishedDataset("d2", INSURER, 20),
    }
    # Validation binds to the dataset it names: another dataset's or another node's is ignored.
    log.add(kinds.DatasetValidated("sales", "d1", "PASSED"))
    log.add(kinds.DatasetValidated("claims", "d1", "FAILED"))
    log.add(kinds.DatasetValidated("nowhere", "d1", "FAILED"))
    assert log.facts.datasets["sales"].validation == "PASSED"
    assert log.facts.datasets["claims"].validation is None
    assert "nowhere" not in log.facts.datasets
    # A newer publication replaces the older one and is not validated yet.
    log.add(kinds.DatasetPublished("sales", "d3"), user=BANK, at=30)
    assert log.facts.datasets["sales"] == PublishedDataset("d3", BANK, 30)
    log.add(kinds.DatasetValidated("sales", "d1", "PASSED"))  # the old one's: not this binding
    assert log.facts.datasets["sales"].validation is None
    log.add(kinds.DatasetValidated("sales", "d3", "FAILED"))
    assert log.facts.datasets["sales"].validation == "FAILED"
    log.add(kinds.DatasetRemoved("claims"))
    log.add(kinds.DatasetRemoved("never-published"))
    assert set(log.facts.datasets) == {"sales"}
    assert log.facts.room_state().datasets == {"sales": "d3"}


def test_privacy_budget_spent_adds_up_each_charge() -> None:
    log = Log()
    log.add(kinds.PrivacyBudgetCharged.of("j1", "dp", 0.5, 1e-6, (0.0, 0.0)))
    log.add(kinds.PrivacyBudgetCharged.of("j2", "dp", 0.25, 2e-6, (0.5, 1e-6)))
    assert log.facts.epsilon_spent == 0.75
    assert log.facts.delta_spent == pytest.approx(3e-6)


def test_airlock_use_is_per_node_and_user_whatever_the_case() -> None:
    log = Log()
    log.add(kinds.AirlockQuotaCharged("peek", "j1", 100, 100), user=ANALYST)
    log.add(kinds.AirlockQuotaCharged("peek", "j2", 50, 150), user=ANALYST.upper())
    log.add(kinds.AirlockQuotaCharged("glance", "j3", 7, 7), user=ANALYST)
    log.add(kinds.AirlockQuotaCharged("peek", "j4", 30, 30), user=BANK)
    assert log.facts.airlock_used == {
        ("peek", ANALYST): 150,
        ("glance", ANALYST): 7,
        ("peek", BANK): 30,
    }
    assert log.facts.airlock(ANALYST.upper()) == {"peek": 150, "glance": 7}
    assert log.facts.airlock(BANK) == {"peek": 30}
    assert log.facts.airlock(STRANGER) == {}


def test_every_kind_of_submission_counts_its_rate_limited_nodes() -> None:
    log = Log()
    log.add(submitted("by_region", ("by_region", "regions")), at=100)
    log.add(kinds.DevelopmentJobSubmitted("dev", "j2", "key", ("by_region",)), at=200)
    log.add(kinds.RequestPreviewSubmitted("preview", "j3", "key", ("regions",)), at=300)
    log.add(submitted("free", ()), at=400)
    assert log.facts.runs_since("by_region", 0) == [100, 200]
    assert log.facts.runs_since("regions", 0) == [100, 300]
    assert log.facts.runs_since("free", 0) == []
    assert not log.facts.legacy_submissions


def test_a_submission_naming_no_rate_limited_nodes_is_legacy() -> None:
    log = Log()
    details: dict[str, DetailValue] = {"node": "by_region", "job_id": "j1", "recipient_key": "k"}
    log.add(action=AuditAction.JOB_SUBMITTED, details=details)
    assert log.facts.legacy_submissions
    assert log.facts.executions == {}


def test_runs_are_counted_after_the_window_start_and_forgotten_past_the_longest_window() -> None:
    since = 10 * MAX_WINDOW_MS
    log = Log()
    for at in (since - MAX_WINDOW_MS, since - MAX_WINDOW_MS + 1, since, since + 1, since + 2):
        log.add(submitted("n", ("n",)), at=at)
    assert log.facts.runs_since("n", since) == [since + 1, since + 2]
    assert log.facts.runs_since("n", since - 2) == [since, since + 1, since + 2]
    # Only the run that no window can reach any more is forgotten.
    assert list(log.facts.executions["n"]) == [
        since - MAX_WINDOW_MS + 1,
        since,
        since + 1,
        since + 2,
    ]
    assert log.facts.runs_since("n", 0) == list(log.facts.executions["n"])


def test_commits_requests_and_approvals() -> None:
    log = Log()
    log.add(kinds.RequestApproved("q1", "sales"), user=BANK, at=10)
    log.add(kinds.RequestApproved("q1", "claims"), user=INSURER.upper(), at=20)
    log.add(kinds.RequestApproved("q1", "sales"), user=BANK, at=30)  # again: the latest counts
    log.add(kinds.RequestApproved("q2", "sales"), user=BANK, at=40)
    assert log.facts.approvers == {"q1": {BANK: 30, INSURER: 20}, "q2": {BANK: 40}}
    log.add(kinds.CommitIntegrated("q1", "c1", 1, "pin-1", "both"))
    log.add(kinds.RequestRejected("q2", "no"))
    log.add(kinds.RequestSuperseded("q3"))
    log.add(kinds.CommitIntegrated("q4", "c2", 2, "pin-2", "more"))
    assert log.facts.commit_ids == ["c1", "c2"]
    assert log.facts.history_pin == "pin-2"
    assert log.facts.room_state().history_pin == "pin-2"
    assert log.facts.closed_requests == {
        "q1": "integrated",
        "q2": "rejected",
        "q3": "superseded",
        "q4": "integrated",
    }
    # A closed request stays as it was closed first.
    log.add(kinds.RequestSuperseded("q2"))
    log.add(kinds.RequestRejected("q1", "too late"))
    assert log.facts.closed_requests["q1"] == "integrated"
    assert log.facts.closed_requests["q2"] == "rejected"


def test_finished_jobs_are_the_completed_and_the_failed() -> None:
    log = Log()
    log.add(submitted("a", ()))
    log.add(kinds.JobCompleted("a", "j1", "succeeded"))
    log.add(kinds.JobFailed("a", "j2", "job_refused"))
    assert log.facts.finished_jobs == {"j1", "j2"}


def test_an_entry_missing_its_details_changes_no_fact() -> None:
    log = Log()
    for action in (
        AuditAction.DATASET_PUBLISHED,
        AuditAction.PRIVACY_BUDGET_CHARGED,
        AuditAction.AIRLOCK_QUOTA_CHARGED,
        AuditAction.COMMIT_INTEGRATED,
        AuditAction.REQUEST_APPROVED,
        AuditAction.JOB_COMPLETED,
    ):
        log.add(action=action, details={"unrelated": "x"})
    assert log.facts == replace(RoomFacts(ROOM), size=6)


def test_folding_in_steps_equals_folding_from_scratch() -> None:
    log = Log()
    log.add(kinds.DatasetPublished("sales", "d1"), at=1)
    log.add(submitted("n", ("n",)), at=2)
    log.add(kinds.PrivacyBudgetCharged.of("j1", "dp", 0.5, 0.0, (0.0, 0.0)), at=3)
    midway = copy.deepcopy(log.facts)
    log.add(kinds.AirlockQuotaCharged("peek", "j2", 9, 9), user=ANALYST, at=4)
    log.add(kinds.CommitIntegrated("q", "c", 1, "pin", "x"), at=5)
    log.add(submitted("n", ("n",)), at=6)
    log.add(kinds.RoomStopped(), at=7)
    for event in log.events[midway.size :]:
        midway.fold(event)
    scratch = RoomFacts(ROOM)
    for event in log.events:
        scratch.fold(event)
    for facts in (midway, scratch):
        assert replace(facts, executions={}) == replace(log.facts, executions={})
        assert {k: list(v) for k, v in facts.executions.items()} == {"n": [2, 6]}
        assert facts.room_state() == log.facts.room_state()


# -- a core: its facts and its decisions ---------------------------------------------------------


def authority(setup: Setup) -> Authority:
    return setup.core._core.authority


def denials(setup: Setup, room_id: str) -> list[AuditEvent]:
    return [
        event_from_wire(json.loads(raw))
        for raw in setup.host.entries[room_id]
        if json.loads(raw)["action"] == AuditAction.ACCESS_DENIED.value
    ]


def test_the_core_believes_what_its_log_says_before_and_after_a_restart(
    setup: Setup, room: str
) -> None:
    dataset_id = setup.core.facts(room).datasets["sales"].dataset_id
    setup.run(room, "by_region", {"min": "0"})
    setup.run(room, "dp_count")
    setup.as_(BANK).stop_room(room)
    running = setup.core.facts(room)
    assert running.stopped
    assert running.datasets["sales"].publisher == BANK
    assert running.room_state().datasets == {"sales": dataset_id}
    assert running.epsilon_spent == 1.0
    assert len(running.runs_since("by_region", 0)) == 1
    assert len(running.finished_jobs) == 2
    assert running.size == len(setup.host.entries[room])
    setup.restart()
    again = setup.core.facts(room)
    assert replace(again, executions={}) == replace(running, executions={})
    assert again.runs_since("by_region", 0) == running.runs_since("by_region", 0)


def test_an_allowed_action_carries_who_what_where_and_the_verified_room(
    setup: Setup, room: str
) -> None:
    allowed = authority(setup).authorize(
        Principal.of(ANALYST), room, Action.RUN_COMPUTATION, node="by_region"
    )
    assert allowed.principal == Principal.of(ANALYST)
    assert allowed.action is Action.RUN_COMPUTATION
    assert allowed.node == "by_region"
    assert allowed.room_id == room
    assert not allowed.stopped
    assert allowed.definition.node("by_region") is not None
    assert denials(setup, room) == []
    setup.as_(BANK).stop_room(room)
    status = authority(setup).authorize(Principal.of(ANALYST), room, Action.RETRIEVE_STATUS)
    assert status.stopped
    assert status.node is None


def test_a_stranger_is_told_no_room_and_the_denial_is_audited(setup: Setup, room: str) -> None:
    with pytest.raises(NotFoundError, match=f"room {room} not found"):
        setup.as_(STRANGER).room_status(room)
    [denied] = denials(setup, room)
    assert denied.user == STRANGER
    assert denied.details["action"] == "retrieve_status"
    assert denied.details["node"] is None
    assert denied.details["reason"] == f"{STRANGER} is not a participant of the room"
    assert denied.notes == f"denied retrieve_status: {STRANGER} is not a participant of the room"


def test_a_missing_room_is_not_found(setup: Setup) -> None:
    with pytest.raises(NotFoundError, match="room nope not found"):
        setup.as_(BANK).room_status("nope")


def test_a_permission_denied_is_audited_with_its_node(setup: Setup, room: str) -> None:
    with pytest.raises(PermissionDeniedError, match=r"lacks permission .* on node 'dp_count'"):
        authority(setup).authorize(
            Principal.of(BANK), room, Action.RUN_COMPUTATION, node="dp_count"
        )
    [denied] = denials(setup, room)
    reason = denied.details["reason"]
    assert isinstance(reason, str)
    assert reason.startswith(f"{BANK} lacks permission")
    assert denied.details["action"] == "run_computation"
    assert denied.details["node"] == "dp_count"
    assert denied.notes == f"denied run_computation on dp_count: {reason}"


def test_a_stopped_room_refuses_with_a_conflict_and_audits_it(setup: Setup, room: str) -> None:
    setup.as_(BANK).stop_room(room)
    with pytest.raises(ConflictError, match="the room is stopped") as refused:
        setup.submit(room, "by_region", {"min": "0"})
    assert refused.value.code == "room_stopped"
    [denied] = denials(setup, room)
    assert denied.user == ANALYST
    assert denied.details["reason"] == "the room is stopped"
    assert denied.details["node"] == "by_region"


@pytest.mark.parametrize(("length", "kept"), [(499, 499), (500, 500), (501, 500), (900, 500)])
def test_a_denial_keeps_at_most_500_chars_of_its_reason(
    setup: Setup, room: str, length: int, kept: int
) -> None:
    reason = "".join(chr(ord("a") + i % 26) for i in range(length))
    authority(setup).audit_denial(Principal.of(ANALYST), room, Action.STOP_ROOM, None, reason)
    [denied] = denials(setup, room)
    assert denied.details["reason"] == reason[:kept]
    assert denied.notes == f"denied stop_room: {reason}"


def test_a_refusal_inside_an_action_is_audited_like_a_denial(setup: Setup, room: str) -> None:
    allowed = authority(setup).authorize(
        Principal.of(ANALYST), room, Action.RUN_COMPUTATION, node="by_region"
    )
    reason = "x" * 501
    with (
        pytest.raises(PermissionDeniedError, match=r"x{501}"),
        authority(setup).denials_audited(allowed),
    ):
        raise PermissionDeniedError(reason)
    [denied] = denials(setup, room)
    assert denied.details["reason"] == "x" * 500
    assert denied.details["action"] == "run_computation"
    assert denied.details["node"] is None


def test_the_verified_definition_is_kept_while_the_core_runs(setup: Setup, room: str) -> None:
    authority(setup).authorize(Principal.of(BANK), room, Action.RETRIEVE_DEFINITION)
    original = setup.host.rooms[room]
    setup.host.rooms[room] = replace(original, definition=original.definition + b" ")
    # The core wrote the room and holds its verified history: the host's edit changes nothing
    # now, and a restarted core, which must read it back, refuses it.
    assert setup.as_(ANALYST).room_status(room) == "active"
    assert setup.core.facts(room).datasets
    setup.restart()
    with pytest.raises(VerificationError, match=f"definition of room {room} was altered"):
        setup.as_(ANALYST).room_status(room)


def test_a_history_read_back_after_a_restart_is_kept_too(setup: Setup, room: str) -> None:
    setup.restart()
    assert setup.as_(ANALYST).room_status(room) == "active"  # read back, verified
    original = setup.host.rooms[room]
    setup.host.rooms[room] = replace(original, definition=original.definition + b" ")
    assert setup.as_(ANALYST).room_status(room) == "active"
    setup.restart()
    with pytest.raises(VerificationError, match="was altered"):
        setup.as_(ANALYST).room_status(room)


def test_a_dropped_tampering_report_is_caught_by_the_next_core(setup: Setup, room: str) -> None:
    setup.host.rooms[room] = replace(setup.host.rooms[room], stopped_at_ms=now_ms())
    assert setup.as_(ANALYST).room_status(room) == "active"
    assert setup.tampering(room) == ["the room's status"]
    # The report is a fact the core checkpoints: the host cannot drop it unnoticed.
    assert setup.host.checkpoints[room][0] == len(setup.host.entries[room])
    setup.host.entries[room].pop()
    setup.restart()
    with pytest.raises((VerificationError, ValueError)):
        setup.as_(ANALYST).room_status(room)


def test_an_integrated_commit_is_the_definition_now_and_after_a_restart(setup: Setup) -> None:
    room_id, commit = interactive_room(setup)
    before = authority(setup).authorize(Principal.of(ANALYST), room_id, Action.LIST_REQUESTS)
    assert before.definition.node("both") is None
    for owner in (BANK, INSURER):
        setup.as_(owner).approve_request(room_id, commit.commit_id)
    setup.as_(ANALYST).integrate_request(room_id, commit.commit_id)
    assert setup.core.facts(room_id).commit_ids == [commit.commit_id]
    assert setup.core.facts(room_id).closed_requests == {commit.commit_id: "integrated"}
    # The history the core remembered is the new one, even if the host drops its commit rows.
    rows = setup.host.commit_rows[room_id]
    setup.host.commit_rows[room_id] = []
    after = authority(setup).authorize(Principal.of(ANALYST), room_id, Action.LIST_REQUESTS)
    assert after.definition.node("both") is not None
    assert [c.commit_id for c in after.history.records] == [commit.commit_id]
    setup.host.commit_rows[room_id] = rows
    setup.restart()
    reloaded = authority(setup).authorize(
        Principal.of(ANALYST), room_id, Action.RUN_COMPUTATION, node="both"
    )
    assert reloaded.definition.node("both") is not None
    assert reloaded.history.pin == after.history.pin


def test_nonces_of_signed_entries_are_remembered_for_the_nonce_memory_only() -> None:
    log = Log()
    signed = {"signer": "ab" * 32}
    log.add(kinds.RoomStopped(), at=1_000, details={**signed, "nonce": "01" * 16})
    log.add(kinds.ResultRetrieved("q", "j", "csv", "k"), at=2_000, details={"nonce": "02" * 16})
    log.add(kinds.AccessDenied("stop_room", None, "no"), at=2_500, details={"nonce": 7})
    assert list(log.facts.recent_nonces) == ["01" * 16, "02" * 16]  # a non-text nonce: none
    # An entry NONCE_MEMORY_MS after the first forgets it, and only it.
    log.add(kinds.RoomStopped(), at=1_000 + NONCE_MEMORY_MS + 1, details={"nonce": "03" * 16})
    assert list(log.facts.recent_nonces) == ["02" * 16, "03" * 16]
    # Exactly NONCE_MEMORY_MS old is still remembered.
    log.add(kinds.RoomStopped(), at=2_000 + NONCE_MEMORY_MS, details={"nonce": "04" * 16})
    assert "02" * 16 in log.facts.recent_nonces
    # A nonce seen again moves to the newest end (and is kept as long as its last use).
    log.add(kinds.RoomStopped(), at=2_000 + NONCE_MEMORY_MS, details={"nonce": "02" * 16})
    assert list(log.facts.recent_nonces)[-1] == "02" * 16
