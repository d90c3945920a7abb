"""``sealroom media members list|add|remove|approve|integrate``: who is in each participant
group of a media room, and the requests that change it (:mod:`sealroom.media.members`).

Invariants:

* The groups shown are the room's verified configuration with the membership requests its
  verified history integrated (:func:`sealroom.media.members.current_groups`), never the host's
  word.
* ``add`` and ``remove`` ask for a change of the caller's own group, and only with
  ``MANAGE_USERS``; nothing changes until an owner of every data node it affects approved
  (``approve``, which refuses a request that is not a sound membership change) and someone
  integrated it (``integrate``). Rejecting is ``sealroom request reject``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from sealroom.cli._common import (
    ApiUrl,
    AsJson,
    Email,
    Token,
    echo_json,
    escape_untrusted,
    open_client,
    usage_error,
)
from sealroom.cli.media_common import MediaId, fail, open_media_room, require
from sealroom.client._http import DEFAULT_API_URL
from sealroom.errors import DefinitionError, PermissionDeniedError
from sealroom.media import MediaDcr, Permission
from sealroom.media.media_dcr import MembershipRequest

__all__ = ["members_app"]

members_app = typer.Typer(
    name="members",
    help="Who is in each participant group, and requests that add or remove people (MANAGE_USERS).",
    no_args_is_help=True,
)

MemberEmail = Annotated[str, typer.Argument(help="The person's e-mail address.")]
RequestId = Annotated[str, typer.Argument(help="The membership request's id, or a unique prefix.")]
Group = Annotated[
    str | None,
    typer.Option(help="The group's id or role (default: yours; a group manages its own people)."),
]


def _group(room: MediaDcr, group: str | None) -> str:
    if group is not None:
        return group
    mine = room.config.group_of(room.client.user_email)
    if mine is None:
        fail(f"{room.client.user_email} is in no participant group of media room {room.id}")
    return mine.id


def _permissions(values: list[str]) -> list[Permission]:
    known = ", ".join(p.value for p in Permission)
    out = []
    for value in values:
        try:
            out.append(Permission(value.strip().upper()))
        except ValueError:
            usage_error(f"--permission {value!r} is not one of: {known}")
    return out


def _pending(room: MediaDcr, request_id: str) -> MembershipRequest:
    wanted = request_id.strip().lower()
    found = [p for p in room.get_membership_requests() if p.request.id.startswith(wanted)]
    if len(found) != 1:
        usage_error(
            f"{'no' if not found else 'more than one'} pending membership request "
            f"{request_id!r} in media room {room.id} (see `sealroom media members list`)"
        )
    return found[0]


def _request_json(pending: MembershipRequest) -> dict[str, Any]:
    request = pending.request
    return {
        "id": request.id,
        "status": request.status.value,
        "requester": request.owner,
        "group": pending.change.group_id,
        "email": pending.change.email,
        "action": "remove" if pending.change.removed else "add",
        "permissions": [p.value for p in pending.change.permissions],
        "sound": pending.sound,
        "approver_groups": [
            {"node": g.node, "approvers": list(g.approvers)} for g in request.approver_groups
        ],
        "missing_approvals": request.missing_approvals,
    }


def _print_request(pending: MembershipRequest) -> None:
    e = escape_untrusted
    change = pending.change
    what = (
        f"remove {change.email}"
        if change.removed
        else f"add {change.email} ({', '.join(p.value for p in change.permissions)})"
    )
    group = pending.group.role if pending.group is not None else f"unknown group {change.group_id}"
    typer.echo(
        f"{pending.request.id[:12]}  {e(what)} to {e(group)}, asked by "
        f"{e(pending.request.owner)}: {pending.request.status.value}"
    )
    if not pending.sound:
        typer.echo(
            "  NOT a sound membership change: not asked by a manager of that group, or it "
            "grants other roles than it says. Reject it (sealroom request reject)."
        )
    waiting = pending.request.missing_approvals
    typer.echo(
        f"  waiting for one of: {e(', '.join(waiting))}" if waiting else "  approved: integrate it"
    )


@members_app.command("list")
def members_list(
    media_id: MediaId,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Each group's people and what each may do, then the pending membership requests."""
    with open_client(api_url, email, token) as client:
        room = open_media_room(client, media_id)
        pending = room.get_membership_requests()
    if as_json:
        echo_json(
            {
                "groups": [g.to_dict() for g in room.get_participants()],
                "requests": [_request_json(p) for p in pending],
            }
        )
        return
    e = escape_untrusted
    for group in room.get_participants():
        typer.echo(f"{e(group.role)} ({e(group.id)})")
        for person in group.emails:
            permissions = ", ".join(p.value for p in group.permissions_of(person)) or "none"
            typer.echo(f"  {e(person)}: {permissions}")
    if pending:
        typer.echo("\npending membership requests")
        for request in pending:
            _print_request(request)


@members_app.command("add")
def members_add(
    media_id: MediaId,
    member: MemberEmail,
    permission: Annotated[
        list[str],
        typer.Option(
            metavar="PERMISSION",
            help="A permission of the group for them (repeatable), e.g. VIEW_OVERLAP.",
        ),
    ],
    group: Group = None,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Ask for MEMBER to join your group with some of its permissions."""
    permissions = _permissions(permission)
    with open_client(api_url, email, token) as client:
        room = open_media_room(client, media_id)
        require(room, Permission.MANAGE_USERS)
        try:
            request = room.add_user_as_participant(_group(room, group), member, permissions)
        except (DefinitionError, PermissionDeniedError) as exc:
            fail(escape_untrusted(str(exc)))
        pending = _pending(room, request.id)
    _report(pending, as_json)


@members_app.command("remove")
def members_remove(
    media_id: MediaId,
    member: MemberEmail,
    group: Group = None,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Ask for MEMBER to leave your group: every role they hold in the room is withdrawn."""
    with open_client(api_url, email, token) as client:
        room = open_media_room(client, media_id)
        require(room, Permission.MANAGE_USERS)
        try:
            request = room.remove_user_from_participant(_group(room, group), member)
        except (DefinitionError, PermissionDeniedError) as exc:
            fail(escape_untrusted(str(exc)))
        pending = _pending(room, request.id)
    _report(pending, as_json)


@members_app.command("approve")
def members_approve(
    media_id: MediaId,
    request_id: RequestId,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Approve a sound membership request as an owner of data it affects."""
    with open_client(api_url, email, token) as client:
        room = open_media_room(client, media_id)
        pending = _pending(room, request_id)
        try:
            room.approve_membership_request(pending.request.id)
        except PermissionDeniedError as exc:
            fail(escape_untrusted(str(exc)))
        pending = _pending(room, pending.request.id)
    _report(pending, as_json)


@members_app.command("integrate")
def members_integrate(
    media_id: MediaId,
    request_id: RequestId,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Integrate an approved membership request: the group changes for everybody."""
    with open_client(api_url, email, token) as client:
        room = open_media_room(client, media_id)
        pending = _pending(room, request_id)
        room.integrate_membership_request(pending.request.id)
    change = pending.change
    typer.echo(
        f"integrated: {change.email} {'left' if change.removed else 'joined'} "
        f"{pending.group.role if pending.group else change.group_id}"
    )


def _report(pending: MembershipRequest, as_json: bool) -> None:
    if as_json:
        echo_json(_request_json(pending))
    else:
        _print_request(pending)
