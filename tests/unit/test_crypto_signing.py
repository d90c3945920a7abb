"""Ed25519 signing keys and verify keys."""

from __future__ import annotations

import pytest

from sealroom.crypto import SigningKey, VerifyKey
from sealroom.errors import VerificationError

MESSAGE = b"sealroom/test/v1" + b"payload"


def test_sign_and_verify() -> None:
    key = SigningKey.generate()
    signature = key.sign(MESSAGE)
    assert len(signature) == 64
    key.verify_key.verify(MESSAGE, signature)  # returns None, raises on failure


def test_rfc8032_test_vector_1() -> None:
    # RFC 8032 §7.1, TEST 1 (empty message).
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    public = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    expected = (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
        "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    key = SigningKey.from_bytes(seed)
    assert key.verify_key.hex() == public
    assert key.sign(b"").hex() == expected
    assert key.to_bytes() == seed


@pytest.mark.parametrize(
    "tamper",
    [
        lambda m, s: (m + b"x", s),
        lambda m, s: (m[:-1], s),
        lambda m, s: (m, bytes([s[0] ^ 1]) + s[1:]),
        lambda m, s: (m, s[:-1]),
        lambda m, s: (m, b""),
    ],
)
def test_tampering_raises(tamper) -> None:  # type: ignore[no-untyped-def]
    key = SigningKey.generate()
    message, signature = tamper(MESSAGE, key.sign(MESSAGE))
    with pytest.raises(VerificationError):
        key.verify_key.verify(message, signature)


def test_wrong_key_raises() -> None:
    signature = SigningKey.generate().sign(MESSAGE)
    with pytest.raises(VerificationError):
        SigningKey.generate().verify_key.verify(MESSAGE, signature)


def test_verify_key_round_trips() -> None:
    verify_key = SigningKey.generate().verify_key
    assert VerifyKey.from_bytes(verify_key.to_bytes()) == verify_key
    assert VerifyKey.from_hex(verify_key.hex()) == verify_key
    assert hash(VerifyKey.from_hex(verify_key.hex())) == hash(verify_key)
    assert verify_key.hex() in repr(verify_key)


@pytest.mark.parametrize("raw", [b"", b"\x00" * 31, b"\x00" * 33])
def test_bad_sizes_rejected(raw: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        VerifyKey.from_bytes(raw)
    with pytest.raises(ValueError, match="32 bytes"):
        SigningKey.from_bytes(raw)


def test_bad_hex_rejected() -> None:
    with pytest.raises(ValueError, match="hex"):
        VerifyKey.from_hex("zz" * 32)


def test_repr_hides_private_key() -> None:
    key = SigningKey.generate()
    assert key.to_bytes().hex() not in repr(key)
    assert "<secret>" in repr(key)
    with pytest.raises(TypeError):
        hash(key)
