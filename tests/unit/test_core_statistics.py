"""A dataset's summary statistics in the core: who may read them, what they show with the
room's minimum group size, and that the host relays them without reading or forging them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sealroom.audit import AuditAction
from sealroom.crypto import KemPrivateKey, open_sealed
from sealroom.crypto.sealing import statistics_context
from sealroom.errors import ConflictError, NotFoundError, VerificationError
from sealroom.model.definition import Participant, RoomDefinition, SqlNode, TableNode
from sealroom.model.statistics_release import StatisticsRelease, verify_statistics_release
from tests.unit.core_harness import (
    ANALYST,
    BANK,
    COLUMNS,
    INSURER,
    Setup,
    pinned,
    room_fixture,  # noqa: F401 (the fixture room)
    setup_fixture,  # noqa: F401 (the fixture setup)
)

# 5 rows in the north (amounts 1..5 and 50), 2 in the south, 1 in the east.
ROWS = b"north,1\nnorth,2\nnorth,3\nnorth,4\nnorth,5\nnorth,50\nsouth,7\nsouth,8\neast,99\n"


def threshold_room(setup: Setup, minimum_rows: int | None = 3) -> str:
    definition = RoomDefinition(
        name="statistics",
        owner=BANK,
        nodes=(
            TableNode(name="sales", columns=COLUMNS),
            SqlNode(
                name="by_region",
                query="SELECT region, COUNT(*) AS n FROM sales GROUP BY region",
                dependencies=("sales",),
                minimum_rows_count=minimum_rows,
            ),
        ),
        participants=(
            Participant(email=BANK, data_owner_of=("sales",)),
            Participant(email=ANALYST, analyst_of=("by_region",)),
            Participant(email=INSURER),
        ),
        identities=pinned(BANK, ANALYST, INSURER),
    )
    room_id = setup.as_(BANK).publish_room(definition.model_dump(mode="json"))
    setup.publish(room_id, "sales", ROWS)
    return room_id


def read(setup: Setup, email: str, room_id: str) -> dict[str, Any]:
    recipient = KemPrivateKey.generate()
    key = recipient.public_key.to_bytes()
    dataset_id, sealed, signature = setup.as_(email).dataset_statistics(room_id, "sales", key)
    release = StatisticsRelease.of(
        room_id=room_id,
        node="sales",
        dataset_id=dataset_id,
        recipient_public_key=key.hex(),
        sealed=sealed,
    )
    verify_statistics_release(release, signature, setup.core.verify_key)
    plain = open_sealed(recipient, sealed, context=statistics_context(room_id, "sales", dataset_id))
    statistics: dict[str, Any] = json.loads(plain)
    return statistics


def test_the_owner_reads_statistics_bounded_by_the_rooms_minimum_group(setup: Setup) -> None:
    room_id = threshold_room(setup)
    statistics = read(setup, BANK, room_id)
    assert statistics["rows"] == 9
    assert statistics["threshold"] == 3
    region, amount = statistics["columns"]
    assert region == {
        "name": "region",
        "type": "STRING",
        "empty": 0,
        "distinct": 3,
        # east (1 row) and south (2 rows) are held by fewer than 3 rows: not shown.
        "top": [{"value": "north", "count": 6}],
    }
    # The third smallest and third largest: 99 and 1 are one row's values, never shown.
    assert (amount["low"], amount["high"]) == (3, 8)
    entries = setup.events(room_id)
    assert entries[-1].action is AuditAction.DATASET_STATISTICS_RETRIEVED


def test_without_a_threshold_low_and_high_are_the_extremes(setup: Setup) -> None:
    room_id = threshold_room(setup, minimum_rows=None)
    _, amount = read(setup, BANK, room_id)["columns"]
    assert (amount["low"], amount["high"]) == (1, 99)


def test_others_read_them_only_while_the_owner_shares_this_dataset(setup: Setup) -> None:
    room_id = threshold_room(setup)
    with pytest.raises(ConflictError, match="does not share"):
        read(setup, ANALYST, room_id)
    dataset_id = setup.core.facts(room_id).datasets["sales"].dataset_id
    setup.as_(BANK).share_dataset_statistics(room_id, "sales", dataset_id)
    assert read(setup, ANALYST, room_id)["rows"] == 9
    assert read(setup, INSURER, room_id)["rows"] == 9
    # A new dataset is not shared until its owner says so.
    setup.publish(room_id, "sales", ROWS + b"west,10\n")
    with pytest.raises(ConflictError, match="does not share"):
        read(setup, ANALYST, room_id)
    assert read(setup, BANK, room_id)["rows"] == 10
    # Sharing survives a restart: the log says so, not the core's memory.
    new_id = setup.core.facts(room_id).datasets["sales"].dataset_id
    setup.as_(BANK).share_dataset_statistics(room_id, "sales", new_id)
    setup.restart()
    assert read(setup, ANALYST, room_id)["rows"] == 10
    setup.as_(BANK).share_dataset_statistics(room_id, "sales", new_id, shared=False)
    with pytest.raises(ConflictError, match="does not share"):
        read(setup, ANALYST, room_id)


def test_only_the_owner_shares_and_only_the_current_dataset(setup: Setup) -> None:
    room_id = threshold_room(setup)
    dataset_id = setup.core.facts(room_id).datasets["sales"].dataset_id
    with pytest.raises(Exception, match="lacks permission leaf_crud"):
        setup.as_(ANALYST).share_dataset_statistics(room_id, "sales", dataset_id)
    with pytest.raises(ConflictError, match="is not the one published"):
        setup.as_(BANK).share_dataset_statistics(room_id, "sales", "e" * 64)
    with pytest.raises(NotFoundError, match="no table node 'by_region'"):
        setup.as_(BANK).dataset_statistics(room_id, "by_region", bytes(32))


def test_a_room_with_differential_privacy_refuses_to_share_them(setup: Setup, room: str) -> None:
    dataset_id = setup.core.facts(room).datasets["sales"].dataset_id
    with pytest.raises(ConflictError, match="differential privacy"):
        setup.as_(BANK).share_dataset_statistics(room, "sales", dataset_id)
    assert read(setup, BANK, room)["rows"] == 3  # the owner still reads them


def test_the_host_can_neither_read_nor_forge_them(setup: Setup) -> None:
    room_id = threshold_room(setup)
    recipient = KemPrivateKey.generate()
    key = recipient.public_key.to_bytes()
    dataset_id, sealed, signature = setup.as_(BANK).dataset_statistics(room_id, "sales", key)
    assert b"north" not in sealed
    # A host that seals made-up statistics to the same key has no core signature for them.
    from sealroom.crypto import seal

    forged = seal(
        recipient.public_key,
        json.dumps({"rows": 1}).encode(),
        context=statistics_context(room_id, "sales", dataset_id),
    )
    release = StatisticsRelease.of(
        room_id=room_id,
        node="sales",
        dataset_id=dataset_id,
        recipient_public_key=key.hex(),
        sealed=forged,
    )
    with pytest.raises(VerificationError, match="not the core's release"):
        verify_statistics_release(release, signature, setup.core.verify_key)


def test_a_publication_keeps_its_validated_table_and_statistics_are_computed_once(
    setup: Setup,
) -> None:
    room_id = threshold_room(setup)
    dataset_id = setup.core.facts(room_id).datasets["sales"].dataset_id
    cache = setup.core._core.tables
    (cached,) = [entry for key, entry in cache._entries.items() if key[0] == dataset_id]
    # The publication's validation is what the first job reads.
    assert cached.statistics == {}  # not computed until asked
    first = read(setup, BANK, room_id)
    assert cached.statistics[3]["rows"] == 9
    assert read(setup, BANK, room_id) == first
    again = setup.publish(room_id, "sales", ROWS + b"west,10\n")
    assert {key[0] for key in cache._entries} == {again}
