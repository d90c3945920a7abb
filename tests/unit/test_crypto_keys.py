"""The dataset key: never shown, compared in constant time, exactly 32 bytes."""

from __future__ import annotations

import pytest

from sealroom.crypto import KEY_SIZE, Key


def test_new_keys_are_random_and_32_bytes() -> None:
    a, b = Key(), Key()
    assert len(a.material) == KEY_SIZE == 32
    assert a.material != b.material
    assert a != b


def test_restore_from_material() -> None:
    key = Key()
    restored = Key(material=key.material)
    assert restored == key
    assert Key(material=bytearray(key.material)) == key


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_wrong_length_is_rejected(size: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Key(material=b"\x00" * size)


def test_wrong_type_is_rejected() -> None:
    with pytest.raises(TypeError):
        Key(material="00" * 32)  # type: ignore[arg-type]


def test_repr_and_str_hide_material() -> None:
    key = Key(material=bytes(range(32)))
    for text in (repr(key), str(key), f"{key}", repr([key])):
        assert "<secret>" in text
        assert key.material.hex() not in text
        assert "\\x00\\x01" not in text


def test_unhashable() -> None:
    with pytest.raises(TypeError):
        hash(Key())
    with pytest.raises(TypeError):
        {Key(): 1}


def test_not_equal_to_other_types() -> None:
    key = Key()
    assert key != key.material
    assert (key == key.material) is False
