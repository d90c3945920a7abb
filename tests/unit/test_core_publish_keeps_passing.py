"""A dataset that fails validation does not replace one that passed, unless its owner signed
``replace_passing`` — and the host cannot turn one into the other."""

from __future__ import annotations

import pytest

from sealroom.audit import AuditAction
from sealroom.crypto import seal
from sealroom.crypto.sealing import dataset_key_context
from sealroom.errors import ParticipantSignatureError
from sealroom.model import signed_actions
from sealroom.model.principal import Principal
from tests.unit.core_harness import (
    BANK,
    SALES,
    Setup,
    room_fixture,  # noqa: F401 (the fixture room)
    setup_fixture,  # noqa: F401 (the fixture setup)
)

BROKEN = b"north,ten\nsouth,3\n"  # 'ten' is not an integer: FAILED


def published(setup: Setup, room: str) -> str:
    return setup.core.facts(room).datasets["sales"].dataset_id


def test_a_failing_dataset_leaves_the_passing_one_in_place(setup: Setup, room: str) -> None:
    good = published(setup, room)
    dataset_id, key = setup.upload(BROKEN)
    sealed = seal(
        setup.core.kem_public_key,
        key.material,
        context=dataset_key_context(room, "sales", dataset_id),
    )
    answer = setup.as_(BANK).publish_dataset(room, "sales", dataset_id, sealed)
    assert answer.validation == "FAILED"
    assert answer.published is False
    assert answer.kept_dataset_id == good
    assert answer.report["report"]["outcome"] == "FAILED"
    assert answer.report["report"]["numInvalidRowsTotal"] == 1
    assert published(setup, room) == good
    assert setup.core.facts(room).datasets["sales"].validation == "PASSED"
    assert setup.host.publications[(room, "sales")].dataset_id == good
    last = setup.events(room)[-1]
    assert last.action is AuditAction.DATASET_VALIDATED
    assert last.details == {"node": "sales", "dataset_id": dataset_id, "outcome": "FAILED"}
    # Computations still read the dataset that passed.
    assert setup.run(room, "by_region", {"min": "0"})


def test_the_owner_can_ask_for_the_replacement(setup: Setup, room: str) -> None:
    broken = setup.publish(room, "sales", BROKEN, replace_passing=True)
    assert published(setup, room) == broken
    assert setup.core.facts(room).datasets["sales"].validation == "FAILED"


def test_a_passing_dataset_replaces_and_a_failing_one_replaces_a_failed_one(
    setup: Setup, room: str
) -> None:
    setup.publish(room, "sales", BROKEN, replace_passing=True)
    again = setup.publish(room, "sales", BROKEN + b"east,1\n")  # FAILED replaces FAILED
    assert published(setup, room) == again
    fixed = setup.publish(room, "sales", SALES + b"east,1\n")
    assert published(setup, room) == fixed
    assert setup.core.facts(room).datasets["sales"].validation == "PASSED"


def test_the_host_cannot_flip_the_owners_choice(setup: Setup, room: str) -> None:
    """The owner signed replace_passing=false; a host that forwards true is refused."""
    dataset_id, key = setup.upload(BROKEN)
    sealed = seal(
        setup.core.kem_public_key,
        key.material,
        context=dataset_key_context(room, "sales", dataset_id),
    )
    signed = setup.as_(BANK)._as(
        signed_actions.publish_dataset(room, "sales", dataset_id, sealed, replace_passing=False)
    )
    assert isinstance(signed, Principal)
    with pytest.raises(ParticipantSignatureError, match="does not verify"):
        setup.core.publish_dataset(signed, room, "sales", dataset_id, sealed, replace_passing=True)
    assert setup.core.facts(room).datasets["sales"].validation == "PASSED"
