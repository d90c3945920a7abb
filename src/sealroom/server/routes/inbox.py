"""The inbox: the rooms a user is invited to or takes part in, and the requests awaiting their
approval (``GET /v1/inbox``; the page ``/inbox`` renders the same).

Read from what the host already stores — its room records, invitations, requests, approvals
and commits — without asking the core. It is the host's word, for showing only: which requests
count as pending and who must approve them is the core's decision when someone approves
(:mod:`sealroom.enclave.request_views`), computed here the same way from the same model
functions so that the two agree unless the host's records were altered.
"""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sealroom.errors import DefinitionError
from sealroom.model.commits import (
    apply_commit,
    apply_commits,
    approver_groups,
    initial_history_pin,
    parse_commit,
)
from sealroom.model.definition import RoomDefinition, parse_definition
from sealroom.model.principal import normalise_email
from sealroom.model.records import RequestStatus, RoomRecord
from sealroom.server.platform import Platform
from sealroom.server.routes.deps import PlatformDep, UserDep
from sealroom.storage.invitations import InvitationStore
from sealroom.storage.requests import RequestStore

__all__ = ["InboxApproval", "InboxOut", "InboxRoom", "build_inbox", "router"]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["inbox"])


class InboxRoom(BaseModel):
    room_id: str
    name: str
    owner: str
    status: str = Field(description="active or stopped")
    created_at_ms: int
    invited_by: str | None = Field(default=None, description="who invited you, if you were")
    invited_at_ms: int | None = None


class InboxApproval(BaseModel):
    room_id: str
    room_name: str
    request_id: str
    requester: str
    note: str
    created_at_ms: int
    nodes: list[str] = Field(description="the affected data nodes you own, not yet approved for")


class InboxOut(BaseModel):
    rooms: list[InboxRoom]
    approvals: list[InboxApproval]


def build_inbox(platform: Platform, email: str) -> InboxOut:
    """``email``'s inbox, newest rooms and oldest requests first."""
    address = normalise_email(email)
    invited = {i.room_id: i for i in InvitationStore(platform.store.engine).invitations(address)}
    requests = RequestStore(platform.store.engine)
    rooms: list[InboxRoom] = []
    approvals: list[InboxApproval] = []
    for room in platform.store.rooms_for(address):
        invitation = invited.get(room.id)
        rooms.append(
            InboxRoom(
                room_id=room.id,
                name=room.name,
                owner=room.owner_email,
                status="stopped" if room.is_stopped else "active",
                created_at_ms=room.created_at_ms,
                invited_by=invitation.invited_by if invitation else None,
                invited_at_ms=invitation.created_at_ms if invitation else None,
            )
        )
        if not room.is_stopped:
            try:
                approvals += _awaiting_approval(requests, room, address)
            except (DefinitionError, ValueError):
                # Records the core would refuse too; the inbox shows the rest.
                logger.warning("room %s: the host's records of its requests do not parse", room.id)
    rooms.reverse()
    approvals.sort(key=lambda a: (a.created_at_ms, a.request_id))
    return InboxOut(rooms=rooms, approvals=approvals)


def _awaiting_approval(
    requests: RequestStore, room: RoomRecord, address: str
) -> list[InboxApproval]:
    """Pending requests of ``room`` on its current history that ``address`` may approve for a
    node nobody approved for yet, and that ``address`` has not approved."""
    definition: RoomDefinition = parse_definition(json.loads(room.definition))
    if not definition.interactive:
        return []
    pending = [r for r in requests.list_requests(room.id) if r.status == RequestStatus.PENDING]
    if not pending:
        return []
    records = requests.commits(room.id)
    current = apply_commits(definition, [parse_commit(json.loads(r.commit)) for r in records])
    pin = records[-1].history_pin if records else initial_history_pin(room.id)
    out = []
    for record in pending:
        commit = parse_commit(json.loads(record.commit))
        if commit.history_pin != pin:
            continue  # superseded: built on an older history
        try:
            groups = approver_groups(apply_commit(current, commit), commit)
        except DefinitionError:
            continue
        approved = {normalise_email(a.approver) for a in requests.approvals(record.id)}
        if address in approved:
            continue
        nodes = [
            g.node
            for g in groups
            if address in {normalise_email(e) for e in g.approvers}
            and not any(normalise_email(e) in approved for e in g.approvers)
        ]
        if nodes:
            out.append(
                InboxApproval(
                    room_id=room.id,
                    room_name=room.name,
                    request_id=record.id,
                    requester=record.requester,
                    note=commit.note,
                    created_at_ms=record.created_at_ms,
                    nodes=nodes,
                )
            )
    return out


@router.get("/v1/inbox")
def inbox(platform: PlatformDep, user: UserDep) -> InboxOut:
    """Rooms you are invited to or take part in, and requests awaiting your approval (the
    host's records, for showing: the core decides when you approve)."""
    return build_inbox(platform, user)
