"""``sealroom dataset ...``: upload, publish and list encrypted datasets.

Dataset keys live in key files (hex, mode 0600) that never leave the user's machine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from sealroom.cli._common import ApiUrl, Email, Token, console, open_client
from sealroom.client._http import DEFAULT_API_URL
from sealroom.crypto import Key

__all__ = ["dataset_app"]

dataset_app = typer.Typer(help="Upload, publish and list encrypted datasets.", no_args_is_help=True)
KeyFile = Annotated[Path, typer.Option("--key-file", help="Dataset key file (hex, 0600).")]


def write_key_file(path: Path, key: Key) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key.material.hex() + "\n")


def read_key_file(path: Path) -> Key:
    try:
        return Key(material=bytes.fromhex(path.read_text().strip()))
    except ValueError:
        raise typer.BadParameter(f"{path} does not hold a 64-hex-digit key") from None


@dataset_app.command("upload")
def dataset_upload(
    file: Path,
    key_file: KeyFile,
    name: Annotated[str | None, typer.Option(help="Dataset name (default: file name).")] = None,
    description: str = "",
    has_header: Annotated[bool, typer.Option(help="Strip the CSV header row.")] = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Encrypt FILE locally and upload it; prints the dataset id.

    The key is read from --key-file, or created there (mode 0600) if the file is new.
    """
    from sealroom.analytics import read_input_csv_file

    if key_file.exists():
        key = read_key_file(key_file)
    else:
        key = Key()
        write_key_file(key_file, key)
        console.print(f"new dataset key written to {key_file} (keep it safe)")
    source = read_input_csv_file(file) if has_header else open(file, "rb")  # noqa: SIM115
    with open_client(api_url, email, token) as client, source, _progress() as progress:
        task = progress.add_task(f"upload {file.name}", total=file.stat().st_size)
        dataset_id = client.upload_dataset(
            source,
            key,
            name or file.name,
            description=description,
            progress=lambda sent: progress.advance(task, sent),
        )
    typer.echo(dataset_id)


@dataset_app.command("publish")
def dataset_publish(
    room_id: str,
    node: str,
    dataset_id: str,
    key_file: KeyFile,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Publish an uploaded dataset to a data node (the key is sealed to the attested core)."""
    with open_client(api_url, email, token) as client:
        outcome = client.session().publish_dataset(
            room_id, dataset_id, node, read_key_file(key_file)
        )
    typer.echo(json.dumps(outcome, indent=2))


@dataset_app.command("list")
def dataset_list(api_url: ApiUrl = DEFAULT_API_URL, email: Email = "", token: Token = "") -> None:
    """List your uploaded datasets."""
    with open_client(api_url, email, token) as client:
        for dataset in client.get_available_datasets():
            typer.echo(f"{dataset['id']}\t{dataset['size']}\t{dataset['name']}")


def _progress() -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
