"""``sealroom audit export|verify``: the audit log as a file anyone can check offline.

``export`` fetches the log through the SDK (which verifies it against the attested core and the
checkpoint saved from your last look) and writes the export file. ``verify`` needs no server: it
checks the file's signed checkpoint, every entry against the Merkle root, and with ``--previous``
that the newer file extends the older (no entry rewritten, none removed). It never trusts the key
inside the file (a forgery made from scratch carries its own): the core's key comes from
``--key`` (printed by ``sealroom attest``) or from the key the SDK pinned when this machine last
verified the room, and the output says which. When the export carries the room's published
definition (exports since format v2), every approval must be the approver's own signature, and
``verify`` prints one line per approval; an older export without it still verifies, with a line
saying that its approvals could not be checked. Exit status 0 when all holds; 1 with the reason
otherwise; 2 when there is no key to verify with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sealroom.audit.export import VerifiedApproval, export_room_id, verify_export
from sealroom.cli._common import (
    ApiUrl,
    AsJson,
    Email,
    Token,
    console,
    echo_json,
    resolve_room_id,
)
from sealroom.client._http import DEFAULT_API_URL
from sealroom.client._state import AuditStateStore, default_state_dir
from sealroom.crypto import VerifyKey
from sealroom.errors import VerificationError
from sealroom.model.identities import format_fingerprint

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
        full_id = resolve_room_id(client, room_id)
        data = client.session().export_audit_log(full_id)
    output.write_bytes(data)
    typer.echo(f"audit log of room {full_id} written to {output}", err=True)


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
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir",
            help="The SDK state directory whose pinned key to use without --key "
            "(default: $SEALROOM_STATE_DIR or ~/.local/share/sealroom).",
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Check an export offline against the core's key: signature, every entry, --previous."""
    try:
        data = file.read_bytes()
        expected, source = _expected_key(data, key, state_dir)
        verified = verify_export(
            data, previous=previous.read_bytes() if previous else None, expected_key=expected
        )
    except VerificationError as exc:
        console.print(f"[red]NOT VERIFIED[/red]: {exc}")
        raise typer.Exit(1) from None
    if as_json:
        echo_json(
            {
                "verified": True,
                "room_id": verified.room_id,
                "entries": verified.size,
                "root_hash": verified.checkpoint.root_hash.hex(),
                "extends": None if previous is None else str(previous),
                "core_key": expected.hex(),
                "core_key_source": source,
                "approvals": None
                if verified.approvals is None
                else [
                    {
                        "request_id": approval.request_id,
                        "approver": approval.approver,
                        "key_fingerprint": approval.fingerprint,
                    }
                    for approval in verified.approvals
                ],
            }
        )
        return
    typer.echo(
        f"verified: room {verified.room_id}, {verified.size} entries, root "
        f"{verified.checkpoint.root_hash.hex()}" + (f", extends {previous}" if previous else "")
    )
    typer.echo(f"signed by core key {expected.hex()} ({source})")
    if verified.approvals is None:
        typer.echo(
            "approvals: NOT CHECKED: this export (format v1) does not carry the room's "
            "definition, so who approved what cannot be verified; export the log again"
        )
    elif not verified.approvals:
        typer.echo("approvals: none in this log")
    for approval in verified.approvals or ():
        typer.echo(approval_line(approval))


def approval_line(approval: VerifiedApproval) -> str:
    """``request <id> approved by <email> (key <fingerprint> …): signature verified``."""
    return (
        f"request {approval.request_id[:12]} approved by {approval.approver} "
        f"(key {format_fingerprint(approval.fingerprint[:16])} …): signature verified"
    )


def _expected_key(data: bytes, key: str | None, state_dir: Path | None) -> tuple[VerifyKey, str]:
    """The key to verify with and where it came from; exits 2 when there is none."""
    if key:
        try:
            return VerifyKey.from_hex(key), "given with --key"
        except ValueError:
            raise typer.BadParameter(
                "--key must be 64 hex digits (an Ed25519 public key)"
            ) from None
    room_id = export_room_id(data)
    pinned = AuditStateStore(state_dir or default_state_dir()).pinned_key(room_id)
    if pinned is None:
        console.print(
            f"[red]no key to verify with[/red]: this machine never verified room {room_id}. "
            "Pass the core's key with --key (`sealroom attest` prints it), or point "
            "--state-dir at the SDK state of a machine that did; the key inside the file is "
            "not evidence."
        )
        raise typer.Exit(2)
    pinned_key, path = pinned
    return pinned_key, f"pinned in {path}"
