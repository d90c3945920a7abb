"""CLI commands that talk to a running server through the SDK.

Each takes ``--api-url``, ``--email`` and ``--token``, defaulting to ``SEALROOM_API_URL``,
``SEALROOM_EMAIL`` and ``SEALROOM_API_TOKEN``. Dataset keys live in key files (hex, mode 0600)
that never leave the user's machine.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from sealroom.client import Client, create_client
from sealroom.client._http import DEFAULT_API_URL
from sealroom.crypto import Key

console = Console(stderr=True)

ApiUrl = Annotated[str, typer.Option("--api-url", envvar="SEALROOM_API_URL", help="Server URL.")]
Email = Annotated[str, typer.Option("--email", envvar="SEALROOM_EMAIL", help="Your e-mail.")]
Token = Annotated[
    str,
    typer.Option(
        "--token", envvar="SEALROOM_API_TOKEN", help="Your API token.", show_default=False
    ),
]
KeyFile = Annotated[Path, typer.Option("--key-file", help="Dataset key file (hex, 0600).")]


def _client(api_url: str, email: str, token: str) -> Client:
    return create_client(email, token, api_url=api_url)


def write_key_file(path: Path, key: Key) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key.material.hex() + "\n")


def read_key_file(path: Path) -> Key:
    try:
        return Key(material=bytes.fromhex(path.read_text().strip()))
    except ValueError:
        raise typer.BadParameter(f"{path} does not hold a 64-hex-digit key") from None


def register(app: typer.Typer) -> None:
    dataset_app = typer.Typer(help="Upload and publish encrypted datasets.")
    room_app = typer.Typer(help="Inspect and manage rooms.")
    app.add_typer(dataset_app, name="dataset")
    app.add_typer(room_app, name="room")

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
        with _client(api_url, email, token) as client, source, _progress() as progress:
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
        with _client(api_url, email, token) as client:
            outcome = client.session().publish_dataset(
                room_id, dataset_id, node, read_key_file(key_file)
            )
        typer.echo(json.dumps(outcome, indent=2))

    @dataset_app.command("list")
    def dataset_list(
        api_url: ApiUrl = DEFAULT_API_URL, email: Email = "", token: Token = ""
    ) -> None:
        """List your uploaded datasets."""
        with _client(api_url, email, token) as client:
            for dataset in client.get_available_datasets():
                typer.echo(f"{dataset['id']}\t{dataset['size']}\t{dataset['name']}")

    @room_app.command("list")
    def room_list(api_url: ApiUrl = DEFAULT_API_URL, email: Email = "", token: Token = "") -> None:
        """List the rooms you take part in."""
        with _client(api_url, email, token) as client:
            for room in client.get_data_room_descriptions():
                typer.echo(f"{room['id']}\t{room['status']}\t{room['name']}")

    @room_app.command("show")
    def room_show(
        room_id: str, api_url: ApiUrl = DEFAULT_API_URL, email: Email = "", token: Token = ""
    ) -> None:
        """Print a room's definition, verified against its id and the core's signature."""
        with _client(api_url, email, token) as client:
            definition = client.session().retrieve_data_room(room_id)
        typer.echo(json.dumps(definition.model_dump(mode="json"), indent=2))

    @room_app.command("stop")
    def room_stop(
        room_id: str, api_url: ApiUrl = DEFAULT_API_URL, email: Email = "", token: Token = ""
    ) -> None:
        """Stop a room: no more uploads or runs; definition and audit log stay readable."""
        with _client(api_url, email, token) as client:
            client.session().stop_data_room(room_id)
        typer.echo(f"room {room_id} stopped")

    @room_app.command("audit")
    def room_audit(
        room_id: str, api_url: ApiUrl = DEFAULT_API_URL, email: Email = "", token: Token = ""
    ) -> None:
        """Print the room's audit log (verified), one line per event."""
        with _client(api_url, email, token) as client:
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
        with _client(api_url, email, token) as client:
            report = client.session().get_validation_report(room_id, node)
        typer.echo(json.dumps(report, indent=2))

    @app.command("run")
    def run(
        room_id: str,
        node: str,
        output: Annotated[
            Path | None,
            typer.Option(help="Write the result here (CSV for SQL, a zip for Python/R)."),
        ] = None,
        timeout: Annotated[float | None, typer.Option(help="Seconds to wait.")] = None,
        api_url: ApiUrl = DEFAULT_API_URL,
        email: Email = "",
        token: Token = "",
    ) -> None:
        """Run a computation and print (or save) its result.

        SQL results are CSV; a Python or R node's result is the zip of its /output, whose
        contents are listed unless --output saves it.
        """
        with _client(api_url, email, token) as client:
            session = client.session()
            job = session.run_computation(room_id, node)
            console.print(f"job {job.id} submitted; waiting for the result")
            result = session.get_computation_result(job, timeout=timeout)
        if output is not None:
            output.write_bytes(result)
            console.print(f"result written to {output}")
        elif zipfile.is_zipfile(io.BytesIO(result)):
            with zipfile.ZipFile(io.BytesIO(result)) as archive:
                for member in archive.infolist():
                    typer.echo(f"{member.file_size:>12}  {member.filename}")
            console.print("a zip of the script's /output; save it with --output FILE.zip")
        else:
            typer.echo(result.decode(), nl=False)


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
