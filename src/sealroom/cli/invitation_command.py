"""``sealroom user invitations``: the invitations of the server's data directory, for the operator
of a server without SMTP (or whose e-mails did not arrive).

It lists who was invited to which room and has no account yet, until when, and whether the
e-mail went out. A sign-up link is a credential and only its hash is stored, so a link cannot be
shown again: ``--show-links`` issues a **new** one-time link per listed address and prints it
(its earlier links that were never e-mailed are retired, so one stays live; e-mailed ones keep
working). Hand it to that person only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sealroom.cli._common import EXIT_FAILURE, AsJson, echo_json, iso_time, print_table

__all__ = ["user_invitations"]


def user_invitations(
    data_dir: Annotated[
        Path,
        typer.Option("--data-dir", envvar="SEALROOM_DATA_DIR", help="The server's data directory."),
    ] = Path(".sealroom-data"),
    show_links: Annotated[
        bool,
        typer.Option(
            "--show-links",
            help="Issue and print a new one-time sign-up link for each listed address (a "
            "credential: give it to that person only).",
        ),
    ] = False,
    show_all: Annotated[
        bool,
        typer.Option("--all", help="Also invitations of people who have an account, and expired."),
    ] = False,
    public_url: Annotated[
        str,
        typer.Option(
            "--public-url",
            envvar="SEALROOM_PUBLIC_URL",
            help="The address people reach the server at, for the links (as `serve` has it).",
        ),
    ] = "",
    as_json: AsJson = False,
) -> None:
    """List invitations whose invitee has no account yet (e-mail, room, expiry, e-mailed)."""
    from sealroom.cli.main import _open_user_store
    from sealroom.model.records import now_ms
    from sealroom.server.invitations import InvitationService
    from sealroom.server.settings import Settings
    from sealroom.storage.invitations import InvitationStore

    store = _open_user_store(data_dir, init=False)
    settings = Settings(data_dir=data_dir, public_url=public_url)
    invitations = InvitationStore(store.engine)
    service = InvitationService(settings, invitations, store, outbox=None)
    now = now_ms()
    listed = [
        i
        for i in invitations.invitations()
        if show_all or (not i.has_account and i.expires_at_ms > now)
    ]
    links: dict[str, str] = {}
    expires = now + int(settings.signup_link_seconds * 1000)
    if show_links:
        refusal = service.policy.refusal("", invited=True)
        if refusal is not None:
            store.engine.dispose()
            typer.echo(
                f"error: no sign-up links under signup={settings.signup}: {refusal}", err=True
            )
            raise typer.Exit(EXIT_FAILURE)
        for invitation in listed:
            if invitation.has_account or invitation.email in links:
                continue
            invitations.retire_unmailed_tokens(invitation.email)
            links[invitation.email] = service.new_signup_link(
                invitation.email, invitation.id, expires
            )
    store.engine.dispose()
    rows = [
        {
            "email": i.email,
            "room_id": i.room_id,
            "room_name": i.room_name,
            "invited_by": i.invited_by,
            # A new link brings its own expiry.
            "expires_at_ms": expires if i.email in links else i.expires_at_ms,
            "expires_at": iso_time(expires if i.email in links else i.expires_at_ms),
            "mailed": i.mailed_at_ms is not None,
            "has_account": i.has_account,
            **({"signup_link": links[i.email]} if i.email in links else {}),
        }
        for i in listed
    ]
    if as_json:
        echo_json(rows)
        return
    headers = ["E-MAIL", "ROOM", "INVITED BY", "EXPIRES", "E-MAILED"]
    if show_all:
        headers.append("ACCOUNT")
    if show_links:
        headers.append("SIGN-UP LINK")
    table = []
    for row in rows:
        cells = [
            str(row["email"]),
            f"{row['room_name']} ({str(row['room_id'])[:12]})",
            str(row["invited_by"]),
            str(row["expires_at"]),
            "yes" if row["mailed"] else "no",
        ]
        if show_all:
            cells.append("yes" if row["has_account"] else "no")
        if show_links:
            cells.append(str(row.get("signup_link", "")))
        table.append(cells)
    print_table(headers, table, empty=f"no pending invitations in {data_dir}")
    if links:
        typer.echo(
            "Each link creates one account, once, and expires with the date shown; it is a "
            "credential: give it to that person only.",
            err=True,
        )
