"""An in-process trusted core on the hostile in-memory host, shared by the core's unit tests.

:mod:`tests.unit.test_core_tamper` and :mod:`tests.unit.test_core_verified_facts` run the core
on :class:`tests.hostile_host.HostileHost`, a host a test edits as a malicious operator edits the
database. This module is what they share: the participants and data, the rooms they publish,
:class:`Setup` (the core, its host, and the steps of a run) and the ``setup`` and ``room``
fixtures. A test module uses the fixtures by importing them; pytest finds them by their names::

    from tests.unit.core_harness import room_fixture, setup_fixture  # noqa: F401
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sealroom.audit import AuditAction, AuditEvent, event_from_wire
from sealroom.crypto import KemPrivateKey, Key, dataset_key_context, encrypt_bytes, seal
from sealroom.enclave import CoreConfig, OpenCore, open_core
from sealroom.enclave.core import CoreSettings, TrustedCore
from sealroom.enclave.host import Host
from sealroom.model.columns import Column, FormatType, NumericRangeRule
from sealroom.model.commits import Commit, initial_history_pin
from sealroom.model.definition import (
    Participant,
    PreviewNode,
    RateLimit,
    RoomDefinition,
    RoomPrivacy,
    SqlNode,
    TableNode,
)
from sealroom.model.records import DatasetRecord, JobStatus, now_ms
from tests.hostile_host import HostileHost
from tests.participants import Actor, pinned

__all__ = [
    "ANALYST",
    "BANK",
    "COLUMNS",
    "INSURER",
    "SALES",
    "FixedSealing",
    "Setup",
    "interactive_room",
    "open_on",
    "room_fixture",
    "setup_fixture",
    "static_room",
]

BANK = "alice@bank.example"
INSURER = "bob@insurer.example"
ANALYST = "carol@analytics.example"
SALES = b"north,10\nsouth,3\nnorth,5\n"
COLUMNS = (
    Column(name="region", format_type=FormatType.STRING, is_nullable=False),
    Column(
        name="amount",
        format_type=FormatType.INTEGER,
        is_nullable=False,
        in_range=NumericRangeRule(greater_than_equals=0, less_than_equals=100),
    ),
)


class FixedSealing:
    """The sealing key provider: a fixed key, as the hardware would give the same one."""

    def __init__(self) -> None:
        self.key = bytes(range(32))

    def sealing_key(self) -> bytes:
        return self.key


def static_room() -> RoomDefinition:
    return RoomDefinition(
        name="tamper",
        owner=BANK,
        nodes=(
            TableNode(name="sales", columns=COLUMNS),
            SqlNode(
                name="by_region",
                query="SELECT region, SUM(amount) AS total FROM sales "
                "WHERE amount >= CAST($min AS INTEGER) GROUP BY region ORDER BY region",
                dependencies=("sales",),
                parameters=("min",),
                rate_limit=RateLimit(window_seconds=3600, max_executions=2),
            ),
            SqlNode(
                name="dp_count",
                query="SELECT COUNT(*) AS n FROM sales",
                dependencies=("sales",),
                dp_epsilon=1.0,
            ),
            SqlNode(
                name="regions", query="SELECT DISTINCT region FROM sales", dependencies=("sales",)
            ),
            PreviewNode(name="peek", dependency="regions", quota_bytes=500),
        ),
        participants=(
            Participant(email=BANK, data_owner_of=("sales",)),
            Participant(email=ANALYST, analyst_of=("by_region", "dp_count", "peek")),
        ),
        privacy=RoomPrivacy(dp_epsilon_budget=1.5),
        identities=pinned(BANK, ANALYST),
    )


@dataclass
class Setup:
    """A running core, the hostile host it runs on, and the steps a test takes with them."""

    tmp_path: Path
    host: HostileHost
    sealing: FixedSealing
    opened: OpenCore
    recipient: KemPrivateKey

    @property
    def core(self) -> TrustedCore:
        return self.opened.core

    def as_(self, email: str) -> Actor:
        """The core as ``email`` uses it: the actions they sign, signed with their key."""
        return Actor(self.core, email)

    def restart(self) -> TrustedCore:
        """A new core on the same host and identity: it knows only what it reads back."""
        self.opened.close()
        self.opened = open_on(self.tmp_path, self.host, self.sealing)
        return self.core

    def upload(self, data: bytes, owner: str = BANK) -> tuple[str, Key]:
        key = Key()
        manifest, chunks = encrypt_bytes(key, data)
        for chunk in chunks:
            self.host.chunks[chunk.sha256] = chunk.ciphertext
        self.host.datasets[manifest.dataset_id] = DatasetRecord(
            id=manifest.dataset_id,
            owner_email=owner,
            name="sales.csv",
            description="",
            manifest=manifest.to_bytes(),
            size=sum(len(c.ciphertext) for c in chunks),
            created_at_ms=now_ms(),
        )
        return manifest.dataset_id, key

    def publish(
        self,
        room_id: str,
        node: str,
        data: bytes,
        owner: str = BANK,
        *,
        replace_passing: bool = False,
    ) -> str:
        dataset_id, key = self.upload(data, owner)
        sealed = seal(
            self.core.kem_public_key,
            key.material,
            context=dataset_key_context(room_id, node, dataset_id),
        )
        self.as_(owner).publish_dataset(
            room_id, node, dataset_id, sealed, replace_passing=replace_passing
        )
        return dataset_id

    def submit(self, room_id: str, node: str, parameters: dict[str, str] | None = None) -> str:
        key = self.recipient.public_key.to_bytes()
        return self.as_(ANALYST).submit_job(room_id, node, parameters, key).id

    def run_next(self) -> str:
        job = self.host.claim_next_job()
        assert job is not None
        self.core.execute_job(job)
        return self.host.jobs[job.id].status

    def run(self, room_id: str, node: str, parameters: dict[str, str] | None = None) -> str:
        job_id = self.submit(room_id, node, parameters)
        assert self.run_next() in JobStatus.FINISHED
        return job_id

    def events(self, room_id: str) -> list[AuditEvent]:
        return [event_from_wire(json.loads(raw)) for raw in self.host.entries[room_id]]

    def tampering(self, room_id: str) -> list[str]:
        """The facts the core reported tampering with, in order."""
        return [
            str(event.details["fact"])
            for event in self.events(room_id)
            if event.action is AuditAction.TAMPERING_DETECTED
        ]


def open_on(tmp_path: Path, host: Host, sealing: FixedSealing) -> OpenCore:
    """A core on ``host``, its identity and scratch space under ``tmp_path``, running no workers
    (a test runs each job itself, with :meth:`Setup.run_next`)."""
    config = CoreConfig(
        settings=CoreSettings(scratch_dir=tmp_path / "scratch"),
        identity_path=tmp_path / "identity.sealed",
        sealing_key_file=tmp_path / "unused.key",
        workers=0,
    )
    return open_core(config, host, sealing)


@pytest.fixture(name="setup")
def setup_fixture(tmp_path: Path) -> Iterator[Setup]:
    """A core running on a fresh hostile host, closed at the end of the test."""
    (tmp_path / "scratch").mkdir()
    host, sealing = HostileHost(), FixedSealing()
    state = Setup(
        tmp_path, host, sealing, open_on(tmp_path, host, sealing), KemPrivateKey.generate()
    )
    yield state
    state.opened.close()


@pytest.fixture(name="room")
def room_fixture(setup: Setup) -> str:
    """The :func:`static_room`, published by its owner, with ``SALES`` published to ``sales``."""
    room_id = setup.as_(BANK).publish_room(static_room().model_dump(mode="json"))
    setup.publish(room_id, "sales", SALES)
    return room_id


def interactive_room(setup: Setup) -> tuple[str, Commit]:
    """An interactive room of two data owners, and the analyst's pending request joining their
    tables (it needs both owners' approvals)."""
    definition = RoomDefinition(
        name="interactive",
        owner=BANK,
        interactive=True,
        nodes=(TableNode(name="sales", columns=COLUMNS), TableNode(name="claims", columns=COLUMNS)),
        participants=(
            Participant(email=BANK, data_owner_of=("sales",)),
            Participant(email=INSURER, data_owner_of=("claims",)),
            Participant(email=ANALYST),
        ),
        identities=pinned(BANK, INSURER, ANALYST),
    )
    room_id = setup.as_(BANK).publish_room(definition.model_dump(mode="json"))
    commit = Commit(
        room_id=room_id,
        history_pin=initial_history_pin(room_id),
        requester=ANALYST,
        nodes=(
            SqlNode(
                name="both",
                query="SELECT COUNT(*) AS n FROM sales, claims",
                dependencies=("sales", "claims"),
            ),
        ),
        analysts=({"email": ANALYST, "analyst_of": ("both",)},),  # type: ignore[arg-type]
    )
    setup.as_(ANALYST).submit_request(room_id, commit.model_dump(mode="json"))
    return room_id, commit
