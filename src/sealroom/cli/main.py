"""The ``sealroom`` command: serve, manage users, run the demo, and talk to a server.

Exit status, for every client command (docs/cli.md): 0 success; 1 a failure — the server
refused, a job failed, the server could not be reached, something did not verify; 2 a usage
error — a bad argument or option, an unknown format, a missing or unreadable file, a data
directory that is not one, missing set-up (no token, no e-mail), an invalid room definition
or template. Errors are one ``error: …`` line on stderr, never a traceback: :func:`main` turns
Sealroom's errors and the operating system's file errors into that line. Warnings are one
``warning: …`` line each, the simulated-attestation warning once per process (the SDK warns
as Python does for a library user; only this command formats them).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from sealroom._version import __version__
from sealroom.cli._common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    AsJson,
    CaBundle,
    EnvFile,
    echo_json,
    iso_time,
    print_table,
    usage_error,
    use_ca_bundle,
    use_env_file,
)
from sealroom.cli.attest_command import attest
from sealroom.cli.audit_commands import audit_app
from sealroom.cli.backup_commands import backup, restore
from sealroom.cli.datalab_commands import datalab_app
from sealroom.cli.dataset_commands import dataset_app
from sealroom.cli.dcr_commands import dcr_app
from sealroom.cli.gc_command import gc
from sealroom.cli.invitation_command import user_invitations
from sealroom.cli.job_commands import job_app, run
from sealroom.cli.keys_commands import keys_app
from sealroom.cli.media_commands import media_app
from sealroom.cli.request_commands import request_app
from sealroom.cli.room_commands import room_app
from sealroom.cli.worker import worker_app
from sealroom.errors import (
    ConfigurationError,
    DefinitionError,
    SealroomError,
    SimulatedAttestationWarning,
)

if TYPE_CHECKING:
    from sealroom.enclave.keystore import SealingKeyInfo
    from sealroom.storage.metadata import MetadataStore

app = typer.Typer(
    name="sealroom",
    help="Sealroom: an open-source, self-hostable data clean room.\n\n"
    "Exit status: 0 success; 1 failure (refused by the server, a failed job, an unreachable "
    "server); 2 usage error (bad arguments, unknown format, missing file). Room and job ids may "
    "be abbreviated to a unique prefix of 6+ hex digits; --json prints one JSON document. "
    "See docs/cli.md.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
user_app = typer.Typer(help="Manage accounts and API tokens (runs on the server's data dir).")
app.add_typer(user_app, name="user")
user_app.command("invitations")(user_invitations)
app.add_typer(job_app, name="job")
app.add_typer(worker_app, name="worker")
app.add_typer(audit_app, name="audit")
app.add_typer(dcr_app, name="dcr")
app.add_typer(request_app, name="request")
app.add_typer(keys_app, name="keys")
app.add_typer(dataset_app, name="dataset")
app.add_typer(datalab_app, name="datalab")
app.add_typer(media_app, name="media")
app.add_typer(room_app, name="room")
app.command("attest")(attest)
app.command("run")(run)
app.command("gc")(gc)
app.command("backup")(backup)
app.command("restore")(restore)

DataDirOption = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="SEALROOM_DATA_DIR",
        help="The server's data directory.",
        show_default=True,
    ),
]
InitOption = Annotated[
    bool,
    typer.Option(
        "--init", help="Create a new data directory if DATA_DIR is not one (nothing else does)."
    ),
]
#: The file that makes a directory a Sealroom data directory (the metadata database; with
#: SEALROOM_DATABASE_URL the database lives elsewhere, and that database is the check).
METADATA_FILE = "metadata.sqlite3"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"sealroom {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
    ca_bundle: CaBundle = None,
    env_file: EnvFile = None,
) -> None:
    """Sealroom: an open-source, self-hostable data clean room."""
    # Before the command's own options are read: they default to the variables it sets.
    use_env_file(env_file)
    use_ca_bundle(ca_bundle)


@app.command()
def serve(
    data_dir: DataDirOption = Path(".sealroom-data"),
    host: Annotated[str, typer.Option(envvar="SEALROOM_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="SEALROOM_PORT")] = 8765,
    workers: Annotated[
        int, typer.Option(envvar="SEALROOM_WORKERS", help="Job worker threads.")
    ] = 2,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    log_format: Annotated[
        str,
        typer.Option(
            envvar="SEALROOM_LOG_FORMAT",
            help="text, or json: one JSON object a line, for a log collector (one line per "
            "request and per job state; never a data value, key or token).",
        ),
    ] = "text",
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
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            envvar="SEALROOM_TLS_CERT",
            help="Serve HTTPS with this certificate chain (PEM); needs --tls-key. The web app "
            "needs HTTPS anywhere but on 127.0.0.1 (the browser's WebCrypto needs a secure "
            "context); a reverse proxy that terminates TLS does as well.",
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(envvar="SEALROOM_TLS_KEY", help="The private key (PEM) of --tls-cert."),
    ] = None,
    shutdown_timeout: Annotated[
        float,
        typer.Option(
            envvar="SEALROOM_SHUTDOWN_TIMEOUT",
            help="On SIGTERM: seconds running jobs may take to finish before they are "
            "requeued (they run again at the next start) and the server exits.",
        ),
    ] = 30.0,
) -> None:
    """Start the platform: HTTP API, trusted core (attested or simulated), job workers.

    One server per data directory (a second one exits 1 naming the first). SIGTERM stops it
    gracefully: no new jobs, running ones get --shutdown-timeout seconds, the rest are requeued.
    """
    import uvicorn

    from sealroom.server.app import create_app
    from sealroom.server.graceful import serve_until_stopped
    from sealroom.server.observability import LOG_FORMATS, configure_logging
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
        shutdown_timeout=shutdown_timeout,
    )
    if log_format not in LOG_FORMATS:
        usage_error(f"--log-format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    configure_logging(log_level, "json" if log_format == "json" else "text")
    if (tls_cert is None) != (tls_key is None):
        typer.echo("error: --tls-cert and --tls-key go together (HTTPS needs both)", err=True)
        raise typer.Exit(EXIT_FAILURE)
    for tls_file in (tls_cert, tls_key):
        if tls_file is not None and not tls_file.is_file():
            typer.echo(f"error: {tls_file} is not a file", err=True)
            raise typer.Exit(EXIT_FAILURE)
    # Opened before serving: a configuration error is one line here, not a traceback from
    # inside the web server's start-up (and the core's evidence provider is built once). A
    # server that cannot start exits 1, as it always has (the usage status 2 is the client
    # commands'; service managers read 1 as "failed").
    try:
        platform = open_platform(settings)
    except ConfigurationError as exc:
        typer.echo(f"error: {_one_line(exc)}", err=True)
        raise typer.Exit(EXIT_FAILURE) from None
    protection = (
        "SIMULATED — no confidential-computing hardware protects this core"
        if attestation == "simulated"
        else attestation
    )
    typer.echo(
        f"Sealroom {__version__} on {'https' if tls_cert else 'http'}://{host}:{port}  (data: "
        f"{data_dir}; attestation: "
        f"{protection})",
        err=True,
    )
    _print_sealing_key(platform.opened.sealing_key)
    if tls_cert is None and not _is_loopback(host):
        typer.echo(
            f"WARNING: plain HTTP on {host}, which is not a loopback address: API tokens and "
            "web sessions cross the network in clear text, readable by anyone on the path. "
            "Serve HTTPS (--tls-cert/--tls-key) or bind 127.0.0.1 behind a reverse proxy "
            "that terminates TLS (docs/deployment.md).",
            err=True,
        )
    if unsafe_no_sandbox:
        typer.echo(
            "WARNING: --unsafe-no-sandbox: room scripts run WITHOUT the sandbox. Never use this "
            "with real data.",
            err=True,
        )
    config = uvicorn.Config(
        create_app(settings, platform),
        host=host,
        port=port,
        log_level=log_level.lower(),
        access_log=False,
        # Uvicorn's own records go through the handler configure_logging set (JSON or text).
        log_config=None,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
    )
    serve_until_stopped(platform, config)


def _print_sealing_key(info: SealingKeyInfo) -> None:
    """Where the master key is and its fingerprint; on the start that made it, say to back it
    up (docs/operating.md). Public facts only: the fingerprint is a domain-separated hash."""
    typer.echo(f"Sealing key: {info.location} (fingerprint {info.fingerprint})", err=True)
    if info.created:
        typer.echo(
            "NEW SEALING KEY: back it up now, apart from the data directory — without it the "
            "data directory's datasets and results cannot be opened, by anyone "
            "(docs/operating.md, 'The sealing key').",
            err=True,
        )


def _is_loopback(host: str) -> bool:
    """Only this machine can reach ``host`` (a name other than localhost may resolve anywhere)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _open_user_store(data_dir: Path, init: bool) -> MetadataStore:
    """The metadata of the server's data directory; a usage error if ``data_dir`` is not one
    (a typo would otherwise create a new, empty database and tokens nobody's server knows)."""
    from sealroom.server.platform import open_store
    from sealroom.server.settings import Settings

    settings = Settings(data_dir=data_dir)
    if not settings.database_url and not (data_dir / METADATA_FILE).is_file() and not init:
        what = "does not exist" if not data_dir.exists() else f"has no {METADATA_FILE}"
        usage_error(
            f"{data_dir} is not a Sealroom data directory ({what}): pass the directory "
            "`sealroom serve` uses (--data-dir or SEALROOM_DATA_DIR), or --init to create a new "
            "one there"
        )
    return open_store(settings)


