"""The host's job queue and audit checkpoints in SQLite: what the statements built once do.

The hot statements are built at import with bound parameters (issue 17); these pin what they
must still do: claim each queued job once, in fair turns, answer an empty queue with None, mark
a job finished with its outcome, and keep the largest checkpoint.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from sealroom.model.records import AuditRow, JobRecord, JobStatus, RoomRecord
from sealroom.storage.database import migrate, open_engine, sqlite_url
from sealroom.storage.metadata import MetadataStore

ROOM = "r" * 64


@pytest.fixture
def store(tmp_path: Path) -> MetadataStore:
    engine = open_engine(sqlite_url(tmp_path / "metadata.sqlite3"))
    migrate(engine)
    store = MetadataStore(engine)
    store.insert_room(
        RoomRecord(
            id=ROOM,
            name="room",
            owner_email="a@x.example",
            definition=b"{}",
            signature=b"s",
            created_at_ms=1,
            stopped_at_ms=None,
            state_signature=None,
        ),
        ["a@x.example"],
    )
    return store


def _queue(store: MetadataStore, job_id: str, user: str, at_ms: int) -> None:
    store.insert_job(_job(job_id, user, at_ms))


def _job(job_id: str, user: str, at_ms: int) -> JobRecord:
    return JobRecord(
        id=job_id,
        room_id=ROOM,
        node="n",
        submitted_by=user,
        status=JobStatus.QUEUED,
        created_at_ms=at_ms,
        started_at_ms=None,
        finished_at_ms=None,
        attempts=0,
        error_code=None,
        error_message=None,
        result_blob=None,
        parameters=None,
        spec=None,
        ticket=b"ticket",
    )


def test_an_empty_queue_has_nothing_to_claim(store: MetadataStore) -> None:
    assert store.claim_next_job() is None
    _queue(store, "j1", "a@x.example", 1)
    store.finish_job("j1", succeeded=True)  # finished jobs are not queued
    assert store.claim_next_job() is None


def test_a_claim_returns_the_job_running(store: MetadataStore) -> None:
    _queue(store, "j1", "a@x.example", 1)
    job = store.claim_next_job()
    assert job is not None
    assert (job.id, job.status, job.attempts, job.ticket) == ("j1", "running", 1, b"ticket")
    assert job.started_at_ms is not None
    assert store.get_job("j1") == job
    assert store.claim_next_job() is None
    assert store.count_unfinished_jobs("A@x.example") == 1


def test_users_take_turns(store: MetadataStore) -> None:
    for index in range(3):
        _queue(store, f"a{index}", "a@x.example", 10 + index)
    _queue(store, "b0", "b@x.example", 20)
    claimed = [store.claim_next_job() for _ in range(4)]
    assert [job.id for job in claimed if job is not None] == ["a0", "b0", "a1", "a2"]


def test_concurrent_workers_claim_each_job_once(store: MetadataStore) -> None:
    for index in range(40):
        _queue(store, f"j{index:02d}", f"u{index % 4}@x.example", index)
    claimed: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        while (job := store.claim_next_job()) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == [f"j{index:02d}" for index in range(40)]


def test_a_finished_job_keeps_its_outcome(store: MetadataStore) -> None:
    _queue(store, "ok", "a@x.example", 1)
    _queue(store, "ko", "a@x.example", 2)
    store.finish_job("ok", succeeded=True, result_blob="results/ok")
    store.finish_job("ko", succeeded=False, error_code="sql_error", error_message="bad")
    ok, ko = store.get_job("ok"), store.get_job("ko")
    assert ok is not None
    assert ko is not None
    assert (ok.status, ok.result_blob, ok.error_code) == ("succeeded", "results/ok", None)
    assert (ko.status, ko.error_code, ko.error_message) == ("failed", "sql_error", "bad")
    assert ok.finished_at_ms is not None
    assert store.count_unfinished_jobs("a@x.example") == 0


def test_the_largest_checkpoint_is_kept(store: MetadataStore) -> None:
    assert store.audit_checkpoint(ROOM) is None
    store.save_audit_checkpoint(ROOM, 3, "three")
    store.save_audit_checkpoint(ROOM, 5, "five")
    store.save_audit_checkpoint(ROOM, 4, "four")  # an older one arriving late
    assert store.audit_checkpoint(ROOM) == "five"


def test_a_job_and_its_audit_entries_commit_together(store: MetadataStore) -> None:
    """The rows of an action and its entries are one transaction: a taken sequence number
    (another writer's entry) rolls back the job too, and a finished job keeps its entry."""
    store.append_audit_rows([AuditRow(ROOM, 0, '{"seq": 0}')])
    with pytest.raises(IntegrityError):
        store.insert_job(_job("j1", "a@x.example", 1), audit=[AuditRow(ROOM, 0, '{"seq": 0}')])
    assert store.get_job("j1") is None

    store.insert_job(_job("j1", "a@x.example", 1), audit=[AuditRow(ROOM, 1, '{"seq": 1}')])
    with pytest.raises(IntegrityError):
        store.finish_job("j1", succeeded=True, audit=[AuditRow(ROOM, 1, '{"again": 1}')])
    job = store.get_job("j1")
    assert job is not None
    assert job.status == JobStatus.QUEUED
    store.finish_job("j1", succeeded=True, audit=[AuditRow(ROOM, 2, '{"seq": 2}')])
    assert store.audit_entries(ROOM) == ['{"seq": 0}', '{"seq": 1}', '{"seq": 2}']
