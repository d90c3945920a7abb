"""``sealroom audit export|verify``: the audit log as a file anyone can check offline.

``export`` fetches the log through the SDK (which verifies it against the attested core and the
checkpoint saved from your last look) and writes the export file. ``verify`` needs no server: it
checks the file's signed checkpoint, every entry against the Merkle root, and with ``--previous``
that the newer file extends the older (no entry rewritten, none removed). Exit status 0 when all
holds; 1 with the reason otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sealroom.audit import verify_export
from sealroom.cli.client_commands import ApiUrl, Email, Token, console
from sealroom.client._http import DEFAULT_API_URL
from sealroom.crypto import VerifyKey
from sealroom.errors import VerificationError

__all__ = ["audit_app"]

audit_app = typer.Typer(help="Export and verify a room's tamper-evident audit log.")


@audit_app.command("export")
def audit_export(
    room_id: str,
    output: Annotated[Path, typer.Option("--output", "-o", help="The export file to write.")],
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Verify ROOM_ID's audit log and write it, with its signed checkpoint and key, to a file."""
    from sealroom.client import create_client

    with create_client(email, token, api_url=api_url) as client:
        data = client.session().export_audit_log(room_id)
    output.write_bytes(data)
    console.print(f"audit log of room {room_id} written to {output}")


@audit_app.command("verify")
def audit_verify(
    file: Path,
    previous: Annotated[
        Path | None,
        typer.Option("--previous", help="An older export of the same room it must extend."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", help="The core's public key (hex) the export must be signed by."),
    ] = None,
) -> None:
    """Check an export offline: signature, every entry, and consistency with --previous."""
    try:
        expected = VerifyKey.from_hex(key) if key else None
    except ValueError:
        raise typer.BadParameter("--key must be 64 hex digits (an Ed25519 public key)") from None
    try:
        verified = verify_export(
            file.read_bytes(),
            previous=previous.read_bytes() if previous else None,
            expected_key=expected,
        )
    except VerificationError as exc:
        console.print(f"[red]NOT VERIFIED[/red]: {exc}")
        raise typer.Exit(1) from None
    typer.echo(
        f"verified: room {verified.room_id}, {verified.size} entries, root "
        f"{verified.checkpoint.root_hash.hex()}" + (f", extends {previous}" if previous else "")
    )