@user_app.command("add")
def user_add(
    email: str,
    data_dir: DataDirOption = Path(".sealroom-data"),
    label: Annotated[str, typer.Option(help="A note to recognise the token by.")] = "",
    init: InitOption = False,
) -> None:
    """Create a user (if new) and print a new API token as the last line."""
    from sealroom.model.principal import normalise_email
    from sealroom.server.accounts import issue_token

    store = _open_user_store(data_dir, init)
    token = issue_token(store, email, label)
    store.engine.dispose()
    typer.echo(
        f"Created an API token for {normalise_email(email)} (shown once; only its hash is stored):"
    )
    typer.echo(token)


@user_app.command("list")
def user_list(
    data_dir: DataDirOption = Path(".sealroom-data"),
    init: InitOption = False,
    as_json: AsJson = False,
) -> None:
    """List users, when each was created (UTC) and how many active tokens each has."""
    store = _open_user_store(data_dir, init)
    users = store.list_users()
    store.engine.dispose()
    if as_json:
        echo_json(
            [
                {
                    "email": user.email,
                    "created_at_ms": user.created_at_ms,
                    "created_at": iso_time(user.created_at_ms),
                    "active_tokens": user.active_tokens,
                }
                for user in users
            ]
        )
        return
    print_table(
        ("E-MAIL", "CREATED", "ACTIVE TOKENS"),
        ((u.email, iso_time(u.created_at_ms), str(u.active_tokens)) for u in users),
        empty=f"no users in {data_dir}",
    )


