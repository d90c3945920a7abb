"""HPKE sealing to the core and to analysts: round trip, context binding, failures."""

from __future__ import annotations

import pytest

from sealroom.crypto import (
    SEALED_OVERHEAD,
    KemPrivateKey,
    KemPublicKey,
    dataset_key_context,
    dataset_test_key_context,
    open_sealed,
    result_context,
    seal,
)
from sealroom.errors import DecryptionError

ROOM_A, ROOM_B = "a" * 64, "b" * 64
DATASET_1, DATASET_2 = "1" * 64, "2" * 64


@pytest.fixture
def core_key() -> KemPrivateKey:
    return KemPrivateKey.generate()


def test_round_trip(core_key: KemPrivateKey) -> None:
    context = dataset_key_context(ROOM_A, "customers", DATASET_1)
    sealed = seal(core_key.public_key, b"k" * 32, context=context)
    assert len(sealed) == 32 + SEALED_OVERHEAD
    assert sealed[0] == 0x01
    assert open_sealed(core_key, sealed, context=context) == b"k" * 32


def test_sealing_is_randomised(core_key: KemPrivateKey) -> None:
    context = result_context(ROOM_A, "job-1", "csv")
    assert seal(core_key.public_key, b"x", context=context) != seal(
        core_key.public_key, b"x", context=context
    )


@pytest.mark.parametrize(
    "other_context",
    [
        dataset_key_context(ROOM_B, "customers", DATASET_1),  # another room
        dataset_key_context(ROOM_A, "transactions", DATASET_1),  # another node
        dataset_key_context(ROOM_A, "customers", DATASET_2),  # another dataset
        result_context(ROOM_A, "job-1", "csv"),  # another purpose
        dataset_test_key_context(ROOM_A, "customers", DATASET_1, "t" * 32),  # a test run
        b"",
    ],
)
def test_dataset_key_does_not_open_elsewhere(core_key: KemPrivateKey, other_context: bytes) -> None:
    sealed = seal(
        core_key.public_key, b"k" * 32, context=dataset_key_context(ROOM_A, "customers", DATASET_1)
    )
    with pytest.raises(DecryptionError):
        open_sealed(core_key, sealed, context=other_context)


@pytest.mark.parametrize(
    "other_context",
    [
        result_context(ROOM_A, "job-2", "csv"),  # another job
        result_context(ROOM_B, "job-1", "csv"),  # another room
        result_context(ROOM_A, "job-1", "arrow"),  # another format
    ],
)
def test_result_context_binds_room_job_and_format(
    core_key: KemPrivateKey, other_context: bytes
) -> None:
    sealed = seal(core_key.public_key, b"result", context=result_context(ROOM_A, "job-1", "csv"))
    with pytest.raises(DecryptionError):
        open_sealed(core_key, sealed, context=other_context)


@pytest.mark.parametrize(
    "other_context",
    [
        dataset_key_context(ROOM_A, "customers", DATASET_1),  # the publication of that draft
        dataset_test_key_context(ROOM_A, "customers", DATASET_1, "u" * 32),  # another test run
        dataset_test_key_context(ROOM_B, "customers", DATASET_1, "t" * 32),  # another draft
    ],
)
def test_a_test_key_opens_only_in_its_test_run(
    core_key: KemPrivateKey, other_context: bytes
) -> None:
    context = dataset_test_key_context(ROOM_A, "customers", DATASET_1, "t" * 32)
    sealed = seal(core_key.public_key, b"k" * 32, context=context)
    assert open_sealed(core_key, sealed, context=context) == b"k" * 32
    with pytest.raises(DecryptionError):
        open_sealed(core_key, sealed, context=other_context)


def test_wrong_private_key(core_key: KemPrivateKey) -> None:
    context = result_context(ROOM_A, "job-1", "csv")
    sealed = seal(core_key.public_key, b"result", context=context)
    with pytest.raises(DecryptionError):
        open_sealed(KemPrivateKey.generate(), sealed, context=context)


@pytest.mark.parametrize("position", [0, 1, 20, 33, -1])
def test_tampering(core_key: KemPrivateKey, position: int) -> None:
    context = result_context(ROOM_A, "job-1", "csv")
    sealed = bytearray(seal(core_key.public_key, b"result", context=context))
    sealed[position] ^= 0x01
    with pytest.raises(DecryptionError):
        open_sealed(core_key, bytes(sealed), context=context)


@pytest.mark.parametrize("length", [0, 1, SEALED_OVERHEAD - 1, SEALED_OVERHEAD])
def test_truncated_or_garbage(core_key: KemPrivateKey, length: int) -> None:
    with pytest.raises(DecryptionError):
        open_sealed(core_key, b"\x01" + b"\x00" * length, context=b"")


def test_context_known_answer() -> None:
    assert dataset_key_context("r", "n", "d") == (
        b'{"dataset_id":"d","node_id":"n","purpose":"sealroom/dataset-key/v1","room_id":"r"}'
    )
    assert result_context("r", "j", "csv") == (
        b'{"job_id":"j","purpose":"sealroom/job-result/v2","result_format":"csv","room_id":"r"}'
    )
    assert dataset_test_key_context("r", "n", "d", "t") == (
        b'{"dataset_id":"d","draft_id":"r","node_id":"n","purpose":"sealroom/test-dataset-key/v1",'
        b'"test_run":"t"}'
    )


def test_context_fields_must_be_non_empty() -> None:
    with pytest.raises(ValueError, match="node_id"):
        dataset_key_context(ROOM_A, "", DATASET_1)


def test_keys_round_trip_and_repr(core_key: KemPrivateKey) -> None:
    restored = KemPrivateKey.from_bytes(core_key.to_bytes())
    assert restored.public_key == core_key.public_key
    public = core_key.public_key
    assert KemPublicKey.from_bytes(public.to_bytes()) == public
    assert KemPublicKey.from_hex(public.hex()) == public
    assert core_key.to_bytes().hex() not in repr(core_key)
    with pytest.raises(TypeError):
        hash(core_key)
    # Public keys are safe dict keys.
    assert {public: 1}[KemPublicKey.from_hex(public.hex())] == 1


@pytest.mark.parametrize("raw", [b"", b"\x00" * 31, b"\x00" * 33])
def test_bad_key_sizes(raw: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        KemPublicKey.from_bytes(raw)
    with pytest.raises(ValueError, match="32 bytes"):
        KemPrivateKey.from_bytes(raw)
