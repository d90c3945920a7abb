"""X25519 public keys of low order are refused when parsed (issue 13, item 13).

Known answers: the curve's low-order points (RFC 7748 §6.1; the list libsodium refuses), and
their encodings with the ignored top bit set. Sealing to any of them would share an all-zero
secret; the library noticed only inside ``seal``, which the server answered with 500.
"""

from __future__ import annotations

import pytest

from sealroom.crypto import KemPrivateKey, KemPublicKey

P = 2**255 - 19

LOW_ORDER_POINTS = {
    "zero (order 4)": 0,
    "one (order 1)": 1,
    "order 8, a": int.from_bytes(
        bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"), "little"
    ),
    "order 8, b": int.from_bytes(
        bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"), "little"
    ),
    "p - 1 (order 2)": P - 1,
    "p (zero, not reduced)": P,
    "p + 1 (one, not reduced)": P + 1,
}


@pytest.mark.parametrize("top_bit", [0, 1 << 255], ids=["", "top bit set"])
@pytest.mark.parametrize("u", LOW_ORDER_POINTS.values(), ids=LOW_ORDER_POINTS.keys())
def test_low_order_points_are_refused(u: int, top_bit: int) -> None:
    raw = (u | top_bit).to_bytes(32, "little")
    with pytest.raises(ValueError, match="low-order point"):
        KemPublicKey.from_bytes(raw)
    with pytest.raises(ValueError, match="low-order point"):
        KemPublicKey.from_hex(raw.hex())


def test_real_keys_still_parse() -> None:
    for _ in range(32):
        public = KemPrivateKey.generate().public_key
        assert KemPublicKey.from_bytes(public.to_bytes()) == public
