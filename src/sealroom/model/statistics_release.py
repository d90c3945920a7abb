"""What the core says when it releases a dataset's summary statistics, signed by the core.

Format (version 1)::

    release   = canonical JSON {"room_id", "node", "dataset_id", "recipient_public_key": hex,
                                "sealed_sha256": hex}
    signature = Ed25519(core key, "sealroom/statistics-release/v1" || release)

The statistics travel HPKE-sealed to ``recipient_public_key`` under
:func:`~sealroom.crypto.sealing.statistics_context`. They hold values of the data (a low and a
high value, frequent values), so the host must be able neither to read them (sealed) nor to make
some up (anyone can seal to a public key: only the core's signature says the core released them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sealroom.crypto import SigningKey, VerifyKey, canonical_json, sha256_hex
from sealroom.errors import VerificationError

__all__ = ["StatisticsRelease", "sign_statistics_release", "verify_statistics_release"]

_DOMAIN: Final = b"sealroom/statistics-release/v1"


@dataclass(frozen=True)
class StatisticsRelease:
    room_id: str
    node: str
    dataset_id: str
    recipient_public_key: str
    sealed_sha256: str

    @classmethod
    def of(
        cls, *, room_id: str, node: str, dataset_id: str, recipient_public_key: str, sealed: bytes
    ) -> StatisticsRelease:
        return cls(room_id, node, dataset_id, recipient_public_key, sha256_hex(sealed))

    def canonical(self) -> bytes:
        return canonical_json(
            {
                "room_id": self.room_id,
                "node": self.node,
                "dataset_id": self.dataset_id,
                "recipient_public_key": self.recipient_public_key,
                "sealed_sha256": self.sealed_sha256,
            }
        )


def sign_statistics_release(release: StatisticsRelease, key: SigningKey) -> bytes:
    return key.sign(_DOMAIN + release.canonical())


def verify_statistics_release(
    expected: StatisticsRelease, signature: bytes, key: VerifyKey
) -> None:
    """Raise :class:`VerificationError` unless the core released exactly ``expected``."""
    try:
        key.verify(_DOMAIN + expected.canonical(), signature)
    except VerificationError:
        raise VerificationError(
            f"the statistics of node {expected.node!r} are not the core's release of them to "
            "your key (the server altered or made them up)"
        ) from None
