"""What every ``sealroom media …`` command shares: opening a media room, checking the caller's
permission, waiting for the core, and describing a room.

Invariants:

* A room is opened through :meth:`MediaDcr.from_existing` (:func:`open_media_room`): the
  definition, and so the configuration in its description (groups, permissions, privacy), is
  verified against the room id before anything is shown or done. A room that is not a media room
  is a usage error (exit 2).
* A command that needs a permission checks it first (:func:`require`): exit 1 with one line that
  names the missing permission and the groups that hold it. The core enforces the same permission
  again, as a role of the room's definition, whatever this client does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from sealroom.cli._common import (
    EXIT_FAILURE,
    console,
    escape_untrusted,
    iso_time,
    resolve_room_id,
    usage_error,
)
from sealroom.data_lab import DataLab, DataLabBuilder
from sealroom.errors import DefinitionError
from sealroom.media import CollaborationType, MediaDcr, Permission
from sealroom.media import layout as media_layout

if TYPE_CHECKING:
    from sealroom.client import Client
    from sealroom.data_lab.jobs import ComputeJob

__all__ = [
    "MediaId",
    "Timeout",
    "describe",
    "fail",
    "open_data_lab",
    "open_media_room",
    "require",
    "require_collaboration",
    "wait_for",
]

MediaId = Annotated[str, typer.Argument(help="The media room's id, or a unique prefix of it.")]
Timeout = Annotated[float | None, typer.Option(help="Seconds to wait for the core's computation.")]


def open_media_room(client: Client, text: str) -> MediaDcr:
    """The media room whose id is ``text`` or starts with it, verified; a usage error for a room
    of another kind."""
    room_id = resolve_room_id(client, text)
    try:
        return MediaDcr.from_existing(room_id, client)
    except DefinitionError:
        usage_error(f"room {room_id} is not a media room (see `sealroom media list`)")


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_FAILURE)


def require(room: MediaDcr, *permissions: Permission) -> None:
    """Exit 1, naming the groups that hold one of ``permissions``, unless the caller's group
    holds one. A clearer error first: the core refuses the same action by the room's roles."""
    me = room.client.user_email
    group = room.config.group_of(me)
    names = " or ".join(p.value for p in permissions)
    holders = [g.role for g in room.config.participants if any(g.has(p) for p in permissions)]
    held = f"groups with it: {', '.join(holders)}" if holders else "no group has it"
    if group is None:
        fail(escape_untrusted(f"{me} is in no participant group of media room {room.id}"))
    mine = group.permissions_of(me)
    if not any(p in mine for p in permissions):
        has = ", ".join(Permission(p).value for p in mine) or "no permission"
        fail(
            escape_untrusted(
                f"{me}, in group {group.role} with {has}, lacks {names} in media room "
                f"{room.id}; {held}"
            )
        )


def require_collaboration(room: MediaDcr, collaboration: CollaborationType) -> None:
    if not room.config.has(collaboration):
        usage_error(
            f"media room {room.id} does not enable {collaboration.wire}; it enables "
            + ", ".join(t.wire for t in room.config.collaboration_types)
        )


def wait_for(job: ComputeJob, what: str, timeout: float | None) -> Any:
    """The job's parsed result, with a spinner on stderr while the core computes it."""
    with console.status(f"{what} in the core"):
        return job.wait_for_completion(timeout=timeout).result()


def open_data_lab(client: Client, text: str) -> DataLab:
    room_id = resolve_room_id(client, text)
    try:
        return DataLabBuilder(client).from_existing(room_id).build()
    except DefinitionError:
        usage_error(f"--data-lab {room_id} is not a DataLab (see `sealroom datalab list`)")


def describe(room: MediaDcr) -> dict[str, Any]:
    """What ``show --json`` prints: the verified configuration, the caller's group, what is
    published to the room's tables, and the privacy budget in differential-privacy mode."""
    published = room.dcr.retrieve_published_datasets()
    nodes = {entry["node"] for entry in published}
    group = room.config.group_of(room.client.user_email)
    budget = None
    if room.config.privacy.is_dp:
        spent = room.retrieve_privacy_budget()
        budget = {
            "epsilon_budget": spent.epsilon_budget,
            "epsilon_spent": spent.epsilon_spent,
            "epsilon_remaining": spent.epsilon_remaining,
        }
    return {
        "id": room.id,
        "name": room.config.name,
        "owner": room.get_owner_email(),
        "configuration": room.config.to_dict(),
        "your_group": None if group is None else group.to_dict(),
        "computations": media_layout.computations(room.config),
        "datasets": [
            {**entry, "published_at": iso_time(entry.get("published_at_ms"))} for entry in published
        ],
        "base_audience_provisioned": "matching" in nodes,
        "seed_audiences_provisioned": media_layout.SEED_TABLE in nodes,
        "privacy_budget": budget,
    }
