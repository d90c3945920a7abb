"""``sealroom run``: run a computation and print or save its result."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Annotated

import typer

from sealroom.cli._common import ApiUrl, Email, Token, console, open_client
from sealroom.client._http import DEFAULT_API_URL

__all__ = ["run"]


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
    with open_client(api_url, email, token) as client:
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
