"""One conformance suite for the host's metadata store, on SQLite and on PostgreSQL.

Every test takes ``backend`` and runs once per database: the embedded SQLite file and a fresh
database of the session's throwaway PostgreSQL cluster (``tests/postgres.py``). The stores are
driven through their public methods only, so what passes here is what the server relies on:
the migrations build the declared schema, timestamps in milliseconds and sizes past 2**31 fit,
conditional writes report what they changed, and uniqueness holds where the core depends on it
(an audit sequence number, a commit's place in a room's history, a sign-up link spent once).

The last part is two "servers" (two engines, each with its own pool, as two processes would
have) writing one database from threads at once: every queued job is claimed exactly once, of
two appenders racing for an audit sequence number exactly one wins, and upserts racing for the
same key neither fail nor lose the larger value.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from sealroom.errors import CommitRaceError, ConflictError
from sealroom.model.records import (
    AuditRow,
    CommitRecord,
    DatasetRecord,
    JobRecord,
    JobStatus,
    PublicationRecord,
    RequestStatus,
    RoomRecord,
    now_ms,
)
from sealroom.storage.blobs import LocalBlobStore
from sealroom.storage.database import migrate, open_engine, sqlite_url
from sealroom.storage.gc import RESULT_EXPIRED, GcPolicy, collect_garbage
from sealroom.storage.invitations import InvitationStore
from sealroom.storage.metadata import MetadataStore
from sealroom.storage.requests import RequestStore
from sealroom.storage.schema import metadata

ROOM = "r" * 64
OTHER_ROOM = "o" * 64
ALICE = "alice@bank.example"
BOB = "bob@insurer.example"
#: Past 2**31: a 32-bit column would overflow (PostgreSQL's INTEGER is 32-bit).
BIG = 5 * 2**31
T = TypeVar("T")


class Backend:
    """One database (a SQLite file or a PostgreSQL database), migrated, and its engines."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url
        self._engines: list[Engine] = []
        self.engine = self.open_engine()
        migrate(self.engine)

    def open_engine(self) -> Engine:
        """Another engine on the same database: another server's connection pool."""
        engine = open_engine(self.url)
        self._engines.append(engine)
        return engine

    def store(self, engine: Engine | None = None) -> MetadataStore:
        return MetadataStore(engine or self.engine)

    def requests(self, engine: Engine | None = None) -> RequestStore:
        return RequestStore(engine or self.engine)

    def dispose(self) -> None:
        for engine in self._engines:
            engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "metadata.sqlite3")
    else:
        url = request.getfixturevalue("postgres_url")
    backend = Backend(request.param, url)
    yield backend
    backend.dispose()


def _room(room_id: str = ROOM, name: str = "room", created_at_ms: int = 1) -> RoomRecord:
    return RoomRecord(
        id=room_id,
        name=name,
        owner_email=ALICE,
        definition=b'{"canonical":"json"}',
        signature=b"\x00\xffsig",
        created_at_ms=created_at_ms,
        stopped_at_ms=None,
        state_signature=None,
    )


def _job(job_id: str, user: str = ALICE, at_ms: int = 1, room_id: str = ROOM) -> JobRecord:
    return JobRecord(
        id=job_id,
        room_id=room_id,
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
        parameters='{"p": 1}',
        spec=None,
        ticket=b"\x00ticket\xff",
    )


def _dataset(dataset_id: str, created_at_ms: int = 1, size: int = BIG) -> DatasetRecord:
    return DatasetRecord(
        id=dataset_id,
        owner_email=ALICE,
        name="sales",
        description="",
        manifest=b"\x00manifest",
        size=size,
        created_at_ms=created_at_ms,
    )


def _publication(node: str, dataset_id: str, key: bytes = b"sealed") -> PublicationRecord:
    return PublicationRecord(
        room_id=ROOM,
        node=node,
        dataset_id=dataset_id,
        sealed_key=key,
        publisher_email=ALICE,
        published_at_ms=now_ms(),
        validation_outcome="PASSED",
        validation_report=b"\x01report",
    )


def _commit(seq: int, commit_id: str, room_id: str = ROOM) -> CommitRecord:
    return CommitRecord(
        room_id=room_id,
        seq=seq,
        commit_id=commit_id,
        commit=b'{"commit":1}',
        history_pin="p" * 64,
        signature=b"\x00core",
        integrated_by=ALICE,
        integrated_at_ms=now_ms(),
    )


