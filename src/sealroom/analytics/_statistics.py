"""The SDK's side of a dataset's summary statistics: fetched sealed to a fresh key, checked
against the core's signature, opened (:mod:`sealroom.enclave.statistics`)."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from sealroom.crypto import KemPrivateKey, open_sealed
from sealroom.crypto.sealing import statistics_context
from sealroom.errors import VerificationError
from sealroom.model import signed_actions
from sealroom.model.statistics_release import StatisticsRelease, verify_statistics_release
from sealroom.model.wire import DatasetStatisticsOut

if TYPE_CHECKING:
    from sealroom.client import Session

__all__ = ["get_dataset_statistics", "share_dataset_statistics"]


def get_dataset_statistics(session: Session, room_id: str, node: str) -> dict[str, Any]:
    """The statistics of the dataset published to ``node`` (see the enclave module)."""
    recipient = KemPrivateKey.generate()
    key = recipient.public_key.to_bytes()
    call = signed_actions.retrieve_dataset_statistics(room_id, node, key)
    response = session._api.request(
        "POST",
        f"/v1/rooms/{room_id}/nodes/{node}/statistics",
        json={"recipient_public_key": key.hex()},
        proof=session._signer(call),
    )
    try:
        answer = DatasetStatisticsOut.model_validate(response.json())
        sealed = base64.b64decode(answer.sealed, validate=True)
        signature = bytes.fromhex(answer.signature)
    except ValueError:
        raise VerificationError("the server's answer is not statistics the core released") from None
    release = StatisticsRelease.of(
        room_id=room_id,
        node=node,
        dataset_id=answer.dataset_id,
        recipient_public_key=key.hex(),
        sealed=sealed,
    )
    session._pins.check_room(room_id, session.attestation)
    verify_statistics_release(release, signature, session.attestation.verify_key)
    plain = open_sealed(
        recipient, sealed, context=statistics_context(room_id, node, answer.dataset_id)
    )
    statistics: dict[str, Any] = json.loads(plain)
    statistics["dataset_id"] = answer.dataset_id
    return statistics


def share_dataset_statistics(
    session: Session, room_id: str, node: str, dataset_id: str, shared: bool
) -> None:
    """Share (or stop sharing) the statistics of ``dataset_id`` with the room's participants."""
    call = signed_actions.share_dataset_statistics(room_id, node, dataset_id, shared)
    session._api.request(
        "PUT",
        f"/v1/rooms/{room_id}/nodes/{node}/statistics/sharing",
        json={"dataset_id": dataset_id, "shared": shared},
        proof=session._signer(call),
    )
