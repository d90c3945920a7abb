"""``sealroom room ...``: list, show, stop rooms; read their audit log and validation reports.

Room ids may be abbreviated to a unique prefix (:func:`~sealroom.cli._common.resolve_room_id`);
``--json`` prints one JSON document. The audit log is verified by the SDK before it is shown:
one CSV line per event, ``time,user,notes,action``, the time in ISO 8601 UTC to the
millisecond (the SDK's ``retrieve_audit_log`` keeps the seed's milliseconds since the epoch);
``--json`` gives each entry with both.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from sealroom.audit import format_lines
from sealroom.cli._common import (
    ApiUrl,
    AsJson,
    Email,
    Token,
    echo_json,
    iso_time,
    iso_time_ms,
    open_client,
    print_table,
    resolve_room_id,
)
from sealroom.client._http import DEFAULT_API_URL

__all__ = ["room_app"]

room_app = typer.Typer(help="Inspect and manage rooms.", no_args_is_help=True)

RoomId = Annotated[str, typer.Argument(help="The room's id, or a unique prefix of it.")]


@room_app.command("list")
def room_list(
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """List the rooms you take part in (created: UTC)."""
    with open_client(api_url, email, token) as client:
        rooms = client.get_data_room_descriptions()
    if as_json:
        echo_json([{**room, "created_at": iso_time(room["created_at_ms"])} for room in rooms])
        return
    print_table(
        ("ROOM ID", "STATUS", "CREATED", "OWNER", "NAME"),
        (
            (
                str(room["id"]),
                str(room["status"]),
                iso_time(room["created_at_ms"]),
                str(room["owner"]),
                str(room["name"]),
            )
            for room in rooms
        ),
        empty="you take part in no room",
    )


@room_app.command("show")
def room_show(
    room_id: RoomId,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Print a room's definition (JSON), verified against its id and the core's signature."""
    del as_json  # the definition is JSON either way; the option is there for every command
    with open_client(api_url, email, token) as client:
        full_id = resolve_room_id(client, room_id)
        definition = client.session().retrieve_data_room(full_id)
    echo_json(definition.model_dump(mode="json"))


@room_app.command("stop")
def room_stop(
    room_id: RoomId, api_url: ApiUrl = DEFAULT_API_URL, email: Email = "", token: Token = ""
) -> None:
    """Stop a room: no more uploads or runs; definition and audit log stay readable."""
    with open_client(api_url, email, token) as client:
        full_id = resolve_room_id(client, room_id)
        client.session().stop_data_room(full_id)
    typer.echo(f"room {full_id} stopped")


@room_app.command("audit")
def room_audit(
    room_id: RoomId,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Print the room's audit log (verified): time (UTC), user, notes, action per line."""
    with open_client(api_url, email, token) as client:
        full_id = resolve_room_id(client, room_id)
        verified = client.session().verify_audit_log(full_id)
    if as_json:
        echo_json(
            [
                {**event.to_dict(), "time": iso_time_ms(event.timestamp_ms)}
                for event in verified.events
            ]
        )
        return
    for event, line in zip(
        verified.events, format_lines(verified.events).splitlines(), strict=True
    ):
        # The line starts with the event's milliseconds and a comma (format_lines).
        _, rest = line.split(",", 1)
        typer.echo(f"{iso_time_ms(event.timestamp_ms)},{rest}")


@room_app.command("validation-report")
def room_validation_report(
    room_id: RoomId,
    node: str,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report's JSON on standard output.")
    ] = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Print the validation report of a table node you own: counts per kind of error, the first
    errors by row and column, hints (rows as records of the uploaded file, from 1)."""
    from sealroom.cli.report_view import render_report

    with open_client(api_url, email, token) as client:
        full_id = resolve_room_id(client, room_id)
        report = client.session().get_validation_report(full_id, node)
    if json_output:
        typer.echo(json.dumps(report, indent=2))
        return
    Console().print(render_report(report, where="core"), soft_wrap=True)
