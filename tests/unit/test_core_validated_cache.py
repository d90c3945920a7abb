"""The core validates a dataset once per table schema, whichever rooms publish it (a DataLab's
datasets provisioned as a media room's base audience are not validated again), and never lets
one room's validation stand for a dataset it was not published with."""

from __future__ import annotations

import pyarrow as pa
import pytest

from sealroom.crypto import seal
from sealroom.crypto.sealing import dataset_key_context
from sealroom.enclave.inputs import OpenedDataset
from sealroom.errors import BadRequestError
from sealroom.model.columns import Column, FormatType
from sealroom.model.definition import TableNode
from tests.unit.core_harness import (
    BANK,
    SALES,
    Setup,
    setup_fixture,  # noqa: F401 (the fixture setup)
    static_room,
)


@pytest.fixture
def decryptions(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> list[OpenedDataset]:
    """The datasets the core decrypts (to validate them), in order: the real decryption,
    counted."""
    reader = setup.core._core.reader
    real = reader.decrypt
    seen: list[OpenedDataset] = []

    def counted(opened: OpenedDataset) -> pa.Buffer:
        seen.append(opened)
        return real(opened)

    monkeypatch.setattr(reader, "decrypt", counted)
    return seen


def new_room(setup: Setup, name: str, nodes: tuple[TableNode, ...] | None = None) -> str:
    base = static_room()
    changed = base.model_copy(update={"name": name})
    if nodes is not None:
        changed = changed.model_copy(update={"nodes": nodes + base.nodes[1:]})
    return setup.as_(BANK).publish_room(changed.model_dump(mode="json"))


def publish(setup: Setup, room: str, dataset_id: str, key: bytes) -> str | None:
    sealed = seal(
        setup.core.kem_public_key, key, context=dataset_key_context(room, "sales", dataset_id)
    )
    answer = setup.as_(BANK).publish_dataset(room, "sales", dataset_id, sealed)
    return str(answer.validation)


def test_the_same_dataset_in_another_room_is_not_validated_again(
    setup: Setup, decryptions: list[OpenedDataset]
) -> None:
    first, second = new_room(setup, "first"), new_room(setup, "second")
    dataset_id, key = setup.upload(SALES)
    assert publish(setup, first, dataset_id, key.material) == "PASSED"
    assert len(decryptions) == 1
    assert publish(setup, second, dataset_id, key.material) == "PASSED"
    assert len(decryptions) == 1  # the first room's validation stands
    assert setup.run(second, "by_region", {"min": "0"})
    assert len(decryptions) == 1
    # Replacing the first room's dataset keeps the second room's table.
    setup.publish(first, "sales", SALES + b"east,1\n")
    assert len(decryptions) == 2
    assert setup.run(second, "by_region", {"min": "0"})
    assert len(decryptions) == 2


def test_another_schema_is_validated_for_itself(
    setup: Setup, decryptions: list[OpenedDataset]
) -> None:
    first = new_room(setup, "first")
    # The same columns, but amounts as text: the same bytes validate to another table.
    text = TableNode(
        name="sales",
        columns=(
            Column(name="region", format_type=FormatType.STRING, is_nullable=False),
            Column(name="amount", format_type=FormatType.STRING, is_nullable=False),
        ),
    )
    other = new_room(setup, "text", (text,))
    dataset_id, key = setup.upload(SALES + b"west,many\n")
    assert publish(setup, first, dataset_id, key.material) == "FAILED"  # 'many' is no integer
    assert publish(setup, other, dataset_id, key.material) == "PASSED"
    assert len(decryptions) == 2


def test_a_wrong_key_is_refused_before_any_validation_is_reused(
    setup: Setup, decryptions: list[OpenedDataset]
) -> None:
    first, second = new_room(setup, "first"), new_room(setup, "second")
    dataset_id, key = setup.upload(SALES)
    assert publish(setup, first, dataset_id, key.material) == "PASSED"
    with pytest.raises(BadRequestError, match="not the key it was encrypted with"):
        publish(setup, second, dataset_id, bytes(32))
    assert "sales" not in setup.core.facts(second).datasets