@pytest.fixture
def store(backend: Backend) -> MetadataStore:
    """The metadata store with the room ROOM (ALICE and BOB take part)."""
    store = backend.store()
    store.insert_room(_room(), [ALICE, "Bob@Insurer.example"])
    return store


def _race(workers: Sequence[Callable[[], T]]) -> list[T | BaseException]:
    """Run ``workers`` at once (released together by a barrier); each one's result or error."""
    barrier = threading.Barrier(len(workers))
    outcomes: list[T | BaseException] = [RuntimeError("did not run")] * len(workers)

    def run(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = workers[index]()
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


# -- schema -------------------------------------------------------------------------------------
def test_migrations_build_exactly_the_declared_schema(backend: Backend) -> None:
    migrate(backend.engine)  # idempotent: every start migrates again
    with backend.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == [], f"schema.py and the migrations disagree on {backend.name}: {diff}"


def test_every_millisecond_timestamp_column_is_64_bit(backend: Backend) -> None:
    """Epoch milliseconds (1.7e12) overflow a 32-bit INTEGER on PostgreSQL."""
    narrow = [
        f"{table.name}.{column.name}"
        for table in metadata.sorted_tables
        for column in table.columns
        if column.name.endswith("_ms")
        and column.type.python_type is int
        and column.type.__class__.__name__ != "BigInteger"
    ]
    assert narrow == []


# -- users, tokens, web sessions ----------------------------------------------------------------
def test_users_and_tokens(backend: Backend) -> None:
    store = backend.store()
    first = store.ensure_user(ALICE)
    assert store.ensure_user(ALICE) == first
    store.add_token(ALICE, "a" * 64, "laptop")
    store.add_token(ALICE, "b" * 64)
    store.add_token(BOB, "c" * 64)
    assert store.email_for_token("a" * 64) == ALICE
    assert store.email_for_token("d" * 64) is None
    assert [(u.email, u.active_tokens) for u in store.list_users()] == [(ALICE, 2), (BOB, 1)]
    assert store.revoke_tokens(ALICE) == 2
    assert store.revoke_tokens(ALICE) == 0  # nothing left to revoke: counted, not matched
    assert store.revoke_tokens("nobody@x.example") == 0
    assert store.email_for_token("a" * 64) is None
    assert store.email_for_token("c" * 64) == BOB
    with pytest.raises(IntegrityError):
        store.add_token(BOB, "c" * 64)  # token hashes are unique


def test_web_sessions_end_with_their_token(backend: Backend) -> None:
    store = backend.store()
    store.add_token(ALICE, "t" * 64)
    at = now_ms()
    store.add_web_session("s" * 64, ALICE, "t" * 64, "csrf", at)
    session = store.web_session("s" * 64)
    assert session is not None
    assert (session.email, session.csrf_token, session.created_at_ms) == (ALICE, "csrf", at)
    store.touch_web_session("s" * 64, at + 5)
    session = store.web_session("s" * 64)
    assert session is not None
    assert session.last_seen_at_ms == at + 5
    store.add_web_session("u" * 64, ALICE, "t" * 64, "csrf2", at - 10_000)
    assert store.delete_expired_web_sessions(idle_since_ms=at - 1, created_before_ms=0) == 1
    store.revoke_tokens(ALICE)
    assert store.web_session("s" * 64) is None
    store.delete_web_session("s" * 64)
    assert store.delete_expired_web_sessions(idle_since_ms=at + 10, created_before_ms=0) == 0


# -- uploads and datasets -----------------------------------------------------------------------
def test_uploads_and_datasets(backend: Backend) -> None:
    store = backend.store()
    store.create_upload("up1", ALICE)
    assert store.upload_owner("up1") == (ALICE, False)
    assert store.upload_owner("nope") is None
    store.put_upload_chunk("up1", 0, "a" * 64, BIG)
    store.put_upload_chunk("up1", 1, "b" * 64, 7)
    store.put_upload_chunk("up1", 1, "c" * 64, 8)  # a retry replaces the chunk
    assert store.upload_chunks("up1") == {0: ("a" * 64, BIG), 1: ("c" * 64, 8)}
    dataset = _dataset("d" * 64)
    store.complete_upload("up1", dataset)
    store.create_upload("up2", ALICE)
    store.complete_upload("up2", dataset)  # the same content again: one dataset
    assert store.upload_owner("up1") == (ALICE, True)
    assert store.get_dataset("d" * 64) == dataset
    assert store.list_datasets(ALICE) == [dataset]
    assert store.list_datasets(BOB) == []
    store.delete_dataset("d" * 64)
    assert store.get_dataset("d" * 64) is None


# -- rooms and publications ---------------------------------------------------------------------
def test_rooms(store: MetadataStore) -> None:
    room = store.get_room(ROOM)
    assert room == _room()
    with pytest.raises(ConflictError):
        store.insert_room(_room(), [ALICE])
    store.insert_room(_room(OTHER_ROOM, created_at_ms=now_ms()), ["BOB@insurer.example"])
    assert [r.id for r in store.rooms_for("bob@INSURER.example")] == [ROOM, OTHER_ROOM]
    assert [r.id for r in store.rooms_for(ALICE)] == [ROOM]
    store.set_room_stopped(ROOM, now_ms(), b"\x00state")
    stopped = store.get_room(ROOM)
    assert stopped is not None
    assert stopped.is_stopped
    assert stopped.state_signature == b"\x00state"
    assert store.get_room("x" * 64) is None


def test_publications(store: MetadataStore) -> None:
    store.complete_upload("u", _dataset("d1" + "0" * 62))
    store.complete_upload("u", _dataset("d2" + "0" * 62))
    store.put_publication(_publication("sales", "d1" + "0" * 62))
    store.put_publication(_publication("costs", "d1" + "0" * 62))
    replacement = _publication("sales", "d2" + "0" * 62, b"other key")
    store.put_publication(replacement)  # a node holds one dataset: the new one replaces it
    assert store.get_publication(ROOM, "sales") == replacement
    assert [p.node for p in store.list_publications(ROOM)] == ["costs", "sales"]
    assert store.dataset_publications("d1" + "0" * 62) == [(ROOM, "costs")]
    assert store.delete_publication(ROOM, "costs") is True
    assert store.delete_publication(ROOM, "costs") is False
    assert store.get_publication(ROOM, "costs") is None


# -- jobs ---------------------------------------------------------------------------------------
def test_jobs_are_claimed_in_fair_turns(store: MetadataStore) -> None:
    assert store.claim_next_job() is None
    for index in range(3):
        store.insert_job(_job(f"a{index}", ALICE, 10 + index))
    store.insert_job(_job("b0", BOB, 20))
    claimed = [store.claim_next_job() for _ in range(4)]
    assert [job.id for job in claimed if job is not None] == ["a0", "b0", "a1", "a2"]
    assert store.claim_next_job() is None
    first = claimed[0]
    assert first is not None
    assert (first.status, first.attempts, first.ticket) == ("running", 1, b"\x00ticket\xff")
    assert store.get_job("a0") == first


def test_jobs_finish_list_count_and_requeue(store: MetadataStore) -> None:
    for index in range(4):
        store.insert_job(_job(f"j{index}", "Alice@Bank.example", now_ms() + index))
    assert store.count_unfinished_jobs("ALICE@bank.example") == 4
    ok, ko = store.claim_next_job(), store.claim_next_job()
    assert ok is not None
    assert ko is not None
    store.finish_job(ok.id, succeeded=True, result_blob=f"results/{ok.id}")
    store.finish_job(ko.id, succeeded=False, error_code="sql_error", error_message="bad")
    done = store.get_job(ok.id)
    assert done is not None
    assert (done.status, done.result_blob, done.error_code) == (
        "succeeded",
        f"results/{ok.id}",
        None,
    )
    assert done.finished_at_ms is not None
    assert done.finished_at_ms > 2**31
    assert store.count_unfinished_jobs(ALICE) == 2
    running = store.claim_next_job()
    assert running is not None
    assert store.requeue_interrupted_jobs() == 1  # a restart puts the running job back
    requeued = store.get_job(running.id)
    assert requeued is not None
    assert (requeued.status, requeued.started_at_ms) == (JobStatus.QUEUED, None)
    again = store.claim_next_job()
    assert again is not None
    assert again.attempts == 2  # the retry is counted
    listed = store.list_jobs(ROOM, "alice@BANK.example", limit=3)
    assert [job.id for job in listed] == ["j1", "j2", "j3"]  # the 3 most recent, oldest first
    assert store.list_jobs(ROOM, BOB, limit=10) == []


def test_a_claim_is_held_by_a_lease_that_runs_out(backend: Backend, store: MetadataStore) -> None:
    """Workers sharing a database: a claim holds the job for a lease, renewing extends it, and
    a lease that ran out (its worker died) puts the job back in the queue, once."""
    short = MetadataStore(backend.engine, job_lease_ms=-1)  # every lease it takes has run out
    for order, job_id in enumerate(("held", "lost", "done")):
        store.insert_job(_job(job_id, at_ms=now_ms() + order))
    held = store.claim_next_job()
    lost, done = short.claim_next_job(), short.claim_next_job()
    assert held is not None
    assert lost is not None
    assert done is not None
    assert (held.id, lost.id, done.id) == ("held", "lost", "done")
    assert held.lease_expires_at_ms is not None
    assert held.started_at_ms is not None
    assert held.lease_expires_at_ms == held.started_at_ms + store.job_lease_ms
    short.finish_job(done.id, succeeded=True)
    store.renew_job_leases([held.id, done.id])
    renewed = store.get_job(held.id)
    assert renewed is not None
    assert renewed.lease_expires_at_ms is not None
    assert renewed.lease_expires_at_ms >= held.lease_expires_at_ms
    finished = store.get_job(done.id)
    assert finished is not None
    assert (finished.status, finished.lease_expires_at_ms) == (JobStatus.SUCCEEDED, None)
    assert store.requeue_expired_job_leases() == 1  # "lost" only
    assert store.requeue_expired_job_leases() == 0
    requeued = store.get_job(lost.id)
    assert requeued is not None
    assert (requeued.status, requeued.lease_expires_at_ms) == (JobStatus.QUEUED, None)
    again = store.claim_next_job()
    assert again is not None
    assert (again.id, again.attempts) == (lost.id, 2)


def test_the_first_sealed_identity_stays(backend: Backend) -> None:
    servers = [backend.store(backend.open_engine()) for _ in range(2)]
    assert servers[0].sealed_identity() is None
    kept = _race(
        [partial(s.keep_sealed_identity, f"sealed by {i}".encode()) for i, s in enumerate(servers)]
    )
    assert kept[0] == kept[1]
    assert kept[0] in (b"sealed by 0", b"sealed by 1")
    assert servers[1].sealed_identity() == kept[0]
    assert servers[1].keep_sealed_identity(b"later") == kept[0]


# -- caches of the audit log ---------------------------------------------------------------------
def test_caches_of_the_audit_log(store: MetadataStore) -> None:
    at = now_ms()
    store.add_node_executions(ROOM, ["q", "r"], at)
    store.add_node_executions(ROOM, ["q"], at + 1)
    assert store.node_executions(ROOM, "q", at - 1) == [at, at + 1]
    assert store.node_executions(ROOM, "q", at) == [at + 1]
    store.set_node_executions(ROOM, "q", [at + 5])
    assert store.node_executions(ROOM, "q", 0) == [at + 5]
    assert store.node_executions(ROOM, "r", 0) == [at]

    store.set_airlock_usage(ROOM, "preview", "Bob@Insurer.example", 10)
    store.set_airlock_usage(ROOM, "preview", BOB, BIG)
    assert store.airlock_usage(ROOM, "BOB@insurer.example") == {"preview": BIG}

    assert store.privacy_budget_spent(ROOM) == (0.0, 0.0)
    store.set_privacy_budget_spent(ROOM, 0.1, 1e-9)
    store.set_privacy_budget_spent(ROOM, 0.30000000000000004, 2e-9)
    assert store.privacy_budget_spent(ROOM) == (0.30000000000000004, 2e-9)  # doubles, exact


def test_the_key_directory(store: MetadataStore) -> None:
    first = store.register_participant_key("Alice@Bank.example", "a" * 64)
    second = store.register_participant_key(ALICE, "b" * 64)
    assert second.registered_at_ms > first.registered_at_ms
    assert store.participant_key(ALICE) == second
    again = store.register_participant_key(ALICE, "a" * 64)  # a kept key becomes the latest
    assert store.participant_key("ALICE@bank.example") == again
    assert store.participant_key(BOB) is None


# -- audit entries and checkpoints ---------------------------------------------------------------
def test_audit_entries_are_unique_per_room_and_seq(store: MetadataStore) -> None:
    for seq in (2, 10, 1, 11):  # read back in numeric order, not the order written or text
        store.append_audit_rows([AuditRow(ROOM, seq, f'{{"seq":{seq}}}')])
    store.insert_room(_room(OTHER_ROOM), [ALICE])
    store.append_audit_rows([AuditRow(OTHER_ROOM, 1, "{}")])  # another room's seq 1: another entry
    with pytest.raises(IntegrityError):
        store.append_audit_rows([AuditRow(ROOM, 10, '{"forged":true}')])
    assert store.audit_entries(ROOM) == [f'{{"seq":{seq}}}' for seq in (1, 2, 10, 11)]
    assert store.audit_entries(OTHER_ROOM) == ["{}"]


def test_an_action_and_its_audit_entries_are_one_transaction(store: MetadataStore) -> None:
    store.append_audit_rows([AuditRow(ROOM, 1, "{}")])
    # The entry's seq is taken: the job is not queued either.
    with pytest.raises(IntegrityError):
        store.insert_job(_job("j"), audit=[AuditRow(ROOM, 1, '{"job":"j"}')])
    assert store.get_job("j") is None
    store.insert_job(_job("j"), audit=[AuditRow(ROOM, 2, '{"job":"j"}')])
    assert store.get_job("j") is not None
    assert store.audit_entries(ROOM) == ["{}", '{"job":"j"}']


def test_the_largest_checkpoint_is_kept(store: MetadataStore) -> None:
    assert store.audit_checkpoint(ROOM) is None
    store.save_audit_checkpoint(ROOM, 3, "three")
    store.save_audit_checkpoint(ROOM, BIG, "big")
    store.save_audit_checkpoint(ROOM, 4, "four")  # an older one arriving late
    assert store.audit_checkpoint(ROOM) == "big"


# -- requests, approvals and commits -------------------------------------------------------------
def test_requests_and_approvals(backend: Backend, store: MetadataStore) -> None:
    requests = backend.requests()
    assert requests.insert_request("q1", ROOM, b"commit 1", BOB) is True
    assert requests.insert_request("q1", ROOM, b"commit 1", BOB) is False
    assert requests.insert_request("q2", ROOM, b"commit 2", ALICE) is True
    request = requests.get_request(ROOM, "q1")
    assert request is not None
    assert (request.status, request.commit, request.requester) == ("pending", b"commit 1", BOB)
    assert requests.get_request(OTHER_ROOM, "q1") is None
    assert [r.id for r in requests.list_requests(ROOM)] == ["q1", "q2"]

    requests.add_approval("q1", "Alice@Bank.example", b"sig 1")
    requests.add_approval("q1", ALICE, b"sig 2")  # approving again replaces the approval
    requests.add_approval("q1", BOB, b"sig 3")
    assert [(a.approver, a.signature) for a in requests.approvals("q1")] == [
        (ALICE, b"sig 2"),
        (BOB, b"sig 3"),
    ]

    rejected = requests.set_request_status(
        "q2", RequestStatus.REJECTED, rejected_by=BOB, rejection="no"
    )
    assert rejected is True
    assert requests.set_request_status("q2", RequestStatus.SUPERSEDED) is False  # not pending
    q2 = requests.get_request(ROOM, "q2")
    assert q2 is not None
    assert (q2.status, q2.rejected_by, q2.rejection) == ("rejected", BOB, "no")


def test_integrating_a_commit_is_all_or_nothing(backend: Backend, store: MetadataStore) -> None:
    requests = backend.requests()
    for request_id in ("c1", "c2", "c3"):
        requests.insert_request(request_id, ROOM, request_id.encode(), BOB)
    requests.integrate_commit(_commit(1, "c1"), audit=[AuditRow(ROOM, 1, '{"c":1}')])
    # seq 1 is taken: neither the commit nor its entry nor the request's status is written.
    with pytest.raises(CommitRaceError):
        requests.integrate_commit(_commit(1, "c2"), audit=[AuditRow(ROOM, 2, '{"c":2}')])
    # Its request is no longer pending: the same.
    requests.set_request_status("c3", RequestStatus.SUPERSEDED)
    with pytest.raises(CommitRaceError):
        requests.integrate_commit(_commit(2, "c3"), audit=[AuditRow(ROOM, 2, '{"c":3}')])
    assert [c.commit_id for c in requests.commits(ROOM)] == ["c1"]
    assert store.audit_entries(ROOM) == ['{"c":1}']
    states = {r.id: r.status for r in requests.list_requests(ROOM)}
    assert states == {"c1": "integrated", "c2": "pending", "c3": "superseded"}


# -- invitations and sign-up links ---------------------------------------------------------------
def test_invitations_and_signup_links(backend: Backend, store: MetadataStore) -> None:
    invitations = InvitationStore(backend.engine)
    later = now_ms() + 3_600_000
    first = invitations.add_invitation(ROOM, "Carol@X.example", ALICE, later)
    assert first is not None
    assert invitations.add_invitation(ROOM, "carol@x.example", BOB, later) is None  # once
    second = invitations.add_invitation(ROOM, BOB, ALICE, later)
    store.ensure_user(BOB)
    listed = invitations.invitations()
    assert [(i.email, i.has_account, i.room_name) for i in listed] == [
        ("carol@x.example", False, "room"),
        (BOB, True, "room"),
    ]
    assert [i.id for i in invitations.invitations("CAROL@x.example")] == [first]
    invitations.mark_mailed(second, None)
    assert [i.mailed_at_ms is not None for i in invitations.invitations()] == [False, True]
    assert invitations.has_account(BOB)
    assert not invitations.has_account("carol@x.example")

    invitations.add_signup_token("1" * 64, "carol@x.example", first, later)
    invitations.add_signup_token("2" * 64, "carol@x.example", None, later)
    invitations.add_signup_token("3" * 64, "carol@x.example", None, now_ms() - 1)  # expired
    assert invitations.live_signup_tokens("carol@x.example") == 2
    invitations.mark_mailed(None, "1" * 64)
    assert invitations.retire_unmailed_tokens("carol@x.example") == 2  # "2…" and "3…"
    assert invitations.spend_signup_token("2" * 64, "carol@x.example") is False
    assert invitations.spend_signup_token("1" * 64, "carol@x.example") is True
    assert invitations.spend_signup_token("1" * 64, "carol@x.example") is False
    token = invitations.signup_token("1" * 64)
    assert token is not None
    assert (token.invitation_id, token.used_at_ms is not None) == (first, True)
    assert invitations.live_signup_tokens("carol@x.example") == 0


# -- garbage collection --------------------------------------------------------------------------
def test_gc_queries(backend: Backend, store: MetadataStore, tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    long_ago = 1_000
    for upload, dataset in [("up1", "p"), ("up2", "u")]:
        store.create_upload(upload, ALICE)
        store.complete_upload(upload, _dataset(dataset * 64, created_at_ms=long_ago))
    store.put_publication(_publication("sales", "p" * 64))
    store.complete_upload("up3", _dataset("y" * 64, created_at_ms=now_ms()))
    store.create_upload("abandoned", BOB)
    store.put_upload_chunk("abandoned", 0, "c" * 64, 5)
    store.insert_job(_job("old"))
    store.insert_job(_job("new"))
    for _ in ("old", "new"):
        claimed = store.claim_next_job()
        assert claimed is not None
        blobs.put(f"results/{claimed.id}", b"ciphertext")
        store.finish_job(claimed.id, succeeded=True, result_blob=f"results/{claimed.id}")
    later = now_ms() + 10_000  # "old" and "new" finished before; gc sees "new" as recent
    policy = GcPolicy(now_ms=later, result_retention_ms=10_000 - 1, grace_ms=60_000)
    report = collect_garbage(backend.engine, blobs, policy)
    assert {r.job_id for r in report.results} == {"old", "new"}
    expired = store.get_job("old")
    assert expired is not None
    assert (expired.result_blob, expired.error_code) == (None, RESULT_EXPIRED)
    assert [d.id for d in report.datasets] == ["u" * 64]
    assert store.get_dataset("p" * 64) is not None  # published: kept
    assert store.get_dataset("y" * 64) is not None  # young: kept
    # Upload rows are created now (within the grace period): none goes yet.
    assert report.uploads == []
    assert store.upload_owner("abandoned") == (BOB, False)

    # Ten days on: the uploads (one abandoned with its chunk row, two receipts) and the
    # dataset that was young go; the published dataset stays.
    day = 86_400_000
    policy = GcPolicy(now_ms=now_ms() + 10 * day, result_retention_ms=None, grace_ms=day)
    report = collect_garbage(backend.engine, blobs, policy)
    assert [(u.id, u.chunks) for u in report.uploads] == [("abandoned", 1)]
    assert report.upload_receipts == 2
    assert [d.id for d in report.datasets] == ["y" * 64]
    assert store.upload_owner("abandoned") is None
    assert store.upload_chunks("abandoned") == {}
    assert store.get_dataset("p" * 64) is not None


# -- two servers, one database -------------------------------------------------------------------
def test_two_servers_claim_each_job_exactly_once(backend: Backend, store: MetadataStore) -> None:
    jobs = 120
    for index in range(jobs):
        store.insert_job(_job(f"j{index:03d}", f"u{index % 5}@x.example", index))
    servers = [backend.store(backend.open_engine()) for _ in range(2)]
    claimed: list[str] = []
    lock = threading.Lock()

    def worker(server: MetadataStore) -> Callable[[], int]:
        def run() -> int:
            count = 0
            while (job := server.claim_next_job()) is not None:
                server.finish_job(job.id, succeeded=True, result_blob=f"results/{job.id}")
                with lock:
                    claimed.append(job.id)
                count += 1
            return count

        return run

    outcomes = _race([worker(server) for server in servers for _ in range(4)])
    assert all(isinstance(n, int) for n in outcomes), outcomes
    assert sorted(claimed) == [f"j{index:03d}" for index in range(jobs)]  # each exactly once
    finished = [store.get_job(job_id) for job_id in claimed]
    assert all(job is not None and job.attempts == 1 for job in finished)


def test_two_appenders_racing_for_a_seq_one_wins(backend: Backend, store: MetadataStore) -> None:
    servers = [backend.store(backend.open_engine()) for _ in range(2)]
    for seq in range(1, 11):

        def append(server: MetadataStore, seq: int = seq) -> None:
            server.append_audit_rows([AuditRow(ROOM, seq, f'{{"seq":{seq},"by":{id(server)}}}')])

        outcomes = _race([partial(append, s) for s in servers])
        won = [o for o in outcomes if not isinstance(o, BaseException)]
        lost = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(won) == 1, outcomes
        assert len(lost) == 1, outcomes
        assert isinstance(lost[0], IntegrityError), outcomes
    assert len(store.audit_entries(ROOM)) == 10


def test_two_integrations_racing_for_a_seq_one_wins(backend: Backend, store: MetadataStore) -> None:
    servers = [backend.requests(backend.open_engine()) for _ in range(2)]
    for request_id in ("c1", "c2"):
        servers[0].insert_request(request_id, ROOM, request_id.encode(), BOB)
    outcomes = _race(
        [
            lambda: servers[0].integrate_commit(
                _commit(1, "c1"), audit=[AuditRow(ROOM, 1, '{"c":1}')]
            ),
            lambda: servers[1].integrate_commit(
                _commit(1, "c2"), audit=[AuditRow(ROOM, 1, '{"c":2}')]
            ),
        ]
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["CommitRaceError", "NoneType"]
    winner = "c1" if outcomes[0] is None else "c2"
    assert [c.commit_id for c in servers[1].commits(ROOM)] == [winner]
    assert store.audit_entries(ROOM) == [f'{{"c":{winner[1]}}}']
    states = {r.id: r.status for r in servers[0].list_requests(ROOM)}
    assert states[winner] == "integrated"
    assert list(states.values()).count("pending") == 1


def test_a_signup_link_raced_by_two_servers_is_spent_once(
    backend: Backend, store: MetadataStore
) -> None:
    servers = [InvitationStore(backend.open_engine()) for _ in range(2)]
    servers[0].add_signup_token("1" * 64, "carol@x.example", None, now_ms() + 60_000)
    outcomes = _race([partial(s.spend_signup_token, "1" * 64, "carol@x.example") for s in servers])
    assert sorted(outcomes, key=str) == [False, True]


#: Writes of one key by two servers at once: (name, prepare, the two writes, check after).
_Upsert = tuple[
    Callable[[MetadataStore, RequestStore], None],
    Callable[[MetadataStore, RequestStore, int, int], None],  # (round, value)
    Callable[[MetadataStore, RequestStore, int], None],
]
UPSERTS: dict[str, _Upsert] = {
    # The larger checkpoint wins, whichever arrives last.
    "checkpoint": (
        lambda store, requests: None,
        lambda store, requests, r, n: store.save_audit_checkpoint(ROOM, n, f"size {n}"),
        lambda store, requests, n: _assert_equal(store.audit_checkpoint(ROOM), f"size {2 * n}"),
    ),
    "airlock usage": (
        lambda store, requests: None,
        lambda store, requests, r, n: store.set_airlock_usage(ROOM, "p", BOB, n),
        lambda store, requests, n: _assert_in(
            store.airlock_usage(ROOM, BOB), [{"p": n}, {"p": 2 * n}]
        ),
    ),
    "privacy budget": (
        lambda store, requests: None,
        lambda store, requests, r, n: store.set_privacy_budget_spent(ROOM, n / 10, 0.0),
        lambda store, requests, n: _assert_in(store.privacy_budget_spent(ROOM)[0], [n / 10, n / 5]),
    ),
    "approval": (
        lambda store, requests: _ignore(requests.insert_request("q", ROOM, b"commit", BOB)),
        lambda store, requests, r, n: requests.add_approval("q", ALICE, f"sig {n}".encode()),
        lambda store, requests, n: _assert_equal(len(requests.approvals("q")), 1),
    ),
    "publication": (
        lambda store, requests: store.complete_upload("u", _dataset("d" * 64)),
        lambda store, requests, r, n: store.put_publication(
            _publication("sales", "d" * 64, f"key {n}".encode())
        ),
        lambda store, requests, n: _assert_in(
            store.get_publication(ROOM, "sales").sealed_key,  # type: ignore[union-attr]
            [f"key {n}".encode(), f"key {2 * n}".encode()],
        ),
    ),
    "upload chunk": (
        lambda store, requests: store.create_upload("up", ALICE),
        lambda store, requests, r, n: store.put_upload_chunk("up", 0, f"{n:064d}", n),
        lambda store, requests, n: _assert_in(store.upload_chunks("up")[0][1], [n, 2 * n]),
    ),
    "user": (
        lambda store, requests: None,
        lambda store, requests, r, n: _ignore(store.ensure_user(f"user{r}@x.example")),
        lambda store, requests, n: _assert_equal(len(store.list_users()), n // 100),
    ),
}


def _assert_equal(actual: object, expected: object) -> None:
    assert actual == expected


def _assert_in(actual: object, expected: Sequence[object]) -> None:
    assert actual in expected


def _ignore(_: object) -> None:
    pass


@pytest.mark.parametrize("upsert", list(UPSERTS))
def test_upserts_racing_from_two_servers_neither_fail_nor_regress(
    backend: Backend, store: MetadataStore, upsert: str
) -> None:
    """Two servers write the same key at once, ten times: neither fails, and what is kept is
    one of the two values (for checkpoints: the larger)."""
    prepare, write, check = UPSERTS[upsert]
    servers = [backend.open_engine() for _ in range(2)]
    prepare(store, backend.requests())
    for round_ in range(1, 11):
        n = 100 * round_
        outcomes = _race(
            [
                partial(write, MetadataStore(servers[0]), RequestStore(servers[0]), round_, n),
                partial(write, MetadataStore(servers[1]), RequestStore(servers[1]), round_, 2 * n),
            ]
        )
        assert [o for o in outcomes if isinstance(o, BaseException)] == []
        check(store, backend.requests(), n)


# -- PostgreSQL specifics -------------------------------------------------------------------------
def test_a_plain_postgresql_url_means_psycopg_3(postgres_url: str) -> None:
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    for url in (plain, plain.replace("postgresql://", "postgres://")):
        engine = open_engine(url)
        try:
            assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
            migrate(engine)
        finally:
            engine.dispose()


def test_servers_starting_at_once_migrate_an_empty_database_once(postgres_url: str) -> None:
    engines = [open_engine(postgres_url) for _ in range(3)]
    try:
        outcomes = _race([partial(migrate, e) for e in engines])
        assert outcomes == [None, None, None]
        with engines[0].connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), metadata)
        assert diff == []
    finally:
        for engine in engines:
            engine.dispose()


def test_a_room_lock_excludes_the_other_server(postgres_url: str) -> None:
    """On PostgreSQL the room's lock holds across servers (SQLite has one writing process)."""
    backend = Backend("postgresql", postgres_url)
    try:
        first, second = (backend.store(backend.open_engine()) for _ in range(2))
        first.insert_room(_room(), [ALICE])
        entered = threading.Event()

        def wait_for_the_room() -> None:
            with second.room_lock(ROOM):
                entered.set()

        with first.room_lock(ROOM):
            waiter = threading.Thread(target=wait_for_the_room)
            waiter.start()
            assert not entered.wait(0.5)  # the other server waits for the room
            with second.room_lock(OTHER_ROOM):  # but not for another room
                pass
        assert entered.wait(10)  # and goes on once the first lets go
        waiter.join()
    finally:
        backend.dispose()
