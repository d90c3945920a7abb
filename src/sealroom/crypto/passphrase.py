"""Secrets sealed under a passphrase a person types (an operator's backup of the core's keys).

Envelope (JSON-ready dict)::

    {"kdf": {"name": "scrypt", "n", "r", "p"}, "salt": hex(16 bytes),
     "aead": "AES-256-GCM", "nonce": hex(12 bytes), "ciphertext": hex}

Invariants:

* The key is scrypt(passphrase, salt) with n = 2**17, r = 8, p = 1 when sealing (about 128 MiB
  and a fraction of a second: each guess of a passphrase costs the same); opening accepts other
  parameters only within bounds (:data:`MAX_N` ...), so an altered envelope cannot make opening
  take unbounded memory or time.
* ``aad`` binds what the secrets belong to (e.g. the hash of an archive's other members): the
  envelope moved to another context fails to open.
* Every failure to open — a wrong passphrase, an altered envelope or context — raises
  :class:`~sealroom.errors.DecryptionError` without detail beyond that.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from sealroom.errors import DecryptionError

__all__ = ["MAX_N", "MAX_P", "MAX_R", "N", "P", "R", "open_with_passphrase", "seal_with_passphrase"]

N: Final = 2**17
R: Final = 8
P: Final = 1
MAX_N: Final = 2**20
MAX_R: Final = 16
MAX_P: Final = 4


def _key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def seal_with_passphrase(plaintext: bytes, passphrase: str, aad: bytes) -> dict[str, Any]:
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    ciphertext = AESGCM(_key(passphrase, salt, N, R, P)).encrypt(nonce, plaintext, aad)
    return {
        "kdf": {"name": "scrypt", "n": N, "r": R, "p": P},
        "salt": salt.hex(),
        "aead": "AES-256-GCM",
        "nonce": nonce.hex(),
        "ciphertext": ciphertext.hex(),
    }


def open_with_passphrase(envelope: Mapping[str, Any], passphrase: str, aad: bytes) -> bytes:
    try:
        kdf = envelope["kdf"]
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        salt, nonce = bytes.fromhex(envelope["salt"]), bytes.fromhex(envelope["nonce"])
        ciphertext = bytes.fromhex(envelope["ciphertext"])
        known = kdf["name"] == "scrypt" and envelope["aead"] == "AES-256-GCM"
    except (ValueError, KeyError, TypeError):
        raise DecryptionError("the sealed secrets are malformed") from None
    if not known or not (1 < n <= MAX_N and n & (n - 1) == 0 and 0 < r <= MAX_R and 0 < p <= MAX_P):
        raise DecryptionError("the sealed secrets use parameters this version refuses")
    try:
        return AESGCM(_key(passphrase, salt, n, r, p)).decrypt(nonce, ciphertext, aad)
    except (InvalidTag, ValueError):
        raise DecryptionError(
            "cannot open the sealed secrets: wrong passphrase, or they were altered"
        ) from None
