"""Rooms: publish, retrieve, stop, datasets, validation reports, audit log.

Every route here only relays to the trusted core, which authorises, applies and audits.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from sealroom.audit import event_to_wire
from sealroom.errors import BadRequestError
from sealroom.model.wire import (
    AirlockQuotas,
    AuditEntryOut,
    AuditLogOut,
    ConsistencyProofOut,
    DatasetPublishedOut,
    DatasetStatisticsOut,
    InclusionProofOut,
    PrivacyBudgetOut,
    PublishedDatasetOut,
    RoomCommitOut,
    RoomOut,
    RoomPublishedOut,
    RoomStateOut,
    RoomStatusOut,
)
from sealroom.server.invitations import invite_participants
from sealroom.server.routes.deps import NodeInPath, PlatformDep, PrincipalDep

router = APIRouter(tags=["rooms"])


class PublishRoom(BaseModel):
    definition: dict[str, Any]


class RoomDescription(BaseModel):
    id: str
    name: str
    owner: str
    status: str
    created_at_ms: int


class PublishDataset(BaseModel):
    dataset_id: str = Field(pattern=r"^[0-9a-f]{64}$")
    sealed_key: str = Field(description="base64 HPKE ciphertext of the dataset key")
    replace_passing: bool = Field(
        default=False,
        description="replace the node's dataset even if this one fails validation and that one "
        "passed (signed with the action)",
    )
    replaces: str | None = Field(
        default=None,
        pattern=r"^([0-9a-f]{64})?$",
        description="publish only if the node's dataset is still this one ('' for none); "
        "signed with the action",
    )


@router.post("/v1/rooms", status_code=201)
def publish_room(
    body: PublishRoom, platform: PlatformDep, user: PrincipalDep, request: Request
) -> RoomPublishedOut:
    room_id = platform.core.publish_room(user, body.definition)
    # The host's courtesy, after the core published: records and e-mails the invitations
    # (in the background); never fails the publication.
    invite_participants(request.app, room_id, user.email)
    return RoomPublishedOut(room_id=room_id)


@router.get("/v1/rooms")
def list_rooms(platform: PlatformDep, user: PrincipalDep) -> list[RoomDescription]:
    return [
        RoomDescription(
            id=r.id,
            name=r.name,
            owner=r.owner_email,
            status="stopped" if r.is_stopped else "active",
            created_at_ms=r.created_at_ms,
        )
        for r in platform.store.rooms_for(user.email)
    ]


@router.get("/v1/rooms/{room_id}")
def retrieve_room(room_id: str, platform: PlatformDep, user: PrincipalDep) -> RoomOut:
    view = platform.core.retrieve_room(user, room_id)
    return RoomOut(
        room_id=view.room_id,
        definition=view.definition.decode(),
        signature=view.signature.hex(),
        status="stopped" if view.stopped else "active",
        created_at_ms=view.created_at_ms,
        commits=[
            RoomCommitOut(commit=commit.decode(), signature=signature.hex())
            for commit, signature in view.commits
        ],
        history_pin=view.history_pin,
    )


@router.get("/v1/rooms/{room_id}/status")
def room_status(room_id: str, platform: PlatformDep, user: PrincipalDep) -> RoomStatusOut:
    status = platform.core.room_status(user, room_id)
    return RoomStatusOut(status="stopped" if status == "stopped" else "active")


@router.post("/v1/rooms/{room_id}/stop", status_code=204)
def stop_room(room_id: str, platform: PlatformDep, user: PrincipalDep) -> Response:
    platform.core.stop_room(user, room_id)
    return Response(status_code=204)


@router.put("/v1/rooms/{room_id}/nodes/{node}/dataset")
def publish_dataset(
    room_id: str, node: NodeInPath, body: PublishDataset, platform: PlatformDep, user: PrincipalDep
) -> DatasetPublishedOut:
    try:
        sealed_key = base64.b64decode(body.sealed_key, validate=True)
    except ValueError:
        raise BadRequestError("sealed_key must be base64") from None
    published = platform.core.publish_dataset(
        user,
        room_id,
        node,
        body.dataset_id,
        sealed_key,
        replace_passing=body.replace_passing,
        replaces=body.replaces,
    )
    platform.metrics.validated(published.report)
    return published


@router.delete("/v1/rooms/{room_id}/nodes/{node}/dataset", status_code=204)
def remove_dataset(
    room_id: str, node: NodeInPath, platform: PlatformDep, user: PrincipalDep
) -> Response:
    platform.core.remove_dataset(user, room_id, node)
    return Response(status_code=204)


@router.get("/v1/rooms/{room_id}/nodes/{node}/validation-report")
def validation_report(
    room_id: str, node: NodeInPath, platform: PlatformDep, user: PrincipalDep
) -> Response:
    report = platform.core.validation_report(user, room_id, node)
    return Response(content=report, media_type="application/json")


class StatisticsRequest(BaseModel):
    recipient_public_key: str = Field(pattern=r"^[0-9a-f]{64}$", description="X25519, hex")


class StatisticsSharing(BaseModel):
    dataset_id: str = Field(pattern=r"^[0-9a-f]{64}$")
    shared: bool


@router.post("/v1/rooms/{room_id}/nodes/{node}/statistics")
def dataset_statistics(
    room_id: str,
    node: NodeInPath,
    body: StatisticsRequest,
    platform: PlatformDep,
    user: PrincipalDep,
) -> DatasetStatisticsOut:
    """The dataset's summary statistics, sealed to ``recipient_public_key`` and signed by the
    core: the host relays them without being able to read them."""
    dataset_id, sealed, signature = platform.core.dataset_statistics(
        user, room_id, node, bytes.fromhex(body.recipient_public_key)
    )
    return DatasetStatisticsOut(
        dataset_id=dataset_id,
        sealed=base64.b64encode(sealed).decode(),
        signature=signature.hex(),
    )


@router.put("/v1/rooms/{room_id}/nodes/{node}/statistics/sharing", status_code=204)
def share_dataset_statistics(
    room_id: str,
    node: NodeInPath,
    body: StatisticsSharing,
    platform: PlatformDep,
    user: PrincipalDep,
) -> Response:
    platform.core.share_dataset_statistics(user, room_id, node, body.dataset_id, body.shared)
    return Response(status_code=204)


@router.get("/v1/rooms/{room_id}/datasets")
def published_datasets(
    room_id: str, platform: PlatformDep, user: PrincipalDep
) -> list[PublishedDatasetOut]:
    return platform.core.published_datasets(user, room_id)


@router.get("/v1/rooms/{room_id}/audit-log")
def audit_log(
    room_id: str, platform: PlatformDep, user: PrincipalDep, start: Annotated[int, Query(ge=0)] = 0
) -> AuditLogOut:
    """Entries from ``start`` and the signed checkpoint (C2SP note) that commits to them."""
    events, checkpoint = platform.core.audit_log(user, room_id, start)
    return AuditLogOut(
        room_id=room_id,
        start=start,
        entries=[AuditEntryOut.model_validate(event_to_wire(e)) for e in events],
        checkpoint=checkpoint,
    )


@router.get("/v1/rooms/{room_id}/airlock-quotas")
def airlock_quotas(room_id: str, platform: PlatformDep, user: PrincipalDep) -> AirlockQuotas:
    """The caller's use of each preview node's quota (enforced by the core, audited)."""
    return platform.core.airlock_quotas(user, room_id)


@router.get("/v1/rooms/{room_id}/privacy-budget")
def privacy_budget(room_id: str, platform: PlatformDep, user: PrincipalDep) -> PrivacyBudgetOut:
    """The room's differential-privacy budget and what has been spent (enforced by the core)."""
    return platform.core.privacy_budget(user, room_id)