@user_app.command("revoke-token")
def user_revoke_token(
    email: str, data_dir: DataDirOption = Path(".sealroom-data"), init: InitOption = False
) -> None:
    """Revoke every active API token of a user."""
    from sealroom.model.principal import normalise_email

    store = _open_user_store(data_dir, init)
    count = store.revoke_tokens(normalise_email(email))
    store.engine.dispose()
    typer.echo(f"Revoked {count} token(s) of {normalise_email(email)}.")


@app.command()
def demo(
    rows: Annotated[int, typer.Option(help="Customers per party.")] = 40_000,
    keep: Annotated[bool, typer.Option(help="Keep the temporary data directory.")] = False,
    media: Annotated[
        bool,
        typer.Option(
            "--media",
            help="Run the publisher x advertiser media clean room instead (DataLab, overlap, "
            "insights, audiences, lookalike).",
        ),
    ] = False,
) -> None:
    """Run the bank x insurer overlap end to end on an embedded server (or, with --media, a
    media clean room)."""
    if media:
        from sealroom.cli.media_demo import run_media_demo

        run_media_demo(keep=keep)
        return
    from sealroom.cli.demo import run_demo

    run_demo(rows=rows, keep=keep)


@app.command()
def version(as_json: AsJson = False) -> None:
    """Print the version and the core's measurement."""
    from sealroom.attestation import measure_installed_package

    measurement = measure_installed_package()
    if as_json:
        echo_json({"version": __version__, "core_measurement": str(measurement)})
        return
    typer.echo(f"sealroom {__version__}")
    typer.echo(f"core measurement {measurement}")


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """A warning as one ``warning: …`` line on stderr, without Python's source line."""
    del category, filename, lineno, file, line
    typer.echo(f"warning: {' '.join(str(message).split())}", err=True)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def main() -> None:
    """The ``sealroom`` entry point: exit statuses and error lines as the module says."""
    warnings.showwarning = _show_warning
    # Once per process: the attestation is verified once per session, and a command that
    # opens several would repeat the same sentence.
    warnings.filterwarnings("once", category=SimulatedAttestationWarning)
    try:
        app()
    except (ConfigurationError, DefinitionError) as exc:
        typer.echo(f"error: {_one_line(exc)}", err=True)
        sys.exit(EXIT_USAGE)
    except SealroomError as exc:
        typer.echo(f"error: {_one_line(exc)}", err=True)
        sys.exit(EXIT_FAILURE)
    except OSError as exc:
        name = f" {exc.filename}" if exc.filename else ""
        typer.echo(f"error: cannot use{name}: {exc.strerror or _one_line(exc)}", err=True)
        sys.exit(EXIT_USAGE)
    except UnicodeDecodeError as exc:
        typer.echo(f"error: a file is not UTF-8 text ({exc.reason})", err=True)
        sys.exit(EXIT_USAGE)
