"""Canonical JSON: the exact bytes ids and signatures are computed over."""

from __future__ import annotations

import hashlib

import pytest

from sealroom.crypto import canonical_json, sha256_hex


def test_known_answer() -> None:
    obj = {"b": [1, True, None, "é"], "a": {"z": 1.5, "y": "x"}, "C": 0}
    expected = '{"C":0,"a":{"y":"x","z":1.5},"b":[1,true,null,"é"]}'.encode()
    assert canonical_json(obj) == expected
    assert sha256_hex(expected) == hashlib.sha256(expected).hexdigest()


def test_sha256_known_answer() -> None:
    assert sha256_hex(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_key_order_and_tuples_do_not_matter() -> None:
    assert canonical_json({"x": (1, 2), "a": 1}) == canonical_json({"a": 1, "x": [1, 2]})


def test_non_ascii_is_utf8_not_escaped() -> None:
    assert canonical_json("ü€") == '"ü€"'.encode()


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), float("-inf"), {"a": [float("nan")]}]
)
def test_rejects_nan_and_infinity(value: object) -> None:
    with pytest.raises(ValueError, match="JSON"):
        canonical_json(value)


@pytest.mark.parametrize("value", [{1: "a"}, {"a": {None: 1}}, [{True: 1}], {("a",): 1}])
def test_rejects_non_str_keys(value: object) -> None:
    # json.dumps would silently turn 1 into "1", making {1: x} and {"1": x} collide.
    with pytest.raises(TypeError, match="keys must be str"):
        canonical_json(value)


@pytest.mark.parametrize("value", [b"bytes", {1, 2}, object()])
def test_rejects_non_json_types(value: object) -> None:
    with pytest.raises(TypeError):
        canonical_json(value)


def test_rejects_lone_surrogate() -> None:
    with pytest.raises(UnicodeEncodeError, match="surrogate"):
        canonical_json("\ud800")


def test_rejects_absurd_nesting() -> None:
    deep: object = "x"
    for _ in range(200):
        deep = [deep]
    with pytest.raises(ValueError, match="nesting"):
        canonical_json(deep)
