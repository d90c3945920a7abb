"""A publication on condition (``replaces``): the core publishes only if the node's dataset is
still the one the owner read, so that two read-modify-writes never lose one another — and the
host can neither drop the condition nor make one up."""

from __future__ import annotations

import pytest

from sealroom.crypto import seal
from sealroom.crypto.sealing import dataset_key_context
from sealroom.errors import ConflictError, ParticipantSignatureError
from sealroom.model import signed_actions
from tests.unit.core_harness import (
    BANK,
    SALES,
    Setup,
    room_fixture,  # noqa: F401 (the fixture room)
    setup_fixture,  # noqa: F401 (the fixture setup)
)


def current(setup: Setup, room: str) -> str:
    return setup.core.facts(room).datasets["sales"].dataset_id


def sealed_upload(setup: Setup, room: str, data: bytes) -> tuple[str, bytes]:
    dataset_id, key = setup.upload(data)
    context = dataset_key_context(room, "sales", dataset_id)
    return dataset_id, seal(setup.core.kem_public_key, key.material, context=context)


def test_a_publication_on_the_current_dataset_replaces_it(setup: Setup, room: str) -> None:
    read = current(setup, room)
    dataset_id, sealed = sealed_upload(setup, room, SALES + b"east,1\n")
    setup.as_(BANK).publish_dataset(room, "sales", dataset_id, sealed, replaces=read)
    assert current(setup, room) == dataset_id


def test_a_publication_on_a_stale_dataset_is_refused_and_changes_nothing(
    setup: Setup, room: str
) -> None:
    read = current(setup, room)
    theirs = setup.publish(room, "sales", SALES + b"west,2\n")  # published in between
    size = len(setup.events(room))
    dataset_id, sealed = sealed_upload(setup, room, SALES + b"east,1\n")
    with pytest.raises(ConflictError) as refused:
        setup.as_(BANK).publish_dataset(room, "sales", dataset_id, sealed, replaces=read)
    assert refused.value.code == "dataset_changed"
    assert current(setup, room) == theirs
    assert setup.host.publications[(room, "sales")].dataset_id == theirs
    assert len(setup.events(room)) == size  # nothing appended
    # Read again: the same change now goes through.
    setup.as_(BANK).publish_dataset(room, "sales", dataset_id, sealed, replaces=theirs)
    assert current(setup, room) == dataset_id


def test_none_published_is_the_empty_condition(setup: Setup, room: str) -> None:
    dataset_id, sealed = sealed_upload(setup, room, SALES)
    with pytest.raises(ConflictError):  # the room has a dataset: "" is stale
        setup.as_(BANK).publish_dataset(room, "sales", dataset_id, sealed, replaces="")
    setup.as_(BANK).remove_dataset(room, "sales")
    setup.as_(BANK).publish_dataset(room, "sales", dataset_id, sealed, replaces="")
    assert current(setup, room) == dataset_id


@pytest.mark.parametrize("forwarded", [None, "0" * 64])
def test_the_host_cannot_drop_or_change_the_condition(
    setup: Setup, room: str, forwarded: str | None
) -> None:
    read = current(setup, room)
    setup.publish(room, "sales", SALES + b"west,2\n")
    dataset_id, sealed = sealed_upload(setup, room, SALES + b"east,1\n")
    call = signed_actions.publish_dataset(
        room, "sales", dataset_id, sealed, replace_passing=False, replaces=read
    )
    signed = setup.as_(BANK)._as(call)
    with pytest.raises(ParticipantSignatureError, match="does not verify"):
        setup.core.publish_dataset(signed, room, "sales", dataset_id, sealed, replaces=forwarded)
    assert current(setup, room) != dataset_id