@router.get("/v1/rooms/{room_id}/state")
def room_state(room_id: str, platform: PlatformDep, user: PrincipalDep) -> RoomStateOut:
    """The room's status and published datasets, versioned by its audit log, signed by the core."""
    return platform.core.room_state(user, room_id)


@router.get("/v1/rooms/{room_id}/audit-log/checkpoint", response_class=PlainTextResponse)
def audit_checkpoint(room_id: str, platform: PlatformDep, user: PrincipalDep) -> Response:
    note = platform.core.audit_checkpoint(user, room_id)
    return Response(content=note, media_type="text/plain; charset=utf-8")


@router.get("/v1/rooms/{room_id}/audit-log/proof/inclusion")
def audit_inclusion_proof(
    room_id: str,
    platform: PlatformDep,
    user: PrincipalDep,
    index: Annotated[int, Query(ge=0)],
    size: Annotated[int, Query(ge=1)],
) -> InclusionProofOut:
    proof = platform.core.audit_inclusion_proof(user, room_id, index, size)
    return InclusionProofOut(index=index, size=size, proof=[_b64(p) for p in proof])


@router.get("/v1/rooms/{room_id}/audit-log/proof/consistency")
def audit_consistency_proof(
    room_id: str,
    platform: PlatformDep,
    user: PrincipalDep,
    first: Annotated[int, Query(ge=0)],
    second: Annotated[int, Query(ge=0)],
) -> ConsistencyProofOut:
    proof = platform.core.audit_consistency_proof(user, room_id, first, second)
    return ConsistencyProofOut(first=first, second=second, proof=[_b64(p) for p in proof])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
