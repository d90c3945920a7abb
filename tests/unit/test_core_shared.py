"""Two cores on one host (several servers and workers sharing a database): one log per room.

Both cores open the same sealed identity with the same sealing key, as the processes of one
deployment do, with ``shared_host`` on. Each catches up with the entries the other appended
before it reads facts or appends, under the host's lock of the room: the log never forks,
facts (a stopped room, integrated commits, finished jobs, used nonces) hold across cores, and
an entry the host slips in, which no checkpoint of the core's key covers, is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sealroom.audit import AuditAction, AuditEvent, event_from_wire
from sealroom.crypto import KemPrivateKey
from sealroom.enclave import CoreConfig, OpenCore, open_core
from sealroom.enclave.context import CoreSettings
from sealroom.errors import (
    ConflictError,
    ParticipantSignatureError,
    TooManyRequestsError,
    VerificationError,
)
from sealroom.model import signed_actions
from sealroom.model.records import JobStatus
from tests.hostile_host import HostileHost
from tests.participants import signed
from tests.unit.core_harness import (
    ANALYST,
    BANK,
    INSURER,
    SALES,
    FixedSealing,
    Setup,
    interactive_room,
    static_room,
)


def _open(tmp_path: Path, host: HostileHost, name: str) -> OpenCore:
    scratch = tmp_path / f"scratch-{name}"
    scratch.mkdir(exist_ok=True)
    config = CoreConfig(
        settings=CoreSettings(scratch_dir=scratch, shared_host=True),
        identity_path=tmp_path / "identity.sealed",  # one identity, as the deployment shares
        sealing_key_file=tmp_path / "unused.key",
        workers=0,
    )
    return open_core(config, host, FixedSealing())


@dataclass
class Pair:
    a: Setup
    b: Setup

    def events(self, room_id: str) -> list[AuditEvent]:
        return [event_from_wire(json.loads(raw)) for raw in self.a.host.entries[room_id]]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    host = HostileHost()
    recipient = KemPrivateKey.generate()
    a = Setup(tmp_path, host, FixedSealing(), _open(tmp_path, host, "a"), recipient)
    b = Setup(tmp_path, host, FixedSealing(), _open(tmp_path, host, "b"), recipient)
    yield Pair(a, b)
    a.opened.close()
    b.opened.close()


def _room(pair: Pair) -> str:
    room_id = pair.a.as_(BANK).publish_room(static_room().model_dump(mode="json"))
    pair.b.publish(room_id, "sales", SALES)
    return room_id


def test_both_cores_append_to_one_log(pair: Pair) -> None:
    room_id = _room(pair)
    jobs = [  # interleaved: each core appends after the other did
        pair.a.submit(room_id, "by_region", {"min": "0"}),
        pair.b.submit(room_id, "by_region", {"min": "1"}),
        pair.a.submit(room_id, "peek"),
        pair.b.submit(room_id, "peek"),
    ]
    outcomes = [(pair.b, pair.a)[turn % 2].run_next() for turn in range(4)]
    # The airlock quota (500 bytes) of "peek" is one, whichever core runs it: the second
    # preview is refused.
    codes = sorted(str(j.error_code) for j in pair.a.host.jobs.values())
    assert sorted(outcomes) == ["failed", "succeeded", "succeeded", "succeeded"]
    assert codes == ["None", "None", "None", "airlock_quota_exceeded"]
    # The rate limit (2 an hour) counts both cores' runs.
    with pytest.raises(TooManyRequestsError):
        pair.a.submit(room_id, "by_region", {"min": "2"})
    events = pair.events(room_id)
    assert [e.seq for e in events] == list(range(len(events)))
    assert {e.details.get("job_id") for e in events} >= set(jobs)
    # Both cores hold the same tree, and every entry is checkpointed.
    log_a = pair.a.as_(ANALYST).audit_log(room_id)
    log_b = pair.b.as_(ANALYST).audit_log(room_id)
    assert log_a == log_b
    assert pair.a.host.checkpoints[room_id][0] == len(events)
    assert pair.a.tampering(room_id) == []


def test_a_room_stopped_on_one_core_is_stopped_on_the_other(pair: Pair) -> None:
    room_id = _room(pair)
    assert pair.b.as_(ANALYST).room_status(room_id) == "active"
    pair.a.as_(BANK).stop_room(room_id)
    assert pair.b.as_(ANALYST).room_status(room_id) == "stopped"
    with pytest.raises(ConflictError):
        pair.b.submit(room_id, "by_region", {"min": "0"})


def test_a_commit_integrated_on_one_core_is_seen_by_the_other(pair: Pair) -> None:
    room_id, commit = interactive_room(pair.a)
    pair.b.as_(BANK).approve_request(room_id, commit.commit_id)
    pair.a.as_(INSURER).approve_request(room_id, commit.commit_id)
    assert pair.a.as_(ANALYST).get_request(room_id, commit.commit_id).missing_approvals == []
    # a read the history before b integrates: it must not keep the stale one.
    pair.b.as_(ANALYST).integrate_request(room_id, commit.commit_id)
    assert pair.a.as_(ANALYST).get_request(room_id, commit.commit_id).status == "integrated"
    pair.a.publish(room_id, "sales", SALES)
    pair.b.publish(room_id, "claims", SALES, owner=INSURER)
    job = pair.a.submit(room_id, "both")
    assert pair.b.run_next() == JobStatus.SUCCEEDED
    assert pair.a.host.jobs[job].status == JobStatus.SUCCEEDED


def test_a_signed_request_is_accepted_by_one_core_only(pair: Pair) -> None:
    room_id = _room(pair)
    recipient = pair.a.recipient.public_key.to_bytes()
    call = signed_actions.run_computation(room_id, "by_region", {"min": "0"}, recipient)
    principal = signed(ANALYST, call)
    pair.a.core.submit_job(principal, room_id, "by_region", {"min": "0"}, recipient)
    with pytest.raises(ParticipantSignatureError) as replayed:
        pair.b.core.submit_job(principal, room_id, "by_region", {"min": "0"}, recipient)
    # It says what to do: sign again.
    assert str(replayed.value) == (
        "this signed request was used before, and a signature is accepted once: "
        "sign the action again (the SDK does this for every request)"
    )
    assert len(pair.a.host.jobs) == 1


def test_a_job_run_twice_keeps_its_first_outcome(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker whose lease ran out (the job was claimed again) finishes second: dropped."""
    room_id = _room(pair)
    job_id = pair.a.submit(room_id, "by_region", {"min": "0"})
    first = pair.a.host.claim_next_job()
    assert first is not None
    runner = pair.a.core._core.runner
    computed = runner.run

    def slow_run(*args: Any, **kwargs: Any) -> Any:
        """a computes; meanwhile its lease runs out, b claims the job and finishes it."""
        result = computed(*args, **kwargs)
        pair.a.host.edit_job(job_id, status=JobStatus.QUEUED)
        second = pair.b.host.claim_next_job()
        assert second is not None
        pair.b.core.execute_job(second)
        return result

    monkeypatch.setattr(runner, "run", slow_run)
    pair.a.core.execute_job(first)
    completed = [e for e in pair.events(room_id) if e.action is AuditAction.JOB_COMPLETED]
    assert len(completed) == 1
    assert pair.a.host.jobs[job_id].status == JobStatus.SUCCEEDED
    assert pair.a.tampering(room_id) == []


def test_an_entry_no_checkpoint_covers_is_refused(pair: Pair) -> None:
    room_id = _room(pair)
    pair.a.as_(ANALYST).room_status(room_id)
    forged = dict(json.loads(pair.a.host.entries[room_id][-1]))
    forged["seq"] = len(pair.a.host.entries[room_id])
    forged["notes"] = "slipped in by the host"
    pair.a.host.entries[room_id].append(json.dumps(forged))
    with pytest.raises(VerificationError, match="checkpointed"):
        pair.b.as_(ANALYST).room_status(room_id)
    # Still refused on the next look (nothing of it was folded in).
    with pytest.raises(VerificationError):
        pair.a.as_(ANALYST).room_status(room_id)


def test_both_cores_spend_one_privacy_budget(pair: Pair) -> None:
    room_id = _room(pair)
    pair.a.run(room_id, "dp_count")
    # The budget is 1.5: the second run, on the other core, would overspend it.
    job = pair.b.run(room_id, "dp_count")
    assert pair.b.host.jobs[job].error_code == "privacy_budget_exhausted"
    spent = {s.as_(ANALYST).privacy_budget(room_id).epsilon_spent for s in (pair.a, pair.b)}
    assert spent == {1.0}
