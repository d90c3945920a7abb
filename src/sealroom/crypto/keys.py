"""The dataset key: the one secret an SDK user handles.

``Key()`` draws 256 random bits from the operating system; ``Key(material=...)`` restores a key the
user stored. The key never leaves the client except sealed (HPKE) to an attested core, bound to
one room, node and dataset (see :mod:`sealroom.crypto.sealing`).

Invariants:

* ``material`` is exactly :data:`KEY_SIZE` bytes; anything else raises :class:`ValueError`.
* ``repr``/``str`` never show the material (keys end up in tracebacks, logs and notebooks).
* Equality is constant-time (:func:`hmac.compare_digest`).
* A ``Key`` is **unhashable**. Hashing by material would let ``hash(key)`` (printed in debuggers,
  observable through dict timing) depend on the secret; hashing by a digest of the material would
  be safe but buys nothing: nothing in Sealroom looks keys up by value (datasets are looked up by
  their public dataset id), and an unhashable key cannot end up as a dict key by accident.
"""

from __future__ import annotations

import hmac
import secrets
from typing import ClassVar

__all__ = ["KEY_SIZE", "Key"]

KEY_SIZE = 32
"""Bytes of key material: AES-256."""


class Key:
    """A 256-bit dataset key. ``Key()`` makes a new random one."""

    __slots__ = ("_material",)
    # Unhashable on purpose (see the module docstring).
    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def __init__(self, material: bytes | bytearray | memoryview | None = None) -> None:
        if material is None:
            material = secrets.token_bytes(KEY_SIZE)
        elif not isinstance(material, bytes | bytearray | memoryview):
            raise TypeError(f"key material must be bytes, not {type(material).__name__}")
        material = bytes(material)
        if len(material) != KEY_SIZE:
            # The length is not secret; the bytes are.
            raise ValueError(f"key material must be {KEY_SIZE} bytes, got {len(material)}")
        self._material = material

    @property
    def material(self) -> bytes:
        """The raw 32 key bytes. Store them safely; whoever holds them can read the dataset."""
        return self._material

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Key):
            return NotImplemented
        return hmac.compare_digest(self._material, other._material)

    def __repr__(self) -> str:
        return "Key(<secret>)"

    __str__ = __repr__
