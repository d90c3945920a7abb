"""The ``sealroom`` command: serve, manage users, run the demo, and talk to a server."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from sealroom._version import __version__
from sealroom.cli.attest_command import attest
from sealroom.cli.audit_commands import audit_app
from sealroom.cli.dataset_commands import dataset_app
from sealroom.cli.dcr_commands import dcr_app
from sealroom.cli.job_commands import run
from sealroom.cli.keys_commands import keys_app
from sealroom.cli.request_commands import request_app
from sealroom.cli.room_commands import room_app
from sealroom.cli.worker import worker_app
from sealroom.errors import SealroomError

app = typer.Typer(
    name="sealroom",
    help="Sealroom: an open-source, self-hostable data clean room.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
user_app = typer.Typer(help="Manage accounts and API tokens (runs on the server's data dir).")
app.add_typer(user_app, name="user")
app.add_typer(worker_app, name="worker")
app.add_typer(audit_app, name="audit")
app.add_typer(dcr_app, name="dcr")
app.add_typer(request_app, name="request")
app.add_typer(keys_app, name="keys")
app.add_typer(dataset_app, name="dataset")
app.add_typer(room_app, name="room")
app.command("attest")(attest)
app.command("run")(run)

DataDirOption = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="SEALROOM_DATA_DIR",
        help="The server's data directory.",
        show_default=True,
    ),
]


@app.command()
def serve(
    data_dir: DataDirOption = Path(".sealroom-data"),
    host: Annotated[str, typer.Option(envvar="SEALROOM_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="SEALROOM_PORT")] = 8765,
    workers: Annotated[
        int, typer.Option(envvar="SEALROOM_WORKERS", help="Job worker threads.")
    ] = 2,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    job_timeout: Annotated[
        float, typer.Option(envvar="SEALROOM_JOB_TIMEOUT", help="Seconds a script may run.")
    ] = 300.0,
    job_memory: Annotated[
        int, typer.Option(envvar="SEALROOM_JOB_MEMORY", help="MiB of memory a script may use.")
    ] = 2048,
    job_output: Annotated[
        int, typer.Option(envvar="SEALROOM_JOB_OUTPUT", help="MiB a script may write to /output.")
    ] = 1024,
    unsafe_no_sandbox: Annotated[
        bool,
        typer.Option(
            "--unsafe-no-sandbox",
            envvar="SEALROOM_UNSAFE_NO_SANDBOX",
            help="DEVELOPMENT ONLY: run Python scripts without the sandbox (no isolation). "
            "Clients must accept the 'sealroom.core:unsafe-no-sandbox' enclave specification.",
        ),
    ] = False,
    attestation: Annotated[
        str,
        typer.Option(
            envvar="SEALROOM_ATTESTATION",
            help="simulated, sev-snp (needs /dev/sev-guest) or nitro (needs /dev/nsm).",
        ),
    ] = "simulated",
    snp_endorsement_cert: Annotated[
        Path | None,
        typer.Option(
            envvar="SEALROOM_SNP_ENDORSEMENT_CERT",
            help="sev-snp only: the chip's VCEK certificate (DER or PEM, from AMD's KDS) when "
            "the host does not supply it.",
        ),
    ] = None,
) -> None:
    """Start the platform: HTTP API, trusted core (attested or simulated), job workers."""
    import uvicorn

    from sealroom.server.app import create_app
    from sealroom.server.platform import open_platform
    from sealroom.server.settings import Settings

    settings = Settings(
        data_dir=data_dir,
        host=host,
        port=port,
        workers=workers,
        job_timeout=job_timeout,
        job_memory=job_memory,
        job_output=job_output,
        unsafe_no_sandbox=unsafe_no_sandbox,
        attestation=attestation,
        snp_endorsement_cert=snp_endorsement_cert,
    )
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    # Opened before serving: a configuration error is one line here, not a traceback from
    # inside the web server's start-up (and the core's evidence provider is built once).
    platform = open_platform(settings)
    protection = (
        "SIMULATED — no confidential-computing hardware protects this core"
        if attestation == "simulated"
        else attestation
    )
    typer.echo(
        f"Sealroom {__version__} on http://{host}:{port}  (data: {data_dir}; attestation: "
        f"{protection})",
        err=True,
    )
    if unsafe_no_sandbox:
        typer.echo(
            "WARNING: --unsafe-no-sandbox: room scripts run WITHOUT the sandbox. Never use this "
            "with real data.",
            err=True,
        )
    uvicorn.run(
        create_app(settings, platform),
        host=host,
        port=port,
        log_level=log_level.lower(),
        access_log=False,
    )


@user_app.command("add")
def user_add(
    email: str,
    data_dir: DataDirOption = Path(".sealroom-data"),
    label: Annotated[str, typer.Option(help="A note to recognise the token by.")] = "",
) -> None:
    """Create a user (if new) and print a new API token as the last line."""
    from sealroom.model.principal import normalise_email
    from sealroom.server.accounts import issue_token
    from sealroom.server.platform import open_store
    from sealroom.server.settings import Settings

    store = open_store(Settings(data_dir=data_dir))
    token = issue_token(store, email, label)
    store.engine.dispose()
    typer.echo(
        f"Created an API token for {normalise_email(email)} (shown once; only its hash is stored):"
    )
    typer.echo(token)


@user_app.command("list")
def user_list(data_dir: DataDirOption = Path(".sealroom-data")) -> None:
    """List users and how many active tokens each has."""
    from sealroom.server.platform import open_store
    from sealroom.server.settings import Settings

    store = open_store(Settings(data_dir=data_dir))
    for user in store.list_users():
        typer.echo(f"{user.email}\t{user.active_tokens} active token(s)")
    store.engine.dispose()


@user_app.command("revoke-token")
def user_revoke_token(email: str, data_dir: DataDirOption = Path(".sealroom-data")) -> None:
    """Revoke every active API token of a user."""
    from sealroom.model.principal import normalise_email
    from sealroom.server.platform import open_store
    from sealroom.server.settings import Settings

    store = open_store(Settings(data_dir=data_dir))
    count = store.revoke_tokens(normalise_email(email))
    store.engine.dispose()
    typer.echo(f"Revoked {count} token(s) of {normalise_email(email)}.")


@app.command()
def demo(
    rows: Annotated[int, typer.Option(help="Customers per party.")] = 40_000,
    keep: Annotated[bool, typer.Option(help="Keep the temporary data directory.")] = False,
) -> None:
    """Run the bank x insurer overlap end to end on an embedded server."""
    from sealroom.cli.demo import run_demo

    run_demo(rows=rows, keep=keep)


@app.command()
def version() -> None:
    """Print the version and the core's measurement."""
    from sealroom.attestation import measure_installed_package

    typer.echo(f"sealroom {__version__}")
    typer.echo(f"core measurement {measure_installed_package()}")


def main() -> None:
    try:
        app()
    except SealroomError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
