"""``sealroom room ...``: list, show, stop rooms; read their audit log and validation reports."""

from __future__ import annotations

import json

import typer

from sealroom.cli._common import ApiUrl, Email, Token, open_client
from sealroom.client._http import DEFAULT_API_URL

__all__ = ["room_app"]

room_app = typer.Typer(help="Inspect and manage rooms.", no_args_is_help=True)


@room_app.command("list")
def room_list(api_url: ApiUrl = DEFAULT_API_URL, email: Email = "", token: Token = "") -> None:
    """List the rooms you take part in."""
    with open_client(api_url, email, token) as client:
        for room in client.get_data_room_descriptions():
            typer.echo(f"{room['id']}\t{room['status']}\t{room['name']}")


@room_app.command("show")
def room_show(
    room_id: str, api_url: ApiUrl = DEFAULT_API_URL, email: Email = "", token: Token = ""
) -> None:
    """Print a room's definition, verified against its id and the core's signature."""
    with open_client(api_url, email, token) as client:
        definition = client.session().retrieve_data_room(room_id)
    typer.echo(json.dumps(definition.model_dump(mode="json"), indent=2))


@room_app.command("stop")
def room_stop(
    room_id: str, api_url: ApiUrl = DEFAULT_API_URL, email: Email = "", token: Token = ""
) -> None:
    """Stop a room: no more uploads or runs; definition and audit log stay readable."""
    with open_client(api_url, email, token) as client:
        client.session().stop_data_room(room_id)
    typer.echo(f"room {room_id} stopped")


@room_app.command("audit")
def room_audit(
    room_id: str, api_url: ApiUrl = DEFAULT_API_URL, email: Email = "", token: Token = ""
) -> None:
    """Print the room's audit log (verified), one line per event."""
    with open_client(api_url, email, token) as client:
        typer.echo(client.session().retrieve_audit_log(room_id).log.decode(), nl=False)


@room_app.command("validation-report")
def room_validation_report(
    room_id: str,
    node: str,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Print the validation report of a table node you own."""
    with open_client(api_url, email, token) as client:
        report = client.session().get_validation_report(room_id, node)
    typer.echo(json.dumps(report, indent=2))
