"""What the client commands share: the connection options, the client, the consoles.

Each client command takes ``--api-url``, ``--email`` and ``--token``, defaulting to
``SEALROOM_API_URL``, ``SEALROOM_EMAIL`` and ``SEALROOM_API_TOKEN``. Data goes to standard output
(``typer.echo``); progress, notes and errors go to standard error (:data:`console`).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from sealroom.client import Client, create_client

__all__ = ["ApiUrl", "Email", "Token", "console", "open_client"]

console = Console(stderr=True)

ApiUrl = Annotated[str, typer.Option("--api-url", envvar="SEALROOM_API_URL", help="Server URL.")]
Email = Annotated[str, typer.Option("--email", envvar="SEALROOM_EMAIL", help="Your e-mail.")]
Token = Annotated[
    str,
    typer.Option(
        "--token", envvar="SEALROOM_API_TOKEN", help="Your API token.", show_default=False
    ),
]


def open_client(api_url: str, email: str, token: str) -> Client:
    return create_client(email, token, api_url=api_url)
