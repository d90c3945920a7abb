"""Encryption at rest of the core's own secrets: format, binding, failures."""

from __future__ import annotations

import pytest

from sealroom.crypto import AT_REST_OVERHEAD, derive_key, open_at_rest, seal_at_rest
from sealroom.crypto.at_rest import _seal_with_nonce
from sealroom.errors import DecryptionError

KEY = bytes([0x11]) * 32
AAD = b"job-result:j1"
# Computed independently with AES-256-GCM(KEY).encrypt(nonce=00..0b, b"secret result",
# aad=b"\x01" + AAD) and prefixed with the version byte 0x01 and the nonce.
KNOWN_BLOB = bytes.fromhex(
    "01000102030405060708090a0b6086d5611ed7158671cba6f3b0135dec2de2cd79782dbdbceec2d1eb4c"
)


def test_known_answer_format() -> None:
    blob = _seal_with_nonce(KEY, b"secret result", aad=AAD, nonce=bytes(range(12)))
    assert blob == KNOWN_BLOB
    assert open_at_rest(KEY, KNOWN_BLOB, aad=AAD) == b"secret result"


def test_round_trip_and_random_nonces() -> None:
    a = seal_at_rest(KEY, b"x" * 100, aad=AAD)
    b = seal_at_rest(KEY, b"x" * 100, aad=AAD)
    assert a != b
    assert len(a) == 100 + AT_REST_OVERHEAD
    assert open_at_rest(KEY, a, aad=AAD) == open_at_rest(KEY, b, aad=AAD) == b"x" * 100


def test_empty_plaintext() -> None:
    assert open_at_rest(KEY, seal_at_rest(KEY, b"", aad=b""), aad=b"") == b""


@pytest.mark.parametrize("position", [0, 1, 12, 13, len(KNOWN_BLOB) - 1])
def test_any_flipped_byte_fails(position: int) -> None:
    blob = bytearray(KNOWN_BLOB)
    blob[position] ^= 0x01
    with pytest.raises(DecryptionError):
        open_at_rest(KEY, bytes(blob), aad=AAD)


def test_wrong_aad_or_key_fails() -> None:
    with pytest.raises(DecryptionError):
        open_at_rest(KEY, KNOWN_BLOB, aad=b"job-result:j2")
    with pytest.raises(DecryptionError):
        open_at_rest(bytes(32), KNOWN_BLOB, aad=AAD)


@pytest.mark.parametrize("blob", [b"", b"\x01", KNOWN_BLOB[: AT_REST_OVERHEAD - 1]])
def test_short_blob_fails(blob: bytes) -> None:
    with pytest.raises(DecryptionError):
        open_at_rest(KEY, blob, aad=AAD)


def test_error_does_not_leak_plaintext() -> None:
    blob = seal_at_rest(KEY, b"top secret value", aad=AAD)
    with pytest.raises(DecryptionError) as excinfo:
        open_at_rest(KEY, blob, aad=b"other")
    assert "top secret" not in str(excinfo.value)


def test_key_size_enforced() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        seal_at_rest(b"short", b"x", aad=b"")


def test_derive_key_known_answer() -> None:
    # HKDF-SHA256(ikm=00..1f, salt=none, info="sealroom/derived-key/v1\0core-identity"), by hand.
    derived = derive_key(bytes(range(32)), purpose="core-identity")
    assert derived.hex() == "7f7f2332bfc29ae878ed85dc66893d9f139502c8536e4175c7d5ff1b273fa603"


def test_derive_key_separates_purposes() -> None:
    master = bytes(range(32))
    keys = {derive_key(master, purpose=p) for p in ("a", "b", "results", "reports")}
    assert len(keys) == 4
    assert all(len(k) == 32 for k in keys)


def test_derive_key_rejects_weak_input() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        derive_key(b"short", purpose="x")
    with pytest.raises(ValueError, match="purpose"):
        derive_key(bytes(32), purpose="")
