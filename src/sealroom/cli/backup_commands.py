"""``sealroom backup`` and ``sealroom restore``: a data directory as one archive, and back.

``backup`` runs beside a live server (it reads; it takes no lock) and writes one tar file, 0600,
with the database, the blobs it references, the core's sealed identity and a manifest of
SHA-256 hashes (:mod:`sealroom.server.backup`). Keys enter the archive only sealed under a
passphrase: the platform CA's key whenever a passphrase is given, the sealing key with
``--include-sealing-key`` (which asks for one). ``restore`` checks every member against the
manifest before it writes a new data directory, and refuses a directory that is not empty.

Errors are the CLI's (``sealroom.cli.main``): a bad option, a missing file, a non-empty target
or a wrong passphrase length exit 2; an altered archive or a wrong passphrase exit 1. No key or
passphrase is ever printed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from sealroom.cli._common import AsJson, echo_json, usage_error

__all__ = ["backup", "restore"]

PassphraseFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="Read the passphrase from this file (its first line) instead of a prompt.",
    ),
]


def _read_passphrase(path: Path | None, *, confirm: bool, why: str) -> str:
    """The passphrase from ``path`` (first line), or from a prompt on a terminal."""
    if path is not None:
        lines = path.read_text("utf-8").splitlines()
        return lines[0] if lines else ""
    if not sys.stdin.isatty():
        usage_error(f"{why}: give --passphrase-file (there is no terminal to ask on)")
    passphrase: str = typer.prompt(
        "Backup passphrase", hide_input=True, confirmation_prompt=confirm, err=True
    )
    return passphrase


def backup(
    output: Annotated[Path, typer.Option("--output", "-o", help="The archive to write (new).")],
    data_dir: Annotated[
        Path,
        typer.Option("--data-dir", envvar="SEALROOM_DATA_DIR", help="The server's data directory."),
    ] = Path(".sealroom-data"),
    include_sealing_key: Annotated[
        bool,
        typer.Option(
            "--include-sealing-key",
            help="Put the sealing key in the archive, sealed under a passphrase (asked for, or "
            "--passphrase-file). Without it, keep the sealing key safe apart: the archive is "
            "useless without it.",
        ),
    ] = False,
    sealing_key_file: Annotated[
        Path | None,
        typer.Option(
            "--sealing-key-file",
            envvar="SEALROOM_SEALING_KEY_FILE",
            help="The sealing key the server uses (default ~/.local/state/sealroom/sealing.key).",
            show_default=False,
        ),
    ] = None,
    passphrase_file: PassphraseFile = None,
    as_json: AsJson = False,
) -> None:
    """Back up a data directory, online: database, blobs, sealed identity, manifest."""
    from sealroom.server.backup import backup_data_dir, blob_store_location
    from sealroom.server.settings import Settings, default_sealing_key_file

    settings = Settings(data_dir=data_dir)
    if settings.database_url:
        usage_error(
            "SEALROOM_DATABASE_URL is set: back that database up with its own tools (pg_dump); "
            "this command backs up the embedded SQLite database"
        )
    passphrase = None
    if passphrase_file is not None or include_sealing_key:
        passphrase = _read_passphrase(
            passphrase_file, confirm=True, why="--include-sealing-key needs a passphrase"
        )
    key_file = (sealing_key_file or default_sealing_key_file()) if include_sealing_key else None
    summary = backup_data_dir(
        data_dir,
        output,
        passphrase=passphrase,
        sealing_key_file=key_file,
        blobs_elsewhere=blob_store_location(settings),
    )
    if as_json:
        echo_json(
            {
                "archive": str(summary.path),
                "members": summary.members,
                "total_bytes": summary.total_bytes,
                "datasets": summary.datasets,
                "results": summary.results,
                "chunks": summary.chunks,
                "includes_sealing_key": summary.includes_sealing_key,
                "includes_ca_key": summary.includes_ca_key,
                "missing_upload_chunks": summary.missing_upload_chunks,
                "blobs_elsewhere": summary.blobs_elsewhere,
            }
        )
    else:
        typer.echo(
            f"Backed up {data_dir} to {summary.path}: {summary.datasets} dataset(s), "
            f"{summary.chunks} chunk(s), {summary.results} result(s), {summary.members} "
            f"member(s), {summary.total_bytes} bytes."
        )
    if summary.blobs_elsewhere is not None:
        typer.echo(
            f"note: the blobs (dataset chunks, results) are not in the archive: they are in "
            f"{summary.blobs_elsewhere}; back that bucket up with the object store's own tools "
            "(versioning, replication)",
            err=True,
        )
    if not summary.includes_sealing_key:
        typer.echo(
            "note: the sealing key is not in the archive; the archive cannot be restored "
            "without it (keep it safe, apart from the archive)",
            err=True,
        )
    if not summary.includes_ca_key and (data_dir / "pki" / "ca.key").is_file():
        typer.echo(
            f"warning: the platform CA's key is not in the archive (a key goes in only sealed "
            f"under --passphrase-file); keep a copy of {data_dir / 'pki' / 'ca.key'}",
            err=True,
        )


def restore(
    archive: Annotated[Path, typer.Argument(help="An archive `sealroom backup` wrote.")],
    data_dir: Annotated[
        Path,
        typer.Option("--data-dir", help="The new data directory (must be new or empty)."),
    ],
    sealing_key_out: Annotated[
        Path | None,
        typer.Option(
            "--sealing-key-out",
            help="Write the archive's sealing key here (a new file, 0600); then start the "
            "server with SEALROOM_SEALING_KEY_FILE pointing at it.",
        ),
    ] = None,
    passphrase_file: PassphraseFile = None,
    as_json: AsJson = False,
) -> None:
    """Restore an archive into a new data directory, checking every member's SHA-256."""
    from sealroom.server.backup import read_archive_contents, restore_archive

    if not archive.is_file():
        usage_error(f"{archive} is not a file")
    contents = read_archive_contents(archive)
    if sealing_key_out is not None and not contents.has_sealing_key:
        usage_error(
            "this archive holds no sealing key (it was made without --include-sealing-key): "
            "drop --sealing-key-out and use the server's own sealing key"
        )
    passphrase = None
    if contents.has_secrets:
        passphrase = _read_passphrase(
            passphrase_file, confirm=False, why="this archive holds keys sealed under a passphrase"
        )
    summary = restore_archive(
        archive, data_dir, passphrase=passphrase, sealing_key_out=sealing_key_out
    )
    if as_json:
        echo_json(
            {
                "data_dir": str(summary.data_dir),
                "members": summary.members,
                "total_bytes": summary.total_bytes,
                "backup_created_at": summary.created_at,
                "restored_ca_key": summary.restored_ca_key,
                "sealing_key_file": (
                    str(summary.sealing_key_path) if summary.sealing_key_path else None
                ),
                "blobs_elsewhere": summary.blobs_elsewhere,
            }
        )
    else:
        typer.echo(
            f"Restored {summary.members} member(s), {summary.total_bytes} bytes, every SHA-256 "
            f"checked, into {data_dir} (the state of {summary.created_at})."
        )
    if summary.blobs_elsewhere is not None:
        typer.echo(
            f"note: the archive holds no blobs; start the server on {summary.blobs_elsewhere} "
            "(the same SEALROOM_BLOB_STORE and SEALROOM_S3_* settings), as it was at the "
            "backup's moment or later",
            err=True,
        )
    if summary.sealing_key_path is not None:
        typer.echo(f"sealing key written to {summary.sealing_key_path} (mode 0600)", err=True)
    elif summary.archive_has_sealing_key:
        typer.echo(
            "note: the archive holds the sealing key; it was not written (no --sealing-key-out)",
            err=True,
        )
    if not summary.restored_ca_key and (data_dir / "pki" / "ca.pem").is_file():
        typer.echo(
            f"warning: the archive holds no platform CA key: copy the original ca.key into "
            f"{data_dir / 'pki'} (mode 0600) before starting the server",
            err=True,
        )
    typer.echo(
        f"note: this is the state of {summary.created_at}. Clients whose saved audit "
        "checkpoints are older accept it; a client that saw entries made after the backup "
        "reports a rollback, as it must (docs/operating.md, Backup and restore).",
        err=True,
    )
